// A wx shim for node: wx.login mints a real code at the fake WeChat,
// wx.request is fetch with wx's callback contract (success for any HTTP
// status, fail only when no answer came), storage is in memory.
"use strict";

const env = {
  urls: (process.env.MINIAUTH_URLS || "").split(",").filter(Boolean),
  fake: process.env.WXFAKE_URL,
  tenant: process.env.MINIAUTH_TENANT,
  appid: process.env.MINIAUTH_APPID,
  apiKey: process.env.MINIAUTH_API_KEY,
};

function makeWx(user) {
  const storage = new Map();
  const calls = [];
  const wx = {
    calls,
    storage,
    login({ success, fail }) {
      fetch(`${env.fake}/_fake/code?appid=${env.appid}&user=${encodeURIComponent(user)}`)
        .then((r) => r.text())
        .then((code) => success({ code: code.trim(), errMsg: "login:ok" }), (e) => fail({ errMsg: String(e) }));
    },
    request({ url, method = "GET", data, header = {}, success, fail }) {
      calls.push({ method, url });
      const init = { method, headers: header };
      if (data !== undefined && method !== "GET") init.body = JSON.stringify(data);
      fetch(url, init)
        .then(async (r) => {
          const text = await r.text();
          let body = text;
          try { body = text ? JSON.parse(text) : ""; } catch (e) { /* wx leaves non-JSON as a string */ }
          success({ statusCode: r.status, data: body, header: Object.fromEntries(r.headers) });
        }, (e) => fail({ errMsg: "request:fail " + e.message }));
    },
    getStorageSync(key) { return storage.has(key) ? structuredClone(storage.get(key)) : ""; },
    setStorageSync(key, value) { storage.set(key, structuredClone(value)); },
    removeStorageSync(key) { storage.delete(key); },
  };
  return wx;
}

async function api(method, path, body) {
  const r = await fetch(`${env.urls[0]}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${env.apiKey}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function fakePost(path, body) {
  const r = await fetch(`${env.fake}${path}`, { method: "POST", body: JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

module.exports = { env, makeWx, api, fakePost };
