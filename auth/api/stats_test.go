package api_test

// What the mini-program API counts for the console's dashboard: logins,
// new users, failed logins by problem code, and rate-limited and banned
// refusals on any route.

import (
	"context"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
)

// dashboard flushes what the API counted and reads a tenant's figures.
func (b *testBundle) dashboard(t *testing.T, tt testTenant) auth.Dashboard {
	t.Helper()
	ctx := context.Background()
	if err := b.stats.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	d, err := b.stats.Dashboard(ctx, &tt.ID, time.Now(), time.UTC)
	if err != nil {
		t.Fatalf("Dashboard: %v", err)
	}
	return d
}

func TestRequestsAreCounted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.limitedTenant(t, "counted", map[string]string{tenant.LimitLoginPerIP: "4-M"})
	quiet := b.tenant(t, "quiet")
	const ip = "198.51.100.7"

	alice := wantTokens(t, "first login", b.loginFrom(t, tt, "alice", ip))
	wantTokens(t, "second login", b.loginFrom(t, tt, "alice", ip))
	b.do(t, request{method: http.MethodPost, path: path(tt.Slug, "/login"), ip: ip,
		body: map[string]string{"code": "0123456789abcdef0123456789abcdef"}}).wantProblem(t, http.StatusUnauthorized, "invalid_code")
	b.do(t, request{method: http.MethodPost, path: path(tt.Slug, "/login"), ip: ip,
		body: `{"code": 1}`}).wantProblem(t, http.StatusBadRequest, "invalid_request")
	b.loginFrom(t, tt, "bob", ip).wantProblem(t, http.StatusTooManyRequests, "rate_limited")
	// An unknown tenant has nobody to count it for.
	b.loginPost(t, "nobody-here", "0123456789abcdef").wantProblem(t, http.StatusNotFound, "tenant_not_found")

	d := b.dashboard(t, tt)
	if d.LoginsToday != 2 || d.NewUsersToday != 1 || d.RateLimited != 1 || d.Banned != 0 {
		t.Fatalf("logins %d, new users %d, rate limited %d, banned %d; want 2, 1, 1, 0",
			d.LoginsToday, d.NewUsersToday, d.RateLimited, d.Banned)
	}
	want := map[string]int64{"invalid_code": 1, "invalid_request": 1, "rate_limited": 1}
	if !maps.Equal(d.Failures, want) {
		t.Fatalf("failures %v, want %v", d.Failures, want)
	}
	if d.Users != 1 {
		t.Fatalf("users %d, want 1", d.Users)
	}

	t.Run("a banned user's request on another route", func(t *testing.T) {
		b.ban(t, tt, auth.NewBan{UserID: alice.User.ID, Reason: "spam"})
		wantPermanent(t, "banned alice's /me", b.me(t, tt, alice.AccessToken, ""))
		d := b.dashboard(t, tt)
		if d.Banned != 1 || d.LoginsToday != 2 || !maps.Equal(d.Failures, want) {
			t.Fatalf("banned %d, logins %d, failures %v; want 1, 2 and no new login failure", d.Banned, d.LoginsToday, d.Failures)
		}
	})

	t.Run("another tenant saw none of it", func(t *testing.T) {
		d := b.dashboard(t, quiet)
		if d.LoginsToday != 0 || d.Users != 0 || d.RateLimited != 0 || d.Banned != 0 || len(d.Failures) != 0 {
			t.Fatalf("%+v", d)
		}
	})
}
