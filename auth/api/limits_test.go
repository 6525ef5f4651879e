package api_test

// Rate limits as the mini-program API answers them: each tenant limit's
// headers and 429, what a refused request leaves undone, and WeChat's own
// frequency limit.

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/miniauth/miniauth/auth/wechat/fake"
	"github.com/miniauth/miniauth/tenant"
)

// limitedTenant creates a tenant and sets its rate limits before anything
// looks it up.
func (b *testBundle) limitedTenant(t *testing.T, slug string, limits map[string]string) testTenant {
	t.Helper()
	tt := b.tenant(t, slug)
	patch := tenant.Patch{RateLimits: map[string]*string{}}
	for k, v := range limits {
		patch.RateLimits[k] = &v
	}
	ten, err := b.store.Update(context.Background(), slug, patch)
	if err != nil {
		t.Fatalf("set rate limits of %s: %v", slug, err)
	}
	for k, v := range limits {
		if ten.RateLimits[k] != v {
			t.Fatalf("set rate limits of %s: %s is %q, want %q", slug, k, ten.RateLimits[k], v)
		}
	}
	return tt
}

// loginFrom logs user in to tt with a fresh code from ip ("" for httptest's).
func (b *testBundle) loginFrom(t *testing.T, tt testTenant, user, ip string) response {
	t.Helper()
	return b.do(t, request{method: http.MethodPost, path: path(tt.Slug, "/login"),
		body: map[string]string{"code": b.wx.MintCode(tt.WeChatAppID, user)}, ip: ip})
}

// wantTokens asserts a 200 with a complete token response.
func wantTokens(t *testing.T, what string, r response) tokenResponse {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("%s: %d %s, want 200", what, r.status, r.body)
	}
	var tok tokenResponse
	r.decode(t, &tok)
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.User.ID == "" {
		t.Fatalf("%s: incomplete token response: %s", what, r.body)
	}
	return tok
}

// limitHeaders reads the X-RateLimit-* headers, failing when one is missing.
func limitHeaders(t *testing.T, what string, r response) (limit, remaining int64, reset time.Time) {
	t.Helper()
	vals := make([]int64, 3)
	for i, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
		s := r.header.Get(h)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s: %s is %q, want an integer (status %d)", what, h, s, r.status)
		}
		vals[i] = n
	}
	reset = time.Unix(vals[2], 0)
	if now := time.Now(); reset.Before(now.Add(-2*time.Second)) || reset.After(now.Add(62*time.Second)) {
		t.Fatalf("%s: X-RateLimit-Reset %d is not within the next minute", what, vals[2])
	}
	return vals[0], vals[1], reset
}

// wantLimitHeaders asserts the limit headers of a request let through.
func wantLimitHeaders(t *testing.T, what string, r response, limit, remaining int64) {
	t.Helper()
	l, rem, _ := limitHeaders(t, what, r)
	if l != limit || rem != remaining {
		t.Fatalf("%s: X-RateLimit-Limit %d, -Remaining %d; want %d, %d", what, l, rem, limit, remaining)
	}
}

// retryAfter reads Retry-After, an integer number of seconds from 1 to max.
func retryAfter(t *testing.T, what string, r response, max int) int {
	t.Helper()
	s := r.header.Get("Retry-After")
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		t.Fatalf("%s: Retry-After %q, want an integer from 1 to %d", what, s, max)
	}
	return n
}

// wantLimited asserts a 429 rate_limited of a limit of limit a minute, with
// Retry-After and X-RateLimit-* headers that agree.
func wantLimited(t *testing.T, what string, r response, limit int64) {
	t.Helper()
	r.wantProblem(t, http.StatusTooManyRequests, "rate_limited")
	ra := retryAfter(t, what, r, 61)
	l, rem, reset := limitHeaders(t, what, r)
	if l != limit || rem != 0 {
		t.Fatalf("%s: 429 with X-RateLimit-Limit %d, -Remaining %d; want %d, 0", what, l, rem, limit)
	}
	if d := time.Until(reset).Seconds(); float64(ra) < d-2 || float64(ra) > d+2 {
		t.Fatalf("%s: Retry-After %d s but X-RateLimit-Reset is %.1f s away", what, ra, d)
	}
}

// count runs a SELECT count(*) ... query.
func (b *testBundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// users counts the users rows of user's openid in tt.
func (b *testBundle) users(t *testing.T, tt testTenant, user string) int {
	t.Helper()
	return b.count(t, `SELECT count(*) FROM users WHERE openid = $1`, b.wx.OpenID(tt.WeChatAppID, user))
}

// TestLimitKeys exhausts each tenant limit set to 3 a minute.
func TestLimitKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tenants := map[string]testTenant{}
	for _, k := range []string{tenant.LimitLoginPerIP, tenant.LimitLoginPerTenant, tenant.LimitRefreshPerIP, tenant.LimitAPIPerUser} {
		tenants[k] = b.limitedTenant(t, "lim-"+strconv.Itoa(len(tenants)), map[string]string{k: "3-M"})
	}
	isoA := b.limitedTenant(t, "lim-iso-a", map[string]string{tenant.LimitLoginPerIP: "2-M"})
	isoB := b.limitedTenant(t, "lim-iso-b", map[string]string{tenant.LimitLoginPerIP: "2-M"})

	t.Run("login_per_ip", func(t *testing.T) {
		t.Parallel()
		tt := tenants[tenant.LimitLoginPerIP]
		for i := range 3 {
			r := b.loginFrom(t, tt, fmt.Sprintf("u%d", i), "")
			wantTokens(t, fmt.Sprintf("login %d", i+1), r)
			wantLimitHeaders(t, fmt.Sprintf("login %d", i+1), r, 3, int64(2-i))
		}
		wantLimited(t, "4th login", b.loginFrom(t, tt, "u3", ""), 3)
		if n := b.users(t, tt, "u3"); n != 0 {
			t.Fatalf("a rate-limited login wrote %d users rows", n)
		}
		wantLimited(t, "5th login", b.loginFrom(t, tt, "u0", ""), 3)
	})

	t.Run("login_per_tenant", func(t *testing.T) {
		t.Parallel()
		tt := tenants[tenant.LimitLoginPerTenant]
		var ok []response
		for i := range 3 {
			r := b.loginFrom(t, tt, fmt.Sprintf("u%d", i), "")
			wantTokens(t, fmt.Sprintf("login %d", i+1), r)
			ok = append(ok, r)
		}
		wantLimited(t, "4th login", b.loginFrom(t, tt, "u3", ""), 3)
		if n := b.users(t, tt, "u3"); n != 0 {
			t.Fatalf("a rate-limited login wrote %d users rows", n)
		}
		// The headers of the requests let through should describe the
		// limit that is about to refuse the caller.
		for i, r := range ok {
			l, rem, _ := limitHeaders(t, fmt.Sprintf("login %d", i+1), r)
			if l != 3 || rem != int64(2-i) {
				t.Errorf("login %d under login_per_tenant 3-M: X-RateLimit-Limit %d, -Remaining %d; want 3, %d (the 4th login is refused)",
					i+1, l, rem, 2-i)
			}
		}
	})

	t.Run("refresh_per_ip", func(t *testing.T) {
		t.Parallel()
		tt := tenants[tenant.LimitRefreshPerIP]
		var toks []tokenResponse
		for i := range 4 {
			toks = append(toks, wantTokens(t, "login", b.loginFrom(t, tt, fmt.Sprintf("u%d", i), "")))
		}
		refresh := func(token string) response {
			return b.do(t, request{method: http.MethodPost, path: path(tt.Slug, "/refresh"), body: map[string]string{"refresh_token": token}})
		}
		for i := range 3 {
			r := refresh(toks[i].RefreshToken)
			wantTokens(t, fmt.Sprintf("refresh %d", i+1), r)
			wantLimitHeaders(t, fmt.Sprintf("refresh %d", i+1), r, 3, int64(2-i))
		}
		wantLimited(t, "4th refresh", refresh(toks[3].RefreshToken), 3)
		// The refused refresh left its token unspent.
		hash := sha256.Sum256([]byte(toks[3].RefreshToken))
		if n := b.count(t, `SELECT count(*) FROM refresh_tokens WHERE token_hash = $1 AND rotated_at IS NULL`, hash[:]); n != 1 {
			t.Fatalf("a rate-limited refresh spent the token")
		}
	})

	t.Run("api_per_user", func(t *testing.T) {
		t.Parallel()
		tt := tenants[tenant.LimitAPIPerUser]
		alice := wantTokens(t, "alice", b.loginFrom(t, tt, "alice", ""))
		bob := wantTokens(t, "bob", b.loginFrom(t, tt, "bob", ""))
		me := func(access string) response {
			return b.do(t, request{method: http.MethodGet, path: path(tt.Slug, "/me"), bearer: access})
		}
		for i := range 3 {
			r := me(alice.AccessToken)
			if r.status != http.StatusOK {
				t.Fatalf("me %d: %d %s", i+1, r.status, r.body)
			}
			wantLimitHeaders(t, fmt.Sprintf("me %d", i+1), r, 3, int64(2-i))
		}
		wantLimited(t, "4th me", me(alice.AccessToken), 3)
		wantLimited(t, "4th request: patch me", b.do(t, request{method: http.MethodPatch, path: path(tt.Slug, "/me"),
			body: map[string]string{"nickname": "A"}, bearer: alice.AccessToken}), 3)
		// Per user: bob has his own quota.
		r := me(bob.AccessToken)
		if r.status != http.StatusOK {
			t.Fatalf("bob's me: %d %s", r.status, r.body)
		}
		wantLimitHeaders(t, "bob's me", r, 3, 2)
	})

	t.Run("tenant isolation", func(t *testing.T) {
		t.Parallel()
		for i := range 2 {
			wantTokens(t, "login on A", b.loginFrom(t, isoA, fmt.Sprintf("u%d", i), ""))
		}
		wantLimited(t, "3rd login on A", b.loginFrom(t, isoA, "u2", ""), 2)
		r := b.loginFrom(t, isoB, "u0", "")
		wantTokens(t, "first login on B from the same IP", r)
		wantLimitHeaders(t, "first login on B", r, 2, 1)
	})
}

// TestOneAddressCannotSpendTheTenantQuota: requests refused by the per-IP
// limit do not count against the tenant-wide one.
func TestOneAddressCannotSpendTheTenantQuota(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.limitedTenant(t, "quota", map[string]string{tenant.LimitLoginPerTenant: "5-M", tenant.LimitLoginPerIP: "2-M"})
	for range 6 {
		b.loginFrom(t, tt, "203.0.113.1", "203.0.113.1")
	}
	if r := b.loginFrom(t, tt, "203.0.113.2", "203.0.113.2"); r.status != http.StatusOK {
		t.Fatalf("after one address hit its own limit, another address got %d %s", r.status, r.body)
	}
}

// TestLimitWeChatFrequency maps WeChat's 45011 to 429 with Retry-After.
func TestLimitWeChatFrequency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.tenant(t, "lim-wx")
	b.wx.Inject(fake.Fault{Errcode: 45011})
	r := b.loginFrom(t, tt, "alice", "")
	r.wantProblem(t, http.StatusTooManyRequests, "rate_limited")
	retryAfter(t, "login while WeChat limits", r, 3600)
	if n := b.users(t, tt, "alice"); n != 0 {
		t.Fatalf("a 45011 login wrote %d users rows", n)
	}
	wantTokens(t, "login once WeChat stops limiting", b.loginFrom(t, tt, "alice", ""))
}
