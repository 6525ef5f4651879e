package main

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/miniauth/miniauth/auth/wechat/fake"
)

// meCall posts body to /v1/t/{slug}/me/{what} with the access token.
func meCall(t *testing.T, srv *testServer, slug, what, access string, body any) response {
	t.Helper()
	return do(t, "POST", srv.URL+"/v1/t/"+slug+"/me/"+what, body, "Authorization", "Bearer "+access)
}

// Encrypted data and rawData signatures are opened with the session_key
// stored at login; once WeChat rotates it behind the server's back, both
// answer 409 session_key_stale, and a new login makes them work again.
func TestDecryptAndVerifySignature(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv2 := b.startInstance()
	tt := b.createTenant("decrypt", nil)
	alice := b.login(nil, tt, "alice")

	ed, iv, err := b.wx.EncryptData(tt.AppID, "alice", map[string]any{"nickName": "Alice", "openGId": "g-1"})
	if err != nil {
		t.Fatal(err)
	}
	r := wantStatus(t, "decrypt", meCall(t, srv2, tt.Slug, "decrypt", alice.AccessToken, map[string]string{"encrypted_data": ed, "iv": iv}), http.StatusOK, "")
	m := r.JSON(t)
	if m["nickName"] != "Alice" || m["openGId"] != "g-1" || m["watermark"].(map[string]any)["appid"] != tt.AppID {
		t.Fatalf("decrypted %s", r.Body)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Fatalf("Cache-Control %q, want no-store", cc)
	}

	raw := `{"nickName":"Alice","gender":0}`
	sig, _ := b.wx.SignRawData(tt.AppID, "alice", raw)
	wantStatus(t, "verify signature", meCall(t, b.srv, tt.Slug, "verify-signature", alice.AccessToken,
		map[string]string{"raw_data": raw, "signature": sig}), http.StatusNoContent, "")

	// Tampered or malformed input: 4xx, never a 5xx.
	ct, _ := base64.StdEncoding.DecodeString(ed)
	ct[len(ct)-1] ^= 0x55
	for name, tc := range map[string]struct {
		what   string
		body   any
		status int
		code   string
	}{
		"bad iv":             {"decrypt", map[string]string{"encrypted_data": ed, "iv": "AAAA"}, 400, "invalid_request"},
		"missing data":       {"decrypt", map[string]string{"iv": iv}, 400, "invalid_request"},
		"not base64":         {"decrypt", map[string]string{"encrypted_data": "***", "iv": iv}, 400, "invalid_request"},
		"flipped ciphertext": {"decrypt", map[string]string{"encrypted_data": base64.StdEncoding.EncodeToString(ct), "iv": iv}, 409, "session_key_stale"},
		"unknown field":      {"decrypt", map[string]string{"encrypted_data": ed, "iv": iv, "key": "x"}, 400, "invalid_request"},
		"tampered raw data":  {"verify-signature", map[string]string{"raw_data": raw + " ", "signature": sig}, 409, "session_key_stale"},
		"short signature":    {"verify-signature", map[string]string{"raw_data": raw, "signature": sig[:20]}, 400, "invalid_request"},
		"no raw data":        {"verify-signature", map[string]string{"signature": sig}, 400, "invalid_request"},
	} {
		wantStatus(t, name, meCall(t, b.srv, tt.Slug, tc.what, alice.AccessToken, tc.body), tc.status, tc.code)
	}
	// Without a token: 401.
	wantStatus(t, "decrypt without a token", do(t, "POST", b.srv.URL+"/v1/t/"+tt.Slug+"/me/decrypt",
		map[string]string{"encrypted_data": ed, "iv": iv}), http.StatusUnauthorized, "invalid_token")

	// Data of another app, opened with the right key, is refused.
	other := b.createTenant("decrypt-other", nil)
	bob := b.login(nil, other, "bob")
	edOther, ivOther, _ := b.wx.EncryptData(other.AppID, "bob", map[string]any{"x": 1})
	wantStatus(t, "another tenant's token", meCall(t, b.srv, tt.Slug, "decrypt", bob.AccessToken,
		map[string]string{"encrypted_data": edOther, "iv": ivOther}), http.StatusUnauthorized, "invalid_token")

	// WeChat rotates the session_key (a wx.login the server never saw).
	if err := b.wx.RotateSessionKey(tt.AppID, "alice"); err != nil {
		t.Fatal(err)
	}
	ed2, iv2, _ := b.wx.EncryptData(tt.AppID, "alice", map[string]any{"nickName": "Alice"})
	sig2, _ := b.wx.SignRawData(tt.AppID, "alice", raw)
	r = meCall(t, srv2, tt.Slug, "decrypt", alice.AccessToken, map[string]string{"encrypted_data": ed2, "iv": iv2})
	wantStatus(t, "decrypt with a stale key", r, http.StatusConflict, "session_key_stale")
	if !strings.Contains(r.JSON(t)["detail"].(string), "wx.login") {
		t.Fatalf("stale detail does not tell the client to call wx.login: %s", r.Body)
	}
	wantStatus(t, "verify with a stale key", meCall(t, srv2, tt.Slug, "verify-signature", alice.AccessToken,
		map[string]string{"raw_data": raw, "signature": sig2}), http.StatusConflict, "session_key_stale")

	// Logging in again stores the current key.
	alice = b.login(srv2, tt, "alice")
	ed3, iv3, _ := b.wx.EncryptData(tt.AppID, "alice", map[string]any{"nickName": "Alice"})
	wantStatus(t, "decrypt after a new login", meCall(t, b.srv, tt.Slug, "decrypt", alice.AccessToken,
		map[string]string{"encrypted_data": ed3, "iv": iv3}), http.StatusOK, "")

	// A user without a stored key: stale, whatever is sent.
	if _, err := b.db.Exec(t.Context(), `UPDATE users SET session_key_sealed = NULL`); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "decrypt without a stored key", meCall(t, b.srv, tt.Slug, "decrypt", alice.AccessToken,
		map[string]string{"encrypted_data": ed3, "iv": iv3}), http.StatusConflict, "session_key_stale")
	wantStatus(t, "verify without a stored key", meCall(t, b.srv, tt.Slug, "verify-signature", alice.AccessToken,
		map[string]string{"raw_data": raw, "signature": strings.Repeat("0", 40)}), http.StatusConflict, "session_key_stale")
}

// Operators ask WeChat whether a user's stored session_key is current
// (checksession) and have it replaced (resetusersessionkey); the key itself
// never leaves the server.
func TestSessionKeyHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := mgmtPlatform(t, b)
	tt := b.createTenant("skeys", nil)
	other := b.createTenant("skeys-other", nil)
	alice := b.login(nil, tt, "alice")
	path := "/tenants/" + tt.Slug + "/users/" + alice.User.ID + "/session-key"

	check := func(want bool) {
		t.Helper()
		r := wantStatus(t, "check session key", c.do("GET", path, nil), http.StatusOK, "")
		m := r.JSON(t)
		if m["valid"] != want || m["checked_at"] == nil {
			t.Fatalf("check: %s, want valid %v", r.Body, want)
		}
	}
	check(true)

	if err := b.wx.RotateSessionKey(tt.AppID, "alice"); err != nil {
		t.Fatal(err)
	}
	check(false)
	// A stale key cannot prove anything to WeChat.
	wantStatus(t, "reset with a stale key", c.do("POST", path+"/reset", nil), http.StatusConflict, "conflict")

	b.login(nil, tt, "alice")
	check(true)
	before, _ := b.wx.SessionKey(tt.AppID, "alice")
	r := wantStatus(t, "reset", c.do("POST", path+"/reset", nil), http.StatusOK, "")
	after, _ := b.wx.SessionKey(tt.AppID, "alice")
	if before == after || strings.Contains(string(r.Body), after) || strings.Contains(string(r.Body), before) {
		t.Fatalf("reset: key %q -> %q, answer %s", before, after, r.Body)
	}
	check(true)
	// Data made with the new key opens: the new key was stored.
	ed, iv, _ := b.wx.EncryptData(tt.AppID, "alice", map[string]any{"n": 1})
	wantStatus(t, "decrypt after reset", meCall(t, b.srv, tt.Slug, "decrypt", alice.AccessToken,
		map[string]string{"encrypted_data": ed, "iv": iv}), http.StatusOK, "")
	if n := mgmtCount(t, b, `SELECT count(*) FROM audit_log WHERE action = 'user.session_key_reset'`); n != 1 {
		t.Fatalf("audit entries for the reset: %d, want 1", n)
	}

	// Least privilege: a viewer may check, not reset; another tenant's key neither.
	_, viewer := mgmtCreateKey(t, c, "viewer", "tenant_viewer", tt.Slug)
	_, stranger := mgmtCreateKey(t, c, "stranger", "tenant_admin", other.Slug)
	wantStatus(t, "viewer checks", c.as(viewer).do("GET", path, nil), http.StatusOK, "")
	wantStatus(t, "viewer resets", c.as(viewer).do("POST", path+"/reset", nil), http.StatusForbidden, "forbidden")
	wantStatus(t, "another tenant's admin checks", c.as(stranger).do("GET", path, nil), http.StatusForbidden, "forbidden")
	// The user id of one tenant under another's slug is not found.
	wantStatus(t, "user under another tenant", c.do("GET", "/tenants/"+other.Slug+"/users/"+alice.User.ID+"/session-key", nil), http.StatusNotFound, "not_found")
	wantStatus(t, "malformed user id", c.do("GET", "/tenants/"+tt.Slug+"/users/not-a-uuid/session-key", nil), http.StatusNotFound, "not_found")

	// WeChat failing: 502; no stored key: 409.
	b.wx.Inject(fake.Fault{Endpoint: fake.EndpointCheckSession, HTTPStatus: 500})
	wantStatus(t, "check while WeChat fails", c.do("GET", path, nil), http.StatusBadGateway, "wechat_unavailable")
	b.wx.Inject(fake.Fault{Endpoint: fake.EndpointResetSessionKey, Errcode: 45009})
	wantStatus(t, "reset over the daily quota", c.do("POST", path+"/reset", nil), http.StatusServiceUnavailable, "wechat_quota_exceeded")
	b.wx.Inject(fake.Fault{Endpoint: fake.EndpointResetSessionKey, Garbage: true})
	wantStatus(t, "reset while WeChat fails", c.do("POST", path+"/reset", nil), http.StatusBadGateway, "wechat_unavailable")
	check(true) // the failed resets changed nothing
	if _, err := b.db.Exec(t.Context(), `UPDATE users SET session_key_sealed = NULL`); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "check without a stored key", c.do("GET", path, nil), http.StatusConflict, "conflict")
	wantStatus(t, "reset without a stored key", c.do("POST", path+"/reset", nil), http.StatusConflict, "conflict")
}
