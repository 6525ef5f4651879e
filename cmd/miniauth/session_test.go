package main

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
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
)

// ---------------------------------------------------------------------------
// helpers (all prefixed sess to stay clear of the other test files)

func sessURL(srv *testServer, slug, path string) string {
	return srv.URL + "/v1/t/" + slug + path
}

func sessMe(t *testing.T, srv *testServer, slug, access string) response {
	t.Helper()
	return do(t, "GET", sessURL(srv, slug, "/me"), nil, "Authorization", "Bearer "+access)
}

func sessRefresh(t *testing.T, srv *testServer, slug, refresh string) response {
	t.Helper()
	return do(t, "POST", sessURL(srv, slug, "/refresh"), map[string]string{"refresh_token": refresh})
}

func sessLogout(t *testing.T, srv *testServer, slug, access string, body any) response {
	t.Helper()
	return do(t, "POST", sessURL(srv, slug, "/logout"), body, "Authorization", "Bearer "+access)
}

// sessLoginResp logs user in on srv and returns the raw answer.
func sessLoginResp(t *testing.T, b *testBundle, srv *testServer, tt testTenant, user string) response {
	t.Helper()
	return do(t, "POST", sessURL(srv, tt.Slug, "/login"), map[string]string{"code": b.wx.MintCode(tt.AppID, user)})
}

// sessTokens decodes a 200 token response.
func sessTokens(t *testing.T, what string, r response) tokens {
	t.Helper()
	wantStatus(t, what, r, http.StatusOK, "")
	var tok tokens
	if err := json.Unmarshal(r.Body, &tok); err != nil {
		t.Fatalf("%s: %v: %s", what, err, r.Body)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("%s: tokens missing: %s", what, r.Body)
	}
	return tok
}

// sessRefreshOK refreshes and returns the rotated tokens.
func sessRefreshOK(t *testing.T, srv *testServer, slug, refresh string) tokens {
	t.Helper()
	return sessTokens(t, "refresh", sessRefresh(t, srv, slug, refresh))
}

// sessSegment decodes one base64url segment of a JWT into a map.
func sessSegment(t *testing.T, seg string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("segment %q is not base64url: %v", seg, err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("segment is not a JSON object: %v: %s", err, raw)
	}
	return m
}

// sessParts splits a JWT and decodes (without verifying) header and claims.
func sessParts(t *testing.T, token string) (header, claims map[string]any, parts []string) {
	t.Helper()
	parts = strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", token)
	}
	return sessSegment(t, parts[0]), sessSegment(t, parts[1]), parts
}

func sessKid(t *testing.T, token string) string {
	t.Helper()
	h, _, _ := sessParts(t, token)
	kid, _ := h["kid"].(string)
	if kid == "" {
		t.Fatalf("token has no kid: %v", h)
	}
	return kid
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
func sessJWKS(t *testing.T, srv *testServer, slug string) []map[string]any {
	t.Helper()
	r := do(t, "GET", sessURL(srv, slug, "/.well-known/jwks.json"), nil)
	wantStatus(t, "jwks", r, http.StatusOK, "")
	if ct := r.Header.Get("Content-Type"); !strings.Contains(ct, "json") {
		t.Fatalf("jwks Content-Type %q", ct)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(r.Body, &set); err != nil {
		t.Fatalf("jwks: %v: %s", err, r.Body)
	}
	return set.Keys
}

func sessJWKSKids(t *testing.T, srv *testServer, slug string) []string {
	t.Helper()
	var kids []string
	for _, k := range sessJWKS(t, srv, slug) {
		kid, _ := k["kid"].(string)
		kids = append(kids, kid)
	}
	sort.Strings(kids)
	return kids
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
func sessVerify(t *testing.T, b *testBundle, srv *testServer, slug, raw, alg string) (*jwt.Token, jwt.MapClaims) {
	t.Helper()
	keys := sessJWKS(t, srv, slug)
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
		jwt.WithIssuer(b.cfg.PublicURL+"/v1/t/"+slug),
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

// ---------------------------------------------------------------------------
// 1. Access tokens verify with an off-the-shelf library from the JWKS alone.

func TestSessionAccessTokenVerifiesFromJWKS(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cases := []struct {
		slug, alg, kty, crv string
		extra               map[string]any
	}{
		{"sess-es", "ES256", "EC", "P-256", nil},
		{"sess-ed", "EdDSA", "OKP", "Ed25519", map[string]any{"signing_alg": "EdDSA"}},
	}
	made := map[string]testTenant{}
	for _, c := range cases {
		tt := b.createTenant(c.slug, c.extra)
		made[c.slug] = tt
		tok := b.login(nil, tt, "alice")
		second := b.login(nil, tt, "alice")

		keys := sessJWKS(t, b.srv, c.slug)
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

		parsed, claims := sessVerify(t, b, b.srv, c.slug, tok.AccessToken, c.alg)
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
		_, claims2 := sessVerify(t, b, b.srv, c.slug, second.AccessToken, c.alg)
		if claims2["jti"] == jti {
			t.Errorf("%s: two tokens share jti %q", c.slug, jti)
		}
		if claims2["sid"] == sid {
			t.Errorf("%s: two logins share session id %q", c.slug, sid)
		}
		if claims2["sub"] != tok.User.ID {
			t.Errorf("%s: same user, different sub %v vs %s", c.slug, claims2["sub"], tok.User.ID)
		}

		r := do(t, "GET", sessURL(b.srv, c.slug, "/.well-known/openid-configuration"), nil)
		wantStatus(t, "openid-configuration", r, http.StatusOK, "")
		doc := r.JSON(t)
		iss := b.cfg.PublicURL + "/v1/t/" + c.slug
		if doc["issuer"] != iss || doc["jwks_uri"] != iss+"/.well-known/jwks.json" {
			t.Errorf("%s: discovery issuer %v jwks_uri %v", c.slug, doc["issuer"], doc["jwks_uri"])
		}
	}

	// One tenant's JWKS must not verify the other's token.
	es := b.login(nil, made["sess-es"], "bob")
	edKeys := sessJWKS(t, b.srv, "sess-ed")
	_, err := jwt.Parse(es.AccessToken, func(tok *jwt.Token) (any, error) { return sessPublicKey(edKeys[0]) },
		jwt.WithValidMethods([]string{"ES256", "EdDSA"}))
	if err == nil {
		t.Fatal("an ES256 tenant's token verified with the EdDSA tenant's key")
	}
}

// ---------------------------------------------------------------------------
// 2. Forged and invalid access tokens are refused with 401 invalid_token.

func TestSessionForgedAccessTokensRejected(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ta := b.createTenant("sess-fa", nil)
	tb := b.createTenant("sess-fb", nil)
	alice := b.login(nil, ta, "alice")
	bob := b.login(nil, ta, "bob")
	other := b.login(nil, tb, "alice")

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
	jwkJSON, _ := json.Marshal(sessJWKS(t, b.srv, ta.Slug)[0])

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
		r := sessMe(t, b.srv, ta.Slug, tok)
		wantStatus(t, name, r, http.StatusUnauthorized, "invalid_token")
		if h := r.Header.Get("WWW-Authenticate"); !strings.Contains(h, "Bearer") || !strings.Contains(h, `error="invalid_token"`) {
			t.Errorf("%s: WWW-Authenticate %q", name, h)
		}
		if strings.Contains(string(r.Body), "kid") || strings.Contains(string(r.Body), "crypto") {
			t.Errorf("%s: problem leaks verification internals: %s", name, r.Body)
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
	for name, h := range headers {
		r := do(t, "GET", sessURL(b.srv, ta.Slug, "/me"), nil, h...)
		wantStatus(t, name, r, http.StatusUnauthorized, "invalid_token")
		if !strings.Contains(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: no Bearer challenge: %q", name, r.Header.Get("WWW-Authenticate"))
		}
	}
	wantStatus(t, "logout without token", do(t, "POST", sessURL(b.srv, ta.Slug, "/logout"), nil), http.StatusUnauthorized, "invalid_token")
	wantStatus(t, "patch me without token", do(t, "PATCH", sessURL(b.srv, ta.Slug, "/me"), map[string]string{"nickname": "x"}),
		http.StatusUnauthorized, "invalid_token")

	// The genuine tokens still work (so the refusals above are about the
	// forgeries), each on its own tenant only; the scheme is case-insensitive.
	r := sessMe(t, b.srv, ta.Slug, alice.AccessToken)
	wantStatus(t, "genuine token", r, http.StatusOK, "")
	if r.JSON(t)["id"] != alice.User.ID {
		t.Fatalf("me is not alice: %s", r.Body)
	}
	wantStatus(t, "lower-case scheme", do(t, "GET", sessURL(b.srv, ta.Slug, "/me"), nil, "Authorization", "bearer "+alice.AccessToken),
		http.StatusOK, "")
	wantStatus(t, "other tenant's token at home", sessMe(t, b.srv, tb.Slug, other.AccessToken), http.StatusOK, "")
	wantStatus(t, "alice's token on tenant b", sessMe(t, b.srv, tb.Slug, alice.AccessToken), http.StatusUnauthorized, "invalid_token")
	wantStatus(t, "token on unknown tenant", sessMe(t, b.srv, "sess-nobody", alice.AccessToken), http.StatusNotFound, "tenant_not_found")
	// A logout with the other tenant's token must not end alice's session.
	wantStatus(t, "logout with other tenant's token", sessLogout(t, b.srv, ta.Slug, other.AccessToken, nil), http.StatusUnauthorized, "invalid_token")
	wantStatus(t, "alice after foreign logout", sessMe(t, b.srv, ta.Slug, alice.AccessToken), http.StatusOK, "")
	wantStatus(t, "other after foreign logout", sessMe(t, b.srv, tb.Slug, other.AccessToken), http.StatusOK, "")

	// Not covered here: an expired access token. One cannot be made without
	// the tenant's private key, and the shortest access TTL is 60 s.
}

// ---------------------------------------------------------------------------
// 3. Refresh rotation, reuse detection and tenant isolation.

func TestSessionRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ta := b.createTenant("sess-ra", nil)
	tb := b.createTenant("sess-rb", nil)

	first := b.login(nil, ta, "alice")
	if raw, err := base64.RawURLEncoding.DecodeString(first.RefreshToken); err != nil || len(raw) < 32 {
		t.Fatalf("refresh token %q is not >= 256 bits of base64url: %v", first.RefreshToken, err)
	}
	r := sessRefresh(t, b.srv, ta.Slug, first.RefreshToken)
	if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
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
	me := sessMe(t, b.srv, ta.Slug, second.AccessToken)
	wantStatus(t, "me with refreshed token", me, http.StatusOK, "")
	if me.JSON(t)["id"] != first.User.ID {
		t.Fatalf("me after refresh: %s", me.Body)
	}

	// Presenting the rotated token again is reuse: refused, session revoked.
	wantStatus(t, "reuse of rotated token", sessRefresh(t, b.srv, ta.Slug, first.RefreshToken),
		http.StatusUnauthorized, "refresh_token_reused")
	wantStatus(t, "newest refresh token after reuse", sessRefresh(t, b.srv, ta.Slug, second.RefreshToken),
		http.StatusUnauthorized, "invalid_refresh_token")
	wantStatus(t, "refreshed access token after reuse", sessMe(t, b.srv, ta.Slug, second.AccessToken),
		http.StatusUnauthorized, "invalid_token")
	wantStatus(t, "original access token after reuse", sessMe(t, b.srv, ta.Slug, first.AccessToken),
		http.StatusUnauthorized, "invalid_token")
	r = sessRefresh(t, b.srv, ta.Slug, first.RefreshToken)
	if r.Status != http.StatusUnauthorized || !slices.Contains([]string{"invalid_refresh_token", "refresh_token_reused"}, r.Code(t)) {
		t.Fatalf("reused token presented again: %d %s", r.Status, r.Body)
	}
	// The user is not locked out: a new login makes a working session.
	again := b.login(nil, ta, "alice")
	if again.User.ID != first.User.ID || again.User.IsNew {
		t.Fatalf("re-login: %+v", again.User)
	}
	sessRefreshOK(t, b.srv, ta.Slug, again.RefreshToken)

	// Unknown tokens.
	for name, tok := range map[string]string{
		"random 256-bit token": base64.RawURLEncoding.EncodeToString([]byte(strings.Repeat("x", 32))),
		"short token":          "abc",
	} {
		wantStatus(t, name, sessRefresh(t, b.srv, ta.Slug, tok), http.StatusUnauthorized, "invalid_refresh_token")
	}

	// A refresh token of tenant A on tenant B is refused and left untouched.
	bob := b.login(nil, ta, "bob")
	b.login(nil, tb, "bob") // bob exists on B too; still not his token there
	for i := range 2 {
		wantStatus(t, fmt.Sprintf("A's token on B (%d)", i), sessRefresh(t, b.srv, tb.Slug, bob.RefreshToken),
			http.StatusUnauthorized, "invalid_refresh_token")
	}
	bob2 := sessRefreshOK(t, b.srv, ta.Slug, bob.RefreshToken)
	wantStatus(t, "bob's refreshed token", sessMe(t, b.srv, ta.Slug, bob2.AccessToken), http.StatusOK, "")
	wantStatus(t, "bob's original access token", sessMe(t, b.srv, ta.Slug, bob.AccessToken), http.StatusOK, "")

	// Body errors are 400s and never spend a token.
	url := sessURL(b.srv, ta.Slug, "/refresh")
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
		r := do(t, "POST", url, c.body)
		if c.fields != nil {
			wantFields(t, name, r, c.fields...)
		} else {
			wantStatus(t, name, r, http.StatusBadRequest, "invalid_request")
		}
	}
	wantStatus(t, "oversized body", do(t, "POST", url, `{"refresh_token":"`+strings.Repeat("a", 17<<10)+`"}`),
		http.StatusRequestEntityTooLarge, "request_too_large")
	wantStatus(t, "unknown tenant", sessRefresh(t, b.srv, "sess-nobody", bob2.RefreshToken), http.StatusNotFound, "tenant_not_found")
	// None of the bad requests spent bob's token.
	sessRefreshOK(t, b.srv, ta.Slug, bob2.RefreshToken)
}

// ---------------------------------------------------------------------------
// 4. Concurrent refresh: exactly one presentation wins.

func TestSessionConcurrentRefresh(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("sess-cr", nil)
	tok := b.login(nil, tt, "alice")
	bystander := b.login(nil, tt, "alice") // another session of the same user

	const n = 10
	type result struct {
		status int
		code   string
		body   []byte
		err    error
	}
	results := make([]result, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	body, _ := json.Marshal(map[string]string{"refresh_token": tok.RefreshToken})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, err := http.Post(sessURL(b.srv, tt.Slug, "/refresh"), "application/json", strings.NewReader(string(body)))
			if err != nil {
				results[i].err = err
				return
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			if err != nil {
				results[i].err = err
				return
			}
			results[i] = result{status: resp.StatusCode, code: problemCode(response{Header: resp.Header, Body: data}), body: data}
		}()
	}
	close(start)
	wg.Wait()

	var winners []tokens
	codes := map[string]int{}
	for i, r := range results {
		if r.err != nil {
			t.Fatalf("request %d: %v", i, r.err)
		}
		if r.status >= 500 {
			t.Fatalf("request %d: %d %s", i, r.status, r.body)
		}
		if r.status == http.StatusOK {
			var w tokens
			if err := json.Unmarshal(r.body, &w); err != nil {
				t.Fatal(err)
			}
			winners = append(winners, w)
			continue
		}
		if r.status != http.StatusUnauthorized {
			t.Fatalf("request %d: %d %s, want 200 or 401", i, r.status, r.body)
		}
		codes[r.code]++
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
	wantStatus(t, "winner's refresh token", sessRefresh(t, b.srv, tt.Slug, w.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	wantStatus(t, "winner's access token", sessMe(t, b.srv, tt.Slug, w.AccessToken), http.StatusUnauthorized, "invalid_token")
	wantStatus(t, "original access token", sessMe(t, b.srv, tt.Slug, tok.AccessToken), http.StatusUnauthorized, "invalid_token")
	// Only that session: the user's other session is untouched.
	wantStatus(t, "other session", sessMe(t, b.srv, tt.Slug, bystander.AccessToken), http.StatusOK, "")
	sessRefreshOK(t, b.srv, tt.Slug, bystander.RefreshToken)
}

// ---------------------------------------------------------------------------
// 5. Logout.

func TestSessionLogout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("sess-lo", nil)
	t2 := b.createTenant("sess-lo2", nil)
	s1 := b.login(nil, tt, "alice")
	s2 := b.login(nil, tt, "alice")
	bob := b.login(nil, tt, "bob")
	elsewhere := b.login(nil, t2, "alice")
	if s1.User.ID != s2.User.ID {
		t.Fatal("two logins of alice made two users")
	}

	r := sessLogout(t, b.srv, tt.Slug, s1.AccessToken, nil)
	wantStatus(t, "logout", r, http.StatusNoContent, "")
	if len(r.Body) != 0 {
		t.Errorf("204 with a body: %q", r.Body)
	}
	wantStatus(t, "logged-out access token", sessMe(t, b.srv, tt.Slug, s1.AccessToken), http.StatusUnauthorized, "invalid_token")
	wantStatus(t, "logged-out refresh token", sessRefresh(t, b.srv, tt.Slug, s1.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	wantStatus(t, "second logout with the same token", sessLogout(t, b.srv, tt.Slug, s1.AccessToken, nil), http.StatusUnauthorized, "invalid_token")
	// alice's other session lives on.
	wantStatus(t, "second session", sessMe(t, b.srv, tt.Slug, s2.AccessToken), http.StatusOK, "")
	s2 = sessRefreshOK(t, b.srv, tt.Slug, s2.RefreshToken)
	wantStatus(t, "second session refreshed", sessMe(t, b.srv, tt.Slug, s2.AccessToken), http.StatusOK, "")

	// Bad bodies are refused without logging anything out.
	wantStatus(t, "logout all:\"yes\"", sessLogout(t, b.srv, tt.Slug, s2.AccessToken, `{"all":"yes"}`), http.StatusBadRequest, "invalid_request")
	wantStatus(t, "logout unknown field", sessLogout(t, b.srv, tt.Slug, s2.AccessToken, `{"everything":true}`), http.StatusBadRequest, "invalid_request")
	wantStatus(t, "after bad logouts", sessMe(t, b.srv, tt.Slug, s2.AccessToken), http.StatusOK, "")
	wantStatus(t, "logout without token", do(t, "POST", sessURL(b.srv, tt.Slug, "/logout"), map[string]bool{"all": true}),
		http.StatusUnauthorized, "invalid_token")
	wantStatus(t, "after tokenless logout", sessMe(t, b.srv, tt.Slug, s2.AccessToken), http.StatusOK, "")

	// {"all": false} is an ordinary logout.
	s3 := b.login(nil, tt, "alice")
	wantStatus(t, "logout all:false", sessLogout(t, b.srv, tt.Slug, s3.AccessToken, map[string]bool{"all": false}), http.StatusNoContent, "")
	wantStatus(t, "after all:false", sessMe(t, b.srv, tt.Slug, s3.AccessToken), http.StatusUnauthorized, "invalid_token")
	wantStatus(t, "others after all:false", sessMe(t, b.srv, tt.Slug, s2.AccessToken), http.StatusOK, "")

	// {"all": true} ends every session of the user, and only that user's.
	s4 := b.login(nil, tt, "alice")
	wantStatus(t, "logout all", sessLogout(t, b.srv, tt.Slug, s2.AccessToken, map[string]bool{"all": true}), http.StatusNoContent, "")
	for name, s := range map[string]tokens{"s2": s2, "s4": s4} {
		wantStatus(t, name+" access after logout all", sessMe(t, b.srv, tt.Slug, s.AccessToken), http.StatusUnauthorized, "invalid_token")
		wantStatus(t, name+" refresh after logout all", sessRefresh(t, b.srv, tt.Slug, s.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")
	}
	wantStatus(t, "bob after alice's logout all", sessMe(t, b.srv, tt.Slug, bob.AccessToken), http.StatusOK, "")
	sessRefreshOK(t, b.srv, tt.Slug, bob.RefreshToken)
	wantStatus(t, "alice on another tenant", sessMe(t, b.srv, t2.Slug, elsewhere.AccessToken), http.StatusOK, "")
	sessRefreshOK(t, b.srv, t2.Slug, elsewhere.RefreshToken)
	// And a fresh login after logout all works.
	s5 := b.login(nil, tt, "alice")
	wantStatus(t, "login after logout all", sessMe(t, b.srv, tt.Slug, s5.AccessToken), http.StatusOK, "")
}

// ---------------------------------------------------------------------------
// 6. Revocations and tenant status reach a second instance within 1 s.

func TestSessionCrossInstanceRevocation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("sess-xi", nil)
	srv1, srv2 := b.srv, b.startInstance()

	// Logout on instance 1 reaches a token cached live on instance 2.
	tok := b.login(srv1, tt, "alice")
	for range 2 {
		wantStatus(t, "me on instance 2", sessMe(t, srv2, tt.Slug, tok.AccessToken), http.StatusOK, "")
	}
	loggedOut := srv2.notices(t, auth.TopicSessionRevoked, naming(tok.User.ID))
	wantStatus(t, "logout on instance 1", sessLogout(t, srv1, tt.Slug, tok.AccessToken, nil), http.StatusNoContent, "")
	loggedOut.wait(t, "instance 2 hears alice logged out")
	wantStatus(t, "logged-out token on instance 2", sessMe(t, srv2, tt.Slug, tok.AccessToken), http.StatusUnauthorized, "invalid_token")
	wantStatus(t, "logged-out refresh on instance 2", sessRefresh(t, srv2, tt.Slug, tok.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")

	// Logout all on instance 1 reaches every session cached on instance 2.
	c1 := b.login(srv1, tt, "carol")
	c2 := b.login(srv2, tt, "carol")
	for _, c := range []tokens{c1, c2} {
		wantStatus(t, "carol on instance 2", sessMe(t, srv2, tt.Slug, c.AccessToken), http.StatusOK, "")
	}
	loggedOutAll := srv2.notices(t, auth.TopicUserRevoked, naming(c1.User.ID))
	wantStatus(t, "logout all on instance 1", sessLogout(t, srv1, tt.Slug, c1.AccessToken, map[string]bool{"all": true}), http.StatusNoContent, "")
	loggedOutAll.wait(t, "instance 2 hears carol logged out everywhere")
	for _, c := range []tokens{c1, c2} {
		wantStatus(t, "carol on instance 2 after logout all", sessMe(t, srv2, tt.Slug, c.AccessToken), http.StatusUnauthorized, "invalid_token")
	}

	// Refresh-token reuse on instance 1 revokes the session on instance 2.
	first := b.login(srv1, tt, "bob")
	second := sessRefreshOK(t, srv1, tt.Slug, first.RefreshToken)
	for range 2 {
		wantStatus(t, "refreshed token on instance 2", sessMe(t, srv2, tt.Slug, second.AccessToken), http.StatusOK, "")
	}
	reused := srv2.notices(t, auth.TopicSessionRevoked, naming(first.User.ID))
	wantStatus(t, "reuse on instance 1", sessRefresh(t, srv1, tt.Slug, first.RefreshToken), http.StatusUnauthorized, "refresh_token_reused")
	reused.wait(t, "instance 2 hears bob's session was revoked for reuse")
	wantStatus(t, "reuse-revoked token on instance 2", sessMe(t, srv2, tt.Slug, second.AccessToken), http.StatusUnauthorized, "invalid_token")
	wantStatus(t, "newest refresh on instance 2", sessRefresh(t, srv2, tt.Slug, second.RefreshToken), http.StatusUnauthorized, "invalid_refresh_token")

	// Disabling the tenant on instance 1 stops instance 2 within 1 s:
	// tokens, logins and refreshes alike.
	dave := b.login(srv2, tt, "dave")
	wantStatus(t, "dave on instance 2", sessMe(t, srv2, tt.Slug, dave.AccessToken), http.StatusOK, "")
	changed := srv2.notices(t, tenant.TopicTenant, naming(tt.Slug))
	r := b.api("PATCH", "/tenants/"+tt.Slug, map[string]string{"status": "disabled"})
	wantStatus(t, "disable tenant", r, http.StatusOK, "")
	if r.JSON(t)["status"] != "disabled" {
		t.Fatalf("PATCH answer: %s", r.Body)
	}
	changed.wait(t, "instance 2 hears the tenant was disabled")
	wantStatus(t, "token on disabled tenant", sessMe(t, srv2, tt.Slug, dave.AccessToken), http.StatusForbidden, "tenant_disabled")
	wantStatus(t, "login on disabled tenant", sessLoginResp(t, b, srv2, tt, "erin"), http.StatusForbidden, "tenant_disabled")
	wantStatus(t, "refresh on disabled tenant", sessRefresh(t, srv2, tt.Slug, dave.RefreshToken), http.StatusForbidden, "tenant_disabled")
	wantStatus(t, "logout on disabled tenant", sessLogout(t, srv2, tt.Slug, dave.AccessToken, nil), http.StatusForbidden, "tenant_disabled")
	// Verifiers can still fetch the keys of a disabled tenant.
	sessJWKS(t, srv2, tt.Slug)

	// Enabling it again also propagates, and the session was not lost.
	wantStatus(t, "enable tenant", b.api("PATCH", "/tenants/"+tt.Slug, map[string]string{"status": "active"}), http.StatusOK, "")
	changed.wait(t, "instance 2 hears the tenant was enabled")
	wantStatus(t, "token on re-enabled tenant", sessMe(t, srv2, tt.Slug, dave.AccessToken), http.StatusOK, "")
	sessRefreshOK(t, srv2, tt.Slug, dave.RefreshToken)
}

// ---------------------------------------------------------------------------
// 7. Key rotation.

func TestSessionKeyRotation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("sess-kr", nil)
	srv1, srv2 := b.srv, b.startInstance()

	before := b.login(srv1, tt, "alice")
	oldKid := sessKid(t, before.AccessToken)
	if k := sessKid(t, b.login(srv2, tt, "bob").AccessToken); k != oldKid {
		t.Fatalf("instances sign with different keys before rotation: %s vs %s", k, oldKid)
	}
	wantStatus(t, "instance 2 before rotation", sessMe(t, srv2, tt.Slug, before.AccessToken), http.StatusOK, "")

	rotation := srv2.notices(t, tenant.TopicTenant, naming(tt.Slug))
	r := b.api("POST", "/tenants/"+tt.Slug+"/keys/rotate", nil)
	wantStatus(t, "rotate", r, http.StatusCreated, "")
	rotated := r.JSON(t)
	newKid, _ := rotated["kid"].(string)
	if newKid == "" || newKid == oldKid || rotated["status"] != "active" || rotated["alg"] != "ES256" {
		t.Fatalf("rotate answer: %s", r.Body)
	}
	for _, f := range []string{"private_key", "d", "private"} {
		if _, ok := rotated[f]; ok {
			t.Fatalf("rotate answer carries %q: %s", f, r.Body)
		}
	}

	want := []string{newKid, oldKid}
	sort.Strings(want)
	if got := sessJWKSKids(t, srv1, tt.Slug); !slices.Equal(got, want) {
		t.Fatalf("JWKS kids after rotation %v, want %v", got, want)
	}

	r = b.api("GET", "/tenants/"+tt.Slug+"/keys", nil)
	wantStatus(t, "list keys", r, http.StatusOK, "")
	var keys struct {
		Items []struct {
			KID       string     `json:"kid"`
			Alg       string     `json:"alg"`
			Status    string     `json:"status"`
			CreatedAt time.Time  `json:"created_at"`
			RetireAt  *time.Time `json:"retire_at"`
		} `json:"items"`
	}
	if err := json.Unmarshal(r.Body, &keys); err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, k := range keys.Items {
		status[k.KID] = k.Status
		if k.KID == oldKid && (k.RetireAt == nil || !k.RetireAt.After(time.Now().Add(900*time.Second))) {
			t.Errorf("retiring key retires at %v, before every token it signed has expired", k.RetireAt)
		}
	}
	if len(keys.Items) != 2 || status[newKid] != "active" || status[oldKid] != "retiring" {
		t.Fatalf("keys after rotation: %s", r.Body)
	}

	// Tokens signed before the rotation still work, everywhere.
	wantStatus(t, "old token on instance 1", sessMe(t, srv1, tt.Slug, before.AccessToken), http.StatusOK, "")
	wantStatus(t, "old token on instance 2", sessMe(t, srv2, tt.Slug, before.AccessToken), http.StatusOK, "")
	sessVerify(t, b, srv1, tt.Slug, before.AccessToken, "ES256")

	// New tokens use the new key, on instance 1 at once...
	after := b.login(srv1, tt, "carol")
	if k := sessKid(t, after.AccessToken); k != newKid {
		t.Fatalf("login after rotation signed with %s, want %s", k, newKid)
	}
	sessVerify(t, b, srv1, tt.Slug, after.AccessToken, "ES256")
	if k := sessKid(t, sessRefreshOK(t, srv1, tt.Slug, before.RefreshToken).AccessToken); k != newKid {
		t.Fatalf("refresh after rotation signed with %s, want %s", k, newKid)
	}
	// ...and on instance 2 once it has heard of the rotation.
	rotation.wait(t, "instance 2 hears the key was rotated")
	if k := sessKid(t, b.login(srv2, tt, "dave").AccessToken); k != newKid {
		t.Fatalf("login on instance 2 after rotation signed with %s, want %s", k, newKid)
	}
	if got := sessJWKSKids(t, srv2, tt.Slug); !slices.Equal(got, want) {
		t.Fatalf("instance 2 JWKS kids %v, want %v", got, want)
	}
	wantStatus(t, "new-key token on instance 2", sessMe(t, srv2, tt.Slug, after.AccessToken), http.StatusOK, "")

	// A second rotation: three keys, one active, two retiring; the very first
	// token still verifies.
	r = b.api("POST", "/tenants/"+tt.Slug+"/keys/rotate", nil)
	wantStatus(t, "second rotate", r, http.StatusCreated, "")
	thirdKid, _ := r.JSON(t)["kid"].(string)
	if got := sessJWKSKids(t, srv1, tt.Slug); len(got) != 3 || !slices.Contains(got, thirdKid) {
		t.Fatalf("JWKS after second rotation: %v", got)
	}
	wantStatus(t, "first token after two rotations", sessMe(t, srv1, tt.Slug, before.AccessToken), http.StatusOK, "")
	wantStatus(t, "rotate unknown tenant", b.api("POST", "/tenants/sess-nobody/keys/rotate", nil), http.StatusNotFound, "not_found")
}

// ---------------------------------------------------------------------------
// 8. PATCH /me.

func TestSessionPatchMe(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("sess-pm", nil)
	alice := b.login(nil, tt, "alice")
	bob := b.login(nil, tt, "bob")
	patch := func(body any) response {
		t.Helper()
		return do(t, "PATCH", sessURL(b.srv, tt.Slug, "/me"), body, "Authorization", "Bearer "+alice.AccessToken)
	}
	check := func(what string, r response, nickname, avatar any) {
		t.Helper()
		wantStatus(t, what, r, http.StatusOK, "")
		u := r.JSON(t)
		if u["nickname"] != nickname || u["avatar_url"] != avatar {
			t.Fatalf("%s: nickname %v avatar %v, want %v %v: %s", what, u["nickname"], u["avatar_url"], nickname, avatar, r.Body)
		}
		if u["id"] != alice.User.ID || u["openid"] != b.wx.OpenID(tt.AppID, "alice") || u["status"] != "active" {
			t.Fatalf("%s: not alice's user: %s", what, r.Body)
		}
	}
	me := func() response { t.Helper(); return sessMe(t, b.srv, tt.Slug, alice.AccessToken) }

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
		wantFields(t, name, patch(c.body), c.field)
	}
	wantStatus(t, "broken JSON", patch(`{"nickname":`), http.StatusBadRequest, "invalid_request")
	wantStatus(t, "no body", patch(nil), http.StatusBadRequest, "invalid_request")
	// The refused patches changed nothing.
	check("me after refused patches", me(), nil, "https://cdn.example.com/b.png")

	check("clear avatar", patch(map[string]string{"avatar_url": ""}), nil, nil)
	check("me after clearing avatar", me(), nil, nil)
	// Bob's profile is his own.
	wantStatus(t, "bob sets nickname", do(t, "PATCH", sessURL(b.srv, tt.Slug, "/me"), map[string]string{"nickname": "Bob"},
		"Authorization", "Bearer "+bob.AccessToken), http.StatusOK, "")
	check("alice after bob's patch", me(), nil, nil)
	if u := sessMe(t, b.srv, tt.Slug, bob.AccessToken).JSON(t); u["nickname"] != "Bob" || u["id"] != bob.User.ID {
		t.Fatalf("bob: %v", u)
	}
}

// ---------------------------------------------------------------------------
// 9. Management API basics.

func TestSessionManagementAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	api := b.srv.URL + "/api/v1"

	// A bearer that is no API key at all; the other refused headers are
	// admin/api TestAuthentication's.
	r := do(t, "GET", api+"/tenants", nil, "Authorization", "Bearer hunter2")
	wantStatus(t, "not a key", r, http.StatusUnauthorized, "unauthorized")
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Error("not a key: no WWW-Authenticate")
	}

	// Create.
	secret := "sess-very-secret-value"
	create := map[string]any{"slug": "sess-m1", "name": "Tenant one", "wechat_appid": "wxsessm100000000", "wechat_secret": secret}
	r = b.api("POST", "/tenants", create)
	wantStatus(t, "create", r, http.StatusCreated, "")
	sessNoSecret(t, "create", r, secret)
	tn := r.JSON(t)
	if tn["slug"] != "sess-m1" || tn["name"] != "Tenant one" || tn["status"] != "active" || tn["wechat_appid"] != "wxsessm100000000" ||
		tn["wechat_secret_set"] != true || tn["signing_alg"] != "ES256" ||
		tn["access_ttl_seconds"] != float64(900) || tn["refresh_ttl_seconds"] != float64(2592000) ||
		tn["created_at"] == nil || tn["updated_at"] == nil {
		t.Fatalf("created tenant: %s", r.Body)
	}
	sessWantLimits(t, "created", tn, nil)
	if loc := r.Header.Get("Location"); loc != "" && loc != "/api/v1/tenants/sess-m1" {
		t.Errorf("Location %q", loc)
	}
	// A duplicate slug and a create wrong in every field are admin/api
	// TestErrorMapping's.
	wantFields(t, "create without secret", b.api("POST", "/tenants", map[string]any{
		"slug": "sess-m9", "name": "x", "wechat_appid": "wxsessm900000000"}), "wechat_secret")
	wantFields(t, "create with unknown field", b.api("POST", "/tenants", map[string]any{
		"slug": "sess-m9", "name": "x", "wechat_appid": "wxsessm900000000", "wechat_secret": secret, "owner": "me"}), "owner")
	wantStatus(t, "create broken JSON", b.api("POST", "/tenants", `{"slug":`), http.StatusBadRequest, "invalid_request")

	create2 := map[string]any{"slug": "sess-m2", "name": "Tenant two", "wechat_appid": "wxsessm200000000", "wechat_secret": secret,
		"signing_alg": "EdDSA", "access_ttl_seconds": 120, "rate_limits": map[string]any{"login_per_ip": "5-M"}}
	r = b.api("POST", "/tenants", create2)
	wantStatus(t, "create 2", r, http.StatusCreated, "")
	tn2 := r.JSON(t)
	if tn2["signing_alg"] != "EdDSA" || tn2["access_ttl_seconds"] != float64(120) {
		t.Fatalf("created tenant 2: %s", r.Body)
	}
	sessWantLimits(t, "created 2", tn2, map[string]string{"login_per_ip": "5-M"})
	wantStatus(t, "create 3", b.api("POST", "/tenants", map[string]any{"slug": "sess-m3", "name": "Tenant three",
		"wechat_appid": "wxsessm300000000", "wechat_secret": secret}), http.StatusCreated, "")

	// List with pagination.
	var slugs []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("pagination does not end")
		}
		path := "/tenants?limit=1"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		r := b.api("GET", path, nil)
		wantStatus(t, "list page", r, http.StatusOK, "")
		sessNoSecret(t, "list", r, secret)
		var l struct {
			Items []map[string]any `json:"items"`
			Next  *string          `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.Body, &l); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(r.Body), `"next_cursor"`) {
			t.Fatalf("list has no next_cursor member: %s", r.Body)
		}
		if len(l.Items) != 1 {
			t.Fatalf("page %d has %d items: %s", page, len(l.Items), r.Body)
		}
		slugs = append(slugs, l.Items[0]["slug"].(string))
		if l.Next == nil {
			break
		}
		cursor = *l.Next
	}
	if !slices.Equal(slugs, []string{"sess-m1", "sess-m2", "sess-m3"}) {
		t.Fatalf("paginated slugs %v", slugs)
	}
	r = b.api("GET", "/tenants", nil)
	wantStatus(t, "list all", r, http.StatusOK, "")
	if items, _ := r.JSON(t)["items"].([]any); len(items) != 3 || r.JSON(t)["next_cursor"] != nil {
		t.Fatalf("unpaginated list: %s", r.Body)
	}

	// Get.
	r = b.api("GET", "/tenants/sess-m2", nil)
	wantStatus(t, "get", r, http.StatusOK, "")
	sessNoSecret(t, "get", r, secret)
	if r.JSON(t)["wechat_secret_set"] != true || r.JSON(t)["slug"] != "sess-m2" {
		t.Fatalf("get: %s", r.Body)
	}

	// PATCH merges rate limits key by key; null resets a key to the default.
	r = b.api("PATCH", "/tenants/sess-m2", map[string]any{"rate_limits": map[string]any{"refresh_per_ip": "7-S"}})
	wantStatus(t, "patch limits", r, http.StatusOK, "")
	sessWantLimits(t, "after set", r.JSON(t), map[string]string{"login_per_ip": "5-M", "refresh_per_ip": "7-S"})
	r = b.api("PATCH", "/tenants/sess-m2", map[string]any{"rate_limits": map[string]any{"login_per_ip": nil}})
	wantStatus(t, "patch limit null", r, http.StatusOK, "")
	sessWantLimits(t, "after reset", r.JSON(t), map[string]string{"refresh_per_ip": "7-S"})
	r = b.api("PATCH", "/tenants/sess-m2", map[string]any{"name": "Renamed"})
	wantStatus(t, "patch name", r, http.StatusOK, "")
	if r.JSON(t)["name"] != "Renamed" || r.JSON(t)["signing_alg"] != "EdDSA" {
		t.Fatalf("patch name: %s", r.Body)
	}
	sessWantLimits(t, "patch without limits", r.JSON(t), map[string]string{"refresh_per_ip": "7-S"})
	r = b.api("GET", "/tenants/sess-m2", nil)
	if tn := r.JSON(t); tn["name"] != "Renamed" {
		t.Fatalf("get after patch: %s", r.Body)
	}
	sessWantLimits(t, "get after patch", r.JSON(t), map[string]string{"refresh_per_ip": "7-S"})
	r = b.api("PATCH", "/tenants/sess-m2", map[string]any{"wechat_secret": "another-secret-value"})
	wantStatus(t, "patch secret", r, http.StatusOK, "")
	sessNoSecret(t, "patch secret", r, "another-secret-value")
	wantFields(t, "patch bad limit", b.api("PATCH", "/tenants/sess-m2",
		map[string]any{"rate_limits": map[string]any{"api_per_user": "lots"}}), "rate_limits.api_per_user")
	wantFields(t, "patch unknown limit", b.api("PATCH", "/tenants/sess-m2",
		map[string]any{"rate_limits": map[string]any{"per_moon": "1-D"}}), "rate_limits.per_moon")
	wantFields(t, "patch bad status", b.api("PATCH", "/tenants/sess-m2", map[string]any{"status": "paused"}), "status")
	wantFields(t, "patch unknown field", b.api("PATCH", "/tenants/sess-m2", map[string]any{"slug": "sess-m7"}), "slug")
	wantStatus(t, "patch unknown tenant", b.api("PATCH", "/tenants/sess-nobody", map[string]any{"name": "x"}), http.StatusNotFound, "not_found")
	// The refused patches changed nothing.
	sessWantLimits(t, "after refused patches", b.api("GET", "/tenants/sess-m2", nil).JSON(t), map[string]string{"refresh_per_ip": "7-S"})

	// Delete.
	wantStatus(t, "delete", b.api("DELETE", "/tenants/sess-m3", nil), http.StatusNoContent, "")
	wantStatus(t, "get deleted", b.api("GET", "/tenants/sess-m3", nil), http.StatusNotFound, "not_found")
	wantStatus(t, "delete again", b.api("DELETE", "/tenants/sess-m3", nil), http.StatusNotFound, "not_found")
	wantStatus(t, "jwks of deleted tenant", do(t, "GET", sessURL(b.srv, "sess-m3", "/.well-known/jwks.json"), nil),
		http.StatusNotFound, "tenant_not_found")

	// A tenant_viewer key sees its own tenant only, and changes nothing.
	_, viewer, err := admin.NewAPIKeys(b.db).Create(context.Background(), "v", admin.RoleTenantViewer, "sess-m1")
	if err != nil {
		t.Fatal(err)
	}
	as := func(method, path string, body any) response {
		t.Helper()
		return do(t, method, api+path, body, "Authorization", "Bearer "+viewer)
	}
	r = as("GET", "/tenants/sess-m1", nil)
	wantStatus(t, "viewer gets own tenant", r, http.StatusOK, "")
	sessNoSecret(t, "viewer get", r, secret)
	wantStatus(t, "viewer lists own keys", as("GET", "/tenants/sess-m1/keys", nil), http.StatusOK, "")
	for name, c := range map[string]struct{ method, path string }{
		"viewer gets other tenant":   {"GET", "/tenants/sess-m2"},
		"viewer lists other's keys":  {"GET", "/tenants/sess-m2/keys"},
		"viewer patches own tenant":  {"PATCH", "/tenants/sess-m1"},
		"viewer patches other":       {"PATCH", "/tenants/sess-m2"},
		"viewer rotates own keys":    {"POST", "/tenants/sess-m1/keys/rotate"},
		"viewer deletes own tenant":  {"DELETE", "/tenants/sess-m1"},
		"viewer lists tenants":       {"GET", "/tenants"},
		"viewer creates a tenant":    {"POST", "/tenants"},
		"viewer gets unknown tenant": {"GET", "/tenants/sess-nobody"},
	} {
		var body any
		switch c.method {
		case "PATCH":
			body = map[string]any{"status": "disabled", "name": "hijacked"}
		case "POST":
			body = map[string]any{"slug": "sess-v9", "name": "x", "wechat_appid": "wxsessv900000000", "wechat_secret": secret}
		}
		wantStatus(t, name, as(c.method, c.path, body), http.StatusForbidden, "forbidden")
	}
	r = b.api("GET", "/tenants/sess-m1", nil)
	if tn := r.JSON(t); tn["status"] != "active" || tn["name"] != "Tenant one" {
		t.Fatalf("viewer changed the tenant: %s", r.Body)
	}
	if r := b.api("GET", "/tenants/sess-m1/keys", nil); len(r.JSON(t)["items"].([]any)) != 1 {
		t.Fatalf("viewer rotated the key: %s", r.Body)
	}
	if r := b.api("GET", "/tenants/sess-v9", nil); r.Status != http.StatusNotFound {
		t.Fatalf("viewer created a tenant: %d %s", r.Status, r.Body)
	}
}

// sessNoSecret asserts a management answer carries no wechat_secret member
// and not the secret's value.
func sessNoSecret(t *testing.T, what string, r response, secret string) {
	t.Helper()
	if strings.Contains(string(r.Body), secret) || strings.Contains(string(r.Body), `"wechat_secret"`) {
		t.Fatalf("%s: the AppSecret leaks: %s", what, r.Body)
	}
}

// sessWantLimits asserts a tenant's rate_limits are the defaults overlaid
// with own.
func sessWantLimits(t *testing.T, what string, tn map[string]any, own map[string]string) {
	t.Helper()
	want := map[string]any{}
	for k, v := range testRateDefaults() {
		want[k] = v
	}
	for k, v := range own {
		want[k] = v
	}
	got, _ := tn["rate_limits"].(map[string]any)
	if len(got) != len(want) {
		t.Fatalf("%s: rate_limits %v, want %v", what, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: rate_limits %v, want %v", what, got, want)
		}
	}
}
