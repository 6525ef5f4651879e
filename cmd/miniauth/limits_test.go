package main

// End-to-end tests of rate limits and abuse defences that need the real
// server: propagation of limit changes across instances, client IPs behind
// proxies, the automatic IP bans with their metrics and audit rows, the
// management API's per-key limit, and failing open while Redis is down.
// Each limit's headers and 429 on one instance are auth/api's
// (TestLimitKeys there). Helpers are prefixed lim (the ban* helpers of
// bans_test.go are shared).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/tenant"
)

// --- helpers ---------------------------------------------------------------

// limHeaders reads the X-RateLimit-* headers, failing when one is missing.
func limHeaders(t testing.TB, what string, r response) (limit, remaining int64, reset time.Time) {
	t.Helper()
	vals := make([]int64, 3)
	for i, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
		s := r.Header.Get(h)
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s: %s is %q, want an integer (status %d)", what, h, s, r.Status)
		}
		vals[i] = n
	}
	reset = time.Unix(vals[2], 0)
	if now := time.Now(); reset.Before(now.Add(-2*time.Second)) || reset.After(now.Add(62*time.Second)) {
		t.Fatalf("%s: X-RateLimit-Reset %d is not within the next minute", what, vals[2])
	}
	return vals[0], vals[1], reset
}

// limWantHeaders asserts the limit headers of a request that was let through.
func limWantHeaders(t testing.TB, what string, r response, limit, remaining int64) {
	t.Helper()
	l, rem, _ := limHeaders(t, what, r)
	if l != limit || rem != remaining {
		t.Fatalf("%s: X-RateLimit-Limit %d, -Remaining %d; want %d, %d", what, l, rem, limit, remaining)
	}
}

// limRetryAfter reads Retry-After, a positive number of seconds.
func limRetryAfter(t testing.TB, what string, r response, max int) int {
	t.Helper()
	s := r.Header.Get("Retry-After")
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		t.Fatalf("%s: Retry-After %q, want an integer from 1 to %d", what, s, max)
	}
	return n
}

// limWant429 asserts a 429 rate_limited of a limit of limit a minute, with
// Retry-After and X-RateLimit-* headers that agree.
func limWant429(t testing.TB, what string, r response, limit int64) {
	t.Helper()
	wantStatus(t, what, r, http.StatusTooManyRequests, "rate_limited")
	ra := limRetryAfter(t, what, r, 61)
	l, rem, reset := limHeaders(t, what, r)
	if l != limit || rem != 0 {
		t.Fatalf("%s: 429 with X-RateLimit-Limit %d, -Remaining %d; want %d, 0", what, l, rem, limit)
	}
	// X-RateLimit-Reset is whole seconds (up to 1 s early), Retry-After
	// rounds up (up to 1 s late), and a loaded machine reads the reply a
	// moment after it was written: 3 s of slack in all.
	if d := time.Until(reset).Seconds(); float64(ra) < d-3 || float64(ra) > d+3 {
		t.Fatalf("%s: Retry-After %d s but X-RateLimit-Reset is %.1f s away", what, ra, d)
	}
}

// limPatch sets a tenant's rate limits through srv and returns the tenant.
func limPatch(t testing.TB, b *testBundle, srv *testServer, slug string, limits map[string]any) map[string]any {
	t.Helper()
	r := wantStatus(t, "patch rate limits", banAPI(t, b, srv, "", "PATCH", "/tenants/"+slug, map[string]any{"rate_limits": limits}), http.StatusOK, "")
	m := r.JSON(t)
	got, _ := m["rate_limits"].(map[string]any)
	for k, v := range limits {
		if v == nil {
			continue
		}
		if got[k] != v {
			t.Fatalf("patch rate limits: %s is %v, want %v: %s", k, got[k], v, r.Body)
		}
	}
	return m
}

// limMetric sums the samples of a counter on one instance whose labels
// include labels (label=value pairs).
func limMetric(t testing.TB, srv *testServer, name string, labels ...string) int64 {
	t.Helper()
	var sum float64
	for _, v := range scrape(t, srv).series(name, labels...) {
		sum += v
	}
	return int64(sum)
}

// --- tests -----------------------------------------------------------------

// TestLimitChangePropagation lowers and resets a limit through instance 1
// and checks instance 2 within 1 s. Windows are fixed and a counter is
// keyed by limit name, tenant and subject, not by rate: requests counted
// under the old rate count under the new one, so lowering a limit below
// what was already used refuses the next request, and raising it admits
// the next request at once, in the same window.
func TestLimitChangePropagation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("lim-prop", nil)
	srv1, srv2 := b.srv, b.startInstance()
	def := b.cfg.RateLimits["api_per_user"]
	defLimit, _ := strconv.ParseInt(strings.Split(def, "-")[0], 10, 64)

	alice := banTokens(t, "alice", banLogin(t, b, srv1, tt, "alice"))
	for i := range 3 {
		r := wantStatus(t, "me on 2", banMe(t, srv2, tt.Slug, alice.AccessToken), http.StatusOK, "")
		limWantHeaders(t, "me on 2 under the default", r, defLimit, defLimit-int64(i)-1)
	}

	changed := srv2.notices(t, tenant.TopicTenant, naming(tt.Slug))
	limPatch(t, b, srv1, tt.Slug, map[string]any{"api_per_user": "3-M"})
	changed.wait(t, "instance 2 hears api_per_user is 3-M")
	limWant429(t, "me on 2 after lowering", banMe(t, srv2, tt.Slug, alice.AccessToken), 3)
	limWant429(t, "me on 1 after lowering", banMe(t, srv1, tt.Slug, alice.AccessToken), 3)

	// A login limit too: 1 a minute; alice's login already counted in this
	// window, so the next login is refused.
	limPatch(t, b, srv1, tt.Slug, map[string]any{"login_per_ip": "1-M"})
	changed.wait(t, "instance 2 hears login_per_ip is 1-M")
	limWant429(t, "login on 2 after lowering", banLogin(t, b, srv2, tt, "bob"), 1)

	// null resets a key to the server default.
	m := limPatch(t, b, srv1, tt.Slug, map[string]any{"api_per_user": nil, "login_per_ip": nil})
	rl := m["rate_limits"].(map[string]any)
	if rl["api_per_user"] != def || rl["login_per_ip"] != b.cfg.RateLimits["login_per_ip"] {
		t.Fatalf("after null: rate_limits %v, want the defaults back", rl)
	}
	g := wantStatus(t, "get tenant", banAPI(t, b, srv2, "", "GET", "/tenants/"+tt.Slug, nil), http.StatusOK, "")
	if got := g.JSON(t)["rate_limits"].(map[string]any)["api_per_user"]; got != def {
		t.Fatalf("GET after null: api_per_user %v, want %s", got, def)
	}
	changed.wait(t, "instance 2 hears the limits are the defaults again")
	last := wantStatus(t, "me on 2 after reset", banMe(t, srv2, tt.Slug, alice.AccessToken), http.StatusOK, "")
	if l, rem, _ := limHeaders(t, "me on 2 after reset", last); l != defLimit || rem > defLimit-6 || rem < defLimit-200 {
		// 3 + one refused after lowering + one on instance 1 + this one were counted.
		t.Fatalf("after reset: X-RateLimit-Limit %d, -Remaining %d; want %d and the same window's count", l, rem, defLimit)
	}
	banTokens(t, "login on 2 after reset", banLogin(t, b, srv2, tt, "bob"))
	wantStatus(t, "me on 1 after reset", banMe(t, srv1, tt.Slug, alice.AccessToken), http.StatusOK, "")

	// Bad rates are refused and change nothing.
	for _, bad := range []map[string]any{{"api_per_user": "3-X"}, {"api_per_user": "many"}, {"no_such_limit": "3-M"}, {"api_per_user": 3}} {
		r := banAPI(t, b, srv1, "", "PATCH", "/tenants/"+tt.Slug, map[string]any{"rate_limits": bad})
		wantStatus(t, fmt.Sprintf("patch %v", bad), r, http.StatusBadRequest, "invalid_request")
	}
	wantStatus(t, "me after refused patches", banMe(t, srv2, tt.Slug, alice.AccessToken), http.StatusOK, "")
}

// TestLimitForwardedForUntrusted: without trusted proxies X-Forwarded-For
// and X-Real-IP are ignored, for limits, bans and the stored session IP.
func TestLimitForwardedForUntrusted(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("lim-xff", map[string]any{"rate_limits": map[string]any{"login_per_ip": "2-M"}})
	banned := b.createTenant("lim-xff-ban", nil)
	spoofBan := b.createTenant("lim-xff-spoof", nil)

	for i := range 2 {
		r := banLogin(t, b, nil, tt, fmt.Sprintf("u%d", i), "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", 10+i))
		banTokens(t, "spoofed login", r)
		limWantHeaders(t, "spoofed login", r, 2, int64(1-i))
	}
	limWant429(t, "3rd login with a fresh X-Forwarded-For", banLogin(t, b, nil, tt, "u2", "X-Forwarded-For", "198.51.100.99"), 2)
	limWant429(t, "with X-Real-IP", banLogin(t, b, nil, tt, "u2", "X-Real-IP", "198.51.100.98"), 2)
	limWant429(t, "with both", banLogin(t, b, nil, tt, "u2", "X-Forwarded-For", "198.51.100.97, 198.51.100.96", "X-Real-IP", "198.51.100.95"), 2)
	if n := banCount(t, b, `SELECT count(*) FROM sessions s JOIN tenants t ON t.id = s.tenant_id
		WHERE t.slug = $1 AND s.ip = '127.0.0.1'::inet`, tt.Slug); n != 2 {
		t.Fatalf("sessions recorded with the socket address: %d, want 2", n)
	}

	// A banned socket address cannot hide behind a forged header...
	banCreate(t, b, nil, "/tenants/"+banned.Slug+"/bans", map[string]any{"ip": "127.0.0.1", "reason": "x"})
	banWantBanned(t, "banned IP with a forged X-Forwarded-For", banLogin(t, b, nil, banned, "v", "X-Forwarded-For", "203.0.113.50"))
	// ...and a forged header does not make anyone else's ban apply.
	banCreate(t, b, nil, "/tenants/"+spoofBan.Slug+"/bans", map[string]any{"ip": "203.0.113.7", "reason": "x"})
	banTokens(t, "forged X-Forwarded-For of a banned address", banLogin(t, b, nil, spoofBan, "w", "X-Forwarded-For", "203.0.113.7"))
}

// TestLimitForwardedForTrusted: behind a trusted proxy the forwarded
// address is the client's, for limits, bans and sessions.
func TestLimitForwardedForTrusted(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.TrustedProxies = []string{"127.0.0.1/32"} })
	tt := b.createTenant("lim-proxy", map[string]any{"rate_limits": map[string]any{"login_per_ip": "2-M"}})
	banned := b.createTenant("lim-proxy-ban", nil)
	perTenant := b.createTenant("lim-proxy-tenant", map[string]any{"rate_limits": map[string]any{"login_per_tenant": "3-M"}})

	for i := range 2 {
		r := banLogin(t, b, nil, tt, fmt.Sprintf("a%d", i), "X-Forwarded-For", "203.0.113.7")
		banTokens(t, "login as 203.0.113.7", r)
		limWantHeaders(t, "login as 203.0.113.7", r, 2, int64(1-i))
	}
	limWant429(t, "3rd login as 203.0.113.7", banLogin(t, b, nil, tt, "a2", "X-Forwarded-For", "203.0.113.7"), 2)
	r := banLogin(t, b, nil, tt, "b0", "X-Forwarded-For", "203.0.113.8")
	banTokens(t, "login as 203.0.113.8", r)
	limWantHeaders(t, "login as 203.0.113.8", r, 2, 1)
	r = banLogin(t, b, nil, tt, "c0")
	banTokens(t, "login without X-Forwarded-For", r)
	limWantHeaders(t, "login without X-Forwarded-For", r, 2, 1)
	if n := banCount(t, b, `SELECT count(*) FROM sessions s JOIN tenants t ON t.id = s.tenant_id
		WHERE t.slug = $1 AND s.ip = '203.0.113.7'::inet`, tt.Slug); n != 2 {
		t.Fatalf("sessions recorded as 203.0.113.7: %d, want 2", n)
	}

	// An IP ban on the forwarded address refuses only requests carrying it.
	live := banTokens(t, "login as 203.0.113.7 before the ban", banLogin(t, b, nil, banned, "x", "X-Forwarded-For", "203.0.113.7"))
	other := banTokens(t, "login as 203.0.113.8 before the ban", banLogin(t, b, nil, banned, "y", "X-Forwarded-For", "203.0.113.8"))
	banCreate(t, b, nil, "/tenants/"+banned.Slug+"/bans", map[string]any{"ip": "203.0.113.7", "reason": "x"})
	banWantBanned(t, "login as the banned address", banLogin(t, b, nil, banned, "z", "X-Forwarded-For", "203.0.113.7"))
	banTokens(t, "login as another address", banLogin(t, b, nil, banned, "z", "X-Forwarded-For", "203.0.113.8"))
	banTokens(t, "login as the proxy itself", banLogin(t, b, nil, banned, "z"))
	banRefusedToken(t, "live token used from the banned address", banMe(t, b.srv, banned.Slug, live.AccessToken, "X-Forwarded-For", "203.0.113.7"))
	wantStatus(t, "token of the other address", banMe(t, b.srv, banned.Slug, other.AccessToken, "X-Forwarded-For", "203.0.113.8"),
		http.StatusOK, "")
	banWantBanned(t, "other address's token used from the banned address",
		banMe(t, b.srv, banned.Slug, other.AccessToken, "X-Forwarded-For", "203.0.113.7"))

	// login_per_tenant counts every address together.
	for i := range 3 {
		banTokens(t, "login under login_per_tenant", banLogin(t, b, nil, perTenant, fmt.Sprintf("p%d", i), "X-Forwarded-For", fmt.Sprintf("198.51.100.%d", i+1)))
	}
	limWant429(t, "4th login from a 4th address", banLogin(t, b, nil, perTenant, "p3", "X-Forwarded-For", "198.51.100.4"), 3)
}

// TestLimitAutoBanInvalidCode: too many invalid codes from one IP ban it.
func TestLimitAutoBanInvalidCode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("lim-autoban", nil)
	other := b.createTenant("lim-autoban-other", nil)
	limPatch(t, b, nil, tt.Slug, map[string]any{"autoban_invalid_code": "3-M"})

	bad := func(i int) response {
		return do(t, "POST", banURL(b.srv, tt.Slug, "/login"), map[string]string{"code": fmt.Sprintf("forged-code-%d", i)})
	}
	for i := range 3 {
		wantStatus(t, fmt.Sprintf("invalid code %d", i+1), bad(i), http.StatusUnauthorized, "invalid_code")
	}
	// At the threshold, not over it: still welcome.
	live := banTokens(t, "valid login after 3 invalid codes", banLogin(t, b, nil, tt, "alice"))
	t0 := time.Now()
	wantStatus(t, "invalid code 4", bad(3), http.StatusUnauthorized, "invalid_code")
	t1 := time.Now()

	r := banLogin(t, b, nil, tt, "bob")
	until, ok := banWantBanned(t, "valid login after 4 invalid codes", r)
	if !ok {
		t.Fatalf("automatic ban without banned_until: %s", r.Body)
	}
	d := b.cfg.AutoBanDuration
	if until.Before(t0.Add(d-time.Second)) || until.After(t1.Add(d+time.Second)) {
		t.Fatalf("banned_until %s, want about now + %s", until, d)
	}
	banWantBanned(t, "another invalid code", bad(4))
	banRefusedToken(t, "a live token from the banned IP", banMe(t, b.srv, tt.Slug, live.AccessToken))
	banWantBanned(t, "a refresh from the banned IP", banRefresh(t, b.srv, tt.Slug, live.RefreshToken))
	banTokens(t, "another tenant", banLogin(t, b, nil, other, "bob"))

	l := wantStatus(t, "list bans", banAPI(t, b, nil, "", "GET", "/tenants/"+tt.Slug+"/bans", nil), http.StatusOK, "")
	var p struct {
		Items []banItem `json:"items"`
	}
	if err := json.Unmarshal(l.Body, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 {
		t.Fatalf("bans after the automatic ban: %s", l.Body)
	}
	ban := p.Items[0]
	if ban.Reason != "auto" || ban.Kind != "ip" || (ban.Target != "127.0.0.1/32" && ban.Target != "127.0.0.1") ||
		ban.ExpiresAt == nil || !ban.ExpiresAt.Equal(until) || ban.CreatedBy != "system:autoban_invalid_code" {
		t.Fatalf("automatic ban: %s", l.Body)
	}
	if n := banCount(t, b, `SELECT count(*) FROM audit_log WHERE action = 'ban.create' AND actor_type = 'system'
		AND target_type = 'ban' AND target_id = $1 AND tenant_slug = $2
		AND tenant_id = (SELECT id FROM tenants WHERE slug = $2)`, ban.ID, tt.Slug); n != 1 {
		t.Fatalf("audit rows of the automatic ban: %d", n)
	}
	if n := limMetric(t, b.srv, "miniauth_autoban_total", "reason=autoban_invalid_code", "tenant="+tt.Slug); n != 1 {
		t.Fatalf("miniauth_autoban_total for %s: %d, want 1", tt.Slug, n)
	}
	if n := banCount(t, b, `SELECT count(*) FROM bans`); n != 1 {
		t.Fatalf("%d bans rows; the invalid code after the ban must not ban again", n)
	}
}

// TestLimitAutoBanBurst: a burst of invalid codes from one IP, all in
// flight before the ban lands, still makes one automatic ban, so lifting
// it takes one DELETE.
func TestLimitAutoBanBurst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("lim-burst", map[string]any{"rate_limits": map[string]any{"autoban_invalid_code": "3-M"}})
	var wg sync.WaitGroup
	statuses := make([]int, 20)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = do(t, "POST", banURL(b.srv, tt.Slug, "/login"), map[string]string{"code": fmt.Sprintf("burst-%d", i)}).Status
		}()
	}
	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusUnauthorized && st != http.StatusForbidden {
			t.Fatalf("burst request %d: status %d, want 401 invalid_code or 403 user_banned", i, st)
		}
	}
	banWantBanned(t, "login after the burst", banLogin(t, b, nil, tt, "alice"))
	bans := banCount(t, b, `SELECT count(*) FROM bans`)
	audits := banCount(t, b, `SELECT count(*) FROM audit_log WHERE action = 'ban.create' AND actor_type = 'system'`)
	metric := limMetric(t, b.srv, "miniauth_autoban_total", "tenant="+tt.Slug)
	if bans != 1 || audits != 1 || metric != 1 {
		t.Errorf("one burst of 20 invalid codes (threshold 3-M) made %d automatic bans, %d audit rows, miniauth_autoban_total %d; want 1 each",
			bans, audits, metric)
	}
	// Lifting the ban the list shows lets the IP back in.
	l := wantStatus(t, "list bans", banAPI(t, b, nil, "", "GET", "/tenants/"+tt.Slug+"/bans?limit=1", nil), http.StatusOK, "")
	var p struct {
		Items []banItem `json:"items"`
	}
	if err := json.Unmarshal(l.Body, &p); err != nil || len(p.Items) != 1 {
		t.Fatalf("list bans: %v %s", err, l.Body)
	}
	wantStatus(t, "delete the automatic ban", banAPI(t, b, nil, "", "DELETE", "/tenants/"+tt.Slug+"/bans/"+p.Items[0].ID, nil), http.StatusNoContent, "")
	if r := banLogin(t, b, nil, tt, "alice"); r.Status != http.StatusOK {
		t.Errorf("after deleting the automatic ban the IP is still refused: %d %s", r.Status, r.Body)
	}
}

// TestLimitAutoBanRefreshReuse: too many reused refresh tokens ban the IP.
func TestLimitAutoBanRefreshReuse(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("lim-reuse", map[string]any{"rate_limits": map[string]any{"autoban_refresh_reuse": "3-M"}})

	// Each reuse needs its own session: a reuse revokes the session, and a
	// revoked session's tokens are merely invalid afterwards.
	var stale []string
	for i := range 4 {
		tok := banTokens(t, "login", banLogin(t, b, nil, tt, fmt.Sprintf("u%d", i)))
		banTokens(t, "refresh", banRefresh(t, b.srv, tt.Slug, tok.RefreshToken))
		stale = append(stale, tok.RefreshToken)
	}
	keeper := banTokens(t, "keeper login", banLogin(t, b, nil, tt, "keeper"))
	for i := range 3 {
		wantStatus(t, fmt.Sprintf("reuse %d", i+1), banRefresh(t, b.srv, tt.Slug, stale[i]), http.StatusUnauthorized, "refresh_token_reused")
	}
	keeper = banTokens(t, "keeper refreshes after 3 reuses", banRefresh(t, b.srv, tt.Slug, keeper.RefreshToken))
	t0 := time.Now()
	wantStatus(t, "reuse 4", banRefresh(t, b.srv, tt.Slug, stale[3]), http.StatusUnauthorized, "refresh_token_reused")
	t1 := time.Now()

	until, ok := banWantBanned(t, "refresh after 4 reuses", banRefresh(t, b.srv, tt.Slug, keeper.RefreshToken))
	d := b.cfg.AutoBanDuration
	if !ok || until.Before(t0.Add(d-time.Second)) || until.After(t1.Add(d+time.Second)) {
		t.Fatalf("banned_until %s (set %v), want about now + %s", until, ok, d)
	}
	banWantBanned(t, "login after 4 reuses", banLogin(t, b, nil, tt, "newcomer"))

	l := wantStatus(t, "list bans", banAPI(t, b, nil, "", "GET", "/tenants/"+tt.Slug+"/bans", nil), http.StatusOK, "")
	var p struct {
		Items []banItem `json:"items"`
	}
	if err := json.Unmarshal(l.Body, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 1 || p.Items[0].Reason != "auto" || p.Items[0].Kind != "ip" ||
		p.Items[0].CreatedBy != "system:autoban_refresh_reuse" || p.Items[0].ExpiresAt == nil || !p.Items[0].ExpiresAt.Equal(until) {
		t.Fatalf("automatic ban: %s", l.Body)
	}
	if n := banCount(t, b, `SELECT count(*) FROM audit_log WHERE action = 'ban.create' AND actor_type = 'system' AND target_id = $1`,
		p.Items[0].ID); n != 1 {
		t.Fatalf("audit rows of the automatic ban: %d", n)
	}
	if n := limMetric(t, b.srv, "miniauth_autoban_total", "reason=autoban_refresh_reuse", "tenant="+tt.Slug); n != 1 {
		t.Fatalf("miniauth_autoban_total for %s: %d, want 1", tt.Slug, n)
	}
}

// TestLimitManagementPerKey: each API key has its own quota.
func TestLimitManagementPerKey(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.ManagementRateLimit = "3-M" })
	keys := admin.NewAPIKeys(b.db)
	_, k1, err := keys.Create(context.Background(), "k1", admin.RolePlatformAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	_, k2, err := keys.Create(context.Background(), "k2", admin.RolePlatformAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		wantStatus(t, fmt.Sprintf("request %d with k1", i+1), banAPI(t, b, nil, k1, "GET", "/tenants", nil), http.StatusOK, "")
	}
	r := banAPI(t, b, nil, k1, "GET", "/tenants", nil)
	limWant429(t, "4th request with k1", r, 3)
	limWant429(t, "5th request with k1, another route", banAPI(t, b, nil, k1, "GET", "/bans", nil), 3)
	wantStatus(t, "k2", banAPI(t, b, nil, k2, "GET", "/tenants", nil), http.StatusOK, "")
	wantStatus(t, "the setup key", banAPI(t, b, nil, "", "GET", "/tenants", nil), http.StatusOK, "")
	// A second instance shares the count.
	srv2 := b.startInstance()
	limWant429(t, "k1 on another instance", banAPI(t, b, srv2, k1, "GET", "/tenants", nil), 3)
}

// TestLimitRedisDown: limits fail open while Redis is down, bans do not,
// and limits come back with Redis.
func TestLimitRedisDown(t *testing.T) {
	t.Parallel()
	rs := startPrivateRedis(t)
	b := setup(t, func(c *Config) { c.RedisURL = rs.url() })
	tt := b.createTenant("lim-redis", nil)
	limPatch(t, b, nil, tt.Slug, map[string]any{"login_per_ip": "3-M", "api_per_user": "3-M"})
	srv1, srv2 := b.srv, b.startInstance()
	srvs := []*testServer{srv1, srv2}

	alice := banTokens(t, "alice on 1", banLogin(t, b, srv1, tt, "alice"))
	bob := banTokens(t, "bob on 2", banLogin(t, b, srv2, tt, "bob"))
	for i := range 3 {
		limWantHeaders(t, "alice me", wantStatus(t, "alice me", banMe(t, srv1, tt.Slug, alice.AccessToken), http.StatusOK, ""), 3, int64(2-i))
	}
	limWant429(t, "alice's 4th me (limits live)", banMe(t, srv2, tt.Slug, alice.AccessToken), 3)
	wantStatus(t, "bob me on 2", banMe(t, srv2, tt.Slug, bob.AccessToken), http.StatusOK, "")
	for _, s := range srvs {
		if n := limMetric(t, s, "miniauth_ratelimit_fail_open_total"); n != 0 {
			t.Fatalf("fail-open counted %d with Redis up", n)
		}
	}

	rs.stop()
	eventually(t, 15*time.Second, "both instances notice the change feed is down", func() bool {
		return !srv1.app.bus.Healthy() && !srv2.app.bus.Healthy()
	})
	no5xx := func(what string, r response) response {
		t.Helper()
		if r.Status >= 500 {
			t.Fatalf("%s while Redis is down: %d %s", what, r.Status, r.Body)
		}
		if r.Status == http.StatusTooManyRequests {
			t.Fatalf("%s while Redis is down: 429; limits must fail open: %s", what, r.Body)
		}
		return r
	}
	// Over every limit, and all let through without limit headers.
	for i := range 6 {
		s := srvs[i%2]
		r := no5xx("login", banLogin(t, b, s, tt, fmt.Sprintf("down%d", i)))
		banTokens(t, "login while Redis is down", r)
		if h := r.Header.Get("X-RateLimit-Limit"); h != "" {
			t.Fatalf("login while Redis is down carries X-RateLimit-Limit %q", h)
		}
	}
	for _, s := range srvs {
		for range 4 {
			wantStatus(t, "alice me while Redis is down", no5xx("me", banMe(t, s, tt.Slug, alice.AccessToken)), http.StatusOK, "")
		}
	}
	for _, s := range srvs {
		if n := limMetric(t, s, "miniauth_ratelimit_fail_open_total", "limit=api_per_user"); n < 4 {
			t.Fatalf("fail-open api_per_user on %s: %d, want >= 4", s.URL, n)
		}
		if n := limMetric(t, s, "miniauth_ratelimit_fail_open_total", "limit=login_per_ip"); n < 3 {
			t.Fatalf("fail-open login_per_ip on %s: %d, want >= 3", s.URL, n)
		}
	}

	// Bans made through instance 1 bind it at once, and instance 2 within
	// the propagation bound: with the feed down it serves cached ban views
	// no older than that.
	banCreate(t, b, srv1, "/tenants/"+tt.Slug+"/bans", map[string]any{"user_id": bob.User.ID, "reason": "outage"})
	banCreate(t, b, srv1, "/tenants/"+tt.Slug+"/bans", map[string]any{"openid": b.wx.OpenID(tt.AppID, "zed"), "reason": "outage"})
	banWantPermanent(t, "bob on 1 while Redis is down", no5xx("login", banLogin(t, b, srv1, tt, "bob")))
	afterPropagation()
	banWantPermanent(t, "bob on 2 while Redis is down", no5xx("login", banLogin(t, b, srv2, tt, "bob")))
	banWantPermanent(t, "zed on 2 while Redis is down", no5xx("login", banLogin(t, b, srv2, tt, "zed")))
	banRefusedToken(t, "bob's token on 2 while Redis is down", no5xx("me", banMe(t, srv2, tt.Slug, bob.AccessToken)))
	for _, s := range srvs {
		wantStatus(t, "healthz while Redis is down", do(t, "GET", s.URL+"/healthz", nil), http.StatusOK, "")
	}

	rs.start()
	eventually(t, 15*time.Second, "both instances have a live change feed again", func() bool {
		return srv1.app.bus.Healthy() && srv2.app.bus.Healthy()
	})
	// Bans made during the outage stand (checked before the login limit
	// is exhausted below: the limit is counted before the ban check).
	for _, s := range srvs {
		banWantPermanent(t, "bob after Redis returned", banLogin(t, b, s, tt, "bob"))
	}
	// Counters died with Redis; a new window starts and is enforced.
	var sawHeaders bool
	eventually(t, 15*time.Second, "api_per_user is enforced again", func() bool {
		r := banMe(t, srv1, tt.Slug, alice.AccessToken)
		switch r.Status {
		case http.StatusOK:
			if r.Header.Get("X-RateLimit-Limit") == "3" {
				sawHeaders = true
			}
			return false
		case http.StatusTooManyRequests:
			limWant429(t, "me after Redis returned", r, 3)
			return true
		}
		t.Fatalf("me after Redis returned: %d %s", r.Status, r.Body)
		return false
	})
	if !sawHeaders {
		t.Fatal("no request after Redis returned carried X-RateLimit-Limit 3 before the 429")
	}
	limWant429(t, "alice on 2 after Redis returned", banMe(t, srv2, tt.Slug, alice.AccessToken), 3)
	eventually(t, 5*time.Second, "login_per_ip is enforced again", func() bool {
		r := banLogin(t, b, srv2, tt, "again")
		if r.Status >= 500 {
			t.Fatalf("login after Redis returned: %d %s", r.Status, r.Body)
		}
		return r.Status == http.StatusTooManyRequests
	})
	for _, s := range srvs {
		banRefusedToken(t, "bob's token after Redis returned", banMe(t, s, tt.Slug, bob.AccessToken))
		wantStatus(t, "healthz after Redis returned", do(t, "GET", s.URL+"/healthz", nil), http.StatusOK, "")
	}
	if logs := b.logs.String(); strings.Contains(logs, "panic") {
		t.Fatalf("a panic was logged:\n%s", logs)
	}
}
