package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miniauth/miniauth/auth/wechat/fake"
)

// loginsAtOnce posts one code to the servers n times at once, round robin.
func loginsAtOnce(t *testing.T, srvs []*testServer, slug, code string, n int) []response {
	t.Helper()
	out := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = do(t, "POST", srvs[i%len(srvs)].URL+"/v1/t/"+slug+"/login", map[string]string{"code": code})
		})
	}
	close(start)
	wg.Wait()
	return out
}

// A double tap, a client retry or two instances with one code share one
// exchange: WeChat is asked once, every request gets its own session for
// the same user, and a replay after the exchange is refused.
func TestCodeExchangeOnceAcrossInstances(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srvs := []*testServer{b.srv, b.startInstance(), b.startInstance()}
	tt := b.createTenant("codes-once", nil)
	code := b.wx.MintCode(tt.AppID, "alice")
	// WeChat is slow, so every duplicate arrives while the first is in flight.
	b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, Delay: 700 * time.Millisecond})

	rs := loginsAtOnce(t, srvs, tt.Slug, code, 10)
	if n := b.wx.Calls(fake.EndpointJSCode2Session); n != 1 {
		t.Fatalf("jscode2session calls = %d for 10 identical logins, want 1", n)
	}
	users, sessions := map[string]bool{}, map[string]bool{}
	for i, r := range rs {
		wantStatus(t, "duplicate login", r, http.StatusOK, "")
		var tok tokens
		if err := json.Unmarshal(r.Body, &tok); err != nil {
			t.Fatal(err)
		}
		users[tok.User.ID] = true
		sessions[tok.RefreshToken] = true
		if tok.User.OpenID != b.wx.OpenID(tt.AppID, "alice") || !tok.User.IsNew {
			t.Errorf("login %d: user %+v, want alice's openid and is_new as the exchange found", i, tok.User)
		}
		// Each token works on every instance.
		wantStatus(t, "me with a duplicate's token", do(t, "GET", srvs[(i+1)%3].URL+"/v1/t/"+tt.Slug+"/me", nil,
			"Authorization", "Bearer "+tok.AccessToken), http.StatusOK, "")
	}
	if len(users) != 1 || len(sessions) != 10 {
		t.Fatalf("%d users and %d sessions for 10 logins, want 1 user and 10 sessions", len(users), len(sessions))
	}
	var nUsers, nSessions int
	if err := b.db.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM sessions)`).Scan(&nUsers, &nSessions); err != nil {
		t.Fatal(err)
	}
	if nUsers != 1 || nSessions != 10 {
		t.Fatalf("rows: %d users, %d sessions; want 1 and 10", nUsers, nSessions)
	}

	// Finished: the code is spent, on every instance, without asking WeChat.
	for _, s := range srvs {
		r := do(t, "POST", s.URL+"/v1/t/"+tt.Slug+"/login", map[string]string{"code": code})
		wantStatus(t, "replay after the exchange", r, http.StatusUnauthorized, "invalid_code")
	}
	if n := b.wx.Calls(fake.EndpointJSCode2Session); n != 1 {
		t.Fatalf("jscode2session calls = %d after replays, want still 1", n)
	}
}

// Duplicates share the exchange's failure too: one call, one answer for all.
func TestCodeExchangeSharesFailure(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srvs := []*testServer{b.srv, b.startInstance()}
	tt := b.createTenant("codes-fail", nil)

	b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, Errcode: 40226, Delay: 500 * time.Millisecond})
	for _, r := range loginsAtOnce(t, srvs, tt.Slug, b.wx.MintCode(tt.AppID, "risky"), 6) {
		wantStatus(t, "duplicate of a high-risk login", r, http.StatusForbidden, "wechat_risk_blocked")
	}
	if n := b.wx.Calls(fake.EndpointJSCode2Session); n != 1 {
		t.Fatalf("jscode2session calls = %d, want 1", n)
	}

	// A ban on the openid found by the exchange refuses every duplicate.
	ban := b.api("POST", "/tenants/"+tt.Slug+"/bans", map[string]any{"openid": b.wx.OpenID(tt.AppID, "banned"), "reason": "test"})
	wantStatus(t, "ban openid", ban, http.StatusCreated, "")
	afterPropagation()
	b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, Delay: 500 * time.Millisecond})
	for _, r := range loginsAtOnce(t, srvs, tt.Slug, b.wx.MintCode(tt.AppID, "banned"), 6) {
		wantStatus(t, "duplicate of a banned login", r, http.StatusForbidden, "user_banned")
	}
	var n int
	if err := b.db.QueryRow(t.Context(), `SELECT count(*) FROM users`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("users = %d (%v), want none written", n, err)
	}
}

// Without Redis a login still works, uncoordinated: the first use of a
// code succeeds and WeChat refuses the repeat.
func TestCodeExchangeRedisDown(t *testing.T) {
	t.Parallel()
	rs := startPrivateRedis(t)
	b := setup(t, func(c *Config) { c.RedisURL = rs.url() })
	tt := b.createTenant("codes-noredis", nil)
	rs.stop()
	code := b.wx.MintCode(tt.AppID, "alice")
	wantStatus(t, "login with Redis down", do(t, "POST", b.srv.URL+"/v1/t/"+tt.Slug+"/login", map[string]string{"code": code}), http.StatusOK, "")
	wantStatus(t, "replay with Redis down", do(t, "POST", b.srv.URL+"/v1/t/"+tt.Slug+"/login", map[string]string{"code": code}), http.StatusUnauthorized, "invalid_code")
	if n := b.wx.Calls(fake.EndpointJSCode2Session); n != 2 {
		t.Fatalf("jscode2session calls = %d, want 2 (no coordination without Redis)", n)
	}
	// Scan-to-sign-in tickets live only in Redis: refused clearly, not a 500.
	wantStatus(t, "qr-login with Redis down", do(t, "POST", b.srv.URL+"/v1/t/"+tt.Slug+"/qr-login", nil), http.StatusServiceUnavailable, "unavailable")
	wantStatus(t, "qr-login poll with Redis down", do(t, "GET", b.srv.URL+"/v1/t/"+tt.Slug+"/qr-login/"+strings.Repeat("a", 32), nil,
		"Authorization", "Bearer x"), http.StatusServiceUnavailable, "unavailable")
}
