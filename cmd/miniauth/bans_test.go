package main

// End-to-end tests of bans: the management API that creates, lists and
// lifts them, and their effect on login, refresh and live access tokens,
// across tenants and instances. Helpers are prefixed ban.

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

// banSessionsLive counts a user's sessions that are not revoked.
func banSessionsLive(t testing.TB, b *testBundle, userID string) (live, bannedRevoked int) {
	t.Helper()
	live = banCount(t, b, `SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL`, userID)
	bannedRevoked = banCount(t, b, `SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NOT NULL AND revoke_reason = 'banned'`, userID)
	return live, bannedRevoked
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

func banIsBanned(r response) bool {
	return r.Status == http.StatusForbidden && problemCode(r) == "user_banned"
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

// TestBanKinds creates one ban of each kind through the API and checks its
// shape and that it refuses exactly what it targets.
func TestBanKinds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("ban-kinds", nil)
	ipTenant := b.createTenant("ban-ip", nil)
	cidrTenant := b.createTenant("ban-cidr", nil)
	v6Tenant := b.createTenant("ban-v6", nil)
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
	banWantPermanent(t, "banned alice logs in", banLogin(t, b, nil, tt, "alice"))
	banTokens(t, "unbanned carol logs in", banLogin(t, b, nil, tt, "carol"))

	// openid, pre-emptive: bob has never logged in.
	bobOpenID := b.wx.OpenID(tt.AppID, "bob")
	ob := banCreate(t, b, nil, path, map[string]any{"openid": bobOpenID, "reason": "known abuser"})
	if ob.Kind != "openid" || ob.Target != bobOpenID || ob.Reason != "known abuser" {
		t.Fatalf("openid ban: %+v", ob)
	}
	banWantPermanent(t, "pre-emptively banned bob's first login", banLogin(t, b, nil, tt, "bob"))
	if n := banCount(t, b, `SELECT count(*) FROM users WHERE openid = $1`, bobOpenID); n != 0 {
		t.Fatalf("a refused first login wrote %d users rows", n)
	}
	if n := banCount(t, b, `SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.openid = $1`, bobOpenID); n != 0 {
		t.Fatalf("a refused first login wrote %d sessions", n)
	}

	// ip: a single address, on its own tenant (all test traffic is 127.0.0.1).
	dave := banTokens(t, "dave login", banLogin(t, b, nil, ipTenant, "dave"))
	ib := banCreate(t, b, nil, "/tenants/"+ipTenant.Slug+"/bans", map[string]any{"ip": "127.0.0.1", "reason": "ip"})
	if ib.Kind != "ip" || (ib.Target != "127.0.0.1" && ib.Target != "127.0.0.1/32") {
		t.Fatalf("ip ban: %+v", ib)
	}
	banWantPermanent(t, "login from a banned IP", banLogin(t, b, nil, ipTenant, "erin"))
	banWantPermanent(t, "known user from a banned IP", banLogin(t, b, nil, ipTenant, "dave"))
	banWantBanned(t, "refresh from a banned IP", banRefresh(t, b.srv, ipTenant.Slug, dave.RefreshToken))
	banRefusedToken(t, "live token from a banned IP", banMe(t, b.srv, ipTenant.Slug, dave.AccessToken))
	if n := banCount(t, b, `SELECT count(*) FROM users u JOIN tenants t ON t.id = u.tenant_id WHERE t.slug = $1`, ipTenant.Slug); n != 1 {
		t.Fatalf("users of the IP-banned tenant: %d, want only dave", n)
	}

	// ip: a CIDR.
	cb := banCreate(t, b, nil, "/tenants/"+cidrTenant.Slug+"/bans", map[string]any{"ip": "127.0.0.0/8", "reason": "loopback"})
	if cb.Kind != "ip" || cb.Target != "127.0.0.0/8" {
		t.Fatalf("cidr ban: %+v", cb)
	}
	banWantPermanent(t, "login from inside a banned CIDR", banLogin(t, b, nil, cidrTenant, "frank"))

	// An IP ban that does not cover 127.0.0.1 refuses nobody here.
	vb := banCreate(t, b, nil, "/tenants/"+v6Tenant.Slug+"/bans", map[string]any{"ip": "2001:db8::/32", "reason": "v6"})
	if vb.Kind != "ip" || vb.Target != "2001:db8::/32" {
		t.Fatalf("v6 ban: %+v", vb)
	}
	cb2 := banCreate(t, b, nil, "/tenants/"+v6Tenant.Slug+"/bans", map[string]any{"ip": "10.1.2.3/8", "reason": "masked"})
	if cb2.Target != "10.0.0.0/8" {
		t.Fatalf("a CIDR with host bits: target %q, want 10.0.0.0/8", cb2.Target)
	}
	banTokens(t, "login next to bans that do not cover 127.0.0.1", banLogin(t, b, nil, v6Tenant, "gina"))
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

// TestBanUserWithLiveSession bans users who hold live sessions, by user_id
// and by openid, and checks login, refresh and the live access token.
func TestBanUserWithLiveSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("ban-live", nil)
	path := "/tenants/" + tt.Slug + "/bans"

	for _, kind := range []string{"user_id", "openid"} {
		user := "victim-" + kind
		s1 := banTokens(t, user+" login 1", banLogin(t, b, nil, tt, user))
		s2 := banTokens(t, user+" login 2", banLogin(t, b, nil, tt, user))
		bystander := banTokens(t, "bystander login", banLogin(t, b, nil, tt, "bystander-"+kind))
		wantStatus(t, "me before the ban", banMe(t, b.srv, tt.Slug, s1.AccessToken), http.StatusOK, "")
		target := s1.User.ID
		if kind == "openid" {
			target = s1.User.OpenID
		}
		banCreate(t, b, nil, path, map[string]any{kind: target, "reason": "abuse"})

		banWantPermanent(t, kind+": login after the ban", banLogin(t, b, nil, tt, user))
		code := banRefusedToken(t, kind+": live access token after the ban", banMe(t, b.srv, tt.Slug, s1.AccessToken))
		t.Logf("%s ban: the live access token is refused with %q", kind, code)
		banRefusedToken(t, kind+": second session's access token", banMe(t, b.srv, tt.Slug, s2.AccessToken))
		live, revoked := banSessionsLive(t, b, s1.User.ID)
		if live != 0 || revoked != 2 {
			t.Fatalf("%s: after the ban %d sessions live and %d revoked as banned, want 0 and 2", kind, live, revoked)
		}
		// Contract: "After logout a refresh token gets 401
		// invalid_refresh_token; a banned user's gets 403 user_banned."
		r := banRefresh(t, b.srv, tt.Slug, s2.RefreshToken)
		if r.Status != http.StatusForbidden || problemCode(r) != "user_banned" {
			t.Errorf("%s: refresh by a banned user: %d %q, want 403 user_banned: %s", kind, r.Status, problemCode(r), r.Body)
		}
		// The bystander is untouched.
		wantStatus(t, "bystander me", banMe(t, b.srv, tt.Slug, bystander.AccessToken), http.StatusOK, "")
		banTokens(t, "bystander refresh", banRefresh(t, b.srv, tt.Slug, bystander.RefreshToken))
	}
}

// TestBanTemporary checks banned_until and that a ban lapses on its own.
func TestBanTemporary(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("ban-temp", nil)
	path := "/tenants/" + tt.Slug + "/bans"

	alice := banTokens(t, "alice login", banLogin(t, b, nil, tt, "alice"))
	// Whole seconds, 2-3 s ahead, so the comparison is exact.
	until := time.Now().Add(3 * time.Second).Truncate(time.Second)
	ban := banCreate(t, b, nil, path, map[string]any{"user_id": alice.User.ID, "reason": "cool off", "expires_at": until.Format(time.RFC3339)})
	if ban.ExpiresAt == nil || !ban.ExpiresAt.Equal(until) {
		t.Fatalf("expires_at %v, want %s", ban.ExpiresAt, until)
	}
	r := banLogin(t, b, nil, tt, "alice")
	got, ok := banWantBanned(t, "login during a temporary ban", r)
	if !ok || !got.Equal(until) {
		t.Fatalf("banned_until %v (set %v), want %s: %s", got, ok, until.Format(time.RFC3339), r.Body)
	}
	banRefusedToken(t, "live token during a temporary ban", banMe(t, b.srv, tt.Slug, alice.AccessToken))

	// The longer of two temporary bans is reported; a permanent one wins.
	carol := banTokens(t, "carol login", banLogin(t, b, nil, tt, "carol"))
	hour, twoHours := time.Now().Add(time.Hour).Truncate(time.Second), time.Now().Add(2*time.Hour).Truncate(time.Second)
	banCreate(t, b, nil, path, map[string]any{"user_id": carol.User.ID, "reason": "1h", "expires_at": hour.Format(time.RFC3339)})
	banCreate(t, b, nil, path, map[string]any{"openid": carol.User.OpenID, "reason": "2h", "expires_at": twoHours.Format(time.RFC3339)})
	got, ok = banWantBanned(t, "carol with two temporary bans", banLogin(t, b, nil, tt, "carol"))
	if !ok || !got.Equal(twoHours) {
		t.Fatalf("two bans: banned_until %v (set %v), want the later %s", got, ok, twoHours)
	}
	dave := banTokens(t, "dave login", banLogin(t, b, nil, tt, "dave"))
	banCreate(t, b, nil, path, map[string]any{"user_id": dave.User.ID, "reason": "1h", "expires_at": hour.Format(time.RFC3339)})
	banCreate(t, b, nil, path, map[string]any{"openid": dave.User.OpenID, "reason": "forever"})
	banWantPermanent(t, "dave with a temporary and a permanent ban", banLogin(t, b, nil, tt, "dave"))

	// Nobody acts: once expires_at passes, alice logs in again.
	eventually(t, 6*time.Second, "alice logs in after her ban expired", func() bool {
		r := banLogin(t, b, nil, tt, "alice")
		if r.Status == http.StatusOK {
			return true
		}
		if !banIsBanned(r) {
			t.Fatalf("login while waiting for expiry: %d %s", r.Status, r.Body)
		}
		return false
	})
	if time.Now().Before(until) {
		t.Fatalf("the ban lapsed before its expires_at %s", until)
	}
	// The sessions the ban revoked stay revoked.
	wantStatus(t, "alice's old token after expiry", banMe(t, b.srv, tt.Slug, alice.AccessToken), http.StatusUnauthorized, "invalid_token")
	banWantBanned(t, "carol still banned", banLogin(t, b, nil, tt, "carol"))
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

// TestBanTenantIsolation: a ban on tenant A leaves tenant B alone.
func TestBanTenantIsolation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ta := b.createTenant("ban-iso-a", nil)
	tb := b.createTenant("ban-iso-b", nil)
	pathA := "/tenants/" + ta.Slug + "/bans"

	ua := banTokens(t, "u on A", banLogin(t, b, nil, ta, "u"))
	ub := banTokens(t, "u on B", banLogin(t, b, nil, tb, "u"))
	banCreate(t, b, nil, pathA, map[string]any{"user_id": ua.User.ID, "reason": "a only"})
	// B's openid of w, banned in A, means nothing in A and is not a ban in B.
	banCreate(t, b, nil, pathA, map[string]any{"openid": b.wx.OpenID(tb.AppID, "w"), "reason": "wrong tenant"})

	banWantPermanent(t, "u on A", banLogin(t, b, nil, ta, "u"))
	wantStatus(t, "u's token on B", banMe(t, b.srv, tb.Slug, ub.AccessToken), http.StatusOK, "")
	banTokens(t, "u's refresh on B", banRefresh(t, b.srv, tb.Slug, ub.RefreshToken))
	banTokens(t, "u logs in on B", banLogin(t, b, nil, tb, "u"))
	banTokens(t, "w logs in on B", banLogin(t, b, nil, tb, "w"))
	banTokens(t, "w logs in on A (another openid there)", banLogin(t, b, nil, ta, "w"))

	// An IP ban on A: everyone from 127.0.0.1 is out of A, nobody out of B.
	vb := banTokens(t, "v on B", banLogin(t, b, nil, tb, "v"))
	banCreate(t, b, nil, pathA, map[string]any{"ip": "127.0.0.1", "reason": "a only"})
	banWantPermanent(t, "login on A from the banned IP", banLogin(t, b, nil, ta, "x"))
	banTokens(t, "login on B from the same IP", banLogin(t, b, nil, tb, "x"))
	wantStatus(t, "v's token on B", banMe(t, b.srv, tb.Slug, vb.AccessToken), http.StatusOK, "")
	if n := banCount(t, b, `SELECT count(*) FROM sessions s JOIN tenants t ON t.id = s.tenant_id
		WHERE t.slug = $1 AND s.revoked_at IS NOT NULL`, tb.Slug); n != 0 {
		t.Fatalf("A's bans revoked %d sessions of B", n)
	}

}
