package main

// End-to-end tests of bans: refused bans binding no login, platform bans
// refusing every tenant, and bans made on one instance binding another.
// The management API's ban endpoints are admin/api's; what a ban refuses
// on one instance, and which sessions it revokes, is auth/api's and
// auth's. Helpers are prefixed ban.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miniauth/miniauth/auth"
)

// --- helpers ---------------------------------------------------------------

func banURL(srv *testServer, slug, path string) string { return srv.URL + "/v1/t/" + slug + path }

// banLogin logs user in to tt on srv with a fresh code.
func banLogin(t testing.TB, b *testBundle, srv *testServer, tt testTenant, user string, headers ...string) response {
	t.Helper()
	if srv == nil {
		srv = b.srv
	}
	return do(t, "POST", banURL(srv, tt.Slug, "/login"), map[string]string{"code": b.wx.MintCode(tt.AppID, user)}, headers...)
}

func banMe(t testing.TB, srv *testServer, slug, access string, headers ...string) response {
	t.Helper()
	return do(t, "GET", banURL(srv, slug, "/me"), nil, append([]string{"Authorization", "Bearer " + access}, headers...)...)
}

func banRefresh(t testing.TB, srv *testServer, slug, refresh string, headers ...string) response {
	t.Helper()
	return do(t, "POST", banURL(srv, slug, "/refresh"), map[string]string{"refresh_token": refresh}, headers...)
}

// banAPI calls the management API on srv (the first instance if nil) with
// key (the platform key if "").
func banAPI(t testing.TB, b *testBundle, srv *testServer, key, method, path string, body any) response {
	t.Helper()
	if srv == nil {
		srv = b.srv
	}
	if key == "" {
		key = b.apiKey
	}
	return do(t, method, srv.URL+"/api/v1"+path, body, "Authorization", "Bearer "+key)
}

func banTokens(t testing.TB, what string, r response) tokens {
	t.Helper()
	wantStatus(t, what, r, http.StatusOK, "")
	var tok tokens
	if err := json.Unmarshal(r.Body, &tok); err != nil {
		t.Fatalf("%s: %v: %s", what, err, r.Body)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.User.ID == "" {
		t.Fatalf("%s: incomplete token response: %s", what, r.Body)
	}
	return tok
}

// banUntil reads banned_until of a user_banned problem.
func banUntil(t testing.TB, what string, r response) (time.Time, bool) {
	t.Helper()
	raw, ok := r.JSON(t)["banned_until"]
	if !ok || raw == nil {
		return time.Time{}, false
	}
	s, isStr := raw.(string)
	if !isStr {
		t.Fatalf("%s: banned_until is %T, want an RFC 3339 string: %s", what, raw, r.Body)
	}
	u, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("%s: banned_until %q is not RFC 3339: %v", what, s, err)
	}
	return u, true
}

// banWantBanned asserts a 403 user_banned and returns its banned_until.
func banWantBanned(t testing.TB, what string, r response) (time.Time, bool) {
	t.Helper()
	wantStatus(t, what, r, http.StatusForbidden, "user_banned")
	return banUntil(t, what, r)
}

// banWantPermanent asserts a 403 user_banned without banned_until.
func banWantPermanent(t testing.TB, what string, r response) {
	t.Helper()
	if u, ok := banWantBanned(t, what, r); ok {
		t.Fatalf("%s: permanent ban answered banned_until %s: %s", what, u, r.Body)
	}
}

// banItem is a ban as the API answers it.
type banItem struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Target    string     `json:"target"`
	Reason    string     `json:"reason"`
	ExpiresAt *time.Time `json:"expires_at"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	Tenant    *string    `json:"tenant"`
}

// banCreate POSTs a ban to path ("/tenants/x/bans" or "/bans") and wants 201.
func banCreate(t testing.TB, b *testBundle, srv *testServer, path string, body map[string]any) banItem {
	t.Helper()
	r := banAPI(t, b, srv, "", "POST", path, body)
	wantStatus(t, "create ban "+fmt.Sprint(body), r, http.StatusCreated, "")
	var it banItem
	if err := json.Unmarshal(r.Body, &it); err != nil {
		t.Fatalf("create ban: %v: %s", err, r.Body)
	}
	return it
}

func banCount(t testing.TB, b *testBundle, query string, args ...any) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// banRefusedToken asserts a live access token of a banned user is refused:
// 403 user_banned per the contract, or 401 invalid_token because creating
// the ban revoked its session. It returns the code seen.
func banRefusedToken(t testing.TB, what string, r response) string {
	t.Helper()
	code := problemCode(r)
	switch {
	case r.Status == http.StatusForbidden && code == "user_banned":
	case r.Status == http.StatusUnauthorized && code == "invalid_token":
	default:
		t.Fatalf("%s: %d %q, want 403 user_banned or 401 invalid_token: %s", what, r.Status, code, r.Body)
	}
	return code
}

// banFields asserts r is a 400 invalid_request naming field in errors
// (field "" only checks the status and code).
func banFields(t testing.TB, what string, r response, field string) {
	t.Helper()
	wantStatus(t, what, r, http.StatusBadRequest, "invalid_request")
	if field == "" {
		return
	}
	var p struct {
		Errors []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, e := range p.Errors {
		if e.Field == field {
			if e.Message == "" {
				t.Fatalf("%s: errors entry for %s has no message: %s", what, field, r.Body)
			}
			return
		}
	}
	t.Fatalf("%s: errors do not name field %q: %s", what, field, r.Body)
}

func banPlatformKeyID(t testing.TB, b *testBundle) string {
	t.Helper()
	var id string
	if err := b.db.QueryRow(context.Background(), `SELECT id::text FROM api_keys WHERE name = 'test'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// --- tests -----------------------------------------------------------------

// TestBanRefusedLeavesLogin sends malformed bans aimed at alice and checks
// she still logs in. Which bans are malformed, and that none is stored, is
// admin/api's (TestBanValidation).
func TestBanRefusedLeavesLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("ban-valid", nil)
	alice := banTokens(t, "alice login", banLogin(t, b, nil, tt, "alice"))
	path := "/tenants/" + tt.Slug + "/bans"
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)

	for _, c := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"user_id and openid", map[string]any{"user_id": alice.User.ID, "openid": alice.User.OpenID, "reason": "x"}, "user_id"},
		{"all three", map[string]any{"user_id": alice.User.ID, "openid": alice.User.OpenID, "ip": "127.0.0.1", "reason": "x"}, "user_id"},
		{"user_id without a reason", map[string]any{"user_id": alice.User.ID}, "reason"},
		{"openid, expired", map[string]any{"openid": alice.User.OpenID, "reason": "x", "expires_at": past}, "expires_at"},
		{"ip, blank reason", map[string]any{"ip": "127.0.0.1", "reason": "   "}, "reason"},
	} {
		banFields(t, c.name, banAPI(t, b, nil, "", "POST", path, c.body), c.field)
	}
	if n := banCount(t, b, `SELECT count(*) FROM bans`); n != 0 {
		t.Fatalf("rejected bans left %d rows", n)
	}
	banTokens(t, "alice still logs in", banLogin(t, b, nil, tt, "alice"))
	wantStatus(t, "alice's token", banMe(t, b.srv, tt.Slug, alice.AccessToken), http.StatusOK, "")
}

// TestBanAcrossInstances bans through instance 1 and checks instance 2
// refuses within 1 s, then unbans the same way.
func TestBanAcrossInstances(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("ban-multi", nil)
	srv1, srv2 := b.srv, b.startInstance()
	path := "/tenants/" + tt.Slug + "/bans"

	alice := banTokens(t, "alice login on 1", banLogin(t, b, srv1, tt, "alice"))
	// Warm instance 2: alice's session and the tenant's ban set (a login
	// there loads it; carol has never logged in).
	wantStatus(t, "alice me on 2", banMe(t, srv2, tt.Slug, alice.AccessToken), http.StatusOK, "")
	banTokens(t, "bob login on 2", banLogin(t, b, srv2, tt, "bob"))
	wantStatus(t, "alice me on 2 again", banMe(t, srv2, tt.Slug, alice.AccessToken), http.StatusOK, "")

	bans := srv2.notices(t, auth.TopicBans, nil)
	revoked := srv2.notices(t, auth.TopicUserRevoked, naming(alice.User.ID))
	ab := banCreate(t, b, srv1, path, map[string]any{"user_id": alice.User.ID, "reason": "cross"})
	cb := banCreate(t, b, srv1, path, map[string]any{"openid": b.wx.OpenID(tt.AppID, "carol"), "reason": "cross"})
	bans.wait(t, "instance 2 hears of alice's ban")
	bans.wait(t, "instance 2 hears of carol's ban")
	revoked.wait(t, "instance 2 hears alice's sessions were revoked")
	banRefusedToken(t, "alice's token on 2", banMe(t, srv2, tt.Slug, alice.AccessToken))
	banWantPermanent(t, "alice on 2", banLogin(t, b, srv2, tt, "alice"))
	banWantPermanent(t, "carol on 2", banLogin(t, b, srv2, tt, "carol"))
	banRefusedToken(t, "alice's token on 1", banMe(t, srv1, tt.Slug, alice.AccessToken))

	// Unban through instance 1: instance 1 lets alice and carol in at
	// once, instance 2 as soon as it hears of it.
	bans = srv2.notices(t, auth.TopicBans, nil)
	wantStatus(t, "unban alice", banAPI(t, b, srv1, "", "DELETE", path+"/"+ab.ID, nil), http.StatusNoContent, "")
	wantStatus(t, "unban carol", banAPI(t, b, srv1, "", "DELETE", path+"/"+cb.ID, nil), http.StatusNoContent, "")
	bans.wait(t, "instance 2 hears alice's ban was lifted")
	bans.wait(t, "instance 2 hears carol's ban was lifted")
	for _, s := range []*testServer{srv1, srv2} {
		for _, u := range []string{"alice", "carol"} {
			banTokens(t, u+" after the unban on "+s.URL, banLogin(t, b, s, tt, u))
		}
	}
	// Lifting the ban does not revive the sessions it revoked.
	wantStatus(t, "alice's old token after the unban", banMe(t, srv2, tt.Slug, alice.AccessToken), http.StatusUnauthorized, "invalid_token")

	wantStatus(t, "delete on an unknown tenant", banAPI(t, b, srv1, "", "DELETE", "/tenants/no-such-tenant/bans/"+ab.ID, nil),
		http.StatusNotFound, "not_found")
	if n := banCount(t, b, `SELECT count(*) FROM bans`); n != 0 {
		t.Fatalf("%d bans rows after both were deleted", n)
	}

	// The audit log has both changes, by the platform key, on this tenant.
	keyID := banPlatformKeyID(t, b)
	for _, id := range []string{ab.ID, cb.ID} {
		for _, action := range []string{"ban.create", "ban.delete"} {
			n := banCount(t, b, `SELECT count(*) FROM audit_log WHERE action = $1 AND target_type = 'ban' AND target_id = $2
				AND actor_type = 'apikey' AND actor_id = $3 AND tenant_slug = $4
				AND tenant_id = (SELECT id FROM tenants WHERE slug = $4)`, action, id, keyID, tt.Slug)
			if n != 1 {
				t.Fatalf("audit rows %s of ban %s: %d, want 1", action, id, n)
			}
		}
	}
	var diff string
	if err := b.db.QueryRow(context.Background(), `SELECT diff::text FROM audit_log WHERE action = 'ban.create' AND target_id = $1`, ab.ID).Scan(&diff); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(diff, alice.User.ID) || !strings.Contains(diff, "cross") {
		t.Fatalf("ban.create diff does not describe the ban: %s", diff)
	}
}

// TestBanPlatformWide bans an IP on every tenant through /api/v1/bans and
// checks logins, tokens and refreshes of every tenant are refused, then
// allowed once it is lifted. Who may manage platform bans, and their
// shape, rows, lists and audit, are admin/api's (TestBanPlatformWide).
func TestBanPlatformWide(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ta := b.createTenant("ban-plat-a", nil)
	tb := b.createTenant("ban-plat-b", nil)
	alice := banTokens(t, "alice on A", banLogin(t, b, nil, ta, "alice"))
	bob := banTokens(t, "bob on B", banLogin(t, b, nil, tb, "bob"))

	pb := banCreate(t, b, nil, "/bans", map[string]any{"ip": "127.0.0.1", "reason": "x"})
	for _, tt := range []testTenant{ta, tb} {
		banWantPermanent(t, "login on "+tt.Slug+" from a platform-banned IP", banLogin(t, b, nil, tt, "newcomer"))
	}
	banRefusedToken(t, "alice's live token", banMe(t, b.srv, ta.Slug, alice.AccessToken))
	banRefusedToken(t, "bob's live token", banMe(t, b.srv, tb.Slug, bob.AccessToken))
	banWantBanned(t, "bob's refresh", banRefresh(t, b.srv, tb.Slug, bob.RefreshToken))

	wantStatus(t, "delete the platform ban", banAPI(t, b, nil, "", "DELETE", "/bans/"+pb.ID, nil), http.StatusNoContent, "")
	for _, tt := range []testTenant{ta, tb} {
		banTokens(t, "login on "+tt.Slug+" after the platform ban", banLogin(t, b, nil, tt, "newcomer"))
	}
}
