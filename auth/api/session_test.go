package api_test

// Sessions on one engine: access tokens verified from the JWKS alone,
// forged tokens refused, refresh rotation and reuse detection, concurrent
// refreshes, logout and PATCH /me.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/tenant"
)

func sessMe(t *testing.T, b *testBundle, slug, access string) response {
	t.Helper()
	return b.do(t, request{method: http.MethodGet, path: path(slug, "/me"), bearer: access})
}

func sessRefresh(t *testing.T, b *testBundle, slug, refresh string) response {
	t.Helper()
	return b.do(t, request{method: http.MethodPost, path: path(slug, "/refresh"), body: map[string]string{"refresh_token": refresh}})
}

func sessLogout(t *testing.T, b *testBundle, slug, access string, body any) response {
	t.Helper()
	return b.do(t, request{method: http.MethodPost, path: path(slug, "/logout"), bearer: access, body: body})
}

// sessWant asserts the status and, when code is not empty, the problem code.
func sessWant(t *testing.T, what string, r response, status int, code string) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	if code != "" && (r.problem.Code != code || r.problem.Status != status) {
		t.Fatalf("%s: problem code %q, want %q: %s", what, r.problem.Code, code, r.body)
	}
	return r
}

// sessWantFields asserts a 400 invalid_request whose errors name exactly
// the wanted fields (order ignored; one field may carry several messages).
func sessWantFields(t *testing.T, what string, r response, fields ...string) {
	t.Helper()
	sessWant(t, what, r, http.StatusBadRequest, "invalid_request")
	var got []string
	for _, e := range r.problem.Errors {
		if e.Message == "" {
			t.Errorf("%s: field %s without a message", what, e.Field)
		}
		got = append(got, e.Field)
	}
	sort.Strings(got)
	got = slices.Compact(got)
	want := slices.Clone(fields)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: error fields %v, want %v: %s", what, got, want, r.body)
	}
}

// sessJSON decodes a success body into a map.
func sessJSON(t *testing.T, r response) map[string]any {
	t.Helper()
	var m map[string]any
	r.decode(t, &m)
	return m
}

// sessTokens decodes a 200 token response.
func sessTokens(t *testing.T, what string, r response) tokenResponse {
	t.Helper()
	sessWant(t, what, r, http.StatusOK, "")
	var tok tokenResponse
	r.decode(t, &tok)
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("%s: tokens missing: %s", what, r.body)
	}
	return tok
}

// sessRefreshOK refreshes and returns the rotated tokens.
func sessRefreshOK(t *testing.T, b *testBundle, slug, refresh string) tokenResponse {
	t.Helper()
	return sessTokens(t, "refresh", sessRefresh(t, b, slug, refresh))
}

// sessTenant creates a tenant signing with alg and registers its app with
// the fake WeChat.
func (b *testBundle) sessTenant(t *testing.T, slug, alg string) testTenant {
	t.Helper()
	appID, secret := "wx"+randomHex(8), "secret-"+randomHex(8)
	ten, err := b.store.Create(context.Background(), tenant.NewTenant{
		Slug: slug, Name: slug, WeChatAppID: appID, WeChatSecret: secret, SigningAlg: alg,
	})
	if err != nil {
		t.Fatalf("create tenant %s: %v", slug, err)
	}
	b.wx.AddApp(appID, secret, "")
	return testTenant{Tenant: ten, secret: secret}
}

// sessParts splits a JWT and decodes (without verifying) header and claims.
func sessParts(t *testing.T, token string) (header, claims map[string]any, parts []string) {
	t.Helper()
	parts = strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", token)
	}
	return jwtSegment(t, parts[0]), jwtSegment(t, parts[1]), parts
}

func sessB64JSON(t *testing.T, v any) string {
	t.Helper()
	buf, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(buf)
}

// sessJWKS fetches a tenant's JWKS and returns its keys as raw maps.
func sessJWKS(t *testing.T, b *testBundle, slug string) []map[string]any {
	t.Helper()
	r := b.do(t, request{method: http.MethodGet, path: path(slug, "/.well-known/jwks.json")})
	sessWant(t, "jwks", r, http.StatusOK, "")
	if ct := r.header.Get("Content-Type"); !strings.Contains(ct, "json") {
		t.Fatalf("jwks Content-Type %q", ct)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	r.decode(t, &set)
	return set.Keys
}

// sessPublicKey builds a public key from a JWK by hand (no JOSE library):
// EC P-256 from x and y, Ed25519 from x.
func sessPublicKey(jwk map[string]any) (crypto.PublicKey, error) {
	str := func(k string) string { s, _ := jwk[k].(string); return s }
	dec := func(k string, n int) ([]byte, error) {
		b, err := base64.RawURLEncoding.DecodeString(str(k))
		if err != nil {
			return nil, fmt.Errorf("jwk %s: %v", k, err)
		}
		if len(b) != n {
			return nil, fmt.Errorf("jwk %s: %d bytes, want %d", k, len(b), n)
		}
		return b, nil
	}
	switch {
	case str("kty") == "EC" && str("crv") == "P-256":
		x, err := dec("x", 32)
		if err != nil {
			return nil, err
		}
		y, err := dec("y", 32)
		if err != nil {
			return nil, err
		}
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	case str("kty") == "OKP" && str("crv") == "Ed25519":
		x, err := dec("x", ed25519.PublicKeySize)
		if err != nil {
			return nil, err
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, fmt.Errorf("unsupported jwk kty %q crv %q", str("kty"), str("crv"))
}

// sessVerify verifies an access token with golang-jwt from the tenant's
// published JWKS only, strictly (alg, iss, aud, exp, iat).
func sessVerify(t *testing.T, b *testBundle, slug, raw, alg string) (*jwt.Token, jwt.MapClaims) {
	t.Helper()
	keys := sessJWKS(t, b, slug)
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		for _, k := range keys {
			if k["kid"] == kid {
				if k["alg"] != tok.Method.Alg() {
					return nil, fmt.Errorf("token alg %s, jwk alg %v", tok.Method.Alg(), k["alg"])
				}
				return sessPublicKey(k)
			}
		}
		return nil, fmt.Errorf("kid %q is not in the JWKS", kid)
	},
		jwt.WithValidMethods([]string{alg}),
		jwt.WithIssuer("http://miniauth.test/v1/t/"+slug),
		jwt.WithAudience(slug),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
	)
	if err != nil {
		t.Fatalf("token does not verify from the JWKS of %s: %v", slug, err)
	}
	return tok, claims
}

// sessSignOwn signs claims with a key of our own, under the given header.
func sessSignOwn(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, claims map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, jwt.MapClaims(claims))
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSessionAccessTokenVerifiesFromJWKS(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cases := []struct {
		slug, alg, kty, crv string
	}{
		{"sess-es", "ES256", "EC", "P-256"},
		{"sess-ed", "EdDSA", "OKP", "Ed25519"},
	}
	made := map[string]testTenant{}
	for _, c := range cases {
		tt := b.sessTenant(t, c.slug, c.alg)
		made[c.slug] = tt
		tok := b.login(t, tt, "alice")
		second := b.login(t, tt, "alice")

		keys := sessJWKS(t, b, c.slug)
		if len(keys) != 1 {
			t.Fatalf("%s: JWKS has %d keys, want 1: %v", c.slug, len(keys), keys)
		}
		k := keys[0]
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
			if _, ok := k[private]; ok {
				t.Fatalf("%s: JWKS carries private member %q", c.slug, private)
			}
		}
		if k["kty"] != c.kty || k["crv"] != c.crv || k["alg"] != c.alg || k["use"] != "sig" {
			t.Fatalf("%s: jwk %v, want kty %s crv %s alg %s use sig", c.slug, k, c.kty, c.crv, c.alg)
		}
		if _, hasY := k["y"]; hasY != (c.kty == "EC") {
			t.Fatalf("%s: jwk y present=%v for kty %s", c.slug, hasY, c.kty)
		}

		parsed, claims := sessVerify(t, b, c.slug, tok.AccessToken, c.alg)
		if parsed.Header["typ"] != "at+jwt" {
			t.Errorf("%s: typ %v, want at+jwt", c.slug, parsed.Header["typ"])
		}
		if parsed.Header["alg"] != c.alg {
			t.Errorf("%s: alg %v, want %s", c.slug, parsed.Header["alg"], c.alg)
		}
		if parsed.Header["kid"] != k["kid"] {
			t.Errorf("%s: kid %v, JWKS kid %v", c.slug, parsed.Header["kid"], k["kid"])
		}
		if iss, _ := claims.GetIssuer(); iss != "http://miniauth.test/v1/t/"+c.slug {
			t.Errorf("%s: iss %q", c.slug, iss)
		}
		if aud, _ := claims.GetAudience(); !slices.Equal([]string(aud), []string{c.slug}) {
			t.Errorf("%s: aud %v, want [%s]", c.slug, aud, c.slug)
		}
		if sub, _ := claims.GetSubject(); sub != tok.User.ID || sub == "" {
			t.Errorf("%s: sub %q, user id %q", c.slug, sub, tok.User.ID)
		}
		sid, _ := claims["sid"].(string)
		if _, err := uuid.Parse(sid); err != nil {
			t.Errorf("%s: sid %q is not a session id: %v", c.slug, sid, err)
		}
		iat, err1 := claims.GetIssuedAt()
		exp, err2 := claims.GetExpirationTime()
		if err1 != nil || err2 != nil || iat == nil || exp == nil {
			t.Fatalf("%s: iat/exp missing: %v %v", c.slug, err1, err2)
		}
		if d := exp.Sub(iat.Time); d != 900*time.Second {
			t.Errorf("%s: exp-iat = %s, want 900s", c.slug, d)
		}
		if skew := time.Since(iat.Time); skew < -5*time.Second || skew > time.Minute {
			t.Errorf("%s: iat %s is not now", c.slug, iat)
		}
		jti, _ := claims["jti"].(string)
		if jti == "" {
			t.Errorf("%s: no jti", c.slug)
		}
		_, claims2 := sessVerify(t, b, c.slug, second.AccessToken, c.alg)
		if claims2["jti"] == jti {
			t.Errorf("%s: two tokens share jti %q", c.slug, jti)
		}
		if claims2["sid"] == sid {
			t.Errorf("%s: two logins share session id %q", c.slug, sid)
		}
		if claims2["sub"] != tok.User.ID {
			t.Errorf("%s: same user, different sub %v vs %s", c.slug, claims2["sub"], tok.User.ID)
		}

		r := b.do(t, request{method: http.MethodGet, path: path(c.slug, "/.well-known/openid-configuration")})
		sessWant(t, "openid-configuration", r, http.StatusOK, "")
		doc := sessJSON(t, r)
		iss := "http://miniauth.test/v1/t/" + c.slug
		if doc["issuer"] != iss || doc["jwks_uri"] != iss+"/.well-known/jwks.json" {
			t.Errorf("%s: discovery issuer %v jwks_uri %v", c.slug, doc["issuer"], doc["jwks_uri"])
		}
	}

	// One tenant's JWKS must not verify the other's token.
	es := b.login(t, made["sess-es"], "bob")
	edKeys := sessJWKS(t, b, "sess-ed")
	_, err := jwt.Parse(es.AccessToken, func(tok *jwt.Token) (any, error) { return sessPublicKey(edKeys[0]) },
		jwt.WithValidMethods([]string{"ES256", "EdDSA"}))
	if err == nil {
		t.Fatal("an ES256 tenant's token verified with the EdDSA tenant's key")
	}
}

func TestSessionForgedAccessTokensRejected(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ta := b.tenant(t, "sess-fa")
	tb := b.tenant(t, "sess-fb")
	alice := b.login(t, ta, "alice")
	bob := b.login(t, ta, "bob")
	other := b.login(t, tb, "alice")

	header, claims, parts := sessParts(t, alice.AccessToken)
	kid := header["kid"].(string)
	_, bobClaims, _ := sessParts(t, bob.AccessToken)

	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	flipped := slices.Clone(sig)
	flipped[len(flipped)/2] ^= 0x01

	swapped := map[string]any{}
	for k, v := range claims {
		swapped[k] = v
	}
	swapped["sub"], swapped["sid"] = bobClaims["sub"], bobClaims["sid"]

	ownEC, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, ownEd, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwkJSON, _ := json.Marshal(sessJWKS(t, b, ta.Slug)[0])

	forged := map[string]string{
		"alg none": sessB64JSON(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." + parts[1] + ".",
		"alg none, signature kept": sessB64JSON(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": kid}) + "." +
			parts[1] + "." + parts[2],
		"alg none, typ JWT":      sessB64JSON(t, map[string]any{"alg": "none", "typ": "JWT", "kid": kid}) + "." + parts[1] + ".",
		"alg none, no typ":       sessB64JSON(t, map[string]any{"alg": "none", "kid": kid}) + "." + parts[1] + ".",
		"flipped signature byte": parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(flipped),
		"truncated signature":    parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(sig[:len(sig)-1]),
		"empty signature":        parts[0] + "." + parts[1] + ".",
		"claims swapped to bob":  parts[0] + "." + sessB64JSON(t, swapped) + "." + parts[2],
		"unknown kid, own key": sessSignOwn(t, jwt.SigningMethodES256, ownEC,
			map[string]any{"typ": "at+jwt", "kid": "no-such-kid"}, claims),
		"right kid, own key": sessSignOwn(t, jwt.SigningMethodES256, ownEC,
			map[string]any{"typ": "at+jwt", "kid": kid}, claims),
		"right kid, own key, typ JWT": sessSignOwn(t, jwt.SigningMethodES256, ownEC,
			map[string]any{"typ": "JWT", "kid": kid}, claims),
		"right kid, own EdDSA key": sessSignOwn(t, jwt.SigningMethodEdDSA, ownEd,
			map[string]any{"typ": "at+jwt", "kid": kid}, claims),
		"HS256 keyed with the public JWK": sessSignOwn(t, jwt.SigningMethodHS256, jwkJSON,
			map[string]any{"typ": "at+jwt", "kid": kid}, claims),
		"other tenant's valid token":   other.AccessToken,
		"refresh token as bearer":      alice.RefreshToken,
		"garbage":                      "garbage",
		"three empty segments":         "..",
		"header only":                  parts[0],
		"token with trailing segment":  alice.AccessToken + ".x",
		"non-base64 header":            "%%%." + parts[1] + "." + parts[2],
		"header not JSON":              base64.RawURLEncoding.EncodeToString([]byte("not json")) + "." + parts[1] + "." + parts[2],
		"very long garbage":            strings.Repeat("a", 8000),
		"alg none with other tenant's": sessB64JSON(t, map[string]any{"alg": "none", "typ": "at+jwt"}) + "." + strings.Split(other.AccessToken, ".")[1] + ".",
	}
	for name, tok := range forged {
		r := sessMe(t, b, ta.Slug, tok)
		sessWant(t, name, r, http.StatusUnauthorized, "invalid_token")
		if h := r.header.Get("WWW-Authenticate"); !strings.Contains(h, "Bearer") || !strings.Contains(h, `error="invalid_token"`) {
			t.Errorf("%s: WWW-Authenticate %q", name, h)
		}
		if strings.Contains(string(r.body), "kid") || strings.Contains(string(r.body), "crypto") {
			t.Errorf("%s: problem leaks verification internals: %s", name, r.body)
		}
	}

	// The Authorization header itself.
	headers := map[string][]string{
		"no Authorization":     nil,
		"Basic scheme":         {"Authorization", "Basic YWxpY2U6c2VjcmV0"},
		"Basic with the token": {"Authorization", "Basic " + alice.AccessToken},
		"Bearer without token": {"Authorization", "Bearer"},
		"Bearer and spaces":    {"Authorization", "Bearer    "},
		"token without scheme": {"Authorization", alice.AccessToken},
		"garbage header":       {"Authorization", "garbage"},
	}
	meReq := request{method: http.MethodGet, path: path(ta.Slug, "/me")}
	for name, h := range headers {
		r := b.doHeaders(t, meReq, h...)
		sessWant(t, name, r, http.StatusUnauthorized, "invalid_token")
		if !strings.Contains(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: no Bearer challenge: %q", name, r.header.Get("WWW-Authenticate"))
		}
	}
	sessWant(t, "logout without token", b.do(t, request{method: http.MethodPost, path: path(ta.Slug, "/logout")}),
		http.StatusUnauthorized, "invalid_token")
	sessWant(t, "patch me without token", b.do(t, request{method: http.MethodPatch, path: path(ta.Slug, "/me"), body: map[string]string{"nickname": "x"}}),
		http.StatusUnauthorized, "invalid_token")

	// The genuine tokens still work (so the refusals above are about the
	// forgeries), each on its own tenant only; the scheme is case-insensitive.
	r := sessMe(t, b, ta.Slug, alice.AccessToken)
	sessWant(t, "genuine token", r, http.StatusOK, "")
	if sessJSON(t, r)["id"] != alice.User.ID {
		t.Fatalf("me is not alice: %s", r.body)
	}
	sessWant(t, "lower-case scheme", b.doHeaders(t, meReq, "Authorization", "bearer "+alice.AccessToken), http.StatusOK, "")
	sessWant(t, "other tenant's token at home", sessMe(t, b, tb.Slug, other.AccessToken), http.StatusOK, "")
	sessWant(t, "alice's token on tenant b", sessMe(t, b, tb.Slug, alice.AccessToken), http.StatusUnauthorized, "invalid_token")
	sessWant(t, "token on unknown tenant", sessMe(t, b, "sess-nobody", alice.AccessToken), http.StatusNotFound, "tenant_not_found")
	// A logout with the other tenant's token must not end alice's session.
	sessWant(t, "logout with other tenant's token", sessLogout(t, b, ta.Slug, other.AccessToken, nil), http.StatusUnauthorized, "invalid_token")
	sessWant(t, "alice after foreign logout", sessMe(t, b, ta.Slug, alice.AccessToken), http.StatusOK, "")
	sessWant(t, "other after foreign logout", sessMe(t, b, tb.Slug, other.AccessToken), http.StatusOK, "")

	// Not covered here: an expired access token. One cannot be made without
	// the tenant's private key, and the shortest access TTL is 60 s.
}

func TestSessionRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ta := b.tenant(t, "sess-ra")
	tb := b.tenant(t, "sess-rb")

	first := b.login(t, ta, "alice")
	if raw, err := base64.RawURLEncoding.DecodeString(first.RefreshToken); err != nil || len(raw) < 32 {
		t.Fatalf("refresh token %q is not >= 256 bits of base64url: %v", first.RefreshToken, err)
	}
	r := sessRefresh(t, b, ta.Slug, first.RefreshToken)
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("refresh answer Cache-Control %q, want no-store", cc)
	}
	second := sessTokens(t, "refresh", r)
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("refresh did not rotate both tokens")
	}
	if second.User.ID != first.User.ID || second.User.OpenID != first.User.OpenID || second.User.IsNew {
		t.Fatalf("refresh user %+v, login user %+v", second.User, first.User)
	}
	if second.TokenType != "Bearer" || second.ExpiresIn != 900 || second.RefreshExpiresIn != 2592000 {
		t.Fatalf("refresh answer %+v", second)
	}
	_, c1, _ := sessParts(t, first.AccessToken)
	_, c2, _ := sessParts(t, second.AccessToken)
	if c1["sid"] != c2["sid"] || c2["sub"] != first.User.ID {
		t.Fatalf("refresh changed the session: %v -> %v", c1["sid"], c2["sid"])
	}
	me := sessMe(t, b, ta.Slug, second.AccessToken)
	sessWant(t, "me with refreshed token", me, http.StatusOK, "")
	if sessJSON(t, me)["id"] != first.User.ID {
		t.Fatalf("me after refresh: %s", me.body)
	}

	// Presenting the rotated token again is reuse: refused, session revoked.
	sessWant(t, "reuse of rotated token", sessRefresh(t, b, ta.Slug, first.RefreshToken),
		http.StatusUnauthorized, "refresh_token_reused")
	sessWant(t, "newest refresh token after reuse", sessRefresh(t, b, ta.Slug, second.RefreshToken),
		http.StatusUnauthorized, "invalid_refresh_token")
	sessWant(t, "refreshed access token after reuse", sessMe(t, b, ta.Slug, second.AccessToken),
		http.StatusUnauthorized, "invalid_token")
	sessWant(t, "original access token after reuse", sessMe(t, b, ta.Slug, first.AccessToken),
		http.StatusUnauthorized, "invalid_token")
	r = sessRefresh(t, b, ta.Slug, first.RefreshToken)
	if r.status != http.StatusUnauthorized || !slices.Contains([]string{"invalid_refresh_token", "refresh_token_reused"}, r.problem.Code) {
		t.Fatalf("reused token presented again: %d %s", r.status, r.body)
	}
	// The user is not locked out: a new login makes a working session.
	again := b.login(t, ta, "alice")
	if again.User.ID != first.User.ID || again.User.IsNew {
		t.Fatalf("re-login: %+v", again.User)
	}
	sessRefreshOK(t, b, ta.Slug, again.RefreshToken)

	// Unknown tokens.
	for name, tok := range map[string]string{
		"random 256-bit token": base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("x", 32))),
		"short token":          "abc",
	} {
		sessWant(t, name, sessRefresh(t, b, ta.Slug, tok), http.StatusUnauthorized, "invalid_refresh_token")
	}

	// A refresh token of tenant A on tenant B is refused and left untouched.
	bob := b.login(t, ta, "bob")
	b.login(t, tb, "bob") // bob exists on B too; still not his token there
	for i := range 2 {
		sessWant(t, fmt.Sprintf("A's token on B (%d)", i), sessRefresh(t, b, tb.Slug, bob.RefreshToken),
			http.StatusUnauthorized, "invalid_refresh_token")
	}
	bob2 := sessRefreshOK(t, b, ta.Slug, bob.RefreshToken)
	sessWant(t, "bob's refreshed token", sessMe(t, b, ta.Slug, bob2.AccessToken), http.StatusOK, "")
	sessWant(t, "bob's original access token", sessMe(t, b, ta.Slug, bob.AccessToken), http.StatusOK, "")

	// Body errors are 400s and never spend a token.
	post := func(body any) response {
		t.Helper()
		return b.do(t, request{method: http.MethodPost, path: path(ta.Slug, "/refresh"), body: body})
	}
	bodies := map[string]struct {
		body   any
		fields []string
	}{
		"no body":          {nil, nil},
		"whitespace body":  {"  \n", nil},
		"broken JSON":      {`{"refresh_token":`, nil},
		"not an object":    {`["x"]`, nil},
		"null":             {`null`, []string{"refresh_token"}},
		"empty object":     {`{}`, []string{"refresh_token"}},
		"empty token":      {`{"refresh_token":""}`, []string{"refresh_token"}},
		"number token":     {`{"refresh_token":5}`, []string{"refresh_token"}},
		"unknown field":    {map[string]string{"refresh_token": bob2.RefreshToken, "grant_type": "refresh_token"}, []string{"grant_type"}},
		"two objects":      {`{"refresh_token":"` + bob2.RefreshToken + `"}{"a":1}`, nil},
		"over-long token":  {map[string]string{"refresh_token": strings.Repeat("a", 300)}, []string{"refresh_token"}},
		"camelCase fields": {`{"refreshToken":"` + bob2.RefreshToken + `"}`, []string{"refreshToken"}},
	}
	for name, c := range bodies {
		r := post(c.body)
		if c.fields != nil {
			sessWantFields(t, name, r, c.fields...)
		} else {
			sessWant(t, name, r, http.StatusBadRequest, "invalid_request")
		}
	}
	sessWant(t, "oversized body", post(`{"refresh_token":"`+strings.Repeat("a", 17<<10)+`"}`),
		http.StatusRequestEntityTooLarge, "request_too_large")
	sessWant(t, "unknown tenant", sessRefresh(t, b, "sess-nobody", bob2.RefreshToken), http.StatusNotFound, "tenant_not_found")
	// None of the bad requests spent bob's token.
	sessRefreshOK(t, b, ta.Slug, bob2.RefreshToken)
}

func TestSessionConcurrentRefresh(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.tenant(t, "sess-cr")
	tok := b.login(t, tt, "alice")
	bystander := b.login(t, tt, "alice") // another session of the same user

	const n = 10
	body, _ := json.Marshal(map[string]string{"refresh_token": tok.RefreshToken})
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = httptest.NewRequest(http.MethodPost, path(tt.Slug, "/refresh"), strings.NewReader(string(body)))
		reqs[i].Header.Set("Content-Type", "application/json")
	}

	var winners []tokenResponse
	codes := map[string]int{}
	for i, rec := range b.serveConcurrently(reqs) {
		if rec.Code >= 500 {
			t.Fatalf("request %d: %d %s", i, rec.Code, rec.Body.Bytes())
		}
		if rec.Code == http.StatusOK {
			var w tokenResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &w); err != nil {
				t.Fatal(err)
			}
			winners = append(winners, w)
			continue
		}
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("request %d: %d %s, want 200 or 401", i, rec.Code, rec.Body.Bytes())
		}
		var p problem
		if ct := rec.Header().Get("Content-Type"); strings.HasPrefix(ct, "application/problem+json") {
			_ = json.Unmarshal(rec.Body.Bytes(), &p)
		}
		codes[p.Code]++
	}
	t.Logf("concurrent refresh outcome: %d x 200, losers %v", len(winners), codes)
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent refreshes succeeded, want exactly 1 (codes %v)", len(winners), n, codes)
	}
	// Every loser presented an already-rotated token. The first to notice
	// revokes the session (refresh_token_reused); a loser that looks after
	// that finds the session already revoked and may be told
	// invalid_refresh_token instead. Nothing else is acceptable.
	if codes["refresh_token_reused"] < 1 {
		t.Fatalf("no loser was told refresh_token_reused: %v", codes)
	}
	for code := range codes {
		if code != "refresh_token_reused" && code != "invalid_refresh_token" {
			t.Fatalf("unexpected loser code %q (%v)", code, codes)
		}
	}
	// Reuse detection revoked the whole session, the winner's new tokens
	// included (RFC 9700: the server cannot tell the thief from the owner).
	w := winners[0]
	if w.User.ID != tok.User.ID {
		t.Fatalf("winner is user %s, want %s", w.User.ID, tok.User.ID)
	}
	sessWant(t, "winner's refresh token", sessRefresh(t, b, tt.Slug, w.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	sessWant(t, "winner's access token", sessMe(t, b, tt.Slug, w.AccessToken), http.StatusUnauthorized, "invalid_token")
	sessWant(t, "original access token", sessMe(t, b, tt.Slug, tok.AccessToken), http.StatusUnauthorized, "invalid_token")
	// Only that session: the user's other session is untouched.
	sessWant(t, "other session", sessMe(t, b, tt.Slug, bystander.AccessToken), http.StatusOK, "")
	sessRefreshOK(t, b, tt.Slug, bystander.RefreshToken)
}

func TestSessionLogout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.tenant(t, "sess-lo")
	t2 := b.tenant(t, "sess-lo2")
	s1 := b.login(t, tt, "alice")
	s2 := b.login(t, tt, "alice")
	bob := b.login(t, tt, "bob")
	elsewhere := b.login(t, t2, "alice")
	if s1.User.ID != s2.User.ID {
		t.Fatal("two logins of alice made two users")
	}

	r := sessLogout(t, b, tt.Slug, s1.AccessToken, nil)
	sessWant(t, "logout", r, http.StatusNoContent, "")
	if len(r.body) != 0 {
		t.Errorf("204 with a body: %q", r.body)
	}
	sessWant(t, "logged-out access token", sessMe(t, b, tt.Slug, s1.AccessToken), http.StatusUnauthorized, "invalid_token")
	sessWant(t, "logged-out refresh token", sessRefresh(t, b, tt.Slug, s1.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	sessWant(t, "second logout with the same token", sessLogout(t, b, tt.Slug, s1.AccessToken, nil), http.StatusUnauthorized, "invalid_token")
	// alice's other session lives on.
	sessWant(t, "second session", sessMe(t, b, tt.Slug, s2.AccessToken), http.StatusOK, "")
	s2 = sessRefreshOK(t, b, tt.Slug, s2.RefreshToken)
	sessWant(t, "second session refreshed", sessMe(t, b, tt.Slug, s2.AccessToken), http.StatusOK, "")

	// Bad bodies are refused without logging anything out.
	sessWant(t, "logout all:\"yes\"", sessLogout(t, b, tt.Slug, s2.AccessToken, `{"all":"yes"}`), http.StatusBadRequest, "invalid_request")
	sessWant(t, "logout unknown field", sessLogout(t, b, tt.Slug, s2.AccessToken, `{"everything":true}`), http.StatusBadRequest, "invalid_request")
	sessWant(t, "after bad logouts", sessMe(t, b, tt.Slug, s2.AccessToken), http.StatusOK, "")
	sessWant(t, "logout without token", b.do(t, request{method: http.MethodPost, path: path(tt.Slug, "/logout"), body: map[string]bool{"all": true}}),
		http.StatusUnauthorized, "invalid_token")
	sessWant(t, "after tokenless logout", sessMe(t, b, tt.Slug, s2.AccessToken), http.StatusOK, "")

	// {"all": false} is an ordinary logout.
	s3 := b.login(t, tt, "alice")
	sessWant(t, "logout all:false", sessLogout(t, b, tt.Slug, s3.AccessToken, map[string]bool{"all": false}), http.StatusNoContent, "")
	sessWant(t, "after all:false", sessMe(t, b, tt.Slug, s3.AccessToken), http.StatusUnauthorized, "invalid_token")
	sessWant(t, "others after all:false", sessMe(t, b, tt.Slug, s2.AccessToken), http.StatusOK, "")

	// {"all": true} ends every session of the user, and only that user's.
	s4 := b.login(t, tt, "alice")
	sessWant(t, "logout all", sessLogout(t, b, tt.Slug, s2.AccessToken, map[string]bool{"all": true}), http.StatusNoContent, "")
	for name, s := range map[string]tokenResponse{"s2": s2, "s4": s4} {
		sessWant(t, name+" access after logout all", sessMe(t, b, tt.Slug, s.AccessToken), http.StatusUnauthorized, "invalid_token")
		sessWant(t, name+" refresh after logout all", sessRefresh(t, b, tt.Slug, s.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	}
	sessWant(t, "bob after alice's logout all", sessMe(t, b, tt.Slug, bob.AccessToken), http.StatusOK, "")
	sessRefreshOK(t, b, tt.Slug, bob.RefreshToken)
	sessWant(t, "alice on another tenant", sessMe(t, b, t2.Slug, elsewhere.AccessToken), http.StatusOK, "")
	sessRefreshOK(t, b, t2.Slug, elsewhere.RefreshToken)
	// And a fresh login after logout all works.
	s5 := b.login(t, tt, "alice")
	sessWant(t, "login after logout all", sessMe(t, b, tt.Slug, s5.AccessToken), http.StatusOK, "")
}

func TestSessionPatchMe(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.tenant(t, "sess-pm")
	alice := b.login(t, tt, "alice")
	bob := b.login(t, tt, "bob")
	patch := func(body any) response {
		t.Helper()
		return b.do(t, request{method: http.MethodPatch, path: path(tt.Slug, "/me"), body: body, bearer: alice.AccessToken})
	}
	check := func(what string, r response, nickname, avatar any) {
		t.Helper()
		sessWant(t, what, r, http.StatusOK, "")
		u := sessJSON(t, r)
		if u["nickname"] != nickname || u["avatar_url"] != avatar {
			t.Fatalf("%s: nickname %v avatar %v, want %v %v: %s", what, u["nickname"], u["avatar_url"], nickname, avatar, r.body)
		}
		if u["id"] != alice.User.ID || u["openid"] != b.wx.OpenID(tt.WeChatAppID, "alice") || u["status"] != "active" {
			t.Fatalf("%s: not alice's user: %s", what, r.body)
		}
	}
	me := func() response { t.Helper(); return sessMe(t, b, tt.Slug, alice.AccessToken) }

	check("initial me", me(), nil, nil)
	check("set both", patch(map[string]string{"nickname": "Alice", "avatar_url": "https://cdn.example.com/a.png"}),
		"Alice", "https://cdn.example.com/a.png")
	check("me after set", me(), "Alice", "https://cdn.example.com/a.png")
	check("empty patch", patch(`{}`), "Alice", "https://cdn.example.com/a.png")
	check("nickname only, trimmed", patch(map[string]string{"nickname": "  Alice B  "}), "Alice B", "https://cdn.example.com/a.png")
	check("64 runes", patch(map[string]string{"nickname": strings.Repeat("微", 64)}), strings.Repeat("微", 64), "https://cdn.example.com/a.png")
	check("clear nickname", patch(map[string]string{"nickname": ""}), nil, "https://cdn.example.com/a.png")
	check("me after clear", me(), nil, "https://cdn.example.com/a.png")
	check("nickname null leaves it", patch(`{"nickname":null,"avatar_url":"https://cdn.example.com/b.png"}`), nil, "https://cdn.example.com/b.png")

	for name, c := range map[string]struct {
		body  any
		field string
	}{
		"http avatar":          {map[string]string{"avatar_url": "http://cdn.example.com/a.png"}, "avatar_url"},
		"javascript avatar":    {map[string]string{"avatar_url": "javascript:alert(1)"}, "avatar_url"},
		"avatar without host":  {map[string]string{"avatar_url": "https://"}, "avatar_url"},
		"relative avatar":      {map[string]string{"avatar_url": "/a.png"}, "avatar_url"},
		"over-long avatar":     {map[string]string{"avatar_url": "https://cdn.example.com/" + strings.Repeat("a", 1100)}, "avatar_url"},
		"65-char nickname":     {map[string]string{"nickname": strings.Repeat("a", 65)}, "nickname"},
		"65-rune nickname":     {map[string]string{"nickname": strings.Repeat("微", 65)}, "nickname"},
		"control in nickname":  {map[string]string{"nickname": "a\x00b"}, "nickname"},
		"newline in nickname":  {map[string]string{"nickname": "a\nb"}, "nickname"},
		"unknown field phone":  {map[string]string{"phone": "13800000000"}, "phone"},
		"unknown field openid": {map[string]string{"openid": "evil"}, "openid"},
		"nickname number":      {`{"nickname":5}`, "nickname"},
	} {
		sessWantFields(t, name, patch(c.body), c.field)
	}
	sessWant(t, "broken JSON", patch(`{"nickname":`), http.StatusBadRequest, "invalid_request")
	sessWant(t, "no body", patch(nil), http.StatusBadRequest, "invalid_request")
	// The refused patches changed nothing.
	check("me after refused patches", me(), nil, "https://cdn.example.com/b.png")

	check("clear avatar", patch(map[string]string{"avatar_url": ""}), nil, nil)
	check("me after clearing avatar", me(), nil, nil)
	// Bob's profile is his own.
	sessWant(t, "bob sets nickname", b.do(t, request{method: http.MethodPatch, path: path(tt.Slug, "/me"),
		body: map[string]string{"nickname": "Bob"}, bearer: bob.AccessToken}), http.StatusOK, "")
	check("alice after bob's patch", me(), nil, nil)
	if u := sessJSON(t, sessMe(t, b, tt.Slug, bob.AccessToken)); u["nickname"] != "Bob" || u["id"] != bob.User.ID {
		t.Fatalf("bob: %v", u)
	}
}
