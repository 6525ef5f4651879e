package main

// End-to-end session tests that need the real server: revocations, tenant
// status and key rotation reaching a second instance, and a deleted
// tenant's JWKS. Single-instance session behaviour (JWKS verification,
// forged tokens, refresh rotation and reuse, logout, PATCH /me) is tested
// in auth/api.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

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

// ---------------------------------------------------------------------------
// 1. Revocations, user status and tenant status reach a second instance
// within 1 s.

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

	// Disabling a user through instance 1 cuts off its token cached live
	// on instance 2, and refuses its logins and refreshes.
	frank := b.login(srv1, tt, "frank")
	for range 2 {
		wantStatus(t, "frank on instance 2", sessMe(t, srv2, tt.Slug, frank.AccessToken), http.StatusOK, "")
	}
	disabled := srv2.notices(t, auth.TopicUserRevoked, naming(frank.User.ID))
	wantStatus(t, "disable frank", b.api("PATCH", "/tenants/"+tt.Slug+"/users/"+frank.User.ID, map[string]string{"status": "disabled"}), http.StatusOK, "")
	disabled.wait(t, "instance 2 hears frank was disabled")
	wantStatus(t, "disabled user's token on instance 2", sessMe(t, srv2, tt.Slug, frank.AccessToken), http.StatusUnauthorized, "invalid_token")
	wantStatus(t, "disabled user's login", sessLoginResp(t, b, srv2, tt, "frank"), http.StatusForbidden, "user_disabled")
	wantStatus(t, "disabled user's refresh", sessRefresh(t, srv2, tt.Slug, frank.RefreshToken), http.StatusForbidden, "user_disabled")

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
// 2. Key rotation.

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
// 3. A deleted tenant's keys are gone from the mini-program API. The
// management API itself is admin/api's (TestTenantManagement).

func TestSessionDeletedTenantJWKS(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("sess-m3", nil)
	sessJWKS(t, b.srv, tt.Slug)
	wantStatus(t, "delete", b.api("DELETE", "/tenants/"+tt.Slug, nil), http.StatusNoContent, "")
	wantStatus(t, "jwks of deleted tenant", do(t, "GET", sessURL(b.srv, tt.Slug, "/.well-known/jwks.json"), nil),
		http.StatusNotFound, "tenant_not_found")
}
