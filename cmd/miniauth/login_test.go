package main

// End-to-end tests of POST /v1/t/{tenant}/login and of what every response
// of the server shares (problems, request ids, health). Each test builds its
// own world with setup(t), so they all run in parallel.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/miniauth/miniauth/auth/wechat/fake"
	"github.com/miniauth/miniauth/tenant/seal"
)

// ---------------------------------------------------------------- helpers

// loginPost posts {"code": code} to tenant slug's login endpoint.
func loginPost(t testing.TB, b *testBundle, slug, code string) response {
	t.Helper()
	return do(t, "POST", b.srv.URL+"/v1/t/"+slug+"/login", map[string]string{"code": code})
}

// loginUserCount counts every user row of the bundle's database.
func loginUserCount(t testing.TB, b *testBundle) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), `SELECT count(*) FROM users`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// loginWantProblem asserts r is an RFC 9457 problem with this status and
// code, and returns its decoded body.
func loginWantProblem(t testing.TB, r response, status int, code string) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d: %s", r.Status, status, r.Body)
	}
	if got := r.Code(t); got != code {
		t.Fatalf("problem code = %q, want %q: %s", got, code, r.Body)
	}
	m := r.JSON(t)
	if s, _ := m["type"].(string); s == "" {
		t.Errorf("problem without a type: %s", r.Body)
	}
	if s, _ := m["title"].(string); s == "" {
		t.Errorf("problem without a title: %s", r.Body)
	}
	if n, ok := m["status"].(float64); !ok || int(n) != status {
		t.Errorf("problem status member = %v, want %d: %s", m["status"], status, r.Body)
	}
	return m
}

// loginAssertClean asserts that none of secrets (nor their query-escaped
// forms) appears in the response body or headers, and that no WeChat
// errmsg/rid leaked through.
func loginAssertClean(t testing.TB, r response, secrets ...string) {
	t.Helper()
	var hdr strings.Builder
	for k, vs := range r.Header {
		hdr.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	all := string(r.Body) + "\n" + hdr.String()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(all, s) {
			t.Errorf("response leaks %q: %s", s, all)
		}
		// A JSON encoder may write a base64 session key's '/' as '\/'.
		if esc := strings.ReplaceAll(s, "/", `\/`); esc != s && strings.Contains(all, esc) {
			t.Errorf("response leaks %q (escaped): %s", s, all)
		}
	}
	for _, frag := range []string{"rid:", "errmsg", "errcode"} {
		if strings.Contains(string(r.Body), frag) {
			t.Errorf("response carries WeChat detail %q: %s", frag, r.Body)
		}
	}
}

// loginCreateTenantFor creates a tenant through the management API for an
// app the caller registered (or deliberately did not register) in the fake.
func loginCreateTenantFor(t testing.TB, b *testBundle, slug, appID, secret string) testTenant {
	t.Helper()
	r := b.api("POST", "/tenants", map[string]any{
		"slug": slug, "name": "Tenant " + slug, "wechat_appid": appID, "wechat_secret": secret,
	})
	if r.Status != http.StatusCreated {
		t.Fatalf("create tenant %s: %d %s", slug, r.Status, r.Body)
	}
	return testTenant{Slug: slug, AppID: appID, Secret: secret}
}

// loginDecodeSegment decodes one base64url JWT segment into a map.
func loginDecodeSegment(t testing.TB, seg string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("JWT segment is not base64url: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("JWT segment is not a JSON object: %v: %s", err, raw)
	}
	return m
}

// loginCheckTokenResponse checks the token response against DESIGN.md and
// returns it decoded.
func loginCheckTokenResponse(t testing.TB, b *testBundle, slug string, r response) tokens {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("token response Cache-Control = %q, want no-store", cc)
	}
	m := r.JSON(t)
	for _, k := range []string{"access_token", "token_type", "refresh_token"} {
		if s, ok := m[k].(string); !ok || s == "" {
			t.Errorf("%s = %#v, want a non-empty string", k, m[k])
		}
	}
	for _, k := range []string{"expires_in", "refresh_expires_in"} {
		if _, ok := m[k].(float64); !ok {
			t.Errorf("%s = %#v, want a number", k, m[k])
		}
	}
	u, ok := m["user"].(map[string]any)
	if !ok {
		t.Fatalf("user = %#v, want an object", m["user"])
	}
	for _, k := range []string{"id", "openid"} {
		if s, ok := u[k].(string); !ok || s == "" {
			t.Errorf("user.%s = %#v, want a non-empty string", k, u[k])
		}
	}
	if uid, present := u["unionid"]; !present {
		t.Errorf("user.unionid missing; DESIGN.md wants it present (null when unknown)")
	} else if _, isStr := uid.(string); uid != nil && !isStr {
		t.Errorf("user.unionid = %#v, want null or a string", uid)
	}
	if _, ok := u["is_new"].(bool); !ok {
		t.Errorf("user.is_new = %#v, want a boolean", u["is_new"])
	}
	for _, k := range []string{"session_key", "secret", "wechat_secret"} {
		if _, ok := m[k]; ok {
			t.Errorf("token response has a %q member", k)
		}
		if _, ok := u[k]; ok {
			t.Errorf("token response user has a %q member", k)
		}
	}

	var tok tokens
	if err := json.Unmarshal(r.Body, &tok); err != nil {
		t.Fatal(err)
	}
	if tok.TokenType != "Bearer" || tok.ExpiresIn != 900 || tok.RefreshExpiresIn != 2592000 {
		t.Errorf("token_type/expires_in/refresh_expires_in = %q/%d/%d, want Bearer/900/2592000",
			tok.TokenType, tok.ExpiresIn, tok.RefreshExpiresIn)
	}
	// >= 256 bits of randomness: at least 43 base64url characters.
	if len(tok.RefreshToken) < 43 {
		t.Errorf("refresh token %d characters, want an opaque value of >= 256 bits", len(tok.RefreshToken))
	}
	parts := strings.Split(tok.AccessToken, ".")
	if len(parts) != 3 {
		t.Fatalf("access token has %d parts, want 3", len(parts))
	}
	hdr := loginDecodeSegment(t, parts[0])
	if hdr["typ"] != "at+jwt" || hdr["alg"] != "ES256" {
		t.Errorf("JWT header = %v, want typ at+jwt, alg ES256", hdr)
	}
	if kid, _ := hdr["kid"].(string); kid == "" {
		t.Errorf("JWT header without kid: %v", hdr)
	}
	claims := loginDecodeSegment(t, parts[1])
	if want := b.cfg.PublicURL + "/v1/t/" + slug; claims["iss"] != want {
		t.Errorf("iss = %v, want %s", claims["iss"], want)
	}
	switch aud := claims["aud"].(type) {
	case string:
		if aud != slug {
			t.Errorf("aud = %q, want %q", aud, slug)
		}
	case []any:
		if len(aud) != 1 || aud[0] != slug {
			t.Errorf("aud = %v, want [%q]", aud, slug)
		}
	default:
		t.Errorf("aud = %#v, want %q", claims["aud"], slug)
	}
	if claims["sub"] != tok.User.ID {
		t.Errorf("sub = %v, want the user id %s", claims["sub"], tok.User.ID)
	}
	for _, k := range []string{"sid", "jti"} {
		if s, _ := claims[k].(string); s == "" {
			t.Errorf("claim %s missing: %v", k, claims)
		}
	}
	iat, _ := claims["iat"].(float64)
	exp, _ := claims["exp"].(float64)
	if iat == 0 || exp-iat != 900 {
		t.Errorf("iat %v exp %v, want exp = iat + 900", claims["iat"], claims["exp"])
	}
	return tok
}

// loginUserRow is what the tests read back from users.
type loginUserRow struct {
	TenantID    int64
	ID          string
	UnionID     *string
	LastLoginAt *time.Time
	LastLoginIP *string
	Sealed      []byte
}

func loginReadUser(t testing.TB, b *testBundle, openID string) loginUserRow {
	t.Helper()
	var u loginUserRow
	err := b.db.QueryRow(context.Background(), `
		SELECT tenant_id, id::text, unionid, last_login_at, host(last_login_ip), session_key_sealed
		FROM users WHERE openid = $1`, openID).
		Scan(&u.TenantID, &u.ID, &u.UnionID, &u.LastLoginAt, &u.LastLoginIP, &u.Sealed)
	if err != nil {
		t.Fatalf("read user %s: %v", openID, err)
	}
	return u
}

func loginStr(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// ---------------------------------------------------------------- 1. happy path

func TestLoginHappyPath(t *testing.T) {
	t.Parallel()

	t.Run("first then second login of an unbound app", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tt := b.createTenant("happy", nil)
		openID := b.wx.OpenID(tt.AppID, "alice")

		r := loginPost(t, b, tt.Slug, b.wx.MintCode(tt.AppID, "alice"))
		first := loginCheckTokenResponse(t, b, tt.Slug, r)
		sk1, ok := b.wx.SessionKey(tt.AppID, "alice")
		if !ok {
			t.Fatal("fake issued no session_key")
		}
		loginAssertClean(t, r, tt.Secret, sk1)
		if !first.User.IsNew {
			t.Error("first login: is_new = false, want true")
		}
		if first.User.OpenID != openID {
			t.Errorf("openid = %q, want %q", first.User.OpenID, openID)
		}
		if first.User.UnionID != nil {
			t.Errorf("unionid = %q for an unbound app, want null", *first.User.UnionID)
		}
		if u, ok := r.JSON(t)["user"].(map[string]any); !ok || u["unionid"] != nil {
			t.Errorf("user.unionid not JSON null: %s", r.Body)
		}

		row := loginReadUser(t, b, openID)
		if row.ID != first.User.ID {
			t.Errorf("users.id = %s, response id = %s", row.ID, first.User.ID)
		}
		if row.UnionID != nil {
			t.Errorf("users.unionid = %q, want NULL", *row.UnionID)
		}
		if row.LastLoginAt == nil || time.Since(*row.LastLoginAt).Abs() > 5*time.Minute {
			t.Errorf("users.last_login_at = %v, want about now", row.LastLoginAt)
		}
		if loginStr(row.LastLoginIP) != "127.0.0.1" {
			t.Errorf("users.last_login_ip = %s, want 127.0.0.1", loginStr(row.LastLoginIP))
		}
		loginCheckSealed(t, b, row, openID, sk1)

		// Same user, new code: not new, same id, one row, key updated.
		r = loginPost(t, b, tt.Slug, b.wx.MintCode(tt.AppID, "alice"))
		second := loginCheckTokenResponse(t, b, tt.Slug, r)
		sk2, _ := b.wx.SessionKey(tt.AppID, "alice")
		loginAssertClean(t, r, tt.Secret, sk1, sk2)
		if second.User.IsNew {
			t.Error("second login: is_new = true, want false")
		}
		if second.User.ID != first.User.ID || second.User.OpenID != openID {
			t.Errorf("second login user %s/%s, want %s/%s", second.User.ID, second.User.OpenID, first.User.ID, openID)
		}
		if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
			t.Error("second login reused the first login's tokens")
		}
		if n := loginUserCount(t, b); n != 1 {
			t.Errorf("users rows = %d, want 1", n)
		}
		row2 := loginReadUser(t, b, openID)
		if row2.LastLoginAt == nil || row2.LastLoginAt.Before(*row.LastLoginAt) {
			t.Errorf("last_login_at went from %v to %v", row.LastLoginAt, row2.LastLoginAt)
		}
		if sk1 == sk2 {
			t.Fatal("fake did not rotate the session_key; test cannot tell old from new")
		}
		loginCheckSealed(t, b, row2, openID, sk2)

		// The token works: /me answers this user.
		me := do(t, "GET", b.srv.URL+"/v1/t/"+tt.Slug+"/me", nil, "Authorization", "Bearer "+second.AccessToken)
		if me.Status != http.StatusOK || me.JSON(t)["id"] != first.User.ID {
			t.Errorf("me: %d %s", me.Status, me.Body)
		}
		loginAssertClean(t, me, tt.Secret, sk1, sk2)
	})

	t.Run("X-Forwarded-For from an untrusted peer is ignored", func(t *testing.T) {
		t.Parallel()
		b := setup(t) // no MINIAUTH_TRUSTED_PROXIES
		tt := b.createTenant("xff", nil)
		r := do(t, "POST", b.srv.URL+"/v1/t/"+tt.Slug+"/login", map[string]string{"code": b.wx.MintCode(tt.AppID, "erin")},
			"X-Forwarded-For", "203.0.113.9", "X-Real-IP", "203.0.113.10")
		tok := loginCheckTokenResponse(t, b, tt.Slug, r)
		if ip := loginStr(loginReadUser(t, b, tok.User.OpenID).LastLoginIP); ip != "127.0.0.1" {
			t.Errorf("users.last_login_ip = %s, want the socket address 127.0.0.1", ip)
		}
	})

	t.Run("unionid present when the app is bound", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		appID, secret := "wxboundapp00000001", "bound-app-secret-0001"
		b.wx.AddApp(appID, secret, "op-x")
		tt := loginCreateTenantFor(t, b, "bound", appID, secret)
		want := b.wx.UnionID(appID, "carol")
		if want == "" {
			t.Fatal("fake gives no unionid for a bound app")
		}
		r := loginPost(t, b, tt.Slug, b.wx.MintCode(appID, "carol"))
		tok := loginCheckTokenResponse(t, b, tt.Slug, r)
		if !tok.User.IsNew || tok.User.OpenID != b.wx.OpenID(appID, "carol") {
			t.Errorf("user = %+v", tok.User)
		}
		if tok.User.UnionID == nil || *tok.User.UnionID != want {
			t.Errorf("unionid = %s, want %s", loginStr(tok.User.UnionID), want)
		}
		row := loginReadUser(t, b, tok.User.OpenID)
		if loginStr(row.UnionID) != want {
			t.Errorf("users.unionid = %s, want %s", loginStr(row.UnionID), want)
		}
	})

	t.Run("unionid backfilled by a later login", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		appID, secret := "wxboundapp00000002", "bound-app-secret-0002"
		b.wx.AddApp(appID, secret, "op-x")
		tt := loginCreateTenantFor(t, b, "backfill", appID, secret)
		openID, want := b.wx.OpenID(appID, "dave"), b.wx.UnionID(appID, "dave")
		noUnion := fmt.Sprintf(`{"session_key":"AAECAwQFBgcICQoLDA0ODw==","openid":%q}`, openID)

		// First login: WeChat answers without unionid.
		b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, Body: noUnion})
		r := loginPost(t, b, tt.Slug, b.wx.MintCode(appID, "dave"))
		first := loginCheckTokenResponse(t, b, tt.Slug, r)
		if !first.User.IsNew || first.User.UnionID != nil {
			t.Fatalf("first login: is_new %v unionid %s, want true/null", first.User.IsNew, loginStr(first.User.UnionID))
		}
		if row := loginReadUser(t, b, openID); row.UnionID != nil {
			t.Fatalf("users.unionid = %s before backfill, want NULL", *row.UnionID)
		}

		// Second login carries the unionid: stored and answered.
		second := loginCheckTokenResponse(t, b, tt.Slug, loginPost(t, b, tt.Slug, b.wx.MintCode(appID, "dave")))
		if second.User.IsNew || second.User.ID != first.User.ID {
			t.Errorf("second login: is_new %v id %s, want false/%s", second.User.IsNew, second.User.ID, first.User.ID)
		}
		if loginStr(second.User.UnionID) != want {
			t.Errorf("second login unionid = %s, want %s", loginStr(second.User.UnionID), want)
		}
		if row := loginReadUser(t, b, openID); loginStr(row.UnionID) != want {
			t.Errorf("users.unionid = %s after backfill, want %s", loginStr(row.UnionID), want)
		}

		// A later answer without unionid does not erase it.
		b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, Body: noUnion})
		third := loginCheckTokenResponse(t, b, tt.Slug, loginPost(t, b, tt.Slug, b.wx.MintCode(appID, "dave")))
		if loginStr(third.User.UnionID) != want {
			t.Errorf("third login unionid = %s, want the stored %s", loginStr(third.User.UnionID), want)
		}
		if row := loginReadUser(t, b, openID); loginStr(row.UnionID) != want {
			t.Errorf("users.unionid = %s after a login without unionid, want %s kept", loginStr(row.UnionID), want)
		}
		if n := loginUserCount(t, b); n != 1 {
			t.Errorf("users rows = %d, want 1", n)
		}
	})
}

// loginCheckSealed asserts the stored session_key is sealed (neither the
// base64 text nor the raw bytes appear) and opens, under the master key, to
// the user's current session_key.
func loginCheckSealed(t testing.TB, b *testBundle, row loginUserRow, openID, sessionKey string) {
	t.Helper()
	if len(row.Sealed) == 0 {
		t.Error("users.session_key_sealed is empty")
		return
	}
	raw, err := base64.StdEncoding.DecodeString(sessionKey)
	if err != nil {
		t.Fatalf("fake session_key %q is not base64: %v", sessionKey, err)
	}
	if bytes.Equal(row.Sealed, []byte(sessionKey)) || bytes.Contains(row.Sealed, []byte(sessionKey)) {
		t.Error("session_key stored in plaintext")
	}
	if bytes.Contains(row.Sealed, raw) {
		t.Error("session_key's raw bytes stored in plaintext")
	}
	s, err := seal.New(b.cfg.MasterKey)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := s.Open(row.Sealed, fmt.Sprintf("session_key:%d:%s", row.TenantID, openID))
	if err != nil {
		t.Errorf("session_key_sealed does not open under the master key: %v", err)
		return
	}
	if string(plain) != sessionKey {
		t.Error("session_key_sealed opens to something other than the current session_key")
	}
}

// ---------------------------------------------------------------- 2. bad codes

func TestLoginInvalidCode(t *testing.T) {
	t.Parallel()

	t.Run("reused code", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tt := b.createTenant("reuse", nil)
		code := b.wx.MintCode(tt.AppID, "alice")
		loginCheckTokenResponse(t, b, tt.Slug, loginPost(t, b, tt.Slug, code))
		if n := loginUserCount(t, b); n != 1 {
			t.Fatalf("users rows = %d after one login, want 1", n)
		}
		r := loginPost(t, b, tt.Slug, code)
		loginWantProblem(t, r, http.StatusUnauthorized, "invalid_code")
		sk, _ := b.wx.SessionKey(tt.AppID, "alice")
		loginAssertClean(t, r, tt.Secret, sk)
		if n := loginUserCount(t, b); n != 1 {
			t.Errorf("users rows = %d after a reused code, want 1", n)
		}
		if got := b.wx.Calls(fake.EndpointJSCode2Session); got != 2 {
			t.Errorf("jscode2session calls = %d, want 2", got)
		}
	})

	t.Run("unknown code", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tt := b.createTenant("unknown-code", nil)
		r := loginPost(t, b, tt.Slug, "0123456789abcdef0123456789abcdef")
		loginWantProblem(t, r, http.StatusUnauthorized, "invalid_code")
		loginAssertClean(t, r, tt.Secret)
		if n := loginUserCount(t, b); n != 0 {
			t.Errorf("users rows = %d, want 0", n)
		}
	})

	t.Run("code of another tenant's app", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ta := b.createTenant("tenant-a", nil)
		tb := b.createTenant("tenant-b", nil)
		r := loginPost(t, b, ta.Slug, b.wx.MintCode(tb.AppID, "alice"))
		loginWantProblem(t, r, http.StatusUnauthorized, "invalid_code")
		if n := loginUserCount(t, b); n != 0 {
			t.Errorf("users rows = %d, want 0", n)
		}
	})
}

// ---------------------------------------------------------------- 3./4. WeChat faults

func TestLoginWeChatFaults(t *testing.T) {
	t.Parallel()
	type tc struct {
		name   string
		opts   []setupOption
		fault  *fake.Fault // injected on jscode2session; nil for none
		tenant func(t *testing.T, b *testBundle) testTenant
		status int
		code   string
		leak   func(tt testTenant) []string // extra strings that must not leak
	}
	wrongSecret := func(t *testing.T, b *testBundle) testTenant {
		b.wx.AddApp("wxwrongsecret0001", "the-real-secret-0001", "")
		return loginCreateTenantFor(t, b, "wrong-secret", "wxwrongsecret0001", "a-wrong-secret-0001")
	}
	unknownApp := func(t *testing.T, b *testBundle) testTenant {
		return loginCreateTenantFor(t, b, "unknown-app", "wxnotregistered01", "some-secret-0001")
	}
	ec := func(code int) *fake.Fault { return &fake.Fault{Endpoint: fake.EndpointJSCode2Session, Errcode: code} }
	cases := []tc{
		{name: "errcode -1", fault: ec(-1), status: 502, code: "wechat_unavailable",
			leak: func(testTenant) []string { return []string{"system error"} }},
		{name: "errcode 45011", fault: ec(45011), status: 429, code: "rate_limited",
			leak: func(testTenant) []string { return []string{"minute-quota"} }},
		{name: "errcode 40226", fault: ec(40226), status: 403, code: "wechat_risk_blocked",
			leak: func(testTenant) []string { return []string{"high risk user"} }},
		{name: "errcode 40029", fault: ec(40029), status: 401, code: "invalid_code"},
		{name: "errcode 40163", fault: ec(40163), status: 401, code: "invalid_code",
			leak: func(testTenant) []string { return []string{"code been used"} }},
		{name: "errcode 40013", fault: ec(40013), status: 502, code: "wechat_unavailable",
			leak: func(testTenant) []string { return []string{"invalid appid"} }},
		{name: "errcode 40125", fault: ec(40125), status: 502, code: "wechat_unavailable",
			leak: func(testTenant) []string { return []string{"invalid appsecret"} }},
		{name: "timeout", opts: []setupOption{func(c *Config) { c.WeChatTimeout = 300 * time.Millisecond }},
			fault: &fake.Fault{Endpoint: fake.EndpointJSCode2Session, Delay: 2 * time.Second}, status: 502, code: "wechat_unavailable"},
		{name: "http 500", fault: &fake.Fault{Endpoint: fake.EndpointJSCode2Session, HTTPStatus: 500}, status: 502, code: "wechat_unavailable",
			leak: func(testTenant) []string { return []string{"<html>", "Internal Server Error"} }},
		{name: "garbage body", fault: &fake.Fault{Endpoint: fake.EndpointJSCode2Session, Garbage: true}, status: 502, code: "wechat_unavailable",
			leak: func(testTenant) []string { return []string{"<html>", "nginx"} }},
		{name: "success without openid", fault: &fake.Fault{Endpoint: fake.EndpointJSCode2Session, Body: `{"session_key":"x"}`},
			status: 502, code: "wechat_unavailable"},
		{name: "success without session_key", fault: &fake.Fault{Endpoint: fake.EndpointJSCode2Session, Body: `{"openid":"oAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`},
			status: 502, code: "wechat_unavailable"},
		// A misbehaving upstream that echoes the request's secret must not
		// get it into the response.
		{name: "errmsg echoing the secret", status: 502, code: "wechat_unavailable",
			tenant: func(t *testing.T, b *testBundle) testTenant {
				tt := b.createTenant("echo", nil)
				b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session,
					Body: `{"errcode":40125,"errmsg":"invalid appsecret ` + tt.Secret + `, rid: 6789abcd-1234-5678"}`})
				return tt
			},
			leak: func(testTenant) []string { return []string{"6789abcd-1234-5678"} }},
		{name: "http 502 echoing the secret", status: 502, code: "wechat_unavailable",
			tenant: func(t *testing.T, b *testBundle) testTenant {
				tt := b.createTenant("echo-502", nil)
				b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, HTTPStatus: 502,
					Body: `bad gateway for /sns/jscode2session?secret=` + tt.Secret})
				return tt
			},
			leak: func(testTenant) []string { return []string{"bad gateway for", "jscode2session?"} }},
		{name: "tenant with a wrong secret (40125)", tenant: wrongSecret, status: 502, code: "wechat_unavailable",
			leak: func(testTenant) []string { return []string{"the-real-secret-0001", "invalid appsecret"} }},
		{name: "tenant with an unknown appid (40013)", tenant: unknownApp, status: 502, code: "wechat_unavailable",
			leak: func(testTenant) []string { return []string{"invalid appid"} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, c.opts...)
			var tt testTenant
			if c.tenant != nil {
				tt = c.tenant(t, b)
			} else {
				tt = b.createTenant("faults", nil)
			}
			if c.fault != nil {
				b.wx.Inject(*c.fault)
			}
			before := b.wx.Calls(fake.EndpointJSCode2Session)
			r := loginPost(t, b, tt.Slug, b.wx.MintCode(tt.AppID, "alice"))
			loginWantProblem(t, r, c.status, c.code)
			leaks := []string{tt.Secret}
			if c.leak != nil {
				leaks = append(leaks, c.leak(tt)...)
			}
			loginAssertClean(t, r, leaks...)
			if c.status == http.StatusTooManyRequests {
				ra := r.Header.Get("Retry-After")
				if n, err := strconv.Atoi(ra); err != nil || n < 1 {
					t.Errorf("Retry-After = %q, want a positive number of seconds", ra)
				}
			}
			if got := b.wx.Calls(fake.EndpointJSCode2Session) - before; got != 1 {
				t.Errorf("jscode2session called %d times for one login, want exactly 1 (never retried)", got)
			}
			if n := loginUserCount(t, b); n != 0 {
				t.Errorf("users rows = %d after a failed login, want 0", n)
			}
			var sessions int
			if err := b.db.QueryRow(context.Background(), `SELECT count(*) FROM sessions`).Scan(&sessions); err != nil {
				t.Fatal(err)
			}
			if sessions != 0 {
				t.Errorf("sessions rows = %d after a failed login, want 0", sessions)
			}
		})
	}
}

// ---------------------------------------------------------------- 5. malformed bodies

func TestLoginMalformedBodies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("malformed", nil)
	url := b.srv.URL + "/v1/t/" + tt.Slug + "/login"
	code := b.wx.MintCode(tt.AppID, "alice")

	cases := []struct {
		name   string
		body   string
		status int
		code   string
		field  string // a field errors[] must name, if any
	}{
		{"not JSON", `code=abc`, 400, "invalid_request", ""},
		{"JSON array", `["` + code + `"]`, 400, "invalid_request", ""},
		{"JSON string", `"` + code + `"`, 400, "invalid_request", ""},
		{"code is a number", `{"code": 5}`, 400, "invalid_request", "code"},
		{"code is an object", `{"code": {"v": "x"}}`, 400, "invalid_request", "code"},
		{"missing code", `{}`, 400, "invalid_request", "code"},
		{"null code", `{"code": null}`, 400, "invalid_request", "code"},
		{"empty code", `{"code": ""}`, 400, "invalid_request", "code"},
		{"code too long", `{"code":"` + strings.Repeat("a", 200) + `"}`, 400, "invalid_request", "code"},
		{"unknown field", `{"code":"` + code + `","extra":1}`, 400, "invalid_request", "extra"},
		{"empty body", ``, 400, "invalid_request", ""},
		{"whitespace body", "  \n ", 400, "invalid_request", ""},
		{"two objects", `{"code":"` + code + `"}{"code":"` + code + `"}`, 400, "invalid_request", ""},
		{"truncated", `{"code":"` + code, 400, "invalid_request", ""},
		{"oversized", `{"code":"` + code + `","pad":"` + strings.Repeat("x", 17<<10) + `"}`, 413, "request_too_large", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := do(t, "POST", url, c.body)
			m := loginWantProblem(t, r, c.status, c.code)
			if c.field != "" {
				found := false
				errs, _ := m["errors"].([]any)
				for _, e := range errs {
					if em, _ := e.(map[string]any); em["field"] == c.field {
						found = true
						if msg, _ := em["message"].(string); msg == "" {
							t.Errorf("errors[] entry for %q has no message: %s", c.field, r.Body)
						}
					}
				}
				if !found {
					t.Errorf("errors[] does not name field %q: %s", c.field, r.Body)
				}
			}
			if got := b.wx.Calls(fake.EndpointJSCode2Session); got != 0 {
				t.Errorf("jscode2session called %d times for a malformed request, want 0", got)
			}
		})
	}
	if n := loginUserCount(t, b); n != 0 {
		t.Errorf("users rows = %d, want 0", n)
	}
	// The limit is inclusive: one byte over is refused, exactly 16 KiB (a
	// valid object padded with whitespace) is read, and logs in with the
	// code none of the above spent.
	obj := `{"code":"` + code + `"}`
	over := obj + strings.Repeat(" ", 16<<10+1-len(obj))
	loginWantProblem(t, do(t, "POST", url, over), http.StatusRequestEntityTooLarge, "request_too_large")
	if got := b.wx.Calls(fake.EndpointJSCode2Session); got != 0 {
		t.Errorf("jscode2session called %d times for an oversized request, want 0", got)
	}
	exact := obj + strings.Repeat(" ", 16<<10-len(obj))
	tok := loginCheckTokenResponse(t, b, tt.Slug, do(t, "POST", url, exact))
	if !tok.User.IsNew {
		t.Error("the unspent code did not log in a new user")
	}
}

// ---------------------------------------------------------------- 6. tenant gate

func TestLoginTenantGate(t *testing.T) {
	t.Parallel()

	t.Run("unknown and invalid slugs", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tt := b.createTenant("real-tenant", nil)
		for _, slug := range []string{"no-such-tenant", "A_B", "Real-Tenant", strings.Repeat("a", 41), "ab"} {
			r := loginPost(t, b, slug, b.wx.MintCode(tt.AppID, "alice"))
			loginWantProblem(t, r, http.StatusNotFound, "tenant_not_found")
		}
		for _, path := range []string{"/v1/t/no-such-tenant/refresh", "/v1/t/no-such-tenant/me"} {
			method, body := "POST", any(map[string]string{"refresh_token": strings.Repeat("r", 43)})
			if strings.HasSuffix(path, "/me") {
				method, body = "GET", nil
			}
			r := do(t, method, b.srv.URL+path, body, "Authorization", "Bearer x.y.z")
			loginWantProblem(t, r, http.StatusNotFound, "tenant_not_found")
		}
		if got := b.wx.Calls(fake.EndpointJSCode2Session); got != 0 {
			t.Errorf("jscode2session called %d times for unknown tenants, want 0", got)
		}
		if n := loginUserCount(t, b); n != 0 {
			t.Errorf("users rows = %d, want 0", n)
		}
	})

	t.Run("disabled tenant", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tt := b.createTenant("gated", nil)
		tok := b.login(nil, tt, "alice")
		meURL := b.srv.URL + "/v1/t/" + tt.Slug + "/me"
		me := func() response { return do(t, "GET", meURL, nil, "Authorization", "Bearer "+tok.AccessToken) }

		r := b.api("PATCH", "/tenants/"+tt.Slug, map[string]any{"status": "disabled"})
		if r.Status != http.StatusOK || r.JSON(t)["status"] != "disabled" {
			t.Fatalf("disable: %d %s", r.Status, r.Body)
		}
		// The instance that made the change enforces it at once.
		loginWantProblem(t, me(), http.StatusForbidden, "tenant_disabled")

		calls := b.wx.Calls(fake.EndpointJSCode2Session)
		code := b.wx.MintCode(tt.AppID, "alice")
		loginWantProblem(t, loginPost(t, b, tt.Slug, code), http.StatusForbidden, "tenant_disabled")
		if got := b.wx.Calls(fake.EndpointJSCode2Session); got != calls {
			t.Errorf("login on a disabled tenant called jscode2session %d times, want 0", got-calls)
		}
		refresh := func() response {
			return do(t, "POST", b.srv.URL+"/v1/t/"+tt.Slug+"/refresh", map[string]string{"refresh_token": tok.RefreshToken})
		}
		loginWantProblem(t, refresh(), http.StatusForbidden, "tenant_disabled")
		// A new user cannot get in either, and nothing was written.
		loginWantProblem(t, loginPost(t, b, tt.Slug, b.wx.MintCode(tt.AppID, "bob")), http.StatusForbidden, "tenant_disabled")
		if n := loginUserCount(t, b); n != 1 {
			t.Errorf("users rows = %d, want 1", n)
		}

		r = b.api("PATCH", "/tenants/"+tt.Slug, map[string]any{"status": "active"})
		if r.Status != http.StatusOK || r.JSON(t)["status"] != "active" {
			t.Fatalf("enable: %d %s", r.Status, r.Body)
		}
		if r := me(); r.Status != http.StatusOK {
			t.Fatalf("/me after enabling: %d %s", r.Status, r.Body)
		}

		// The code refused while disabled was never sent to WeChat: still good.
		again := loginCheckTokenResponse(t, b, tt.Slug, loginPost(t, b, tt.Slug, code))
		if again.User.IsNew || again.User.ID != tok.User.ID {
			t.Errorf("login after re-enable: is_new %v id %s, want false/%s", again.User.IsNew, again.User.ID, tok.User.ID)
		}
		// The refresh token refused while disabled was not spent either.
		rr := refresh()
		if rr.Status != http.StatusOK {
			t.Errorf("refresh after re-enable: %d %s", rr.Status, rr.Body)
		}
	})
}

// ---------------------------------------------------------------- 7. concurrency

func TestLoginConcurrentFirstLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("stampede", nil)
	const n = 20
	codes := make([]string, n)
	for i := range codes {
		codes[i] = b.wx.MintCode(tt.AppID, "zoe")
	}
	type result struct {
		status int
		body   []byte
		err    error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			body, _ := json.Marshal(map[string]string{"code": codes[i]})
			resp, err := http.Post(b.srv.URL+"/v1/t/"+tt.Slug+"/login", "application/json", bytes.NewReader(body))
			if err != nil {
				results[i].err = err
				return
			}
			defer resp.Body.Close()
			results[i].status = resp.StatusCode
			results[i].body, results[i].err = io.ReadAll(resp.Body)
		}()
	}
	close(start)
	wg.Wait()

	newCount := 0
	ids := map[string]int{}
	for i, r := range results {
		if r.err != nil {
			t.Errorf("login %d: %v", i, r.err)
			continue
		}
		if r.status != http.StatusOK {
			t.Errorf("login %d: %d %s", i, r.status, r.body)
			continue
		}
		var tok tokens
		if err := json.Unmarshal(r.body, &tok); err != nil {
			t.Errorf("login %d: %v", i, err)
			continue
		}
		if tok.User.IsNew {
			newCount++
		}
		if tok.User.OpenID != b.wx.OpenID(tt.AppID, "zoe") {
			t.Errorf("login %d: openid %q", i, tok.User.OpenID)
		}
		ids[tok.User.ID]++
	}
	if newCount != 1 {
		t.Errorf("%d logins answered is_new=true, want exactly 1", newCount)
	}
	if len(ids) != 1 {
		t.Errorf("logins answered %d distinct user ids, want 1: %v", len(ids), ids)
	}
	if rows := loginUserCount(t, b); rows != 1 {
		t.Errorf("users rows = %d, want 1", rows)
	}
	var sessions int
	if err := b.db.QueryRow(context.Background(), `SELECT count(*) FROM sessions`).Scan(&sessions); err != nil {
		t.Fatal(err)
	}
	if sessions != n {
		t.Errorf("sessions rows = %d, want %d (one per login)", sessions, n)
	}
	if got := b.wx.Calls(fake.EndpointJSCode2Session); got != n {
		t.Errorf("jscode2session calls = %d, want %d", got, n)
	}
}

// ---------------------------------------------------------------- 8. secrets at rest

func TestLoginSecretsAtRest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("at-rest", nil)
	alice := b.login(nil, tt, "alice")
	bob := b.login(nil, tt, "bob")
	// A second login rotates alice's key; the old one must not linger either.
	skOld, _ := b.wx.SessionKey(tt.AppID, "alice")
	alice2 := b.login(nil, tt, "alice")
	skA, _ := b.wx.SessionKey(tt.AppID, "alice")
	skB, _ := b.wx.SessionKey(tt.AppID, "bob")

	type needle struct {
		name string
		val  []byte
	}
	needles := []needle{
		{"AppSecret", []byte(tt.Secret)},
		{"API key", []byte(b.apiKey)},
		{"refresh token alice", []byte(alice.RefreshToken)},
		{"refresh token alice 2", []byte(alice2.RefreshToken)},
		{"refresh token bob", []byte(bob.RefreshToken)},
	}
	for i, sk := range []string{skOld, skA, skB} {
		if sk == "" {
			t.Fatalf("fake issued no session_key %d", i)
		}
		raw, err := base64.StdEncoding.DecodeString(sk)
		if err != nil {
			t.Fatal(err)
		}
		needles = append(needles,
			needle{fmt.Sprintf("session_key %d", i), []byte(sk)},
			needle{fmt.Sprintf("session_key %d raw bytes", i), raw})
	}

	ctx := context.Background()
	rows, err := b.db.Query(ctx, `
		SELECT c.table_name, c.column_name, c.data_type
		FROM information_schema.columns c
		JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
		ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	type column struct{ table, name, typ string }
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.table, &c.name, &c.typ); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cols) == 0 {
		t.Fatal("no columns found in the public schema")
	}

	values, foundOpenID := 0, false
	openID := b.wx.OpenID(tt.AppID, "alice")
	for _, c := range cols {
		col := pgx.Identifier{c.name}.Sanitize()
		tbl := pgx.Identifier{c.table}.Sanitize()
		var q string
		if c.typ == "bytea" {
			q = fmt.Sprintf(`SELECT %s, encode(%s, 'escape') FROM %s WHERE %s IS NOT NULL`, col, col, tbl, col)
		} else {
			q = fmt.Sprintf(`SELECT convert_to(%s::text, 'UTF8'), %s::text FROM %s WHERE %s IS NOT NULL`, col, col, tbl, col)
		}
		vr, err := b.db.Query(ctx, q)
		if err != nil {
			t.Fatalf("scan %s.%s: %v", c.table, c.name, err)
		}
		for vr.Next() {
			var raw []byte
			var text string
			if err := vr.Scan(&raw, &text); err != nil {
				t.Fatalf("scan %s.%s: %v", c.table, c.name, err)
			}
			values++
			if text == openID {
				foundOpenID = true
			}
			for _, n := range needles {
				if bytes.Contains(raw, n.val) || strings.Contains(text, string(n.val)) {
					t.Errorf("%s found in plaintext in %s.%s", n.name, c.table, c.name)
				}
			}
		}
		if err := vr.Err(); err != nil {
			t.Fatalf("scan %s.%s: %v", c.table, c.name, err)
		}
	}
	// The scan must actually have seen the data it is vouching for.
	if !foundOpenID || values < 20 {
		t.Errorf("scan saw %d values (alice's openid found: %v); it is not looking at the right database", values, foundOpenID)
	}
}

// ---------------------------------------------------------------- 9. routes and health

func TestLoginRoutesAndHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createTenant("routes", nil)

	for _, path := range []string{"/nope", "/v1/t/routes/nope", "/v1/t/routes/login/extra", "/api/v1/nope"} {
		r := do(t, "GET", b.srv.URL+path, nil, "Authorization", "Bearer "+b.apiKey)
		if r.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404: %s", path, r.Status, r.Body)
			continue
		}
		if code := r.Code(t); code == "" {
			t.Errorf("GET %s: problem without a code: %s", path, r.Body)
		}
		loginWantProblem(t, r, http.StatusNotFound, r.Code(t))
	}
	for _, c := range []struct{ method, path, allow string }{
		{"GET", "/v1/t/routes/login", "POST"},
		{"PUT", "/v1/t/routes/refresh", "POST"},
		{"DELETE", "/healthz", "GET"},
	} {
		r := do(t, c.method, b.srv.URL+c.path, nil)
		loginWantProblem(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
		// RFC 9110 15.5.6: a 405 MUST carry Allow.
		if allow := r.Header.Get("Allow"); !strings.Contains(allow, c.allow) {
			t.Errorf("%s %s: Allow = %q, want it to list %s", c.method, c.path, allow, c.allow)
		}
	}

	r := do(t, "GET", b.srv.URL+"/healthz", nil)
	if r.Status != http.StatusOK {
		t.Errorf("/healthz: %d %s", r.Status, r.Body)
	}
	r = do(t, "GET", b.srv.URL+"/readyz", nil)
	if r.Status != http.StatusOK {
		t.Errorf("/readyz: %d %s", r.Status, r.Body)
	} else if m := r.JSON(t); m["postgres"] != "ok" || m["redis"] != "ok" {
		t.Errorf("/readyz = %s, want postgres and redis ok", r.Body)
	}
}

// ---------------------------------------------------------------- 10. request ids

func TestLoginRequestID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("reqid", nil)

	// One is generated when none is sent, different per request, on
	// successes and on problems alike.
	seen := map[string]bool{}
	for _, r := range []response{
		do(t, "GET", b.srv.URL+"/healthz", nil),
		do(t, "GET", b.srv.URL+"/healthz", nil),
		loginPost(t, b, tt.Slug, "bogus-code-0000"),
		do(t, "GET", b.srv.URL+"/nope", nil),
		loginPost(t, b, tt.Slug, b.wx.MintCode(tt.AppID, "alice")),
	} {
		id := r.Header.Get("X-Request-ID")
		if id == "" {
			t.Errorf("status %d response without X-Request-ID", r.Status)
			continue
		}
		if seen[id] {
			t.Errorf("X-Request-ID %q answered twice", id)
		}
		seen[id] = true
	}

	// A sane incoming id is echoed, on success and on error.
	for _, id := range []string{"abc-123.DEF_4", "0f8e2d1c-5b3a-4c7d-9e6f-1a2b3c4d5e6f"} {
		if got := do(t, "GET", b.srv.URL+"/healthz", nil, "X-Request-ID", id).Header.Get("X-Request-ID"); got != id {
			t.Errorf("sent X-Request-ID %q, got back %q", id, got)
		}
		r := do(t, "POST", b.srv.URL+"/v1/t/"+tt.Slug+"/login", `{}`, "X-Request-ID", id)
		if got := r.Header.Get("X-Request-ID"); got != id || r.Status != http.StatusBadRequest {
			t.Errorf("login with X-Request-ID %q: %d, got back %q", id, r.Status, got)
		}
	}

	// An insane one is replaced, not echoed.
	for _, id := range []string{strings.Repeat("a", 200), "bad id with spaces", "inject\"quote", "<script>"} {
		got := do(t, "GET", b.srv.URL+"/healthz", nil, "X-Request-ID", id).Header.Get("X-Request-ID")
		if got == "" || got == id {
			t.Errorf("sent X-Request-ID %q, got back %q; want a fresh id", id, got)
		}
	}
}
