package main

// TestHostileInput is the hostile-input matrix of the whole server: forged
// and confused tokens, path tricks against the access control, odd ids and
// pages, bytes Postgres cannot store, odd bodies, methods and header
// sizes, slow clients and a WeChat that answers nonsense. Each request
// must get exactly its expected answer: a 4xx problem on the APIs and the
// operations port, a 4xx HTML error page on the console, never a 5xx, a
// panic, a hang or a written row. A case is one row of hostileMatrix;
// helpers are prefixed hostile.

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/auth/wechat/fake"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/seal"
)

// Surfaces of the matrix. The APIs and the operations port answer errors
// as problems; the console, a browser's, as HTML error pages, except where
// the layer every surface shares answers first (an unknown method, headers
// too large), which is a problem there too.
const (
	hostileMini    = "mini-program API"
	hostileMgmt    = "management API"
	hostileConsole = "console"
	hostileOps     = "ops port"
)

// hostileCase is one hostile request and the one answer it must get.
type hostileCase struct {
	name    string
	surface string
	method  string
	target  string   // the request target, sent verbatim on the request line
	headers []string // name, value pairs, sent verbatim (any byte goes)
	body    string
	chunked bool // the body in 1 KiB chunks, Transfer-Encoding: chunked
	// bearer, when set, is the Authorization bearer, minted as the case
	// runs (tokens whose claims are relative to now).
	bearer func() string
	// wechat, when set, is the body the fake WeChat answers the case's
	// jscode2session with.
	wechat string

	status int
	// code is the problem code the answer must carry; "" for a success, or
	// for the console's HTML error page.
	code string
	// hide must not appear in the answer (another tenant's data).
	hide string
}

// hostileWorld is the fixture the matrix is written against.
type hostileWorld struct {
	b      *testBundle
	a, o   testTenant // o is the other tenant
	alice  tokens     // a user of a
	bob    tokens     // a user of o
	sidA   string     // alice's session id
	kidA   string
	signA  any    // a's private signing key
	jwkA   []byte // a's JWK as published
	keyA   string // a tenant_admin API key of a
	cookie string // a signed-in console session of a tenant_admin of a
	csrf   string
}

func TestHostileInput(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.ReadHeaderTimeout, c.ReadTimeout = time.Second, 2*time.Second })
	w := hostileNewWorld(t, b)
	before := hostileSnapshot(t, b)

	t.Run("matrix", func(t *testing.T) {
		counts := map[string]int{}
		for _, c := range hostileMatrix(w) {
			counts[c.surface]++
			t.Run(c.surface+"/"+c.name, func(t *testing.T) { hostileRun(t, w, c) })
		}
		t.Logf("cases per surface: %v", counts)
	})
	if after := hostileSnapshot(t, b); after != before {
		t.Errorf("hostile requests changed the database:\nbefore %s\nafter  %s", before, after)
	}
	t.Run("slow client headers", func(t *testing.T) { hostileSlow(t, w, false) })
	t.Run("slow client body", func(t *testing.T) { hostileSlow(t, w, true) })

	// 502 is the answer to a WeChat that answered nonsense; any other 5xx
	// is the server failing.
	logs := b.logs.String()
	if m := regexp.MustCompile(`.*("msg":"panic"|"status":5(0[013-9]|[1-9][0-9])).*`).FindString(logs); m != "" {
		t.Errorf("the server log shows a panic or a 5xx: %.600s", m)
	}
}

// ---------------------------------------------------------------- fixture

func hostileNewWorld(t *testing.T, b *testBundle) *hostileWorld {
	t.Helper()
	w := &hostileWorld{b: b}
	w.a = b.createTenant("hx-a", nil)
	w.o = b.createTenant("hx-b", nil)
	w.alice = b.login(nil, w.a, "alice")
	w.bob = b.login(nil, w.o, "bob")
	_, claims, _ := sessParts(t, w.alice.AccessToken)
	w.sidA, _ = claims["sid"].(string)

	// a's signing key, to sign tokens the server's own key would: only
	// then does a refusal show the check under test, not the signature.
	sealer, err := seal.New(b.cfg.MasterKey)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := tenant.NewDirectory(tenant.NewStore(b.db, sealer, nil), nil).Lookup(context.Background(), w.a.Slug)
	if err != nil {
		t.Fatal(err)
	}
	w.kidA, w.signA = rt.Signing.KID, rt.Signing.Private
	r := do(t, "GET", b.srv.URL+"/v1/t/hx-a/.well-known/jwks.json", nil)
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(r.Body, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks of hx-a: %v: %s", err, r.Body)
	}
	w.jwkA = set.Keys[0]

	c := mgmtPlatform(t, b)
	_, w.keyA = mgmtCreateKey(t, c, "hostile", mgmtTA, w.a.Slug)
	b.remember(w.keyA)

	const password = "hostile-console-password"
	wantStatus(t, "create console admin", b.api("POST", "/admins", map[string]any{
		"email": "hostile@example.com", "password": password,
		"roles": []map[string]any{{"role": mgmtTA, "tenant": w.a.Slug}},
	}), http.StatusCreated, "")
	w.cookie = hostileSignIn(t, b, "hostile@example.com", password)
	w.csrf = admin.CSRFToken(w.cookie)
	b.remember(w.cookie, w.csrf)
	return w
}

// hostileSignIn signs in through the console's form and returns the
// session cookie's value.
func hostileSignIn(t *testing.T, b *testBundle, email, password string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(b.srv.URL + "/admin/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the sign-in page: %s", page)
	}
	form := url.Values{"email": {email}, "password": {password}, "_csrf": {string(m[1])}}
	req, _ := http.NewRequest("POST", b.srv.URL+"/admin/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.cfg.PublicURL)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "miniauth_console" && ck.Value != "" {
			return ck.Value
		}
	}
	t.Fatalf("sign in: status %d, no session cookie", resp.StatusCode)
	return ""
}

// hostileSnapshot digests every row a hostile request could write. The
// console's sessions count only (each request moves their last use), and
// failed sign-ins are audited by design, so they are left out.
func hostileSnapshot(t *testing.T, b *testBundle) string {
	t.Helper()
	var out []string
	for _, table := range []string{"tenants", "signing_keys", "users", "sessions", "refresh_tokens", "api_keys",
		"admins", "admin_roles", "bans", "casbin_rule"} {
		var n int
		var sum *string
		// An API key's last use moves as it is used.
		q := fmt.Sprintf(`SELECT count(*), md5(string_agg((to_jsonb(t) - 'last_used_at')::text, ',' ORDER BY t::text)) FROM %s t`, table)
		if err := b.db.QueryRow(context.Background(), q).Scan(&n, &sum); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		digest := ""
		if sum != nil {
			digest = (*sum)[:8]
		}
		out = append(out, fmt.Sprintf("%s=%d/%s", table, n, digest))
	}
	out = append(out,
		fmt.Sprintf("admin_sessions=%d", mgmtCount(t, b, `SELECT count(*) FROM admin_sessions`)),
		fmt.Sprintf("audit_log=%d", mgmtCount(t, b, `SELECT count(*) FROM audit_log WHERE action <> 'console.signin_failed'`)))
	return strings.Join(out, " ")
}

// ---------------------------------------------------------------- tokens

// hostileSeg is one base64url segment of a JWT.
func hostileSeg(v any) string {
	raw, ok := v.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			panic(err)
		}
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// hostileJWT signs header and claims with method and key as given,
// whatever they say (a nil method leaves the signature empty).
func hostileJWT(header, claims any, method jwt.SigningMethod, key any) string {
	input := hostileSeg(header) + "." + hostileSeg(claims)
	if method == nil {
		return input + "."
	}
	sig, err := method.Sign(input, key)
	if err != nil {
		panic(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// header is the header of a's real tokens, changed by kv.
func (w *hostileWorld) header(alg string, kv ...any) map[string]any {
	h := map[string]any{"alg": alg, "typ": "at+jwt", "kid": w.kidA}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(h, kv[i].(string))
			continue
		}
		h[kv[i].(string)] = kv[i+1]
	}
	return h
}

// claims are alice's claims on a, valid now, changed by kv.
func (w *hostileWorld) claims(kv ...any) map[string]any {
	now := time.Now().Unix()
	c := map[string]any{
		"iss": w.b.cfg.PublicURL + "/v1/t/" + w.a.Slug, "aud": w.a.Slug, "sub": w.alice.User.ID, "sid": w.sidA,
		"iat": now, "exp": now + 600, "jti": uuid.NewString(),
	}
	for i := 0; i+1 < len(kv); i += 2 {
		c[kv[i].(string)] = kv[i+1]
	}
	return c
}

// signed is a token of a signed with a's own key.
func (w *hostileWorld) signed(header, claims map[string]any) string {
	return hostileJWT(header, claims, jwt.SigningMethodES256, w.signA)
}

// realSigned mints, as the case runs, a token of a signed with a's key
// whose claims are changed by change(now).
func (w *hostileWorld) realSigned(change func(now int64) []any) func() string {
	return func() string {
		return w.signed(w.header("ES256"), w.claims(change(time.Now().Unix())...))
	}
}

// ---------------------------------------------------------------- matrix

func hostileMatrix(w *hostileWorld) []hostileCase {
	b := w.b
	attackerEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attackerP384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, attackerEd, _ := ed25519.GenerateKey(rand.Reader)
	attackerRSA, _ := rsa.GenerateKey(rand.Reader, 2048)
	attackerJWK := map[string]any{"kty": "EC", "crv": "P-256", "kid": "attacker",
		"x": base64.RawURLEncoding.EncodeToString(attackerEC.X.FillBytes(make([]byte, 32))),
		"y": base64.RawURLEncoding.EncodeToString(attackerEC.Y.FillBytes(make([]byte, 32)))}
	pubA := w.signA.(crypto.Signer).Public().(*ecdsa.PublicKey)
	pointA, _ := pubA.Bytes()
	pkixA, _ := x509.MarshalPKIXPublicKey(pubA)
	pemA := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkixA})

	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	platform := bearer(b.apiKey)
	keyA := bearer(w.keyA)
	alice := bearer(w.alice.AccessToken)
	valid := w.alice.AccessToken
	segs := strings.Split(valid, ".")
	consoleCookie := "miniauth_console=" + w.cookie
	consoleForm := []string{"Cookie", consoleCookie, "Origin", b.cfg.PublicURL, "Content-Type", "application/x-www-form-urlencoded"}
	bobOpenID := w.bob.User.OpenID
	unknownID := uuid.NewString()

	// me asks /me of a with a token.
	me := func(name, token string, status int, code string) hostileCase {
		return hostileCase{name: name, surface: hostileMini, method: "GET", target: "/v1/t/hx-a/me",
			headers: bearer(token), status: status, code: code}
	}
	forged := func(name, token string) hostileCase { return me(name, token, 401, "invalid_token") }
	// minted is a token case whose claims are relative to the moment the
	// case runs.
	minted := func(name string, change func(now int64) []any, status int, code string) hostileCase {
		c := me(name, "", status, code)
		c.headers, c.bearer = nil, w.realSigned(change)
		return c
	}
	skew := int64(auth.ClockSkew / time.Second)
	mgmt := func(name, method, target string, headers []string, body string, status int, code string) hostileCase {
		return hostileCase{name: name, surface: hostileMgmt, method: method, target: target, headers: headers, body: body,
			status: status, code: code}
	}
	mini := func(name, method, target string, headers []string, body string, status int, code string) hostileCase {
		return hostileCase{name: name, surface: hostileMini, method: method, target: target, headers: headers, body: body,
			status: status, code: code}
	}
	console := func(name, method, target string, headers []string, body string, status int, code string) hostileCase {
		return hostileCase{name: name, surface: hostileConsole, method: method, target: target, headers: headers, body: body,
			status: status, code: code}
	}
	ops := func(name, method, target string, headers []string, status int, code string) hostileCase {
		return hostileCase{name: name, surface: hostileOps, method: method, target: target, headers: headers,
			status: status, code: code}
	}
	login := func(name, body string, status int, code string) hostileCase {
		return mini(name, "POST", "/v1/t/hx-a/login", []string{"Content-Type", "application/json"}, body, status, code)
	}
	// loginBody is a login body of exactly n bytes.
	loginBody := func(n int) string {
		return `{"code":"` + strings.Repeat("c", n-len(`{"code":""}`)) + `"}`
	}
	upstream := func(name, answer string) hostileCase {
		c := login("wechat answers "+name, `{"code":"upstream-`+strings.ReplaceAll(name, " ", "-")+`"}`, 502, "wechat_unavailable")
		c.wechat = answer
		return c
	}
	const sessionKey = `"session_key":"c2Vzc2lvbmtleTEyMzQ1Ng=="`
	const openID = `"openid":"oHostile000000000000000000000"`

	cases := []hostileCase{
		// --- forged and malformed access tokens
		forged("alg none", hostileJWT(w.header("none"), w.claims(), nil, nil)),
		forged("alg none, upper case", hostileJWT(w.header("NONE"), w.claims(), nil, nil)),
		forged("HS256 keyed with the published JWK", hostileJWT(w.header("HS256"), w.claims(), jwt.SigningMethodHS256, []byte(w.jwkA))),
		forged("HS256 keyed with the public point", hostileJWT(w.header("HS256"), w.claims(), jwt.SigningMethodHS256, pointA)),
		forged("HS256 keyed with the public PEM", hostileJWT(w.header("HS256"), w.claims(), jwt.SigningMethodHS256, pemA)),
		forged("ES384 under the ES256 kid", hostileJWT(w.header("ES384"), w.claims(), jwt.SigningMethodES384, attackerP384)),
		forged("EdDSA under the ES256 kid", hostileJWT(w.header("EdDSA"), w.claims(), jwt.SigningMethodEdDSA, attackerEd)),
		forged("RS256 under the ES256 kid", hostileJWT(w.header("RS256"), w.claims(), jwt.SigningMethodRS256, attackerRSA)),
		forged("another key under a's kid", hostileJWT(w.header("ES256"), w.claims(), jwt.SigningMethodES256, attackerEC)),
		forged("kid path traversal", hostileJWT(w.header("ES256", "kid", "../../../../../../dev/null"), w.claims(), jwt.SigningMethodES256, attackerEC)),
		forged("kid SQL", hostileJWT(w.header("ES256", "kid", "x' UNION SELECT private_sealed FROM signing_keys --"), w.claims(), jwt.SigningMethodES256, attackerEC)),
		forged("kid unknown", hostileJWT(w.header("ES256", "kid", uuid.NewString()), w.claims(), jwt.SigningMethodES256, attackerEC)),
		forged("kid a number", w.signed(w.header("ES256", "kid", 1), w.claims())),
		forged("kid missing", w.signed(w.header("ES256", "kid", nil), w.claims())),
		forged("kid with NUL", w.signed(w.header("ES256", "kid", w.kidA+"\x00"), w.claims())),
		forged("jku to the attacker's keys", hostileJWT(w.header("ES256", "kid", "attacker", "jku", "https://attacker.example/jwks.json"), w.claims(), jwt.SigningMethodES256, attackerEC)),
		forged("x5u to the attacker's chain", hostileJWT(w.header("ES256", "kid", "attacker", "x5u", "https://attacker.example/chain.pem"), w.claims(), jwt.SigningMethodES256, attackerEC)),
		forged("embedded jwk", hostileJWT(w.header("ES256", "kid", "attacker", "jwk", attackerJWK), w.claims(), jwt.SigningMethodES256, attackerEC)),
		forged("embedded jwk under a's kid", hostileJWT(w.header("ES256", "jwk", attackerJWK), w.claims(), jwt.SigningMethodES256, attackerEC)),
		forged("crit with an unknown extension", w.signed(w.header("ES256", "crit", []string{"x-hostile"}, "x-hostile", true), w.claims())),
		forged("crit empty", w.signed(w.header("ES256", "crit", []string{}), w.claims())),
		forged("crit not a list", w.signed(w.header("ES256", "crit", "exp"), w.claims())),
		forged("typ JWT", w.signed(w.header("ES256", "typ", "JWT"), w.claims())),
		forged("typ missing", w.signed(w.header("ES256", "typ", nil), w.claims())),
		// exp has no leeway, so its boundary is the present second; iat and
		// nbf may be up to auth.ClockSkew ahead. 2 s on either side of each.
		minted("exp just past", func(now int64) []any { return []any{"exp", now - 2, "iat", now - 60} }, 401, "invalid_token"),
		minted("exp just ahead", func(now int64) []any { return []any{"exp", now + 3} }, 200, ""),
		minted("nbf past the skew", func(now int64) []any { return []any{"nbf", now + skew + 3} }, 401, "invalid_token"),
		minted("nbf within the skew", func(now int64) []any { return []any{"nbf", now + skew - 2} }, 200, ""),
		minted("iat past the skew", func(now int64) []any { return []any{"iat", now + skew + 3} }, 401, "invalid_token"),
		minted("iat within the skew", func(now int64) []any { return []any{"iat", now + skew - 2} }, 200, ""),
		forged("exp missing", w.signed(w.header("ES256"), w.claims("exp", nil))),
		forged("exp a string", w.signed(w.header("ES256"), w.claims("exp", "9999999999"))),
		forged("exp an object", w.signed(w.header("ES256"), w.claims("exp", map[string]any{"$gt": 0}))),
		forged("exp beyond int64", w.signed(w.header("ES256"), w.claims("exp", json.Number("1e400")))),
		forged("iat a string", w.signed(w.header("ES256"), w.claims("iat", "0"))),
		forged("nbf a bool", w.signed(w.header("ES256"), w.claims("nbf", true))),
		forged("aud a number", w.signed(w.header("ES256"), w.claims("aud", 7))),
		forged("aud of another tenant", w.signed(w.header("ES256"), w.claims("aud", w.o.Slug))),
		forged("aud a list of another tenant", w.signed(w.header("ES256"), w.claims("aud", []string{w.o.Slug}))),
		forged("iss a list", w.signed(w.header("ES256"), w.claims("iss", []string{b.cfg.PublicURL + "/v1/t/hx-a"}))),
		forged("iss of another tenant", w.signed(w.header("ES256"), w.claims("iss", b.cfg.PublicURL+"/v1/t/hx-b"))),
		forged("sub a number", w.signed(w.header("ES256"), w.claims("sub", 1))),
		forged("sub not a user", w.signed(w.header("ES256"), w.claims("sub", "x' OR '1'='1"))),
		forged("sid of no session", w.signed(w.header("ES256"), w.claims("sid", uuid.NewString()))),
		forged("sid a number", w.signed(w.header("ES256"), w.claims("sid", 1))),
		forged("claims not an object", hostileJWT(w.header("ES256"), []byte(`[1]`), jwt.SigningMethodES256, w.signA)),
		forged("claims not JSON", hostileJWT(w.header("ES256"), []byte(`{"exp":`), jwt.SigningMethodES256, w.signA)),
		forged("header not JSON", hostileJWT([]byte(`{"alg":`), w.claims(), jwt.SigningMethodES256, w.signA)),
		forged("duplicate alg in the header", hostileJWT([]byte(`{"alg":"ES256","typ":"at+jwt","kid":"`+w.kidA+`","alg":"none"}`), w.claims(), jwt.SigningMethodES256, w.signA)),
		forged("extra segment", valid+".e30"),
		forged("five segments", valid+".e30.e30"),
		forged("two segments", segs[0]+"."+segs[1]),
		forged("empty signature", segs[0]+"."+segs[1]+"."),
		forged("signature of another token", segs[0]+"."+segs[1]+"."+strings.Split(w.bob.AccessToken, ".")[2]),
		forged("bad base64 character", segs[0]+"."+segs[1]+"."+segs[2][:10]+"!"+segs[2][11:]),
		forged("padded base64", valid+"=="),
		forged("standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(valid)+"+/"),
		forged("signature's unused bits set", segs[0]+"."+segs[1]+"."+hostileFlipLast(segs[2])),
		forged("whitespace inside", segs[0]+" ."+segs[1]+"."+segs[2]),
		forged("invalid UTF-8", "\xff\xfe"+valid),
		forged("the refresh token as access token", w.alice.RefreshToken),
		forged("an API key as bearer", b.apiKey),
		forged("a tenant API key as bearer", w.keyA),
		forged("the console session as bearer", w.cookie),
		forged("empty bearer", ""),
		mini("no Authorization", "GET", "/v1/t/hx-a/me", nil, "", 401, "invalid_token"),
		mini("Basic instead of Bearer", "GET", "/v1/t/hx-a/me", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))}, "", 401, "invalid_token"),
		mini("the console cookie instead of a token", "GET", "/v1/t/hx-a/me", []string{"Cookie", consoleCookie}, "", 401, "invalid_token"),
		mini("a's token on b", "GET", "/v1/t/hx-b/me", alice, "", 401, "invalid_token"),
		mini("b's token on a", "GET", "/v1/t/hx-a/me", bearer(w.bob.AccessToken), "", 401, "invalid_token"),
		mini("megabyte token", "GET", "/v1/t/hx-a/me", bearer(strings.Repeat("A", 1<<20)), "", 431, "headers_too_large"),
		// Longer than any refresh token: refused for its shape.
		mini("the access token as refresh token", "POST", "/v1/t/hx-a/refresh", nil, `{"refresh_token":"`+valid+`"}`, 400, "invalid_request"),
		mini("a's refresh token on b", "POST", "/v1/t/hx-b/refresh", nil, `{"refresh_token":"`+w.alice.RefreshToken+`"}`, 401, "invalid_refresh_token"),
		mini("an API key as refresh token", "POST", "/v1/t/hx-a/refresh", nil, `{"refresh_token":"`+b.apiKey+`"}`, 401, "invalid_refresh_token"),
		mini("megabyte refresh token", "POST", "/v1/t/hx-a/refresh", nil, `{"refresh_token":"`+strings.Repeat("r", 1<<20)+`"}`, 413, "request_too_large"),
		mgmt("an access token as API key", "GET", "/api/v1/tenants", alice, "", 401, "unauthorized"),
		mgmt("the console session as API key", "GET", "/api/v1/tenants", bearer(w.cookie), "", 401, "unauthorized"),
		mgmt("the console cookie instead of a key", "GET", "/api/v1/tenants", []string{"Cookie", consoleCookie}, "", 401, "unauthorized"),
		mgmt("the refresh token as API key", "GET", "/api/v1/tenants", bearer(w.alice.RefreshToken), "", 401, "unauthorized"),
		mgmt("an API key with a flipped character", "GET", "/api/v1/tenants", bearer(hostileFlipLast(b.apiKey)), "", 401, "unauthorized"),
		mgmt("an API key with NUL", "GET", "/api/v1/tenants", bearer(b.apiKey+"%00"), "", 401, "unauthorized"),
		mgmt("an API key in invalid UTF-8", "GET", "/api/v1/tenants", bearer(b.apiKey+"\xff"), "", 401, "unauthorized"),
		mgmt("megabyte API key", "GET", "/api/v1/tenants", bearer(strings.Repeat("k", 1<<20)), "", 431, "headers_too_large"),

		// --- paths against the access control: a's key never reaches b
		mgmt("b with a's key", "GET", "/api/v1/tenants/hx-b", keyA, "", 403, "forbidden"),
		mgmt("b's users with a's key", "GET", "/api/v1/tenants/hx-b/users", keyA, "", 403, "forbidden"),
		mgmt("dot segments from a to b", "GET", "/api/v1/tenants/hx-a/../hx-b/users", keyA, "", 404, "not_found"),
		mgmt("dot segments from a's users to b", "GET", "/api/v1/tenants/hx-a/users/../../hx-b/users", keyA, "", 404, "not_found"),
		mgmt("single dot segment", "GET", "/api/v1/tenants/./hx-b", keyA, "", 404, "not_found"),
		mgmt("encoded dot segments", "GET", "/api/v1/tenants/hx-a/%2e%2e/hx-b/users", keyA, "", 404, "not_found"),
		mgmt("encoded slash in the slug", "GET", "/api/v1/tenants/hx-b%2Fusers", keyA, "", 403, "forbidden"),
		mgmt("encoded slashes and dots", "GET", "/api/v1/tenants/hx-a%2F..%2Fhx-b%2Fusers", keyA, "", 404, "not_found"),
		mgmt("doubled slash before the slug", "GET", "/api/v1/tenants//hx-b", keyA, "", 404, "not_found"),
		mgmt("doubled slash in the prefix", "GET", "/api/v1//tenants/hx-b", keyA, "", 404, "not_found"),
		mgmt("backslash", "GET", `/api/v1/tenants\hx-b`, keyA, "", 404, "not_found"),
		mgmt("slug in upper case", "GET", "/api/v1/tenants/HX-B", keyA, "", 403, "forbidden"),
		mgmt("own slug in upper case", "GET", "/api/v1/tenants/HX-A", keyA, "", 403, "forbidden"),
		mgmt("prefix in upper case", "GET", "/API/V1/tenants/hx-b", keyA, "", 404, "not_found"),
		mgmt("trailing slash", "GET", "/api/v1/tenants/hx-b/", keyA, "", 404, "not_found"),
		mgmt("trailing slash on a's own", "GET", "/api/v1/tenants/hx-a/", keyA, "", 404, "not_found"),
		mgmt("homoglyph of a (Cyrillic a)", "GET", "/api/v1/tenants/hx-%D0%B0", keyA, "", 403, "forbidden"),
		mgmt("homoglyph of b (Cyrillic b)", "GET", "/api/v1/tenants/hx-%D0%AC", keyA, "", 403, "forbidden"),
		mgmt("homoglyph slug, platform key", "GET", "/api/v1/tenants/hx-%D0%B0", platform, "", 404, "not_found"),
		mgmt("fullwidth slug, platform key", "GET", "/api/v1/tenants/%EF%BD%88x-a", platform, "", 404, "not_found"),
		mgmt("slug with NUL", "GET", "/api/v1/tenants/hx-b%00", keyA, "", 403, "forbidden"),
		mgmt("slug with NUL, platform key", "GET", "/api/v1/tenants/hx-a%00", platform, "", 404, "not_found"),
		mgmt("slug in invalid UTF-8", "GET", "/api/v1/tenants/hx-%FF", platform, "", 404, "not_found"),
		mgmt("b's user through a", "GET", "/api/v1/tenants/hx-a/users/"+w.bob.User.ID, keyA, "", 404, "not_found"),
		mgmt("revoke b's user with a's key", "POST", "/api/v1/tenants/hx-b/users/"+w.bob.User.ID+"/revoke-sessions", keyA, "", 403, "forbidden"),
		mgmt("delete b's user with a's key", "DELETE", "/api/v1/tenants/hx-b/users/"+w.bob.User.ID, keyA, "", 403, "forbidden"),
		mgmt("ban on b with a's key", "POST", "/api/v1/tenants/hx-b/bans", keyA, `{"openid":"o1","reason":"x"}`, 403, "forbidden"),
		mgmt("b's audit with a's key", "GET", "/api/v1/audit?tenant=hx-b", keyA, "", 403, "forbidden"),
		mgmt("b's audit, upper case", "GET", "/api/v1/audit?tenant=HX-B", keyA, "", 403, "forbidden"),
		// The first value counts, and is the one authorised.
		{name: "b's audit, the parameter twice", surface: hostileMgmt, method: "GET", target: "/api/v1/audit?tenant=hx-a&tenant=hx-b",
			headers: keyA, status: 200, hide: `"tenant":"hx-b"`},
		mgmt("a key for b with a's key", "POST", "/api/v1/api-keys", keyA, `{"name":"x","role":"tenant_admin","tenant":"hx-b"}`, 403, "forbidden"),
		mgmt("a platform key with a's key", "POST", "/api/v1/api-keys", keyA, `{"name":"x","role":"platform_admin"}`, 403, "forbidden"),
		mini("dot segments between tenants", "GET", "/v1/t/hx-b/../hx-a/me", alice, "", 404, "not_found"),
		mini("encoded slashes between tenants", "GET", "/v1/t/hx-b%2F..%2Fhx-a/me", alice, "", 404, "not_found"),
		mini("slug in upper case", "GET", "/v1/t/HX-A/me", alice, "", 404, "tenant_not_found"),
		mini("homoglyph slug", "GET", "/v1/t/hx-%D0%B0/me", alice, "", 404, "tenant_not_found"),
		mini("slug with NUL", "GET", "/v1/t/hx-a%00/me", alice, "", 404, "tenant_not_found"),
		mini("overlong slug", "GET", "/v1/t/"+strings.Repeat("a", 5000)+"/me", alice, "", 404, "tenant_not_found"),
		mini("trailing slash", "GET", "/v1/t/hx-a/me/", alice, "", 404, "not_found"),
		mini("doubled slash", "GET", "/v1/t//hx-a/me", alice, "", 404, "not_found"),

		// --- ids, limits and cursors
		mgmt("unknown user id", "GET", "/api/v1/tenants/hx-a/users/"+unknownID, platform, "", 404, "not_found"),
		mgmt("huge user id", "GET", "/api/v1/tenants/hx-a/users/"+strings.Repeat("9", 4000), platform, "", 404, "not_found"),
		mgmt("negative user id", "GET", "/api/v1/tenants/hx-a/users/-1", platform, "", 404, "not_found"),
		mgmt("non-UUID user id", "GET", "/api/v1/tenants/hx-a/users/x'%20OR%20'1'='1", platform, "", 404, "not_found"),
		mgmt("user id with NUL", "DELETE", "/api/v1/tenants/hx-a/users/"+w.alice.User.ID+"%00", platform, "", 404, "not_found"),
		mgmt("b's user through a, id in braces", "DELETE", "/api/v1/tenants/hx-a/users/%7B"+w.bob.User.ID+"%7D", platform, "", 404, "not_found"),
		mgmt("b's user through a, id as URN", "PATCH", "/api/v1/tenants/hx-a/users/urn:uuid:"+w.bob.User.ID, platform, `{"status":"disabled"}`, 404, "not_found"),
		mgmt("b's user through a, id without dashes", "DELETE", "/api/v1/tenants/hx-a/users/"+strings.ReplaceAll(w.bob.User.ID, "-", ""), keyA, "", 404, "not_found"),
		mgmt("unknown ban id", "DELETE", "/api/v1/tenants/hx-a/bans/"+unknownID, platform, "", 404, "not_found"),
		mgmt("huge ban id", "DELETE", "/api/v1/tenants/hx-a/bans/99999999999999999999999999", platform, "", 404, "not_found"),
		mgmt("negative ban id", "DELETE", "/api/v1/tenants/hx-a/bans/-1", platform, "", 404, "not_found"),
		mgmt("non-UUID platform ban id", "DELETE", "/api/v1/bans/abc", platform, "", 404, "not_found"),
		mgmt("unknown API key id", "DELETE", "/api/v1/api-keys/"+unknownID, platform, "", 404, "not_found"),
		mgmt("non-UUID API key id", "DELETE", "/api/v1/api-keys/-1", platform, "", 404, "not_found"),
		mgmt("unknown admin id", "GET", "/api/v1/admins/"+unknownID, platform, "", 404, "not_found"),
		mgmt("non-UUID admin id", "DELETE", "/api/v1/admins/"+strings.Repeat("f", 4000), platform, "", 404, "not_found"),
		// The tenants holding it that the key may read: none.
		mgmt("unknown unionid", "GET", "/api/v1/unionids/oNobody", platform, "", 200, ""),
		mgmt("huge unionid", "GET", "/api/v1/unionids/"+strings.Repeat("u", 4000), platform, "", 400, "invalid_request"),
		mgmt("limit 0", "GET", "/api/v1/tenants?limit=0", platform, "", 400, "invalid_request"),
		mgmt("limit -1", "GET", "/api/v1/tenants/hx-a/users?limit=-1", platform, "", 400, "invalid_request"),
		mgmt("limit 201", "GET", "/api/v1/tenants/hx-a/bans?limit=201", platform, "", 400, "invalid_request"),
		mgmt("limit beyond int64", "GET", "/api/v1/audit?limit=99999999999999999999999", platform, "", 400, "invalid_request"),
		mgmt("limit 1e3", "GET", "/api/v1/api-keys?limit=1e3", platform, "", 400, "invalid_request"),
		mgmt("limit a word", "GET", "/api/v1/admins?limit=all", platform, "", 400, "invalid_request"),
		mgmt("limit with NUL", "GET", "/api/v1/tenants?limit=5%00", platform, "", 400, "invalid_request"),
		mgmt("garbage cursor", "GET", "/api/v1/tenants?cursor=!!!", platform, "", 400, "invalid_request"),
		mgmt("cursor of random bytes", "GET", "/api/v1/tenants/hx-a/users?cursor="+base64.RawURLEncoding.EncodeToString([]byte("\x00\xff\xfe")), platform, "", 400, "invalid_request"),
		mgmt("cursor of SQL", "GET", "/api/v1/tenants/hx-a/users?cursor="+base64.RawURLEncoding.EncodeToString([]byte("' OR 1=1 --")), platform, "", 400, "invalid_request"),
		mgmt("overlong cursor", "GET", "/api/v1/audit?cursor="+base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte("c"), 3000)), platform, "", 400, "invalid_request"),
		mgmt("audit cursor of garbage", "GET", "/api/v1/audit?cursor="+base64.RawURLEncoding.EncodeToString([]byte("9999999999999999999999999")), platform, "", 400, "invalid_request"),
		{name: "forged cursor at b's user", surface: hostileMgmt, method: "GET",
			target:  "/api/v1/tenants/hx-a/users?cursor=" + base64.RawURLEncoding.EncodeToString([]byte(w.bob.User.ID)),
			headers: keyA, status: 200, hide: bobOpenID},

		// --- NUL and invalid UTF-8 in headers and query parameters
		mini("NUL in a header", "GET", "/v1/t/hx-a/me", []string{"Authorization", "Bearer " + valid, "X-Hostile", "a\x00b"}, "", 400, "invalid_request"),
		mini("NUL in a header name", "GET", "/v1/t/hx-a/me", []string{"X-Host\x00ile", "a"}, "", 400, "invalid_request"),
		mini("NUL in the request target", "GET", "/v1/t/hx-a/me\x00", alice, "", 400, "invalid_request"),
		mini("invalid UTF-8 in the request id", "GET", "/v1/t/hx-a/me", append(bearer(valid), "X-Request-ID", "\xff\xfe"), "", 200, ""),
		mini("invalid UTF-8 in the User-Agent of a refused login", "POST", "/v1/t/hx-a/login", []string{"User-Agent", "\xff\xfe"}, `{"code":"ua-invalid-utf8"}`, 401, "invalid_code"),
		mini("invalid UTF-8 in X-Forwarded-For", "POST", "/v1/t/hx-a/login", []string{"X-Forwarded-For", "\xff"}, `{"code":"xff-invalid-utf8"}`, 401, "invalid_code"),
		mini("NUL in a qr ticket", "GET", "/v1/t/hx-a/qr-login/%00", nil, "", 404, "qr_ticket_not_found"),
		mini("huge qr ticket", "POST", "/v1/t/hx-a/qr-login/"+strings.Repeat("t", 4000)+"/confirm", alice, "", 404, "qr_ticket_not_found"),
		mgmt("NUL in a header", "GET", "/api/v1/tenants", append(platform, "Accept", "\x00"), "", 400, "invalid_request"),
		mgmt("NUL in Host", "GET", "/api/v1/tenants", append(platform, "Host", "a\x00b"), "", 400, "invalid_request"),
		mgmt("NUL in q", "GET", "/api/v1/tenants/hx-a/users?q=%00", platform, "", 400, "invalid_request"),
		mgmt("invalid UTF-8 in q", "GET", "/api/v1/tenants/hx-a/users?q=%FF%FE", platform, "", 400, "invalid_request"),
		mgmt("NUL in status", "GET", "/api/v1/tenants/hx-a/users?status=active%00", platform, "", 400, "invalid_request"),
		mgmt("NUL in the cursor", "GET", "/api/v1/tenants?cursor=%00", platform, "", 400, "invalid_request"),
		mgmt("NUL in the audit tenant", "GET", "/api/v1/audit?tenant=%00", platform, "", 400, "invalid_request"),
		mgmt("invalid UTF-8 in the audit tenant", "GET", "/api/v1/audit?tenant=%FF", platform, "", 400, "invalid_request"),
		mgmt("NUL in the bans cursor", "GET", "/api/v1/tenants/hx-a/bans?cursor=%00", platform, "", 400, "invalid_request"),
		mgmt("invalid UTF-8 in the query itself", "GET", "/api/v1/tenants/hx-a/users?q=\xff", platform, "", 400, "invalid_request"),
		// The pair that does not parse is dropped, as net/url does.
		mgmt("malformed escape in the query", "GET", "/api/v1/tenants/hx-a/users?q=%zz", keyA, "", 200, ""),

		// --- bodies: types, sizes, nesting, duplicates, encodings
		login("body exactly 16 KiB", loginBody(16<<10), 400, "invalid_request"),
		login("body 16 KiB + 1", loginBody(16<<10+1), 413, "request_too_large"),
		login("body of 1 MiB", loginBody(1<<20), 413, "request_too_large"),
		{name: "chunked body", surface: hostileMini, method: "POST", target: "/v1/t/hx-a/login", body: `{"code":"chunked-code"}`,
			chunked: true, status: 401, code: "invalid_code"},
		{name: "chunked body 16 KiB + 1", surface: hostileMini, method: "POST", target: "/v1/t/hx-a/login", body: loginBody(16<<10 + 1),
			chunked: true, status: 413, code: "request_too_large"},
		{name: "chunked body of 1 MiB", surface: hostileMgmt, method: "POST", target: "/api/v1/tenants", headers: platform,
			body: `{"name":"` + strings.Repeat("n", 1<<20) + `"}`, chunked: true, status: 413, code: "request_too_large"},
		mini("malformed chunk size", "POST", "/v1/t/hx-a/login", []string{"Transfer-Encoding", "chunked"}, "zz\r\n{}\r\n0\r\n\r\n", 400, "invalid_request"),
		mini("chunked and Content-Length", "POST", "/v1/t/hx-a/login", []string{"Transfer-Encoding", "chunked", "Content-Length", "3"}, "3\r\n{}}\r\n0\r\n\r\n", 400, "invalid_request"),
		mini("unknown transfer coding", "POST", "/v1/t/hx-a/login", []string{"Transfer-Encoding", "gzip, chunked"}, "0\r\n\r\n", 400, "invalid_request"),
		mini("two Content-Lengths", "POST", "/v1/t/hx-a/login", []string{"Content-Length", "2", "Content-Length", "3"}, "{}}", 400, "invalid_request"),
		mini("Content-Length beyond the body", "POST", "/v1/t/hx-a/refresh", []string{"Content-Length", "99999999999"}, `{}`, 413, "request_too_large"),
		mini("negative Content-Length", "POST", "/v1/t/hx-a/refresh", []string{"Content-Length", "-1"}, `{}`, 400, "invalid_request"),
		login("empty body", "", 400, "invalid_request"),
		login("not an object", `["code"]`, 400, "invalid_request"),
		login("JSON null", `null`, 400, "invalid_request"),
		login("trailing data", `{"code":"x"}{"code":"y"}`, 400, "invalid_request"),
		login("unknown field", `{"code":"x","admin":true}`, 400, "invalid_request"),
		login("code a number", `{"code":1}`, 400, "invalid_request"),
		login("code an object", `{"code":{"$ne":""}}`, 400, "invalid_request"),
		login("duplicate key", `{"code":"dup-a","code":"dup-b"}`, 400, "invalid_request"),
		login("duplicate key in another case", `{"code":"dup-c","CODE":"dup-d"}`, 400, "invalid_request"),
		login("nesting 8,000 deep (within 16 KiB)", `{"code":`+strings.Repeat("[", 8000)+strings.Repeat("]", 8000)+`}`, 400, "invalid_request"),
		login("nesting 10,000 deep", `{"code":`+strings.Repeat("[", 10000)+strings.Repeat("]", 10000)+`}`, 413, "request_too_large"),
		login("unbalanced nesting", strings.Repeat(`{"a":`, 3000), 400, "invalid_request"),
		login("byte order mark", "\xef\xbb\xbf{\"code\":\"bom\"}", 400, "invalid_request"),
		login("UTF-16", "\xff\xfe{\x00\"\x00c\x00o\x00d\x00e\x00\"\x00:\x001\x00}\x00", 400, "invalid_request"),
		// JSON's escape of a lone surrogate decodes to U+FFFD, which is text.
		login("lone surrogate escape", `{"code":"\ud800"}`, 401, "invalid_code"),
		mini("form instead of JSON", "POST", "/v1/t/hx-a/login", []string{"Content-Type", "application/x-www-form-urlencoded"}, "code=abc", 400, "invalid_request"),
		mini("multipart instead of JSON", "POST", "/v1/t/hx-a/login", []string{"Content-Type", "multipart/form-data; boundary=x"}, "--x\r\nContent-Disposition: form-data; name=\"code\"\r\n\r\nabc\r\n--x--\r\n", 400, "invalid_request"),
		mini("XML instead of JSON", "POST", "/v1/t/hx-a/login", []string{"Content-Type", "application/xml"}, "<code>abc</code>", 400, "invalid_request"),
		mini("JSON under text/plain (read as JSON, as documented)", "POST", "/v1/t/hx-a/login", []string{"Content-Type", "text/plain"}, `{"code":"plain-code"}`, 401, "invalid_code"),
		mgmt("duplicate key on create", "POST", "/api/v1/api-keys", platform, `{"name":"dup","role":"tenant_viewer","tenant":"hx-a","role":"platform_admin"}`, 400, "invalid_request"),
		mgmt("nested rate limits", "PATCH", "/api/v1/tenants/hx-a", platform, `{"rate_limits":`+strings.Repeat(`{"a":`, 2500)+`1`+strings.Repeat(`}`, 2500)+`}`, 400, "invalid_request"),
		mgmt("tenant body exactly 16 KiB", "POST", "/api/v1/tenants", platform, hostilePad(`{"slug":"hx-pad","name":"`, `"}`, 16<<10), 400, "invalid_request"),
		mgmt("tenant body 16 KiB + 1", "POST", "/api/v1/tenants", platform, hostilePad(`{"slug":"hx-pad","name":"`, `"}`, 16<<10+1), 413, "request_too_large"),
		mgmt("form instead of JSON", "POST", "/api/v1/tenants", append(platform, "Content-Type", "application/x-www-form-urlencoded"), "slug=hx-form&name=x", 400, "invalid_request"),

		// --- methods
		mini("TRACE", "TRACE", "/v1/t/hx-a/login", nil, "", 405, "method_not_allowed"),
		mini("PROPFIND", "PROPFIND", "/v1/t/hx-a/me", alice, "", 405, "method_not_allowed"),
		mini("a method of no route", "PROPFIND", "/nowhere", nil, "", 404, "not_found"),
		mini("CONNECT", "CONNECT", "miniauth.test:443", nil, "", 404, "not_found"),
		mgmt("TRACE", "TRACE", "/api/v1/tenants/hx-a", platform, "", 405, "method_not_allowed"),
		mgmt("PROPFIND", "PROPFIND", "/api/v1/tenants", platform, "", 405, "method_not_allowed"),
		mgmt("PUT", "PUT", "/api/v1/tenants/hx-a", platform, `{"name":"x"}`, 405, "method_not_allowed"),
		console("TRACE", "TRACE", "/admin/login", nil, "", 405, "method_not_allowed"),
		console("PROPFIND", "PROPFIND", "/admin/tenants/hx-a", []string{"Cookie", consoleCookie}, "", 405, "method_not_allowed"),
		ops("TRACE", "TRACE", "/metrics", nil, 405, "method_not_allowed"),
		ops("POST", "POST", "/metrics", nil, 405, "method_not_allowed"),
		ops("PROPFIND", "PROPFIND", "/debug/pprof/", nil, 405, "method_not_allowed"),

		// --- headers too large
		mini("headers of 64 KiB", "GET", "/v1/t/hx-a/me", append(bearer(valid), "X-Pad", strings.Repeat("p", 64<<10)), "", 431, "headers_too_large"),
		mini("many headers", "GET", "/v1/t/hx-a/me", hostileManyHeaders(5000), "", 431, "headers_too_large"),
		mgmt("headers of 64 KiB", "GET", "/api/v1/tenants", append(platform, "X-Pad", strings.Repeat("p", 64<<10)), "", 431, "headers_too_large"),
		mgmt("request target of 64 KiB", "GET", "/api/v1/tenants?q="+strings.Repeat("q", 64<<10), platform, "", 431, "headers_too_large"),
		console("cookie of 64 KiB", "GET", "/admin/", []string{"Cookie", consoleCookie + "; pad=" + strings.Repeat("p", 64<<10)}, "", 431, "headers_too_large"),
		ops("headers of 2 MiB", "GET", "/metrics", []string{"X-Pad", strings.Repeat("p", 2<<20)}, 431, "headers_too_large"),

		// --- the console's forms, with its CSRF token and Origin
		console("ban reason with NUL", "POST", "/admin/tenants/hx-a/bans", consoleForm, hostileForm(w, "openid", "oHostile", "reason", "a\x00b"), 400, ""),
		console("ban reason in invalid UTF-8", "POST", "/admin/tenants/hx-a/bans", consoleForm, hostileForm(w, "openid", "oHostile", "reason", "a\xffb"), 400, ""),
		console("ban openid with NUL", "POST", "/admin/tenants/hx-a/bans", consoleForm, hostileForm(w, "openid", "o\x00", "reason", "r"), 400, ""),
		console("ban ip of garbage", "POST", "/admin/tenants/hx-a/bans", consoleForm, hostileForm(w, "ip", "999.1.1.1/99", "reason", "r"), 400, ""),
		console("ban expiry of garbage", "POST", "/admin/tenants/hx-a/bans", consoleForm, hostileForm(w, "openid", "oHostile", "reason", "r", "expires_at", "99999-99-99T99:99"), 400, ""),
		console("ban of a megabyte form", "POST", "/admin/tenants/hx-a/bans", consoleForm, hostileForm(w, "openid", "oHostile", "reason", strings.Repeat("r", 1<<20)), 400, ""),
		console("ban on b", "POST", "/admin/tenants/hx-b/bans", consoleForm, hostileForm(w, "openid", "oHostile", "reason", "r"), 403, ""),
		console("ban on b, upper case", "POST", "/admin/tenants/HX-B/bans", consoleForm, hostileForm(w, "openid", "oHostile", "reason", "r"), 403, ""),
		console("ban without the CSRF token", "POST", "/admin/tenants/hx-a/bans", consoleForm, "openid=oHostile&reason=r", 403, ""),
		console("ban with another session's CSRF token", "POST", "/admin/tenants/hx-a/bans", consoleForm, "openid=oHostile&reason=r&_csrf="+admin.CSRFToken("x"), 403, ""),
		console("ban from another origin", "POST", "/admin/tenants/hx-a/bans", []string{"Cookie", consoleCookie, "Origin", "https://attacker.example",
			"Content-Type", "application/x-www-form-urlencoded"}, hostileForm(w, "openid", "oHostile", "reason", "r"), 403, ""),
		console("ban of a user of b", "POST", "/admin/tenants/hx-a/users/"+w.bob.User.ID+"/ban", consoleForm, hostileForm(w, "reason", "r"), 404, ""),
		console("ban of a non-UUID user", "POST", "/admin/tenants/hx-a/users/..%2F..%2Fhx-b/ban", consoleForm, hostileForm(w, "reason", "r"), 404, ""),
		console("disable b's user", "POST", "/admin/tenants/hx-b/users/"+w.bob.User.ID+"/status", consoleForm, hostileForm(w, "status", "disabled"), 403, ""),
		console("status of garbage", "POST", "/admin/tenants/hx-a/users/"+w.alice.User.ID+"/status", consoleForm, hostileForm(w, "status", "root\x00"), 400, ""),
		console("revoke a session of garbage", "POST", "/admin/tenants/hx-a/users/"+w.alice.User.ID+"/sessions/%00/revoke", consoleForm, hostileForm(w), 404, ""),
		console("tenant name with NUL", "POST", "/admin/tenants/hx-a", consoleForm, hostileForm(w, "name", "a\x00b", "wechat_appid", w.a.AppID,
			"signing_alg", "ES256", "access_ttl_seconds", "900", "refresh_ttl_seconds", "2592000"), 400, ""),
		console("tenant name in invalid UTF-8", "POST", "/admin/tenants/hx-a", consoleForm, hostileForm(w, "name", "a\xffb", "wechat_appid", w.a.AppID,
			"signing_alg", "ES256", "access_ttl_seconds", "900", "refresh_ttl_seconds", "2592000"), 400, ""),
		console("rate limit of garbage", "POST", "/admin/tenants/hx-a/limits", consoleForm, hostileForm(w, "login_per_ip", "\xff-M"), 400, ""),
		console("API key for b", "POST", "/admin/api-keys", consoleForm, hostileForm(w, "name", "x", "role", "tenant_admin", "tenant", "hx-b"), 403, ""),
		console("API key with an invalid UTF-8 name", "POST", "/admin/api-keys", consoleForm, hostileForm(w, "name", "a\xff", "role", "tenant_viewer", "tenant", "hx-a"), 400, ""),
		console("API key with a NUL name", "POST", "/admin/api-keys", consoleForm, hostileForm(w, "name", "a\x00", "role", "tenant_viewer", "tenant", "hx-a"), 400, ""),
		console("user search with NUL", "GET", "/admin/tenants/hx-a/users?q=%00", []string{"Cookie", consoleCookie}, "", 400, ""),
		console("user page of a huge id", "GET", "/admin/tenants/hx-a/users/"+strings.Repeat("9", 4000), []string{"Cookie", consoleCookie}, "", 404, ""),
		console("b's users", "GET", "/admin/tenants/hx-b/users", []string{"Cookie", consoleCookie}, "", 403, ""),
		console("b's users, homoglyph", "GET", "/admin/tenants/hx-%D0%AC/users", []string{"Cookie", consoleCookie}, "", 403, ""),
		console("invalid UTF-8 in Accept-Language", "GET", "/admin/tenants/hx-a", []string{"Cookie", consoleCookie, "Accept-Language", "\xff\xfe"}, "", 200, ""),
		console("NUL in a cookie", "GET", "/admin/", []string{"Cookie", consoleCookie + "\x00"}, "", 400, "invalid_request"),

		// --- the operations port
		ops("unknown path", "GET", "/nowhere", nil, 404, "not_found"),
		ops("unknown profile", "GET", "/debug/pprof/nothing", nil, 404, "not_found"),
		ops("profile seconds of garbage", "GET", "/debug/pprof/heap?seconds=x", nil, 400, "invalid_request"),
		ops("dot segments", "GET", "/metrics/../debug/pprof/cmdline", nil, 404, "not_found"),
		ops("NUL in a header", "GET", "/metrics", []string{"X-Hostile", "\x00"}, 400, "invalid_request"),
		ops("malformed request line", "GET", "/metrics HTTP/1.1 extra", nil, 400, "invalid_request"),

		// --- a WeChat that answers nonsense: 502, and no row
		upstream("an openid with NUL", `{"openid":"o\u0000x",`+sessionKey+`}`),
		upstream("an openid in invalid UTF-8", "{\"openid\":\"o\xff\xfe\","+sessionKey+"}"),
		upstream("an openid of 60,000 characters", `{"openid":"o`+strings.Repeat("x", 60000)+`",`+sessionKey+`}`),
		upstream("an openid of 200 characters", `{"openid":"o`+strings.Repeat("x", 200)+`",`+sessionKey+`}`),
		upstream("an openid with spaces and quotes", `{"openid":"o' OR '1'='1",`+sessionKey+`}`),
		upstream("an openid of emoji", `{"openid":"o😀😀😀",`+sessionKey+`}`),
		upstream("an openid a number", `{"openid":12345,`+sessionKey+`}`),
		upstream("a unionid with NUL", `{`+openID+`,`+sessionKey+`,"unionid":"u\u0000"}`),
		upstream("a unionid of 60,000 characters", `{`+openID+`,`+sessionKey+`,"unionid":"u`+strings.Repeat("x", 60000)+`"}`),
		upstream("a session_key with NUL", `{`+openID+`,"session_key":"\u0000"}`),
		upstream("a session_key not base64", `{`+openID+`,"session_key":"!!!!!!!!!!!!!!!!!!!!!!!!"}`),
		upstream("a session_key of 32 bytes", `{`+openID+`,"session_key":"`+base64.StdEncoding.EncodeToString(make([]byte, 32))+`"}`),
		upstream("a session_key of 60,000 characters", `{`+openID+`,"session_key":"`+strings.Repeat("A", 60000)+`"}`),
		upstream("a session_key in invalid UTF-8", "{"+openID+",\"session_key\":\"\xff\xfe\xfd\"}"),
	}
	return append(cases, hostileFieldCases(w)...)
}

// hostileFieldCases puts a NUL and an invalid UTF-8 sequence, in turn, into
// every string field (and a map key) of every JSON body the APIs take.
func hostileFieldCases(w *hostileWorld) []hostileCase {
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	alice := bearer(w.alice.AccessToken)
	platform := bearer(w.b.apiKey)
	aliceUser := "/api/v1/tenants/hx-a/users/" + w.alice.User.ID
	// Each body holds %s where the hostile string goes.
	bodies := []struct {
		surface, method, target string
		headers                 []string
		body                    string
	}{
		{hostileMini, "POST", "/v1/t/hx-a/login", nil, `{"code":%s}`},
		{hostileMini, "POST", "/v1/t/hx-a/refresh", nil, `{"refresh_token":%s}`},
		{hostileMini, "PATCH", "/v1/t/hx-a/me", alice, `{"nickname":%s}`},
		{hostileMini, "PATCH", "/v1/t/hx-a/me", alice, `{"avatar_url":%s}`},
		{hostileMini, "POST", "/v1/t/hx-a/me/phone", alice, `{"code":%s}`},
		{hostileMini, "POST", "/v1/t/hx-a/me/decrypt", alice, `{"encrypted_data":%s,"iv":"AAAAAAAAAAAAAAAAAAAAAA=="}`},
		{hostileMini, "POST", "/v1/t/hx-a/me/decrypt", alice, `{"encrypted_data":"AAAAAAAAAAAAAAAAAAAAAA==","iv":%s}`},
		{hostileMini, "POST", "/v1/t/hx-a/me/verify-signature", alice, `{"raw_data":%s,"signature":"0000000000000000000000000000000000000000"}`},
		{hostileMini, "POST", "/v1/t/hx-a/me/verify-signature", alice, `{"raw_data":"{}","signature":%s}`},
		{hostileMgmt, "POST", "/api/v1/tenants", platform, `{"slug":%s,"name":"n","wechat_appid":"wxhostile0000000","wechat_secret":"s"}`},
		{hostileMgmt, "POST", "/api/v1/tenants", platform, `{"slug":"hx-new","name":%s,"wechat_appid":"wxhostile0000000","wechat_secret":"s"}`},
		{hostileMgmt, "POST", "/api/v1/tenants", platform, `{"slug":"hx-new","name":"n","wechat_appid":%s,"wechat_secret":"s"}`},
		{hostileMgmt, "POST", "/api/v1/tenants", platform, `{"slug":"hx-new","name":"n","wechat_appid":"wxhostile0000000","wechat_secret":%s}`},
		{hostileMgmt, "POST", "/api/v1/tenants", platform, `{"slug":"hx-new","name":"n","wechat_appid":"wxhostile0000000","wechat_secret":"s","signing_alg":%s}`},
		{hostileMgmt, "PATCH", "/api/v1/tenants/hx-a", platform, `{"name":%s}`},
		{hostileMgmt, "PATCH", "/api/v1/tenants/hx-a", platform, `{"rate_limits":{"login_per_ip":%s}}`},
		{hostileMgmt, "PATCH", "/api/v1/tenants/hx-a", platform, `{"rate_limits":{%s:"20-M"}}`},
		{hostileMgmt, "PATCH", "/api/v1/tenants/hx-a", platform, `{"qr_login_page":%s}`},
		{hostileMgmt, "PATCH", aliceUser, platform, `{"status":%s}`},
		{hostileMgmt, "POST", "/api/v1/tenants/hx-a/bans", platform, `{"openid":%s,"reason":"r"}`},
		{hostileMgmt, "POST", "/api/v1/tenants/hx-a/bans", platform, `{"user_id":%s,"reason":"r"}`},
		{hostileMgmt, "POST", "/api/v1/tenants/hx-a/bans", platform, `{"ip":%s,"reason":"r"}`},
		{hostileMgmt, "POST", "/api/v1/tenants/hx-a/bans", platform, `{"openid":"oHostile","reason":%s}`},
		{hostileMgmt, "POST", "/api/v1/tenants/hx-a/bans", platform, `{"openid":"oHostile","reason":"r","expires_at":%s}`},
		{hostileMgmt, "POST", "/api/v1/bans", platform, `{"ip":"192.0.2.1","reason":%s}`},
		{hostileMgmt, "POST", "/api/v1/api-keys", platform, `{"name":%s,"role":"tenant_viewer","tenant":"hx-a"}`},
		{hostileMgmt, "POST", "/api/v1/api-keys", platform, `{"name":"n","role":%s,"tenant":"hx-a"}`},
		{hostileMgmt, "POST", "/api/v1/api-keys", platform, `{"name":"n","role":"tenant_viewer","tenant":%s}`},
		{hostileMgmt, "POST", "/api/v1/admins", platform, `{"email":%s,"password":"a-long-enough-password","roles":[{"role":"platform_admin"}]}`},
		{hostileMgmt, "POST", "/api/v1/admins", platform, `{"email":"new@example.com","password":%s,"roles":[{"role":"platform_admin"}]}`},
		{hostileMgmt, "POST", "/api/v1/admins", platform, `{"email":"new@example.com","password":"a-long-enough-password","roles":[{"role":"tenant_viewer","tenant":%s}]}`},
	}
	var out []hostileCase
	for _, bd := range bodies {
		field := regexp.MustCompile(`"([a-z_]+)":%s|\{%s`).FindStringSubmatch(bd.body)
		name := field[1]
		if name == "" {
			name = "a map key"
		}
		for _, bad := range []struct{ what, value string }{{"NUL", `"a\u0000b"`}, {"invalid UTF-8", "\"a\xff\xfeb\""}} {
			out = append(out, hostileCase{
				name:    fmt.Sprintf("%s in %s of %s %s", bad.what, name, bd.method, bd.target),
				surface: bd.surface, method: bd.method, target: bd.target, headers: bd.headers,
				body:   fmt.Sprintf(bd.body, bad.value),
				status: 400, code: "invalid_request",
			})
		}
	}
	return out
}

// hostileForm is a console form with the session's CSRF token; kv are
// field, value pairs, escaped as a browser would.
func hostileForm(w *hostileWorld, kv ...string) string {
	v := url.Values{"_csrf": {w.csrf}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

// hostilePad is prefix, padding and suffix, n bytes in all.
func hostilePad(prefix, suffix string, n int) string {
	return prefix + strings.Repeat("p", n-len(prefix)-len(suffix)) + suffix
}

// hostileManyHeaders is n small headers.
func hostileManyHeaders(n int) []string {
	out := make([]string, 0, 2*n)
	for i := range n {
		out = append(out, fmt.Sprintf("X-H%d", i), "v")
	}
	return out
}

// hostileFlipLast changes the last character of s to another one of the
// same base64url alphabet.
func hostileFlipLast(s string) string {
	last := s[len(s)-1]
	repl := byte('A')
	if last == 'A' {
		repl = 'B'
	}
	return s[:len(s)-1] + string(repl)
}

// ---------------------------------------------------------------- running

// hostileRun sends c and checks its answer.
func hostileRun(t *testing.T, w *hostileWorld, c hostileCase) {
	addr := strings.TrimPrefix(w.b.srv.URL, "http://")
	if c.surface == hostileOps {
		addr = strings.TrimPrefix(w.b.srv.OpsURL, "http://")
	}
	headers := c.headers
	if c.bearer != nil {
		headers = append([]string{"Authorization", "Bearer " + c.bearer()}, headers...)
	}
	if c.wechat != "" {
		w.b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, AppID: w.a.AppID, Body: c.wechat})
		defer w.b.wx.Reset()
	}
	r, err := hostileSend(addr, hostileRequest(c, headers), 10*time.Second)
	if err != nil {
		t.Fatalf("%s %.80s: %v", c.method, c.target, err)
	}
	if r.Status != c.status {
		t.Fatalf("status %d, want %d: %.300s", r.Status, c.status, r.Body)
	}
	ct := r.Header.Get("Content-Type")
	switch {
	case c.code != "":
		if got := r.Code(t); got != c.code {
			t.Fatalf("problem code %q, want %q: %.300s", got, c.code, r.Body)
		}
	case c.status >= 400:
		// The console's error page.
		if c.surface != hostileConsole || !strings.HasPrefix(ct, "text/html") {
			t.Fatalf("status %d with Content-Type %q: %.300s", r.Status, ct, r.Body)
		}
	}
	if c.hide != "" && bytes.Contains(r.Body, []byte(c.hide)) {
		t.Fatalf("the answer shows %q: %.300s", c.hide, r.Body)
	}
}

// hostileRequest is the bytes of c's request. A Content-Length is added
// unless the case sends one, or a Transfer-Encoding, of its own.
func hostileRequest(c hostileCase, headers []string) []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%s %s HTTP/1.1\r\n", c.method, c.target)
	framed, host := c.chunked, false
	for i := 0; i+1 < len(headers); i += 2 {
		switch strings.ToLower(headers[i]) {
		case "content-length", "transfer-encoding":
			framed = true
		case "host":
			host = true
		}
		fmt.Fprintf(&buf, "%s: %s\r\n", headers[i], headers[i+1])
	}
	if !host {
		buf.WriteString("Host: miniauth.test\r\n")
	}
	buf.WriteString("Connection: close\r\n")
	if c.chunked {
		buf.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if !framed && (c.body != "" || c.method == "POST" || c.method == "PATCH" || c.method == "PUT") {
		fmt.Fprintf(&buf, "Content-Length: %d\r\n", len(c.body))
	}
	buf.WriteString("\r\n")
	if !c.chunked {
		buf.WriteString(c.body)
		return buf.Bytes()
	}
	for rest := c.body; rest != ""; {
		n := min(len(rest), 1024)
		fmt.Fprintf(&buf, "%x\r\n%s\r\n", n, rest[:n])
		rest = rest[n:]
	}
	buf.WriteString("0\r\n\r\n")
	return buf.Bytes()
}

// hostileSend writes raw to addr while it reads the answer, so a server
// that answers before the request is all sent is heard; no answer within
// wait is an error.
func hostileSend(addr string, raw []byte, wait time.Duration) (response, error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return response{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wait))
	go func() { _, _ = conn.Write(raw) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return response{}, fmt.Errorf("no answer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("answer cut short: %w", err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// ---------------------------------------------------------------- slow clients

// hostileSlow holds a connection that sends its headers (or, with body,
// its body) a byte every 100 ms, and checks that the server cuts it off
// within its read timeout while another client's requests all succeed.
func hostileSlow(t *testing.T, w *hostileWorld, body bool) {
	cfg := w.b.srv.app.cfg
	limit := cfg.ReadHeaderTimeout
	if body {
		limit = cfg.ReadTimeout
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(w.b.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	head := "POST /v1/t/hx-a/login HTTP/1.1\r\nHost: miniauth.test\r\nContent-Type: application/json\r\n"
	trickle := "X-Slow: " + strings.Repeat("s", 1000) + "\r\n\r\n"
	if body {
		head += "Content-Length: 1000\r\n\r\n"
		trickle = `{"code":"` + strings.Repeat("s", 1000)
	}
	if _, err := conn.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}

	// The other client, until the slow one is cut off.
	stop := make(chan struct{})
	var served, failed atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		hc := &http.Client{Timeout: 5 * time.Second}
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			req, _ := http.NewRequest("GET", w.b.srv.URL+"/v1/t/hx-a/me", nil)
			req.Header.Set("Authorization", "Bearer "+w.alice.AccessToken)
			resp, err := hc.Do(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				failed.Add(1)
				continue
			}
			served.Add(1)
		}
	})

	// Trickle until a write fails or the server answers or closes.
	answered := make(chan []byte, 1)
	go func() {
		got, _ := io.ReadAll(conn)
		answered <- got
	}()
	var got []byte
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(limit + 5*time.Second)
loop:
	for i := 0; ; i++ {
		select {
		case got = <-answered:
			break loop
		case <-deadline:
			close(stop)
			wg.Wait()
			t.Fatalf("the slow client was not cut off within %s (read timeout %s)", limit+5*time.Second, limit)
		case <-tick.C:
			if i < len(trickle) {
				_, _ = conn.Write([]byte{trickle[i]})
			}
		}
	}
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if took < limit-100*time.Millisecond {
		t.Fatalf("the slow client was cut off after %s, before the read timeout %s: %q", took, limit, got)
	}
	if body {
		// The handler was reading the body: it answers that it could not.
		r, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(got)), nil)
		if err != nil {
			t.Fatalf("no answer to the slow body: %v: %q", err, got)
		}
		data, _ := io.ReadAll(r.Body)
		resp := response{Status: r.StatusCode, Header: r.Header, Body: data}
		wantStatus(t, "slow body", resp, http.StatusBadRequest, "invalid_request")
	} else if len(got) != 0 {
		t.Fatalf("the slow headers got an answer: %q", got)
	}
	if failed.Load() != 0 || served.Load() < int64(limit/(200*time.Millisecond)) {
		t.Fatalf("while a client was slow, another got %d answers and %d failures", served.Load(), failed.Load())
	}
}
