package main

// End-to-end tests of bans: the management API that creates, lists and
// lifts them, platform bans, and bans made on one instance binding
// another. What a ban refuses on one instance, and which sessions it
// revokes, is auth/api's and auth's. Helpers are prefixed ban.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miniauth/miniauth/admin"
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

// TestBanKinds creates one ban of each kind through the management API and
// checks the answer and the row. What each kind refuses is auth/api's
// (TestBanKinds there).
func TestBanKinds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("ban-kinds", nil)
	keyID := banPlatformKeyID(t, b)
	path := "/tenants/" + tt.Slug + "/bans"

	// user_id: the full 201 shape.
	alice := banTokens(t, "alice login", banLogin(t, b, nil, tt, "alice"))
	before := time.Now()
	r := banAPI(t, b, nil, "", "POST", path, map[string]any{"user_id": alice.User.ID, "reason": "  spam  "})
	wantStatus(t, "ban alice", r, http.StatusCreated, "")
	m := r.JSON(t)
	for _, k := range []string{"id", "kind", "target", "reason", "expires_at", "created_at", "created_by"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("ban response lacks %q: %s", k, r.Body)
		}
	}
	var ban banItem
	if err := json.Unmarshal(r.Body, &ban); err != nil {
		t.Fatal(err)
	}
	if ban.Kind != "user" || ban.Target != alice.User.ID || ban.Reason != "spam" || ban.ExpiresAt != nil {
		t.Fatalf("user ban: %s", r.Body)
	}
	if m["expires_at"] != nil {
		t.Fatalf("permanent ban: expires_at %v, want null", m["expires_at"])
	}
	if ban.CreatedAt.Before(before.Add(-5*time.Second)) || ban.CreatedAt.After(time.Now().Add(5*time.Second)) {
		t.Fatalf("created_at %s is not now", ban.CreatedAt)
	}
	if ban.CreatedBy != "apikey:"+keyID {
		t.Fatalf("created_by %q, want %q", ban.CreatedBy, "apikey:"+keyID)
	}
	if ban.Tenant == nil || *ban.Tenant != tt.Slug {
		t.Fatalf("tenant of a tenant ban: %s", r.Body)
	}
	if n := banCount(t, b, `SELECT count(*) FROM bans WHERE id = $1 AND kind = 'user' AND target = $2`, ban.ID, alice.User.ID); n != 1 {
		t.Fatalf("bans rows for %s: %d", ban.ID, n)
	}

	// openid, pre-emptive: bob has never logged in.
	bobOpenID := b.wx.OpenID(tt.AppID, "bob")
	ob := banCreate(t, b, nil, path, map[string]any{"openid": bobOpenID, "reason": "known abuser"})
	if ob.Kind != "openid" || ob.Target != bobOpenID || ob.Reason != "known abuser" {
		t.Fatalf("openid ban: %+v", ob)
	}

	// ip: a single address, a CIDR, an IPv6 range and a CIDR with host bits.
	for _, c := range []struct{ ip, target, alt string }{
		{"127.0.0.1", "127.0.0.1", "127.0.0.1/32"},
		{"127.0.0.0/8", "127.0.0.0/8", ""},
		{"2001:db8::/32", "2001:db8::/32", ""},
		{"10.1.2.3/8", "10.0.0.0/8", ""},
	} {
		ib := banCreate(t, b, nil, path, map[string]any{"ip": c.ip, "reason": "ip"})
		if ib.Kind != "ip" || (ib.Target != c.target && (c.alt == "" || ib.Target != c.alt)) {
			t.Fatalf("ip ban of %s: %+v, want target %s", c.ip, ib, c.target)
		}
	}
}

// TestBanValidation sends every malformed ban and checks nothing is stored.
func TestBanValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("ban-valid", nil)
	other := b.createTenant("ban-valid-other", nil)
	alice := banTokens(t, "alice login", banLogin(t, b, nil, tt, "alice"))
	stranger := banTokens(t, "stranger login", banLogin(t, b, nil, other, "stranger"))
	path := "/tenants/" + tt.Slug + "/bans"
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)

	cases := []struct {
		name  string
		body  any
		field string
	}{
		{"no target", map[string]any{"reason": "x"}, "user_id"},
		{"empty object", map[string]any{}, "user_id"},
		{"empty targets", map[string]any{"user_id": "", "openid": "", "ip": "", "reason": "x"}, "user_id"},
		{"user_id and openid", map[string]any{"user_id": alice.User.ID, "openid": alice.User.OpenID, "reason": "x"}, "user_id"},
		{"openid and ip", map[string]any{"openid": "o-someone", "ip": "10.0.0.1", "reason": "x"}, "user_id"},
		{"all three", map[string]any{"user_id": alice.User.ID, "openid": "o-someone", "ip": "10.0.0.1", "reason": "x"}, "user_id"},
		{"missing reason", map[string]any{"openid": "o-someone"}, "reason"},
		{"blank reason", map[string]any{"openid": "o-someone", "reason": "   "}, "reason"},
		{"reason too long", map[string]any{"openid": "o-someone", "reason": strings.Repeat("r", 501)}, "reason"},
		{"expires_at in the past", map[string]any{"openid": "o-someone", "reason": "x", "expires_at": past}, "expires_at"},
		{"expires_at not a time", map[string]any{"openid": "o-someone", "reason": "x", "expires_at": "tomorrow"}, ""},
		{"bad ip", map[string]any{"ip": "300.1.2.3", "reason": "x"}, "ip"},
		{"bad cidr", map[string]any{"ip": "10.0.0.0/33", "reason": "x"}, "ip"},
		{"hostname", map[string]any{"ip": "example.com", "reason": "x"}, "ip"},
		{"unknown user_id", map[string]any{"user_id": "0190a0c0-0000-7000-8000-000000000000", "reason": "x"}, "user_id"},
		{"user_id not a uuid", map[string]any{"user_id": "alice", "reason": "x"}, "user_id"},
		{"user of another tenant", map[string]any{"user_id": stranger.User.ID, "reason": "x"}, "user_id"},
		{"openid with spaces", map[string]any{"openid": "o some one", "reason": "x"}, "openid"},
		{"unknown field", map[string]any{"openid": "o-someone", "reason": "x", "duration": 60}, "duration"},
		{"wrong type", map[string]any{"openid": 42, "reason": "x"}, "openid"},
		{"not JSON", "{not json", ""},
		{"array", "[]", ""},
	}
	for _, c := range cases {
		r := banAPI(t, b, nil, "", "POST", path, c.body)
		banFields(t, c.name, r, c.field)
	}
	if n := banCount(t, b, `SELECT count(*) FROM bans`); n != 0 {
		t.Fatalf("rejected bans left %d rows", n)
	}
	if n := banCount(t, b, `SELECT count(*) FROM audit_log WHERE action = 'ban.create'`); n != 0 {
		t.Fatalf("rejected bans left %d audit rows", n)
	}
	banTokens(t, "alice still logs in", banLogin(t, b, nil, tt, "alice"))
	wantStatus(t, "ban on an unknown tenant", banAPI(t, b, nil, "", "POST", "/tenants/no-such-tenant/bans",
		map[string]any{"openid": "o-someone", "reason": "x"}), http.StatusNotFound, "not_found")
	wantStatus(t, "ban without a key", do(t, "POST", b.srv.URL+"/api/v1"+path, map[string]any{"openid": "o-someone", "reason": "x"}),
		http.StatusUnauthorized, "unauthorized")
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

// TestBanList lists a tenant's bans apart from another tenant's and the
// platform's.
func TestBanList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("ban-list", nil)
	other := b.createTenant("ban-list-other", nil)
	path := "/tenants/" + tt.Slug + "/bans"

	var created []string
	for i := range 5 {
		created = append(created, banCreate(t, b, nil, path, map[string]any{"openid": fmt.Sprintf("o-listed-%d", i), "reason": fmt.Sprintf("r%d", i)}).ID)
	}
	banCreate(t, b, nil, "/tenants/"+other.Slug+"/bans", map[string]any{"openid": "o-elsewhere", "reason": "other"})

	type page struct {
		Items      []banItem `json:"items"`
		NextCursor *string   `json:"next_cursor"`
	}
	// Paging and bad list parameters are the handler's to show (admin/api
	// TestPagination, TestErrorMapping).
	r := wantStatus(t, "list", banAPI(t, b, nil, "", "GET", path, nil), http.StatusOK, "")
	var all page
	if err := json.Unmarshal(r.Body, &all); err != nil {
		t.Fatal(err)
	}
	if all.Items == nil || len(all.Items) != 5 || all.NextCursor != nil {
		t.Fatalf("default page: %d items, next %v: %s", len(all.Items), all.NextCursor, r.Body)
	}
	want := slices.Clone(created)
	slices.Reverse(want)
	for i, it := range all.Items {
		if it.ID != want[i] || it.Reason != fmt.Sprintf("r%d", 4-i) || it.Kind != "openid" ||
			it.Target != fmt.Sprintf("o-listed-%d", 4-i) || it.Tenant == nil || *it.Tenant != tt.Slug {
			t.Fatalf("default page item %d: %+v", i, it)
		}
	}
	op := wantStatus(t, "other tenant's list", banAPI(t, b, nil, "", "GET", "/tenants/"+other.Slug+"/bans", nil), http.StatusOK, "")
	var opg page
	if err := json.Unmarshal(op.Body, &opg); err != nil {
		t.Fatal(err)
	}
	if len(opg.Items) != 1 || opg.Items[0].Target != "o-elsewhere" {
		t.Fatalf("other tenant's list: %s", op.Body)
	}
	pl := wantStatus(t, "platform list", banAPI(t, b, nil, "", "GET", "/bans", nil), http.StatusOK, "")
	var ppg page
	if err := json.Unmarshal(pl.Body, &ppg); err != nil {
		t.Fatal(err)
	}
	if len(ppg.Items) != 0 {
		t.Fatalf("platform list shows tenant bans: %s", pl.Body)
	}
}

// TestBanPlatformWide bans an IP on every tenant through /api/v1/bans.
func TestBanPlatformWide(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ta := b.createTenant("ban-plat-a", nil)
	tb := b.createTenant("ban-plat-b", nil)
	_, adminKeyA, err := admin.NewAPIKeys(b.db).Create(context.Background(), "a", admin.RoleTenantAdmin, ta.Slug)
	if err != nil {
		t.Fatal(err)
	}
	alice := banTokens(t, "alice on A", banLogin(t, b, nil, ta, "alice"))
	bob := banTokens(t, "bob on B", banLogin(t, b, nil, tb, "bob"))

	// Only the platform may manage platform bans; a tenant admin may not even look.
	body := map[string]any{"ip": "127.0.0.1", "reason": "x"}
	wantStatus(t, "tenant admin lists platform bans", banAPI(t, b, nil, adminKeyA, "GET", "/bans", nil), http.StatusForbidden, "forbidden")
	wantStatus(t, "tenant admin creates a platform ban", banAPI(t, b, nil, adminKeyA, "POST", "/bans", body), http.StatusForbidden, "forbidden")
	// Platform bans target IPs only.
	banFields(t, "platform ban of a user_id", banAPI(t, b, nil, "", "POST", "/bans", map[string]any{"user_id": alice.User.ID, "reason": "x"}), "ip")
	banFields(t, "platform ban of an openid", banAPI(t, b, nil, "", "POST", "/bans", map[string]any{"openid": alice.User.OpenID, "reason": "x"}), "ip")
	if n := banCount(t, b, `SELECT count(*) FROM bans`); n != 0 {
		t.Fatalf("refused platform bans left %d rows", n)
	}

	pb := banCreate(t, b, nil, "/bans", body)
	if pb.Kind != "ip" || (pb.Target != "127.0.0.1" && pb.Target != "127.0.0.1/32") || pb.Tenant != nil {
		t.Fatalf("platform ban: %+v", pb)
	}
	if n := banCount(t, b, `SELECT count(*) FROM bans WHERE id = $1 AND tenant_id IS NULL`, pb.ID); n != 1 {
		t.Fatalf("platform ban row with tenant_id NULL: %d", n)
	}
	for _, tt := range []testTenant{ta, tb} {
		banWantPermanent(t, "login on "+tt.Slug+" from a platform-banned IP", banLogin(t, b, nil, tt, "newcomer"))
	}
	banRefusedToken(t, "alice's live token", banMe(t, b.srv, ta.Slug, alice.AccessToken))
	banRefusedToken(t, "bob's live token", banMe(t, b.srv, tb.Slug, bob.AccessToken))
	banWantBanned(t, "bob's refresh", banRefresh(t, b.srv, tb.Slug, bob.RefreshToken))

	wantStatus(t, "tenant admin deletes a platform ban", banAPI(t, b, nil, adminKeyA, "DELETE", "/bans/"+pb.ID, nil), http.StatusForbidden, "forbidden")
	wantStatus(t, "delete a platform ban through a tenant", banAPI(t, b, nil, "", "DELETE", "/tenants/"+ta.Slug+"/bans/"+pb.ID, nil),
		http.StatusNotFound, "not_found")
	pl := wantStatus(t, "platform list", banAPI(t, b, nil, "", "GET", "/bans", nil), http.StatusOK, "")
	if m := pl.JSON(t); len(m["items"].([]any)) != 1 {
		t.Fatalf("platform list: %s", pl.Body)
	}
	tl := wantStatus(t, "tenant list", banAPI(t, b, nil, "", "GET", "/tenants/"+ta.Slug+"/bans", nil), http.StatusOK, "")
	if m := tl.JSON(t); len(m["items"].([]any)) != 0 {
		t.Fatalf("a tenant's list shows the platform ban: %s", tl.Body)
	}
	wantStatus(t, "tenant admin lists own tenant's bans", banAPI(t, b, nil, adminKeyA, "GET", "/tenants/"+ta.Slug+"/bans", nil), http.StatusOK, "")
	wantStatus(t, "tenant admin lists another tenant's bans", banAPI(t, b, nil, adminKeyA, "GET", "/tenants/"+tb.Slug+"/bans", nil),
		http.StatusForbidden, "forbidden")

	wantStatus(t, "delete the platform ban", banAPI(t, b, nil, "", "DELETE", "/bans/"+pb.ID, nil), http.StatusNoContent, "")
	for _, tt := range []testTenant{ta, tb} {
		banTokens(t, "login on "+tt.Slug+" after the platform ban", banLogin(t, b, nil, tt, "newcomer"))
	}
	for _, action := range []string{"ban.create", "ban.delete"} {
		if n := banCount(t, b, `SELECT count(*) FROM audit_log WHERE action = $1 AND target_id = $2 AND tenant_id IS NULL AND actor_type = 'apikey'`,
			action, pb.ID); n != 1 {
			t.Fatalf("audit %s of the platform ban: %d rows", action, n)
		}
	}
}
