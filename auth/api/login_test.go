package api_test

// POST /v1/t/{tenant}/login on one engine: the token response, what is
// stored, bad codes, WeChat faults, malformed bodies, the tenant gate and
// concurrent first logins.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miniauth/miniauth/auth/wechat/fake"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/seal"
)

// setupMasterKey is the key setup seals with.
var setupMasterKey = bytes.Repeat([]byte{7}, 32)

// httptestClientIP is the address httptest requests come from.
const httptestClientIP = "192.0.2.1"

// doHeaders is b.do with extra request headers (alternating name, value).
func (b *testBundle) doHeaders(t *testing.T, r request, headers ...string) response {
	t.Helper()
	var body io.Reader
	switch v := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(v)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(r.method, r.path, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	if r.ip != "" {
		req.RemoteAddr = r.ip + ":40000"
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	b.engine.ServeHTTP(rec, req)
	resp := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if strings.HasPrefix(resp.header.Get("Content-Type"), "application/problem+json") {
		if err := json.Unmarshal(resp.body, &resp.problem); err != nil {
			t.Fatalf("%s %s: problem body %q: %v", r.method, r.path, resp.body, err)
		}
	}
	return resp
}

// serveConcurrently serves reqs at once on the engine, without touching t
// from the serving goroutines, and returns the recorded answers in order.
func (b *testBundle) serveConcurrently(reqs []*http.Request) []*httptest.ResponseRecorder {
	recs := make([]*httptest.ResponseRecorder, len(reqs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, req := range reqs {
		recs[i] = httptest.NewRecorder()
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			b.engine.ServeHTTP(recs[i], req)
		}()
	}
	close(start)
	wg.Wait()
	return recs
}

func (b *testBundle) loginPost(t *testing.T, slug, code string) response {
	t.Helper()
	return b.do(t, request{method: http.MethodPost, path: path(slug, "/login"), body: map[string]string{"code": code}})
}

// rowCount counts the rows of a table.
func (b *testBundle) rowCount(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// tenantFor creates a tenant for an app the caller registered (or
// deliberately did not register) in the fake.
func (b *testBundle) tenantFor(t *testing.T, slug, appID, secret string) testTenant {
	t.Helper()
	ten, err := b.store.Create(context.Background(), tenant.NewTenant{
		Slug: slug, Name: "Tenant " + slug, WeChatAppID: appID, WeChatSecret: secret,
	})
	if err != nil {
		t.Fatalf("create tenant %s: %v", slug, err)
	}
	return testTenant{Tenant: ten, secret: secret}
}

// wantFullProblem is wantProblem that also wants the RFC 9457 type and title.
func (r response) wantFullProblem(t *testing.T, status int, code string) {
	t.Helper()
	r.wantProblem(t, status, code)
	if r.problem.Type == "" {
		t.Errorf("problem without a type: %s", r.body)
	}
	if r.problem.Title == "" {
		t.Errorf("problem without a title: %s", r.body)
	}
}

// assertClean asserts that none of secrets (nor their JSON-escaped forms)
// appears in the response body or headers, and that no WeChat errmsg/rid
// leaked through.
func (r response) assertClean(t *testing.T, secrets ...string) {
	t.Helper()
	var hdr strings.Builder
	for k, vs := range r.header {
		hdr.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	all := string(r.body) + "\n" + hdr.String()
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
		if strings.Contains(string(r.body), frag) {
			t.Errorf("response carries WeChat detail %q: %s", frag, r.body)
		}
	}
}

// jwtSegment decodes one base64url JWT segment into a map.
func jwtSegment(t *testing.T, seg string) map[string]any {
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

// checkTokenResponse checks a login answer against DESIGN.md and returns
// it decoded.
func checkTokenResponse(t *testing.T, slug string, r response) tokenResponse {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("token response Cache-Control = %q, want no-store", cc)
	}
	var m map[string]any
	r.decode(t, &m)
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

	var tok tokenResponse
	r.decode(t, &tok)
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
	hdr := jwtSegment(t, parts[0])
	if hdr["typ"] != "at+jwt" || hdr["alg"] != "ES256" {
		t.Errorf("JWT header = %v, want typ at+jwt, alg ES256", hdr)
	}
	if kid, _ := hdr["kid"].(string); kid == "" {
		t.Errorf("JWT header without kid: %v", hdr)
	}
	claims := jwtSegment(t, parts[1])
	if want := "http://miniauth.test/v1/t/" + slug; claims["iss"] != want {
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

// userRow is what the tests read back from users.
type userRow struct {
	TenantID    int64
	ID          string
	UnionID     *string
	LastLoginAt *time.Time
	LastLoginIP *string
	Sealed      []byte
}

func (b *testBundle) readUser(t *testing.T, openID string) userRow {
	t.Helper()
	var u userRow
	err := b.db.QueryRow(context.Background(), `
		SELECT tenant_id, id::text, unionid, last_login_at, host(last_login_ip), session_key_sealed
		FROM users WHERE openid = $1`, openID).
		Scan(&u.TenantID, &u.ID, &u.UnionID, &u.LastLoginAt, &u.LastLoginIP, &u.Sealed)
	if err != nil {
		t.Fatalf("read user %s: %v", openID, err)
	}
	return u
}

func orNull(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// checkSealed asserts the stored session_key is sealed (neither the base64
// text nor the raw bytes appear) and opens, under the master key, to the
// user's current session_key.
func checkSealed(t *testing.T, row userRow, openID, sessionKey string) {
	t.Helper()
	if len(row.Sealed) == 0 {
		t.Error("users.session_key_sealed is empty")
		return
	}
	raw, err := base64.StdEncoding.DecodeString(sessionKey)
	if err != nil {
		t.Fatalf("fake session_key %q is not base64: %v", sessionKey, err)
	}
	if bytes.Contains(row.Sealed, []byte(sessionKey)) {
		t.Error("session_key stored in plaintext")
	}
	if bytes.Contains(row.Sealed, raw) {
		t.Error("session_key's raw bytes stored in plaintext")
	}
	s, err := seal.New(setupMasterKey)
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

func TestLoginHappyPath(t *testing.T) {
	t.Parallel()

	t.Run("first then second login of an unbound app", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tt := b.tenant(t, "happy")
		openID := b.wx.OpenID(tt.WeChatAppID, "alice")

		r := b.loginPost(t, tt.Slug, b.wx.MintCode(tt.WeChatAppID, "alice"))
		first := checkTokenResponse(t, tt.Slug, r)
		sk1, ok := b.wx.SessionKey(tt.WeChatAppID, "alice")
		if !ok {
			t.Fatal("fake issued no session_key")
		}
		r.assertClean(t, tt.secret, sk1)
		if !first.User.IsNew {
			t.Error("first login: is_new = false, want true")
		}
		if first.User.OpenID != openID {
			t.Errorf("openid = %q, want %q", first.User.OpenID, openID)
		}
		if first.User.UnionID != nil {
			t.Errorf("unionid = %q for an unbound app, want null", *first.User.UnionID)
		}
		var shape map[string]any
		r.decode(t, &shape)
		if u, ok := shape["user"].(map[string]any); !ok || u["unionid"] != nil {
			t.Errorf("user.unionid not JSON null: %s", r.body)
		}

		row := b.readUser(t, openID)
		if row.ID != first.User.ID {
			t.Errorf("users.id = %s, response id = %s", row.ID, first.User.ID)
		}
		if row.UnionID != nil {
			t.Errorf("users.unionid = %q, want NULL", *row.UnionID)
		}
		if row.LastLoginAt == nil || time.Since(*row.LastLoginAt).Abs() > 5*time.Minute {
			t.Errorf("users.last_login_at = %v, want about now", row.LastLoginAt)
		}
		if orNull(row.LastLoginIP) != httptestClientIP {
			t.Errorf("users.last_login_ip = %s, want %s", orNull(row.LastLoginIP), httptestClientIP)
		}
		checkSealed(t, row, openID, sk1)

		// Same user, new code: not new, same id, one row, key updated.
		r = b.loginPost(t, tt.Slug, b.wx.MintCode(tt.WeChatAppID, "alice"))
		second := checkTokenResponse(t, tt.Slug, r)
		sk2, _ := b.wx.SessionKey(tt.WeChatAppID, "alice")
		r.assertClean(t, tt.secret, sk1, sk2)
		if second.User.IsNew {
			t.Error("second login: is_new = true, want false")
		}
		if second.User.ID != first.User.ID || second.User.OpenID != openID {
			t.Errorf("second login user %s/%s, want %s/%s", second.User.ID, second.User.OpenID, first.User.ID, openID)
		}
		if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
			t.Error("second login reused the first login's tokens")
		}
		if n := b.rowCount(t, "users"); n != 1 {
			t.Errorf("users rows = %d, want 1", n)
		}
		row2 := b.readUser(t, openID)
		if row2.LastLoginAt == nil || row2.LastLoginAt.Before(*row.LastLoginAt) {
			t.Errorf("last_login_at went from %v to %v", row.LastLoginAt, row2.LastLoginAt)
		}
		if sk1 == sk2 {
			t.Fatal("fake did not rotate the session_key; test cannot tell old from new")
		}
		checkSealed(t, row2, openID, sk2)

		// The token works: /me answers this user.
		me := b.do(t, request{method: http.MethodGet, path: path(tt.Slug, "/me"), bearer: second.AccessToken})
		var u struct {
			ID string `json:"id"`
		}
		if me.status == http.StatusOK {
			me.decode(t, &u)
		}
		if me.status != http.StatusOK || u.ID != first.User.ID {
			t.Errorf("me: %d %s", me.status, me.body)
		}
		me.assertClean(t, tt.secret, sk1, sk2)
	})

	t.Run("X-Forwarded-For from an untrusted peer is ignored", func(t *testing.T) {
		t.Parallel()
		b := setup(t) // trusts no proxy, as without MINIAUTH_TRUSTED_PROXIES
		tt := b.tenant(t, "xff")
		r := b.doHeaders(t, request{method: http.MethodPost, path: path(tt.Slug, "/login"),
			body: map[string]string{"code": b.wx.MintCode(tt.WeChatAppID, "erin")}},
			"X-Forwarded-For", "203.0.113.9", "X-Real-IP", "203.0.113.10")
		tok := checkTokenResponse(t, tt.Slug, r)
		if ip := orNull(b.readUser(t, tok.User.OpenID).LastLoginIP); ip != httptestClientIP {
			t.Errorf("users.last_login_ip = %s, want the socket address %s", ip, httptestClientIP)
		}
	})

	t.Run("unionid present when the app is bound", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		appID, secret := "wxboundapp00000001", "bound-app-secret-0001"
		b.wx.AddApp(appID, secret, "op-x")
		tt := b.tenantFor(t, "bound", appID, secret)
		want := b.wx.UnionID(appID, "carol")
		if want == "" {
			t.Fatal("fake gives no unionid for a bound app")
		}
		tok := checkTokenResponse(t, tt.Slug, b.loginPost(t, tt.Slug, b.wx.MintCode(appID, "carol")))
		if !tok.User.IsNew || tok.User.OpenID != b.wx.OpenID(appID, "carol") {
			t.Errorf("user = %+v", tok.User)
		}
		if tok.User.UnionID == nil || *tok.User.UnionID != want {
			t.Errorf("unionid = %s, want %s", orNull(tok.User.UnionID), want)
		}
		if row := b.readUser(t, tok.User.OpenID); orNull(row.UnionID) != want {
			t.Errorf("users.unionid = %s, want %s", orNull(row.UnionID), want)
		}
	})

	t.Run("unionid backfilled by a later login", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		appID, secret := "wxboundapp00000002", "bound-app-secret-0002"
		b.wx.AddApp(appID, secret, "op-x")
		tt := b.tenantFor(t, "backfill", appID, secret)
		openID, want := b.wx.OpenID(appID, "dave"), b.wx.UnionID(appID, "dave")
		noUnion := fmt.Sprintf(`{"session_key":"AAECAwQFBgcICQoLDA0ODw==","openid":%q}`, openID)

		// First login: WeChat answers without unionid.
		b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, Body: noUnion})
		first := checkTokenResponse(t, tt.Slug, b.loginPost(t, tt.Slug, b.wx.MintCode(appID, "dave")))
		if !first.User.IsNew || first.User.UnionID != nil {
			t.Fatalf("first login: is_new %v unionid %s, want true/null", first.User.IsNew, orNull(first.User.UnionID))
		}
		if row := b.readUser(t, openID); row.UnionID != nil {
			t.Fatalf("users.unionid = %s before backfill, want NULL", *row.UnionID)
		}

		// Second login carries the unionid: stored and answered.
		second := checkTokenResponse(t, tt.Slug, b.loginPost(t, tt.Slug, b.wx.MintCode(appID, "dave")))
		if second.User.IsNew || second.User.ID != first.User.ID {
			t.Errorf("second login: is_new %v id %s, want false/%s", second.User.IsNew, second.User.ID, first.User.ID)
		}
		if orNull(second.User.UnionID) != want {
			t.Errorf("second login unionid = %s, want %s", orNull(second.User.UnionID), want)
		}
		if row := b.readUser(t, openID); orNull(row.UnionID) != want {
			t.Errorf("users.unionid = %s after backfill, want %s", orNull(row.UnionID), want)
		}

		// A later answer without unionid does not erase it.
		b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, Body: noUnion})
		third := checkTokenResponse(t, tt.Slug, b.loginPost(t, tt.Slug, b.wx.MintCode(appID, "dave")))
		if orNull(third.User.UnionID) != want {
			t.Errorf("third login unionid = %s, want the stored %s", orNull(third.User.UnionID), want)
		}
		if row := b.readUser(t, openID); orNull(row.UnionID) != want {
			t.Errorf("users.unionid = %s after a login without unionid, want %s kept", orNull(row.UnionID), want)
		}
		if n := b.rowCount(t, "users"); n != 1 {
			t.Errorf("users rows = %d, want 1", n)
		}
	})
}

func TestLoginInvalidCode(t *testing.T) {
	t.Parallel()

	t.Run("reused code", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tt := b.tenant(t, "reuse")
		code := b.wx.MintCode(tt.WeChatAppID, "alice")
		checkTokenResponse(t, tt.Slug, b.loginPost(t, tt.Slug, code))
		if n := b.rowCount(t, "users"); n != 1 {
			t.Fatalf("users rows = %d after one login, want 1", n)
		}
		r := b.loginPost(t, tt.Slug, code)
		r.wantFullProblem(t, http.StatusUnauthorized, "invalid_code")
		sk, _ := b.wx.SessionKey(tt.WeChatAppID, "alice")
		r.assertClean(t, tt.secret, sk)
		if n := b.rowCount(t, "users"); n != 1 {
			t.Errorf("users rows = %d after a reused code, want 1", n)
		}
		// The replay is refused from the spent claim, without asking WeChat.
		if got := b.wx.Calls(fake.EndpointJSCode2Session); got != 1 {
			t.Errorf("jscode2session calls = %d, want 1", got)
		}
	})

	t.Run("unknown code", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tt := b.tenant(t, "unknown-code")
		r := b.loginPost(t, tt.Slug, "0123456789abcdef0123456789abcdef")
		r.wantFullProblem(t, http.StatusUnauthorized, "invalid_code")
		r.assertClean(t, tt.secret)
		if n := b.rowCount(t, "users"); n != 0 {
			t.Errorf("users rows = %d, want 0", n)
		}
	})

	t.Run("code of another tenant's app", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ta := b.tenant(t, "tenant-a")
		tb := b.tenant(t, "tenant-b")
		b.loginPost(t, ta.Slug, b.wx.MintCode(tb.WeChatAppID, "alice")).wantFullProblem(t, http.StatusUnauthorized, "invalid_code")
		if n := b.rowCount(t, "users"); n != 0 {
			t.Errorf("users rows = %d, want 0", n)
		}
	})
}

func TestLoginWeChatFaults(t *testing.T) {
	t.Parallel()
	type tc struct {
		name   string
		fault  *fake.Fault // injected on jscode2session; nil for none
		tenant func(t *testing.T, b *testBundle) testTenant
		status int
		code   string
		leak   func(tt testTenant) []string // extra strings that must not leak
	}
	wrongSecret := func(t *testing.T, b *testBundle) testTenant {
		b.wx.AddApp("wxwrongsecret0001", "the-real-secret-0001", "")
		return b.tenantFor(t, "wrong-secret", "wxwrongsecret0001", "a-wrong-secret-0001")
	}
	unknownApp := func(t *testing.T, b *testBundle) testTenant {
		return b.tenantFor(t, "unknown-app", "wxnotregistered01", "some-secret-0001")
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
		// setup's WeChat client gives up after wechatTimeout.
		{name: "timeout", fault: &fake.Fault{Endpoint: fake.EndpointJSCode2Session, Delay: 4 * wechatTimeout}, status: 502, code: "wechat_unavailable"},
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
				tt := b.tenant(t, "echo")
				b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session,
					Body: `{"errcode":40125,"errmsg":"invalid appsecret ` + tt.secret + `, rid: 6789abcd-1234-5678"}`})
				return tt
			},
			leak: func(testTenant) []string { return []string{"6789abcd-1234-5678"} }},
		{name: "http 502 echoing the secret", status: 502, code: "wechat_unavailable",
			tenant: func(t *testing.T, b *testBundle) testTenant {
				tt := b.tenant(t, "echo-502")
				b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, HTTPStatus: 502,
					Body: `bad gateway for /sns/jscode2session?secret=` + tt.secret})
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
			b := setup(t)
			var tt testTenant
			if c.tenant != nil {
				tt = c.tenant(t, b)
			} else {
				tt = b.tenant(t, "faults")
			}
			if c.fault != nil {
				b.wx.Inject(*c.fault)
			}
			before := b.wx.Calls(fake.EndpointJSCode2Session)
			r := b.loginPost(t, tt.Slug, b.wx.MintCode(tt.WeChatAppID, "alice"))
			r.wantFullProblem(t, c.status, c.code)
			leaks := []string{tt.secret}
			if c.leak != nil {
				leaks = append(leaks, c.leak(tt)...)
			}
			r.assertClean(t, leaks...)
			if c.status == http.StatusTooManyRequests {
				ra := r.header.Get("Retry-After")
				if n, err := strconv.Atoi(ra); err != nil || n < 1 {
					t.Errorf("Retry-After = %q, want a positive number of seconds", ra)
				}
			}
			if got := b.wx.Calls(fake.EndpointJSCode2Session) - before; got != 1 {
				t.Errorf("jscode2session called %d times for one login, want exactly 1 (never retried)", got)
			}
			if n := b.rowCount(t, "users"); n != 0 {
				t.Errorf("users rows = %d after a failed login, want 0", n)
			}
			if n := b.rowCount(t, "sessions"); n != 0 {
				t.Errorf("sessions rows = %d after a failed login, want 0", n)
			}
		})
	}
}

func TestLoginMalformedBodies(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.tenant(t, "malformed")
	post := func(t *testing.T, body string) response {
		t.Helper()
		return b.do(t, request{method: http.MethodPost, path: path(tt.Slug, "/login"), body: body})
	}
	code := b.wx.MintCode(tt.WeChatAppID, "alice")

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
			r := post(t, c.body)
			r.wantFullProblem(t, c.status, c.code)
			if c.field != "" {
				found := false
				for _, e := range r.problem.Errors {
					if e.Field == c.field {
						found = true
						if e.Message == "" {
							t.Errorf("errors[] entry for %q has no message: %s", c.field, r.body)
						}
					}
				}
				if !found {
					t.Errorf("errors[] does not name field %q: %s", c.field, r.body)
				}
			}
			if got := b.wx.Calls(fake.EndpointJSCode2Session); got != 0 {
				t.Errorf("jscode2session called %d times for a malformed request, want 0", got)
			}
		})
	}
	if n := b.rowCount(t, "users"); n != 0 {
		t.Errorf("users rows = %d, want 0", n)
	}
	// The limit is inclusive: one byte over is refused, exactly 16 KiB (a
	// valid object padded with whitespace) is read, and logs in with the
	// code none of the above spent.
	obj := `{"code":"` + code + `"}`
	post(t, obj+strings.Repeat(" ", 16<<10+1-len(obj))).wantFullProblem(t, http.StatusRequestEntityTooLarge, "request_too_large")
	if got := b.wx.Calls(fake.EndpointJSCode2Session); got != 0 {
		t.Errorf("jscode2session called %d times for an oversized request, want 0", got)
	}
	tok := checkTokenResponse(t, tt.Slug, post(t, obj+strings.Repeat(" ", 16<<10-len(obj))))
	if !tok.User.IsNew {
		t.Error("the unspent code did not log in a new user")
	}
}

func TestLoginTenantGate(t *testing.T) {
	t.Parallel()

	t.Run("unknown and invalid slugs", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tt := b.tenant(t, "real-tenant")
		for _, slug := range []string{"no-such-tenant", "A_B", "Real-Tenant", strings.Repeat("a", 41), "ab"} {
			b.loginPost(t, slug, b.wx.MintCode(tt.WeChatAppID, "alice")).wantFullProblem(t, http.StatusNotFound, "tenant_not_found")
		}
		b.do(t, request{method: http.MethodPost, path: "/v1/t/no-such-tenant/refresh",
			body: map[string]string{"refresh_token": strings.Repeat("r", 43)}, bearer: "x.y.z"}).
			wantFullProblem(t, http.StatusNotFound, "tenant_not_found")
		b.do(t, request{method: http.MethodGet, path: "/v1/t/no-such-tenant/me", bearer: "x.y.z"}).
			wantFullProblem(t, http.StatusNotFound, "tenant_not_found")
		if got := b.wx.Calls(fake.EndpointJSCode2Session); got != 0 {
			t.Errorf("jscode2session called %d times for unknown tenants, want 0", got)
		}
		if n := b.rowCount(t, "users"); n != 0 {
			t.Errorf("users rows = %d, want 0", n)
		}
	})

	t.Run("disabled tenant", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		tt := b.tenant(t, "gated")
		tok := b.login(t, tt, "alice")
		me := func() response {
			return b.do(t, request{method: http.MethodGet, path: path(tt.Slug, "/me"), bearer: tok.AccessToken})
		}
		setStatus := func(s tenant.Status) {
			t.Helper()
			ten, err := b.store.Update(context.Background(), tt.Slug, tenant.Patch{Status: &s})
			if err != nil || ten.Status != s {
				t.Fatalf("set status %s: %+v, %v", s, ten, err)
			}
		}

		setStatus(tenant.StatusDisabled)
		// The instance that made the change enforces it at once.
		me().wantFullProblem(t, http.StatusForbidden, "tenant_disabled")

		calls := b.wx.Calls(fake.EndpointJSCode2Session)
		code := b.wx.MintCode(tt.WeChatAppID, "alice")
		b.loginPost(t, tt.Slug, code).wantFullProblem(t, http.StatusForbidden, "tenant_disabled")
		if got := b.wx.Calls(fake.EndpointJSCode2Session); got != calls {
			t.Errorf("login on a disabled tenant called jscode2session %d times, want 0", got-calls)
		}
		refresh := func() response {
			return b.do(t, request{method: http.MethodPost, path: path(tt.Slug, "/refresh"), body: map[string]string{"refresh_token": tok.RefreshToken}})
		}
		refresh().wantFullProblem(t, http.StatusForbidden, "tenant_disabled")
		// A new user cannot get in either, and nothing was written.
		b.loginPost(t, tt.Slug, b.wx.MintCode(tt.WeChatAppID, "bob")).wantFullProblem(t, http.StatusForbidden, "tenant_disabled")
		if n := b.rowCount(t, "users"); n != 1 {
			t.Errorf("users rows = %d, want 1", n)
		}

		setStatus(tenant.StatusActive)
		if r := me(); r.status != http.StatusOK {
			t.Fatalf("/me after enabling: %d %s", r.status, r.body)
		}

		// The code refused while disabled was never sent to WeChat: still good.
		again := checkTokenResponse(t, tt.Slug, b.loginPost(t, tt.Slug, code))
		if again.User.IsNew || again.User.ID != tok.User.ID {
			t.Errorf("login after re-enable: is_new %v id %s, want false/%s", again.User.IsNew, again.User.ID, tok.User.ID)
		}
		// The refresh token refused while disabled was not spent either.
		if rr := refresh(); rr.status != http.StatusOK {
			t.Errorf("refresh after re-enable: %d %s", rr.status, rr.body)
		}
	})
}

func TestLoginConcurrentFirstLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.tenant(t, "stampede")
	const n = 20
	reqs := make([]*http.Request, n)
	for i := range reqs {
		body, _ := json.Marshal(map[string]string{"code": b.wx.MintCode(tt.WeChatAppID, "zoe")})
		reqs[i] = httptest.NewRequest(http.MethodPost, path(tt.Slug, "/login"), bytes.NewReader(body))
		reqs[i].Header.Set("Content-Type", "application/json")
	}

	newCount := 0
	ids := map[string]int{}
	for i, rec := range b.serveConcurrently(reqs) {
		if rec.Code != http.StatusOK {
			t.Errorf("login %d: %d %s", i, rec.Code, rec.Body.Bytes())
			continue
		}
		var tok tokenResponse
		if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil {
			t.Errorf("login %d: %v", i, err)
			continue
		}
		if tok.User.IsNew {
			newCount++
		}
		if tok.User.OpenID != b.wx.OpenID(tt.WeChatAppID, "zoe") {
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
	if rows := b.rowCount(t, "users"); rows != 1 {
		t.Errorf("users rows = %d, want 1", rows)
	}
	if sessions := b.rowCount(t, "sessions"); sessions != n {
		t.Errorf("sessions rows = %d, want %d (one per login)", sessions, n)
	}
	if got := b.wx.Calls(fake.EndpointJSCode2Session); got != n {
		t.Errorf("jscode2session calls = %d, want %d", got, n)
	}
}
