// Types of the miniauth mini-program SDK (/sdk/miniauth.js), written
// against miniprogram-api-typings (the WechatMiniprogram namespace).
/// <reference types="miniprogram-api-typings" />

/** An RFC 9457 problem as miniauth answers errors. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  code?: string;
  detail?: string;
  [field: string]: unknown;
}

export interface MiniauthError extends Error {
  name: "MiniauthError";
  /** HTTP status; 0 when no answer came. */
  status: number;
  /** The problem code, e.g. "invalid_code", "session_key_stale", "network_error". */
  code: string;
  detail: string;
  problem: Problem;
}
export const MiniauthError: {
  (status: number, problem?: Problem): MiniauthError;
  prototype: MiniauthError;
};

export interface TokenUser {
  id: string;
  openid: string;
  unionid: string | null;
  is_new: boolean;
}

export interface TokenResponse {
  access_token: string;
  token_type: "Bearer";
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
  user: TokenUser;
}

export interface User {
  id: string;
  openid: string;
  unionid: string | null;
  nickname: string | null;
  avatar_url: string | null;
  phone: string | null;
  status: "active" | "disabled";
  created_at: string;
  last_login_at: string | null;
  linked_tenants?: { tenant: string; name: string; user_id: string }[];
}

/** What the mini-program shows before confirming a web sign-in. */
export interface QRScan {
  status: "scanned";
  expires_in: number;
  requested_at: string;
  ip: string;
  user_agent: string;
}

/** The part of wx the SDK uses (the global wx by default). */
export type WxLike = Pick<WechatMiniprogram.Wx, "login" | "request" | "getStorageSync" | "setStorageSync" | "removeStorageSync">;

export interface ClientOptions {
  /** The miniauth server, e.g. "https://auth.example.com". */
  baseURL: string;
  /** The tenant's slug. */
  tenant: string;
  /** Called once the session cannot continue (refresh refused, banned, disabled); storage is already cleared. */
  onLogout?: (problem: Problem) => void;
  /** Storage key of the tokens; default "miniauth:<tenant>". */
  storageKey?: string;
  wx?: WxLike;
}

export interface RequestOptions {
  /** A path under /v1/t/{tenant} (e.g. "/me"), or an absolute URL. */
  url: string;
  method?: WechatMiniprogram.RequestOption["method"];
  data?: WechatMiniprogram.RequestOption["data"];
  header?: WechatMiniprogram.IAnyObject;
}

export interface Response<T = unknown> {
  statusCode: number;
  data: T;
  header: WechatMiniprogram.IAnyObject;
}

export interface Client {
  /** wx.login, then POST /login; stores and returns the tokens. */
  login(): Promise<TokenResponse>;
  /** wx.request with the access token; a 401 invalid_token refreshes once (shared by concurrent calls) and retries. */
  request<T = unknown>(options: RequestOptions): Promise<Response<T>>;
  refresh(): Promise<{ accessToken: string; refreshToken: string; expiresAt: number; user: TokenUser }>;
  me(): Promise<User>;
  /** POST /logout (all sessions with {all: true}); storage is cleared even if the server refuses. */
  logout(options?: { all?: boolean }): Promise<void>;
  /** Stores the phone number of a getPhoneNumber code. */
  bindPhone(code: string): Promise<User>;
  /** Opens encryptedData/iv; on session_key_stale it logs in again, then rejects so the caller asks wx anew. */
  decrypt<T = Record<string, unknown>>(encryptedData: string, iv: string): Promise<T & { watermark: { appid: string; timestamp: number } }>;
  verifySignature(rawData: string, signature: string): Promise<true>;
  /**
   * Confirms a scan-to-sign-in: scene is onLoad's query.scene (URL-encoded).
   * review sees where the request comes from; returning false cancels.
   * Resolves with the scan, or null when review cancelled.
   */
  confirmQRLogin(scene: string, options?: { cancel?: boolean; review?: (scan: QRScan) => boolean }): Promise<QRScan | null | void>;
  user(): TokenUser | null;
  signedIn(): boolean;
}

export function createClient(options: ClientOptions): Client;
