package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miniauth/miniauth/auth/wechat/fake"
)

func breakerState(t *testing.T, b *testBundle, slug string) string {
	t.Helper()
	r := b.api("GET", "/tenants/"+slug, nil)
	wantStatus(t, "get tenant", r, http.StatusOK, "")
	s, _ := r.JSON(t)["wechat_breaker"].(string)
	return s
}

// While WeChat keeps failing for a tenant, its logins fail at once with
// 502 instead of each waiting for a timeout; after the open period one
// probe is let through, and its success closes the circuit. Answers that
// are WeChat working (an invalid code) never open it, and one tenant's
// outage leaves the others alone.
func TestWeChatCircuitBreaker(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) {
		c.BreakerFailures = 3
		// Long enough that the checks of the open circuit below finish
		// inside it even on a loaded machine.
		c.BreakerOpenFor = 3 * time.Second
		c.WeChatTimeout = 200 * time.Millisecond
	})
	tt := b.createTenant("breaker", nil)
	other := b.createTenant("breaker-other", nil)
	login := func(tt testTenant, user string) response {
		return do(t, "POST", b.srv.URL+"/v1/t/"+tt.Slug+"/login", map[string]string{"code": b.wx.MintCode(tt.AppID, user)})
	}
	calls := func() int { return b.wx.Calls(fake.EndpointJSCode2Session) }

	// WeChat's refusals are answers: the circuit stays closed.
	for range 4 {
		r := do(t, "POST", b.srv.URL+"/v1/t/"+tt.Slug+"/login", map[string]string{"code": "no-such-code"})
		wantStatus(t, "invalid code", r, http.StatusUnauthorized, "invalid_code")
	}
	if s := breakerState(t, b, tt.Slug); s != "closed" {
		t.Fatalf("breaker %q after invalid codes, want closed", s)
	}

	// Three failures in a row: an error page, a timeout, garbage.
	b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, AppID: tt.AppID, HTTPStatus: 500})
	b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, AppID: tt.AppID, Delay: time.Second})
	b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, AppID: tt.AppID, Garbage: true})
	for i := range 3 {
		wantStatus(t, "login while WeChat fails", login(tt, "u"+strconv.Itoa(i)), http.StatusBadGateway, "wechat_unavailable")
	}
	before := calls()
	if s := breakerState(t, b, tt.Slug); s != "open" {
		t.Fatalf("breaker %q after 3 failures, want open", s)
	}
	if m := scrape(t, b.srv).value(t, "miniauth_wechat_breaker_state", "tenant=breaker"); m != 2 {
		t.Fatalf("metrics: %v, want state 2 (open)", m)
	}
	// Open: refused without calling WeChat.
	for i := range 5 {
		r := login(tt, "fast"+strconv.Itoa(i))
		wantStatus(t, "login with the circuit open", r, http.StatusBadGateway, "wechat_unavailable")
		if !strings.Contains(r.JSON(t)["detail"].(string), "paused") {
			t.Fatalf("detail does not say calls are paused: %s", r.Body)
		}
	}
	if n := calls(); n != before {
		t.Fatalf("jscode2session calls went from %d to %d with the circuit open", before, n)
	}
	// Another tenant is unaffected.
	wantStatus(t, "login on another tenant", login(other, "bob"), http.StatusOK, "")

	// After the open period a probe goes through; its success closes it.
	eventually(t, 10*time.Second, "the circuit lets a probe through", func() bool {
		return breakerState(t, b, tt.Slug) == "half-open" || login(tt, "probe").Status == http.StatusOK
	})
	if s := breakerState(t, b, tt.Slug); s == "half-open" {
		wantStatus(t, "probe login", login(tt, "probe"), http.StatusOK, "")
	}
	if s := breakerState(t, b, tt.Slug); s != "closed" {
		t.Fatalf("breaker %q after a successful probe, want closed", s)
	}
	if m := scrape(t, b.srv).value(t, "miniauth_wechat_breaker_state", "tenant=breaker"); m != 0 {
		t.Fatalf("metrics: %v, want state 0 (closed)", m)
	}
	if m := scrape(t, b.srv).value(t, "miniauth_wechat_breaker_transitions_total", "tenant=breaker", "state=open"); m != 1 {
		t.Fatalf("metrics: %v, want one transition to open", m)
	}
}

// WeChat's daily quota (45009) is its own clear error, counted; it is an
// answer, so it does not open the circuit.
func TestWeChatDailyQuota(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.BreakerFailures = 2 })
	tt := b.createTenant("quota", nil)
	b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, Errcode: 45009, Times: 3})
	for range 3 {
		r := do(t, "POST", b.srv.URL+"/v1/t/"+tt.Slug+"/login", map[string]string{"code": b.wx.MintCode(tt.AppID, "alice")})
		wantStatus(t, "login over the daily quota", r, http.StatusServiceUnavailable, "wechat_quota_exceeded")
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 86400 {
			t.Fatalf("Retry-After %v, want seconds until midnight China time", r.Header.Get("Retry-After"))
		}
	}
	if m := scrape(t, b.srv).value(t, "miniauth_wechat_quota_exceeded_total", "tenant=quota"); m != 3 {
		t.Fatalf("metrics: %v, want 3", m)
	}
	if s := breakerState(t, b, tt.Slug); s != "closed" {
		t.Fatalf("breaker %q after quota refusals, want closed", s)
	}
	b.login(nil, tt, "alice")
}
