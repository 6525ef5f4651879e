/*
 * miniauth mini-program SDK: login with wx.login, authenticated requests
 * with one shared refresh on 401, phone binding, encrypted data, and
 * confirming a scan-to-sign-in on the web. No dependencies; CommonJS, for
 * require() in a mini-program. Served by every miniauth server at
 * /sdk/miniauth.js (types: /sdk/miniauth.d.ts).
 */
"use strict";

function MiniauthError(status, problem) {
  problem = problem || {};
  var err = new Error(problem.detail || problem.title || "miniauth request failed (" + status + ")");
  err.name = "MiniauthError";
  err.status = status;
  err.code = problem.code || (status ? "http_" + status : "network_error");
  err.detail = problem.detail || "";
  err.problem = problem;
  Object.setPrototypeOf(err, MiniauthError.prototype);
  return err;
}
MiniauthError.prototype = Object.create(Error.prototype);
MiniauthError.prototype.constructor = MiniauthError;

// Problem codes after which the session cannot continue: storage is cleared
// and onLogout is called.
var LOGOUT_CODES = {
  invalid_refresh_token: true,
  refresh_token_reused: true,
  user_banned: true,
  user_disabled: true,
  tenant_disabled: true,
};

function createClient(options) {
  if (!options || !options.baseURL || !options.tenant) {
    throw new Error("miniauth: createClient needs baseURL and tenant");
  }
  var wxApi = options.wx || (typeof wx !== "undefined" ? wx : null);
  if (!wxApi) throw new Error("miniauth: no wx object");
  var base = options.baseURL.replace(/\/+$/, "") + "/v1/t/" + options.tenant;
  var storageKey = options.storageKey || "miniauth:" + options.tenant;
  var onLogout = options.onLogout || function () {};
  var refreshing = null; // the one refresh in flight, shared by every caller

  function load() {
    var v = wxApi.getStorageSync(storageKey);
    return v && typeof v === "object" ? v : null;
  }
  function save(tokens) {
    var s = {
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      expiresAt: Date.now() + tokens.expires_in * 1000,
      user: tokens.user,
    };
    wxApi.setStorageSync(storageKey, s);
    return s;
  }
  function clear() {
    wxApi.removeStorageSync(storageKey);
  }

  // send is wx.request as a promise; it rejects only when no answer came.
  function send(method, url, data, header) {
    return new Promise(function (resolve, reject) {
      wxApi.request({
        url: url,
        method: method,
        data: data,
        header: Object.assign({ "Content-Type": "application/json" }, header || {}),
        success: function (res) {
          resolve({ statusCode: res.statusCode, data: res.data, header: res.header });
        },
        fail: function (e) {
          reject(MiniauthError(0, { code: "network_error", detail: (e && e.errMsg) || "request failed" }));
        },
      });
    });
  }
  function problemOf(res) {
    var d = res.data;
    if (typeof d === "string") {
      try { d = JSON.parse(d); } catch (e) { d = null; }
    }
    return MiniauthError(res.statusCode, d && typeof d === "object" ? d : null);
  }
  function ok(res) {
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    throw problemOf(res);
  }
  function endSession(err) {
    clear();
    onLogout(err.problem);
  }

  function wxLogin() {
    return new Promise(function (resolve, reject) {
      wxApi.login({
        success: function (r) { resolve(r.code); },
        fail: function (e) { reject(MiniauthError(0, { code: "wx_login_failed", detail: (e && e.errMsg) || "wx.login failed" })); },
      });
    });
  }

  function login() {
    return wxLogin()
      .then(function (code) { return send("POST", base + "/login", { code: code }); })
      .then(ok)
      .then(function (res) { save(res.data); return res.data; });
  }

  // refresh rotates the refresh token once for every concurrent caller.
  function refresh() {
    if (refreshing) return refreshing;
    var s = load();
    if (!s || !s.refreshToken) {
      return Promise.reject(MiniauthError(401, { code: "invalid_refresh_token", detail: "not signed in" }));
    }
    refreshing = send("POST", base + "/refresh", { refresh_token: s.refreshToken })
      .then(function (res) {
        if (res.statusCode === 200) return save(res.data);
        var err = problemOf(res);
        if (LOGOUT_CODES[err.code]) endSession(err);
        throw err;
      })
      .then(
        function (v) { refreshing = null; return v; },
        function (e) { refreshing = null; throw e; }
      );
    return refreshing;
  }

  function accessToken() {
    var s = load();
    if (!s) return Promise.reject(MiniauthError(401, { code: "invalid_token", detail: "not signed in" }));
    // Refreshed ahead of its expiry (30 s of slack for clocks and the trip).
    if (Date.now() > s.expiresAt - 30000) return refresh().then(function (n) { return n.accessToken; });
    return Promise.resolve(s.accessToken);
  }

  function absolute(url) {
    return /^https?:\/\//.test(url) ? url : base + (url.charAt(0) === "/" ? "" : "/") + url;
  }

  // request is wx.request with the access token; one 401 invalid_token
  // refreshes (shared) and retries once.
  function request(opts) {
    var method = (opts.method || "GET").toUpperCase();
    var url = absolute(opts.url);
    function attempt(token) {
      return send(method, url, opts.data, Object.assign({}, opts.header || {}, { Authorization: "Bearer " + token }));
    }
    var used;
    return accessToken()
      .then(function (token) { used = token; return attempt(token); })
      .then(function (res) {
        if (res.statusCode !== 401) return res;
        var err = problemOf(res);
        if (err.code !== "invalid_token") return res;
        // A refresh that finished while this request was on its way has
        // already replaced the token: retry with it rather than rotate again.
        var s = load();
        if (s && s.accessToken && s.accessToken !== used) return attempt(s.accessToken);
        return refresh().then(function (n) { return attempt(n.accessToken); });
      })
      .then(function (res) {
        if (res.statusCode === 403) {
          var err = problemOf(res);
          if (LOGOUT_CODES[err.code]) endSession(err);
        }
        return res;
      });
  }

  // call is request for our own JSON endpoints: the body, or a MiniauthError.
  function call(method, path, data) {
    return request({ method: method, url: path, data: data }).then(ok).then(function (res) { return res.data; });
  }

  return {
    login: login,
    request: request,
    refresh: refresh,
    me: function () { return call("GET", "/me"); },
    logout: function (opts) {
      var p = load() ? call("POST", "/logout", opts && opts.all ? { all: true } : undefined) : Promise.resolve();
      return p.then(
        function () { clear(); },
        function () { clear(); }
      );
    },
    bindPhone: function (code) { return call("POST", "/me/phone", { code: code }); },
    decrypt: function (encryptedData, iv) {
      return call("POST", "/me/decrypt", { encrypted_data: encryptedData, iv: iv }).catch(function (err) {
        // The stored session_key is stale: log in again so the next
        // encrypted data WeChat gives opens.
        if (err.code === "session_key_stale") {
          return login().then(function () { throw err; });
        }
        throw err;
      });
    },
    verifySignature: function (rawData, signature) {
      return call("POST", "/me/verify-signature", { raw_data: rawData, signature: signature }).then(function () { return true; });
    },
    confirmQRLogin: function (scene, opts) {
      var ticket = decodeURIComponent(scene || "");
      var path = "/qr-login/" + encodeURIComponent(ticket);
      if (opts && opts.cancel) return call("POST", path + "/cancel").then(function () {});
      return call("POST", path + "/scan").then(function (scan) {
        if (opts && opts.review && !opts.review(scan)) {
          return call("POST", path + "/cancel").then(function () { return null; });
        }
        return call("POST", path + "/confirm").then(function () { return scan; });
      });
    },
    user: function () { var s = load(); return s ? s.user : null; },
    signedIn: function () { return !!load(); },
  };
}

module.exports = { createClient: createClient, MiniauthError: MiniauthError };
