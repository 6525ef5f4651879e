package main

import (
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
