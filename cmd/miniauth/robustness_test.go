package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestLoginsWithFewConnectionsAndRedisDown: with the change feed down every
// ban check reads Postgres. Checks inside a transaction would need a second
// connection and, with the pool exhausted, every login would wait forever.
func TestLoginsWithFewConnectionsAndRedisDown(t *testing.T) {
	t.Parallel()
	rds := startPrivateRedis(t)
	b := setup(t, func(c *Config) {
		c.RedisURL = rds.url()
		sep := "?"
		if strings.Contains(c.DatabaseURL, "?") {
			sep = "&"
		}
		c.DatabaseURL += sep + "pool_max_conns=2"
	})
	tt := b.createTenant("tiny-pool", nil)
	rds.stop()
	eventually(t, 15*time.Second, "change feed noticed Redis is down", func() bool { return !b.srv.app.bus.Healthy() })

	const n = 8
	codes := make([]string, n)
	for i := range codes {
		codes[i] = b.wx.MintCode(tt.AppID, fmt.Sprintf("user-%d", i))
	}
	client := &http.Client{Timeout: 15 * time.Second}
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for _, code := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Post(b.srv.URL+"/v1/t/tiny-pool/login", "application/json",
				strings.NewReader(`{"code":"`+code+`"}`))
			if err != nil {
				errs <- err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- resp.Status
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("login with 2 connections and Redis down: %s", e)
	}
}

// TestUserAgentTextThatPostgresRefuses: a client's User-Agent is stored
// with the session: whatever bytes it holds (invalid UTF-8, more than the
// column would take), the login succeeds. The management API's handling of
// such text is tested in admin/api.
func TestUserAgentTextThatPostgresRefuses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("text", nil)
	for _, ua := range []string{"bad \xff\xfe agent", strings.Repeat("微", 300)} {
		r := do(t, "POST", b.srv.URL+"/v1/t/text/login", map[string]string{"code": b.wx.MintCode(tt.AppID, "ua")}, "User-Agent", ua)
		if r.Status != http.StatusOK {
			t.Errorf("login with User-Agent %q: %d %s", ua, r.Status, r.Body)
		}
	}
}

// TestStatementTimeout: a lock held elsewhere stalls every statement on
// the sessions; the statement timeout frees the connections, the clients
// get 503 unavailable with Retry-After, and nothing was written: once the
// lock is gone the same refresh token still works and the refused login's
// user does not exist.
func TestStatementTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.StatementTimeout = 300 * time.Millisecond })
	tt := b.createTenant("stuck", nil)
	alice := b.login(nil, tt, "alice")

	ctx := context.Background()
	tx, err := b.db.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `LOCK TABLE sessions, refresh_tokens IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	for what, r := range map[string]response{
		"refresh": sessRefresh(t, b.srv, tt.Slug, alice.RefreshToken),
		"login":   loginPost(t, b, tt.Slug, b.wx.MintCode(tt.AppID, "bob")),
	} {
		wantStatus(t, what+" while the sessions are locked", r, http.StatusServiceUnavailable, "unavailable")
		if r.Header.Get("Retry-After") != "1" {
			t.Fatalf("%s: Retry-After %q", what, r.Header.Get("Retry-After"))
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	sessRefreshOK(t, b.srv, tt.Slug, alice.RefreshToken)
	if n := mgmtCount(t, b, `SELECT count(*) FROM users WHERE openid = $1`, b.wx.OpenID(tt.AppID, "bob")); n != 0 {
		t.Fatalf("the refused login left %d user rows", n)
	}
	if logs := b.logs.String(); !strings.Contains(logs, "57014") && !strings.Contains(logs, "statement timeout") {
		t.Fatalf("the cause is not logged:\n%s", logs)
	}
}
