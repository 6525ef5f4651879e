// Type-checks the SDK's declarations against miniprogram-api-typings:
// make check-sdk-types compiles this file (it is never run).
import { createClient, MiniauthError, type QRScan, type User } from "../miniauth";

const auth = createClient({ baseURL: "https://auth.example.com", tenant: "demo", onLogout: (p) => console.log(p.code) });

async function example(scene: string): Promise<void> {
  const t = await auth.login();
  const id: string = t.user.id;
  const me: User = await auth.me();
  const r = await auth.request<{ ok: boolean }>({ url: "/me", method: "GET" });
  const ok: boolean = r.data.ok && r.statusCode === 200;
  const data = await auth.decrypt<{ nickName: string }>("e", "i");
  const appid: string = data.watermark.appid + data.nickName;
  const scan = await auth.confirmQRLogin(scene, { review: (s: QRScan) => s.ip !== "" });
  try {
    await auth.bindPhone("code");
  } catch (e) {
    const err = e as MiniauthError;
    console.log(err.code, err.status, id, me.phone, ok, appid, scan);
  }
}
void example;
