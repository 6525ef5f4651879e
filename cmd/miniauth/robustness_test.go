package main

import (
	"encoding/base64"
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

// TestTextThatPostgresRefuses: NUL characters and invalid UTF-8 are bad
// input (400), never a database error (500).
func TestTextThatPostgresRefuses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("text", nil)
	for _, path := range []string{
		"/tenants/text/users?q=%FF",
		"/tenants/text/users?q=a%00",
		"/audit?actor=%FF",
		"/audit?action=a%00",
		"/tenants?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("a\x00")),
		"/tenants/%00x/users",
	} {
		r := b.api("GET", path, nil)
		if r.Status != http.StatusBadRequest && r.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Body)
		}
	}
	for _, c := range []struct {
		method, path string
		body         string
		field        string
	}{
		{"POST", "/tenants/text/bans", `{"openid":"o\u0000x","reason":"r"}`, "openid"},
		{"POST", "/tenants/text/bans", `{"openid":"ox","reason":"r\u0000"}`, "reason"},
		{"PATCH", "/tenants/text", `{"name":"a\u0000"}`, "name"},
		{"POST", "/api-keys", `{"name":"k\u0000","role":"platform_admin"}`, "name"},
	} {
		r := b.api(c.method, c.path, c.body)
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"field":"`+c.field+`"`) {
			t.Errorf("%s %s %s: %d %s", c.method, c.path, c.body, r.Status, r.Body)
		}
	}
	// A client's User-Agent is stored with the session: whatever bytes it
	// holds, the login succeeds.
	for _, ua := range []string{"bad \xff\xfe agent", strings.Repeat("微", 300)} {
		r := do(t, "POST", b.srv.URL+"/v1/t/text/login", map[string]string{"code": b.wx.MintCode(tt.AppID, "ua")}, "User-Agent", ua)
		if r.Status != http.StatusOK {
			t.Errorf("login with User-Agent %q: %d %s", ua, r.Status, r.Body)
		}
	}
}

// TestTenantWithUnreadableSecretIsManageable: a tenant whose sealed secret
// no longer opens (a lost master key) can still be read and repaired
// through the management API.
func TestTenantWithUnreadableSecretIsManageable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("broken", nil)
	if _, err := b.db.Exec(t.Context(), `UPDATE tenants SET wechat_secret_sealed = '\x0102' WHERE slug = 'broken'`); err != nil {
		t.Fatal(err)
	}
	if r := b.api("GET", "/tenants/broken", nil); r.Status != http.StatusOK {
		t.Fatalf("GET a tenant with an unreadable secret: %d %s", r.Status, r.Body)
	}
	if r := b.api("PATCH", "/tenants/broken", map[string]string{"wechat_secret": tt.Secret}); r.Status != http.StatusOK {
		t.Fatalf("repair the secret: %d %s", r.Status, r.Body)
	}
	b.login(nil, tt, "alice")
}

// TestOneAddressCannotSpendTheTenantQuota: requests refused by the per-IP
// limit do not count against the tenant-wide one.
func TestOneAddressCannotSpendTheTenantQuota(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.TrustedProxies = []string{"127.0.0.1/32"} })
	tt := b.createTenant("quota", map[string]any{"rate_limits": map[string]string{"login_per_tenant": "5-M", "login_per_ip": "2-M"}})
	login := func(ip string) response {
		return do(t, "POST", b.srv.URL+"/v1/t/quota/login", map[string]string{"code": b.wx.MintCode(tt.AppID, ip)},
			"X-Forwarded-For", ip)
	}
	for i := 0; i < 6; i++ {
		login("203.0.113.1")
	}
	if r := login("203.0.113.2"); r.Status != http.StatusOK {
		t.Fatalf("after one address hit its own limit, another address got %d %s", r.Status, r.Body)
	}
}
