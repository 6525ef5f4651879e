package api_test

// Bans as the mini-program API answers them: what each kind refuses, live
// sessions of a banned user, temporary bans and their lapse, and tenants
// kept apart. The management API that makes bans is admin/api's.

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/miniauth/miniauth/auth"
)

// ban creates a ban on tt through the domain, as the management API does.
func (b *testBundle) ban(t *testing.T, tt testTenant, n auth.NewBan) auth.Ban {
	t.Helper()
	if n.CreatedBy == "" {
		n.CreatedBy = "test"
	}
	ban, err := b.bans.Create(context.Background(), tt.ID, n)
	if err != nil {
		t.Fatalf("create ban %+v: %v", n, err)
	}
	return ban
}

// me is GET /me with an access token, from ip ("" for httptest's).
func (b *testBundle) me(t *testing.T, tt testTenant, access, ip string) response {
	t.Helper()
	return b.do(t, request{method: http.MethodGet, path: path(tt.Slug, "/me"), bearer: access, ip: ip})
}

// refresh is POST /refresh with a refresh token, from ip ("" for httptest's).
func (b *testBundle) refresh(t *testing.T, tt testTenant, token, ip string) response {
	t.Helper()
	return b.do(t, request{method: http.MethodPost, path: path(tt.Slug, "/refresh"),
		body: map[string]string{"refresh_token": token}, ip: ip})
}

// wantOK asserts a 200.
func wantOK(t *testing.T, what string, r response) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: %d %s, want 200", what, r.status, r.body)
	}
}

// wantBanned asserts a 403 user_banned and returns its banned_until.
func wantBanned(t *testing.T, what string, r response) *time.Time {
	t.Helper()
	if r.status != http.StatusForbidden || r.problem.Code != "user_banned" {
		t.Fatalf("%s: %d %q, want 403 user_banned: %s", what, r.status, r.problem.Code, r.body)
	}
	return r.problem.BannedUntil
}

// wantPermanent asserts a 403 user_banned without banned_until.
func wantPermanent(t *testing.T, what string, r response) {
	t.Helper()
	if u := wantBanned(t, what, r); u != nil {
		t.Fatalf("%s: permanent ban answered banned_until %s: %s", what, u, r.body)
	}
}

// wantRefusedToken asserts a live access token of a banned user is
// refused: 403 user_banned per the contract, or 401 invalid_token because
// creating the ban revoked its session. It returns the code seen.
func wantRefusedToken(t *testing.T, what string, r response) string {
	t.Helper()
	switch code := r.problem.Code; {
	case r.status == http.StatusForbidden && code == "user_banned",
		r.status == http.StatusUnauthorized && code == "invalid_token":
		return code
	}
	t.Fatalf("%s: %d %q, want 403 user_banned or 401 invalid_token: %s", what, r.status, r.problem.Code, r.body)
	return ""
}

// TestBanKinds makes one ban of each kind and checks it refuses exactly
// what it targets.
func TestBanKinds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.tenant(t, "ban-kinds")
	ipTenant := b.tenant(t, "ban-ip")
	cidrTenant := b.tenant(t, "ban-cidr")
	v6Tenant := b.tenant(t, "ban-v6")

	// user_id
	alice := wantTokens(t, "alice login", b.loginFrom(t, tt, "alice", ""))
	ban := b.ban(t, tt, auth.NewBan{UserID: alice.User.ID, Reason: "  spam  "})
	if ban.Kind != auth.BanUser || ban.Target != alice.User.ID || ban.Reason != "spam" || ban.ExpiresAt != nil {
		t.Fatalf("user ban: %+v", ban)
	}
	wantPermanent(t, "banned alice logs in", b.loginFrom(t, tt, "alice", ""))
	wantTokens(t, "unbanned carol logs in", b.loginFrom(t, tt, "carol", ""))

	// openid, pre-emptive: bob has never logged in.
	bobOpenID := b.wx.OpenID(tt.WeChatAppID, "bob")
	ob := b.ban(t, tt, auth.NewBan{OpenID: bobOpenID, Reason: "known abuser"})
	if ob.Kind != auth.BanOpenID || ob.Target != bobOpenID || ob.Reason != "known abuser" {
		t.Fatalf("openid ban: %+v", ob)
	}
	wantPermanent(t, "pre-emptively banned bob's first login", b.loginFrom(t, tt, "bob", ""))
	if n := b.count(t, `SELECT count(*) FROM users WHERE openid = $1`, bobOpenID); n != 0 {
		t.Fatalf("a refused first login wrote %d users rows", n)
	}
	if n := b.count(t, `SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.openid = $1`, bobOpenID); n != 0 {
		t.Fatalf("a refused first login wrote %d sessions", n)
	}

	// ip: a single address, on its own tenant.
	const bannedIP = "203.0.113.7"
	dave := wantTokens(t, "dave login", b.loginFrom(t, ipTenant, "dave", bannedIP))
	ib := b.ban(t, ipTenant, auth.NewBan{IP: bannedIP, Reason: "ip"})
	if ib.Kind != auth.BanIP || (ib.Target != bannedIP && ib.Target != bannedIP+"/32") {
		t.Fatalf("ip ban: %+v", ib)
	}
	wantPermanent(t, "login from a banned IP", b.loginFrom(t, ipTenant, "erin", bannedIP))
	wantPermanent(t, "known user from a banned IP", b.loginFrom(t, ipTenant, "dave", bannedIP))
	wantBanned(t, "refresh from a banned IP", b.refresh(t, ipTenant, dave.RefreshToken, bannedIP))
	wantRefusedToken(t, "live token from a banned IP", b.me(t, ipTenant, dave.AccessToken, bannedIP))
	if n := b.count(t, `SELECT count(*) FROM users WHERE tenant_id = $1`, ipTenant.ID); n != 1 {
		t.Fatalf("users of the IP-banned tenant: %d, want only dave", n)
	}

	// ip: a CIDR.
	cb := b.ban(t, cidrTenant, auth.NewBan{IP: "198.51.100.0/24", Reason: "range"})
	if cb.Kind != auth.BanIP || cb.Target != "198.51.100.0/24" {
		t.Fatalf("cidr ban: %+v", cb)
	}
	wantPermanent(t, "login from inside a banned CIDR", b.loginFrom(t, cidrTenant, "frank", "198.51.100.9"))

	// IP bans that do not cover the client refuse nobody.
	vb := b.ban(t, v6Tenant, auth.NewBan{IP: "2001:db8::/32", Reason: "v6"})
	if vb.Kind != auth.BanIP || vb.Target != "2001:db8::/32" {
		t.Fatalf("v6 ban: %+v", vb)
	}
	cb2 := b.ban(t, v6Tenant, auth.NewBan{IP: "10.1.2.3/8", Reason: "masked"})
	if cb2.Target != "10.0.0.0/8" {
		t.Fatalf("a CIDR with host bits: target %q, want 10.0.0.0/8", cb2.Target)
	}
	wantTokens(t, "login next to bans that do not cover the client", b.loginFrom(t, v6Tenant, "gina", ""))
}

// TestBanUserWithLiveSession bans users who hold live sessions, by user_id
// and by openid, and checks login, refresh and the live access token.
func TestBanUserWithLiveSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.tenant(t, "ban-live")

	for _, kind := range []string{"user_id", "openid"} {
		user := "victim-" + kind
		s1 := wantTokens(t, user+" login 1", b.loginFrom(t, tt, user, ""))
		s2 := wantTokens(t, user+" login 2", b.loginFrom(t, tt, user, ""))
		bystander := wantTokens(t, "bystander login", b.loginFrom(t, tt, "bystander-"+kind, ""))
		wantOK(t, "me before the ban", b.me(t, tt, s1.AccessToken, ""))
		n := auth.NewBan{UserID: s1.User.ID, Reason: "abuse"}
		if kind == "openid" {
			n = auth.NewBan{OpenID: s1.User.OpenID, Reason: "abuse"}
		}
		b.ban(t, tt, n)

		wantPermanent(t, kind+": login after the ban", b.loginFrom(t, tt, user, ""))
		code := wantRefusedToken(t, kind+": live access token after the ban", b.me(t, tt, s1.AccessToken, ""))
		t.Logf("%s ban: the live access token is refused with %q", kind, code)
		wantRefusedToken(t, kind+": second session's access token", b.me(t, tt, s2.AccessToken, ""))
		live := b.count(t, `SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL`, s1.User.ID)
		revoked := b.count(t, `SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NOT NULL AND revoke_reason = 'banned'`, s1.User.ID)
		if live != 0 || revoked != 2 {
			t.Fatalf("%s: after the ban %d sessions live and %d revoked as banned, want 0 and 2", kind, live, revoked)
		}
		// Contract: "After logout a refresh token gets 401
		// invalid_refresh_token; a banned user's gets 403 user_banned."
		if r := b.refresh(t, tt, s2.RefreshToken, ""); r.status != http.StatusForbidden || r.problem.Code != "user_banned" {
			t.Errorf("%s: refresh by a banned user: %d %q, want 403 user_banned: %s", kind, r.status, r.problem.Code, r.body)
		}
		// The bystander is untouched.
		wantOK(t, "bystander me", b.me(t, tt, bystander.AccessToken, ""))
		wantTokens(t, "bystander refresh", b.refresh(t, tt, bystander.RefreshToken, ""))
	}
}

// TestBanTemporary checks banned_until and that a ban lapses on its own.
func TestBanTemporary(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.tenant(t, "ban-temp")

	alice := wantTokens(t, "alice login", b.loginFrom(t, tt, "alice", ""))
	// Whole seconds, 2-3 s ahead, so the comparison is exact.
	until := time.Now().Add(3 * time.Second).Truncate(time.Second)
	ban := b.ban(t, tt, auth.NewBan{UserID: alice.User.ID, Reason: "cool off", ExpiresAt: &until})
	if ban.ExpiresAt == nil || !ban.ExpiresAt.Equal(until) {
		t.Fatalf("expires_at %v, want %s", ban.ExpiresAt, until)
	}
	r := b.loginFrom(t, tt, "alice", "")
	if got := wantBanned(t, "login during a temporary ban", r); got == nil || !got.Equal(until) {
		t.Fatalf("banned_until %v, want %s: %s", got, until.Format(time.RFC3339), r.body)
	}
	wantRefusedToken(t, "live token during a temporary ban", b.me(t, tt, alice.AccessToken, ""))

	// The longer of two temporary bans is reported; a permanent one wins.
	carol := wantTokens(t, "carol login", b.loginFrom(t, tt, "carol", ""))
	hour, twoHours := time.Now().Add(time.Hour).Truncate(time.Second), time.Now().Add(2*time.Hour).Truncate(time.Second)
	b.ban(t, tt, auth.NewBan{UserID: carol.User.ID, Reason: "1h", ExpiresAt: &hour})
	b.ban(t, tt, auth.NewBan{OpenID: carol.User.OpenID, Reason: "2h", ExpiresAt: &twoHours})
	if got := wantBanned(t, "carol with two temporary bans", b.loginFrom(t, tt, "carol", "")); got == nil || !got.Equal(twoHours) {
		t.Fatalf("two bans: banned_until %v, want the later %s", got, twoHours)
	}
	dave := wantTokens(t, "dave login", b.loginFrom(t, tt, "dave", ""))
	b.ban(t, tt, auth.NewBan{UserID: dave.User.ID, Reason: "1h", ExpiresAt: &hour})
	b.ban(t, tt, auth.NewBan{OpenID: dave.User.OpenID, Reason: "forever"})
	wantPermanent(t, "dave with a temporary and a permanent ban", b.loginFrom(t, tt, "dave", ""))

	// Nobody acts: once expires_at passes, alice logs in again.
	for deadline := time.Now().Add(6 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := b.loginFrom(t, tt, "alice", "")
		if r.status == http.StatusOK {
			break
		}
		if r.status != http.StatusForbidden || r.problem.Code != "user_banned" {
			t.Fatalf("login while waiting for expiry: %d %s", r.status, r.body)
		}
		if time.Now().After(deadline) {
			t.Fatal("alice still banned 6 s after her ban was made to expire in 3")
		}
	}
	if time.Now().Before(until) {
		t.Fatalf("the ban lapsed before its expires_at %s", until)
	}
	// The sessions the ban revoked stay revoked.
	b.me(t, tt, alice.AccessToken, "").wantProblem(t, http.StatusUnauthorized, "invalid_token")
	wantBanned(t, "carol still banned", b.loginFrom(t, tt, "carol", ""))
}

// TestBanTenantIsolation: a ban on tenant A leaves tenant B alone.
func TestBanTenantIsolation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ta := b.tenant(t, "ban-iso-a")
	tb := b.tenant(t, "ban-iso-b")
	// Every request comes from one address, which A bans at the end.
	const ip = "203.0.113.7"

	ua := wantTokens(t, "u on A", b.loginFrom(t, ta, "u", ip))
	ub := wantTokens(t, "u on B", b.loginFrom(t, tb, "u", ip))
	b.ban(t, ta, auth.NewBan{UserID: ua.User.ID, Reason: "a only"})
	// B's openid of w, banned in A, means nothing in A and is not a ban in B.
	b.ban(t, ta, auth.NewBan{OpenID: b.wx.OpenID(tb.WeChatAppID, "w"), Reason: "wrong tenant"})

	wantPermanent(t, "u on A", b.loginFrom(t, ta, "u", ip))
	wantOK(t, "u's token on B", b.me(t, tb, ub.AccessToken, ip))
	wantTokens(t, "u's refresh on B", b.refresh(t, tb, ub.RefreshToken, ip))
	wantTokens(t, "u logs in on B", b.loginFrom(t, tb, "u", ip))
	wantTokens(t, "w logs in on B", b.loginFrom(t, tb, "w", ip))
	wantTokens(t, "w logs in on A (another openid there)", b.loginFrom(t, ta, "w", ip))

	// An IP ban on A: everyone from the address is out of A, nobody out of B.
	vb := wantTokens(t, "v on B", b.loginFrom(t, tb, "v", ip))
	b.ban(t, ta, auth.NewBan{IP: ip, Reason: "a only"})
	wantPermanent(t, "login on A from the banned IP", b.loginFrom(t, ta, "x", ip))
	wantTokens(t, "login on B from the same IP", b.loginFrom(t, tb, "x", ip))
	wantOK(t, "v's token on B", b.me(t, tb, vb.AccessToken, ip))
	if n := b.count(t, `SELECT count(*) FROM sessions WHERE tenant_id = $1 AND revoked_at IS NOT NULL`, tb.ID); n != 0 {
		t.Fatalf("A's bans revoked %d sessions of B", n)
	}
}
