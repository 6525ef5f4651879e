package auth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
)

const publicURL = "https://auth.example.com"

// testKey is a signing key made here, since tenant's key generation is
// unexported; the kid is the RFC 7638 thumbprint, as tenant makes it.
type testKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

func genKey(tb testing.TB, alg string) testKey {
	tb.Helper()
	var priv crypto.Signer
	var err error
	switch alg {
	case tenant.AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case tenant.AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		tb.Fatalf("unknown alg %s", alg)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return testKey{kid: tenant.Thumbprint(priv.Public()), alg: alg, priv: priv}
}

// verifyOnly is a key a Runtime verifies with but does not sign with.
type verifyOnly struct {
	key      testKey
	notAfter time.Time
}

func newRuntime(slug string, signing testKey, others ...verifyOnly) *tenant.Runtime {
	rt := &tenant.Runtime{
		Tenant:  tenant.Tenant{ID: 1, Slug: slug, Status: tenant.StatusActive, AccessTTL: 15 * time.Minute},
		Signing: tenant.SigningKey{KID: signing.kid, Alg: signing.alg, Private: signing.priv},
		Verify: map[string]tenant.VerifyKey{
			signing.kid: {Alg: signing.alg, Public: signing.priv.Public()},
		},
	}
	for _, o := range others {
		rt.Verify[o.key.kid] = tenant.VerifyKey{Alg: o.key.alg, Public: o.key.priv.Public(), NotAfter: o.notAfter}
	}
	return rt
}

func issue(tb testing.TB, tokens *auth.Tokens, rt *tenant.Runtime, sub, sid string) string {
	tb.Helper()
	raw, err := tokens.Issue(rt, sub, sid)
	if err != nil {
		tb.Fatalf("Issue: %v", err)
	}
	return raw
}

const (
	userID    = "0190a0b0-1111-7000-8000-000000000001"
	sessionID = "0190a0b0-2222-7000-8000-000000000002"
)

func TestIssueVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{tenant.AlgES256, tenant.AlgEdDSA} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			key := genKey(t, alg)
			rt := newRuntime("acme", key)
			tokens := auth.NewTokens(publicURL)
			before := time.Now().Truncate(time.Second)
			raw := issue(t, tokens, rt, userID, sessionID)

			// The header as the contract states it.
			var header map[string]any
			decodeSegment(t, raw, 0, &header)
			if header["typ"] != "at+jwt" || header["kid"] != key.kid || header["alg"] != alg {
				t.Fatalf("header = %v", header)
			}

			claims, err := tokens.Verify(rt, raw)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if claims.Issuer != publicURL+"/v1/t/acme" || tokens.Issuer("acme") != claims.Issuer {
				t.Errorf("iss = %q", claims.Issuer)
			}
			if len(claims.Audience) != 1 || claims.Audience[0] != "acme" {
				t.Errorf("aud = %v", claims.Audience)
			}
			if claims.Subject != userID || claims.SID != sessionID {
				t.Errorf("sub %q sid %q", claims.Subject, claims.SID)
			}
			if claims.ID == "" {
				t.Error("jti missing")
			}
			if claims.IssuedAt == nil || claims.ExpiresAt == nil {
				t.Fatalf("iat %v exp %v", claims.IssuedAt, claims.ExpiresAt)
			}
			if claims.IssuedAt.Before(before) || claims.IssuedAt.After(time.Now()) {
				t.Errorf("iat %v not between %v and now", claims.IssuedAt, before)
			}
			if got := claims.ExpiresAt.Sub(claims.IssuedAt.Time); got != rt.AccessTTL {
				t.Errorf("exp - iat = %v, want the tenant's access TTL %v", got, rt.AccessTTL)
			}

			other := issue(t, tokens, rt, userID, sessionID)
			otherClaims, err := tokens.Verify(rt, other)
			if err != nil {
				t.Fatal(err)
			}
			if otherClaims.ID == claims.ID {
				t.Error("two tokens share a jti")
			}
		})
	}
}

// TestTokenVerifiesFromJWKS checks the token with nothing but the published
// JWK and an off-the-shelf parser, as an integrator would.
func TestTokenVerifiesFromJWKS(t *testing.T) {
	t.Parallel()
	for _, alg := range []string{tenant.AlgES256, tenant.AlgEdDSA} {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			key := genKey(t, alg)
			rt := newRuntime("acme", key)
			raw := issue(t, auth.NewTokens(publicURL), rt, userID, sessionID)

			jwkJSON, err := json.Marshal(tenant.PublicJWK(key.kid, alg, key.priv.Public()))
			if err != nil {
				t.Fatal(err)
			}
			var jwk map[string]string
			if err := json.Unmarshal(jwkJSON, &jwk); err != nil {
				t.Fatal(err)
			}
			if _, ok := jwk["d"]; ok {
				t.Fatal("JWK carries a private member")
			}
			pub := publicFromJWK(t, jwk)
			tok, err := jwt.Parse(raw, func(tok *jwt.Token) (any, error) {
				if tok.Header["kid"] != jwk["kid"] {
					return nil, errors.New("kid not in JWKS")
				}
				return pub, nil
			}, jwt.WithValidMethods([]string{jwk["alg"]}), jwt.WithAudience("acme"), jwt.WithIssuer(publicURL+"/v1/t/acme"))
			if err != nil || !tok.Valid {
				t.Fatalf("off-the-shelf verification from the JWK failed: %v", err)
			}
		})
	}
}

func publicFromJWK(t *testing.T, jwk map[string]string) crypto.PublicKey {
	t.Helper()
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("JWK member %q: %v", s, err)
		}
		return b
	}
	switch jwk["kty"] {
	case "EC":
		if jwk["crv"] != "P-256" {
			t.Fatalf("crv %s", jwk["crv"])
		}
		return &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(dec(jwk["x"])), Y: new(big.Int).SetBytes(dec(jwk["y"]))}
	case "OKP":
		if jwk["crv"] != "Ed25519" {
			t.Fatalf("crv %s", jwk["crv"])
		}
		return ed25519.PublicKey(dec(jwk["x"]))
	}
	t.Fatalf("kty %s", jwk["kty"])
	return nil
}

func decodeSegment(t *testing.T, raw string, i int, v any) {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// craft signs arbitrary claims and header; header values of nil delete.
func craft(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, claims jwt.Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	raw, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return raw
}

func goodClaims(slug string) auth.Claims {
	now := time.Now().Truncate(time.Second)
	return auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    publicURL + "/v1/t/" + slug,
			Subject:   userID,
			Audience:  jwt.ClaimStrings{slug},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Minute)),
			ID:        "jti-1",
		},
		SID: sessionID,
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	es := genKey(t, tenant.AlgES256)
	ed := genKey(t, tenant.AlgEdDSA)
	retired := genKey(t, tenant.AlgES256)
	stranger := genKey(t, tenant.AlgES256)
	rt := newRuntime("acme", es,
		verifyOnly{key: ed},
		verifyOnly{key: retired, notAfter: time.Now().Add(-time.Second)})
	tokens := auth.NewTokens(publicURL)
	hdr := func(kid string) map[string]any { return map[string]any{"typ": "at+jwt", "kid": kid} }
	with := func(change func(*auth.Claims)) auth.Claims {
		c := goodClaims("acme")
		change(&c)
		return c
	}

	pubDER, err := x509.MarshalPKIXPublicKey(es.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	edPub := []byte(ed.priv.Public().(ed25519.PublicKey))

	valid := issue(t, tokens, rt, userID, sessionID)
	parts := strings.Split(valid, ".")

	for _, tc := range []struct {
		name string
		raw  string
		ok   bool // the controls that prove the crafting is sound
	}{
		{"control: crafted ES256", craft(t, jwt.SigningMethodES256, es.priv, hdr(es.kid), goodClaims("acme")), true},
		{"control: crafted EdDSA with its own kid", craft(t, jwt.SigningMethodEdDSA, ed.priv, hdr(ed.kid), goodClaims("acme")), true},
		{"control: issued", valid, true},

		{"empty", "", false},
		{"garbage", "not.a.jwt", false},
		{"alg none", craft(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, hdr(es.kid), goodClaims("acme")), false},
		{"HS256 keyed with public key DER", craft(t, jwt.SigningMethodHS256, pubDER, hdr(es.kid), goodClaims("acme")), false},
		{"HS256 keyed with public key PEM", craft(t, jwt.SigningMethodHS256, pubPEM, hdr(es.kid), goodClaims("acme")), false},
		{"HS256 keyed with Ed25519 public key", craft(t, jwt.SigningMethodHS256, edPub, hdr(ed.kid), goodClaims("acme")), false},
		{"ES384 header", craft(t, jwt.SigningMethodES256, es.priv, map[string]any{"typ": "at+jwt", "kid": es.kid, "alg": "ES384"}, goodClaims("acme")), false},
		{"EdDSA token naming the ES256 kid", craft(t, jwt.SigningMethodEdDSA, ed.priv, hdr(es.kid), goodClaims("acme")), false},
		{"typ JWT", craft(t, jwt.SigningMethodES256, es.priv, map[string]any{"typ": "JWT", "kid": es.kid}, goodClaims("acme")), false},
		{"typ missing", craft(t, jwt.SigningMethodES256, es.priv, map[string]any{"typ": nil, "kid": es.kid}, goodClaims("acme")), false},
		{"kid missing", craft(t, jwt.SigningMethodES256, es.priv, map[string]any{"typ": "at+jwt"}, goodClaims("acme")), false},
		{"kid empty", craft(t, jwt.SigningMethodES256, es.priv, hdr(""), goodClaims("acme")), false},
		{"kid not a string", craft(t, jwt.SigningMethodES256, es.priv, map[string]any{"typ": "at+jwt", "kid": 7}, goodClaims("acme")), false},
		{"crit extension", craft(t, jwt.SigningMethodES256, es.priv, map[string]any{"typ": "at+jwt", "kid": es.kid, "crit": []string{"exp"}}, goodClaims("acme")), false},
		{"jku header", craft(t, jwt.SigningMethodES256, es.priv, map[string]any{"typ": "at+jwt", "kid": es.kid, "jku": "https://evil.example/jwks.json"}, goodClaims("acme")), false},
		{"x5u header", craft(t, jwt.SigningMethodES256, es.priv, map[string]any{"typ": "at+jwt", "kid": es.kid, "x5u": "https://evil.example/cert.pem"}, goodClaims("acme")), false},
		{"jwk header", craft(t, jwt.SigningMethodES256, es.priv, map[string]any{"typ": "at+jwt", "kid": es.kid, "jwk": map[string]any{"kty": "EC"}}, goodClaims("acme")), false},
		{"kid unknown", craft(t, jwt.SigningMethodES256, stranger.priv, hdr(stranger.kid), goodClaims("acme")), false},
		{"known kid, another key's signature", craft(t, jwt.SigningMethodES256, stranger.priv, hdr(es.kid), goodClaims("acme")), false},
		{"retiring key past NotAfter", craft(t, jwt.SigningMethodES256, retired.priv, hdr(retired.kid), goodClaims("acme")), false},
		{"wrong issuer", issue(t, auth.NewTokens("https://evil.example.com"), rt, userID, sessionID), false},
		{"issuer of another tenant", craft(t, jwt.SigningMethodES256, es.priv, hdr(es.kid), with(func(c *auth.Claims) { c.Issuer = publicURL + "/v1/t/other" })), false},
		{"issuer missing", craft(t, jwt.SigningMethodES256, es.priv, hdr(es.kid), with(func(c *auth.Claims) { c.Issuer = "" })), false},
		{"audience of another tenant", craft(t, jwt.SigningMethodES256, es.priv, hdr(es.kid), with(func(c *auth.Claims) { c.Audience = jwt.ClaimStrings{"other"} })), false},
		{"audience missing", craft(t, jwt.SigningMethodES256, es.priv, hdr(es.kid), with(func(c *auth.Claims) { c.Audience = nil })), false},
		{"exp missing", craft(t, jwt.SigningMethodES256, es.priv, hdr(es.kid), with(func(c *auth.Claims) { c.ExpiresAt = nil })), false},
		{"expired", craft(t, jwt.SigningMethodES256, es.priv, hdr(es.kid), with(func(c *auth.Claims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute)) })), false},
		{"issued in the future", craft(t, jwt.SigningMethodES256, es.priv, hdr(es.kid), with(func(c *auth.Claims) { c.IssuedAt = jwt.NewNumericDate(time.Now().Add(time.Hour)) })), false},
		{"not valid yet", craft(t, jwt.SigningMethodES256, es.priv, hdr(es.kid), with(func(c *auth.Claims) { c.NotBefore = jwt.NewNumericDate(time.Now().Add(time.Hour)) })), false},
		{"sub missing", issue(t, tokens, rt, "", sessionID), false},
		{"sid missing", issue(t, tokens, rt, userID, ""), false},
		{"tampered payload", parts[0] + "." + tamperPayload(t, parts[1]) + "." + parts[2], false},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flipChar(parts[2]), false},
		{"signature stripped", parts[0] + "." + parts[1] + ".", false},
		{"control: dates as numbers", craft(t, jwt.SigningMethodES256, es.priv, hdr(es.kid), stringDates(goodClaims("acme"), nil)), true},
		{"exp a string", craft(t, jwt.SigningMethodES256, es.priv, hdr(es.kid), stringDates(goodClaims("acme"), []string{"exp"})), false},
		{"iat a string", craft(t, jwt.SigningMethodES256, es.priv, hdr(es.kid), stringDates(goodClaims("acme"), []string{"iat"})), false},
		{"nbf a string", craft(t, jwt.SigningMethodES256, es.priv, hdr(es.kid), stringDates(goodClaims("acme"), []string{"nbf"})), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			claims, err := tokens.Verify(rt, tc.raw)
			if tc.ok {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", claims)
			}
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("err = %v, want ErrInvalidToken", err)
			}
			if claims != nil {
				t.Fatalf("claims returned with an error: %+v", claims)
			}
		})
	}
}

// stringDates is c as a map, with nbf set to iat, and the dates named
// written as JSON strings holding their numbers.
func stringDates(c auth.Claims, names []string) jwt.MapClaims {
	m := jwt.MapClaims{"iss": c.Issuer, "sub": c.Subject, "aud": []string(c.Audience), "sid": c.SID, "jti": c.ID,
		"iat": c.IssuedAt.Unix(), "nbf": c.IssuedAt.Unix(), "exp": c.ExpiresAt.Unix()}
	for _, n := range names {
		m[n] = strconv.FormatInt(m[n].(int64), 10)
	}
	return m
}

func tamperPayload(t *testing.T, seg string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	tampered := strings.Replace(string(b), userID, "0190a0b0-1111-7000-8000-0000000000ff", 1)
	if tampered == string(b) {
		t.Fatal("payload has no sub to tamper with")
	}
	return base64.RawURLEncoding.EncodeToString([]byte(tampered))
}

func flipChar(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestVerifyRetiringKey(t *testing.T) {
	t.Parallel()
	old, current := genKey(t, tenant.AlgES256), genKey(t, tenant.AlgEdDSA)
	tokens := auth.NewTokens(publicURL)
	signedByOld := issue(t, tokens, newRuntime("acme", old), userID, sessionID)

	for _, tc := range []struct {
		name     string
		notAfter time.Time
		ok       bool
	}{
		{"before retire_at", time.Now().Add(time.Hour), true},
		{"after retire_at", time.Now().Add(-time.Second), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rt := newRuntime("acme", current, verifyOnly{key: old, notAfter: tc.notAfter})
			_, err := tokens.Verify(rt, signedByOld)
			if tc.ok && err != nil {
				t.Fatalf("token of a retiring key refused: %v", err)
			}
			if !tc.ok && !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("token of a retired key: err = %v, want ErrInvalidToken", err)
			}
		})
	}
	t.Run("after rotation the key is dropped", func(t *testing.T) {
		t.Parallel()
		if _, err := tokens.Verify(newRuntime("acme", current), signedByOld); !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("err = %v, want ErrInvalidToken", err)
		}
	})
}

func TestVerifyOtherTenant(t *testing.T) {
	t.Parallel()
	// Even with the very same keys, a token of one tenant never verifies
	// for another: iss and aud name the tenant.
	key := genKey(t, tenant.AlgES256)
	a, b := newRuntime("tenant-a", key), newRuntime("tenant-b", key)
	tokens := auth.NewTokens(publicURL)
	rawA := issue(t, tokens, a, userID, sessionID)
	if _, err := tokens.Verify(a, rawA); err != nil {
		t.Fatalf("own tenant: %v", err)
	}
	if _, err := tokens.Verify(b, rawA); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("other tenant: err = %v, want ErrInvalidToken", err)
	}
}

func TestVerifyExpiry(t *testing.T) {
	t.Parallel()
	key := genKey(t, tenant.AlgES256)
	rt := newRuntime("acme", key)
	issuedAt := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	issuer := auth.NewTokens(publicURL)
	auth.SetTokensNow(issuer, func() time.Time { return issuedAt })
	raw := issue(t, issuer, rt, userID, sessionID)

	for _, tc := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"at issue", issuedAt, true},
		{"just before exp", issuedAt.Add(rt.AccessTTL - time.Second), true},
		{"after exp", issuedAt.Add(rt.AccessTTL + time.Second), false},
		{"a day later", issuedAt.Add(24 * time.Hour), false},
		{"before iat, within the clock skew", issuedAt.Add(-auth.ClockSkew + time.Second), true},
		{"before iat, past the clock skew", issuedAt.Add(-auth.ClockSkew - time.Second), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			verifier := auth.NewTokens(publicURL)
			auth.SetTokensNow(verifier, func() time.Time { return tc.at })
			_, err := verifier.Verify(rt, raw)
			if tc.ok && err != nil {
				t.Fatalf("Verify at %v: %v", tc.at, err)
			}
			if !tc.ok && !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("Verify at %v: err = %v, want ErrInvalidToken", tc.at, err)
			}
		})
	}
}

func TestIssueRejectsUnknownAlg(t *testing.T) {
	t.Parallel()
	key := genKey(t, tenant.AlgES256)
	rt := newRuntime("acme", key)
	rt.Signing.Alg = "RS256"
	if raw, err := auth.NewTokens(publicURL).Issue(rt, userID, sessionID); err == nil {
		t.Fatalf("Issue with alg RS256 = %q, nil; want an error", raw)
	}
}
