"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const { createClient, MiniauthError } = require("../miniauth.js");
const { env, makeWx, api, fakePost } = require("./shim.js");

let n = 0;
function client(user, extra = {}) {
  const wx = makeWx(user);
  const logouts = [];
  // Instances take turns, as behind a load balancer.
  const baseURL = env.urls[n++ % env.urls.length];
  const auth = createClient({ baseURL, tenant: env.tenant, wx, onLogout: (p) => logouts.push(p), ...extra });
  return { auth, wx, logouts, key: `miniauth:${env.tenant}` };
}
const refreshes = (wx) => wx.calls.filter((c) => c.url.endsWith("/refresh")).length;

test("login stores the tokens and me answers the user", async () => {
  const { auth, wx, key } = client("sdk-alice");
  const t = await auth.login();
  assert.equal(t.token_type, "Bearer");
  assert.equal(wx.getStorageSync(key).refreshToken, t.refresh_token);
  const me = await auth.me();
  assert.equal(me.id, t.user.id);
  assert.equal(auth.user().id, t.user.id);
});

test("N concurrent 401s make exactly one refresh, and every request succeeds", async () => {
  const { auth, wx, key } = client("sdk-bob");
  await auth.login();
  const s = wx.getStorageSync(key);
  s.accessToken = "garbage.token.value";
  wx.setStorageSync(key, s);
  const results = await Promise.all(Array.from({ length: 10 }, () => auth.request({ url: "/me" })));
  for (const r of results) assert.equal(r.statusCode, 200);
  assert.equal(refreshes(wx), 1);
  assert.notEqual(wx.getStorageSync(key).refreshToken, s.refreshToken, "the refresh token rotated");
});

test("an expired access token is refreshed before the request", async () => {
  const { auth, wx, key } = client("sdk-eve");
  await auth.login();
  const s = wx.getStorageSync(key);
  s.expiresAt = Date.now() - 1000;
  wx.setStorageSync(key, s);
  const r = await auth.request({ url: "/me" });
  assert.equal(r.statusCode, 200);
  assert.equal(refreshes(wx), 1);
});

test("a reused refresh token ends the session: storage cleared, onLogout once", async () => {
  const { auth, wx, key, logouts } = client("sdk-carol");
  await auth.login();
  const stolen = wx.getStorageSync(key).refreshToken;
  // Someone else rotates it first.
  const r = await fetch(`${env.urls[0]}/v1/t/${env.tenant}/refresh`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: stolen }),
  });
  assert.equal(r.status, 200);
  await assert.rejects(auth.refresh(), (e) => e instanceof MiniauthError && e.code === "refresh_token_reused");
  assert.equal(wx.getStorageSync(key), "");
  assert.equal(logouts.length, 1);
  assert.equal(logouts[0].code, "refresh_token_reused");
  assert.equal(auth.signedIn(), false);
});

test("a ban in the middle logs the user out", async () => {
  const { auth, wx, key, logouts } = client("sdk-dave");
  const t = await auth.login();
  assert.equal((await auth.request({ url: "/me" })).statusCode, 200);
  const ban = await api("POST", `/tenants/${env.tenant}/bans`, { user_id: t.user.id, reason: "sdk test" });
  assert.equal(ban.status, 201);
  // Bans reach every instance within a second.
  let r;
  for (let i = 0; i < 30; i++) {
    r = await auth.request({ url: "/me" }).catch((e) => e);
    if (r.statusCode === 403 || r instanceof Error) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(r.statusCode, 403);
  assert.equal(r.data.code, "user_banned");
  assert.equal(logouts.length, 1);
  assert.equal(wx.getStorageSync(key), "");
});

test("logout clears storage", async () => {
  const { auth, wx, key } = client("sdk-frank");
  await auth.login();
  await auth.logout({ all: true });
  assert.equal(wx.getStorageSync(key), "");
  await assert.rejects(auth.me(), (e) => e.code === "invalid_token");
});

test("bindPhone stores the phone number", async () => {
  const { auth } = client("sdk-grace");
  await auth.login();
  const { body } = await fakePost("/_fake/phone-codes", { appid: env.appid, phone: "13800138000" });
  const u = await auth.bindPhone(body.code);
  assert.equal(u.phone, "13800138000");
  await assert.rejects(auth.bindPhone(body.code), (e) => e.status === 400 && e.code === "invalid_code");
});

test("decrypt opens encrypted data; a stale key logs in again and rejects", async () => {
  const { auth, wx } = client("sdk-heidi");
  await auth.login();
  let { body } = await fakePost("/_fake/encrypted-data", { appid: env.appid, user: "sdk-heidi", data: { nickName: "Heidi" } });
  const data = await auth.decrypt(body.encrypted_data, body.iv);
  assert.equal(data.nickName, "Heidi");
  assert.equal(data.watermark.appid, env.appid);
  const sig = await fakePost("/_fake/signature", { appid: env.appid, user: "sdk-heidi", raw_data: "{\"a\":1}" });
  assert.equal(await auth.verifySignature("{\"a\":1}", sig.body.signature), true);

  assert.equal((await fakePost("/_fake/rotate-session-key", { appid: env.appid, user: "sdk-heidi" })).status, 204);
  ({ body } = await fakePost("/_fake/encrypted-data", { appid: env.appid, user: "sdk-heidi", data: { nickName: "Heidi" } }));
  const logins = () => wx.calls.filter((c) => c.url.endsWith("/login")).length;
  const before = logins();
  await assert.rejects(auth.decrypt(body.encrypted_data, body.iv), (e) => e.code === "session_key_stale");
  assert.equal(logins(), before + 1, "decrypt logged in again");
  ({ body } = await fakePost("/_fake/encrypted-data", { appid: env.appid, user: "sdk-heidi", data: { nickName: "Heidi" } }));
  assert.equal((await auth.decrypt(body.encrypted_data, body.iv)).nickName, "Heidi");
});

test("confirmQRLogin signs a waiting web page in", async () => {
  const { auth } = client("sdk-ivan");
  const t = await auth.login();
  const start = await fetch(`${env.urls[0]}/v1/t/${env.tenant}/qr-login`, { method: "POST" });
  const ticket = await start.json();
  assert.equal(start.status, 201);
  const seen = [];
  const scan = await auth.confirmQRLogin(encodeURIComponent(ticket.ticket), { review: (s) => { seen.push(s); return true; } });
  assert.equal(scan.status, "scanned");
  assert.equal(seen.length, 1);
  const poll = await fetch(`${env.urls[env.urls.length - 1]}/v1/t/${env.tenant}/qr-login/${ticket.ticket}`, {
    headers: { Authorization: `Bearer ${ticket.poll_token}` },
  });
  const web = await poll.json();
  assert.equal(web.status, "confirmed");
  assert.equal(web.user.id, t.user.id);
  // A refused review cancels.
  const start2 = await (await fetch(`${env.urls[0]}/v1/t/${env.tenant}/qr-login`, { method: "POST" })).json();
  assert.equal(await auth.confirmQRLogin(start2.ticket, { review: () => false }), null);
  await assert.rejects(auth.confirmQRLogin(start2.ticket), (e) => e.code === "qr_ticket_cancelled");
});

test("a network failure rejects without logging out", async () => {
  const wx = makeWx("sdk-judy");
  const logouts = [];
  const auth = createClient({ baseURL: "http://127.0.0.1:1", tenant: env.tenant, wx, onLogout: (p) => logouts.push(p) });
  await assert.rejects(auth.login(), (e) => e.code === "network_error" && e.status === 0);
  assert.equal(logouts.length, 0);
});
