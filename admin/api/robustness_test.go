package api_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/changes/changestest"
	"github.com/miniauth/miniauth/tenant/seal"
)

// TestTextThatPostgresRefuses: NUL characters and invalid UTF-8 are bad
// input (400), never a database error (500).
func TestTextThatPostgresRefuses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tenant(t, "text")
	for _, path := range []string{
		"/tenants/text/users?q=%FF",
		"/tenants/text/users?q=a%00",
		"/audit?actor=%FF",
		"/audit?action=a%00",
		"/tenants?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("a\x00")),
		"/tenants/%00x/users",
	} {
		r := b.do(t, b.platformKey, http.MethodGet, path, nil)
		if r.Status != http.StatusBadRequest && r.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d %s", path, r.Status, r.Raw)
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
		r := b.do(t, b.platformKey, c.method, c.path, c.body)
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Raw), `"field":"`+c.field+`"`) {
			t.Errorf("%s %s %s: %d %s", c.method, c.path, c.body, r.Status, r.Raw)
		}
	}
}

// TestTenantWithUnreadableSecretIsManageable: a tenant whose sealed secret
// no longer opens (a lost master key) can still be read and repaired
// through the management API.
func TestTenantWithUnreadableSecretIsManageable(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	lookup := func() (*tenant.Runtime, error) {
		return tenant.NewDirectory(b.tenants, changestest.New()).Lookup(ctx, "broken")
	}
	for _, c := range []struct {
		name  string
		spoil func(t *testing.T)
	}{
		{"sealed with another master key", func(t *testing.T) {
			other := make([]byte, 32)
			if _, err := rand.Read(other); err != nil {
				t.Fatal(err)
			}
			sealer, err := seal.New(other)
			if err != nil {
				t.Fatal(err)
			}
			s := "sealed-elsewhere"
			if _, err := tenant.NewStore(b.db, sealer, nil).Update(ctx, "broken", tenant.Patch{WeChatSecret: &s}); err != nil {
				t.Fatal(err)
			}
		}},
		{"not a sealed value", func(t *testing.T) {
			if _, err := b.db.Exec(ctx, `UPDATE tenants SET wechat_secret_sealed = '\x0102' WHERE slug = 'broken'`); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := b.tenants.Get(ctx, "broken"); err != nil {
				b.tenant(t, "broken")
			}
			c.spoil(t)
			if _, err := lookup(); err == nil {
				t.Fatal("the broken secret opens")
			}
			if r := b.do(t, b.platformKey, http.MethodGet, "/tenants/broken", nil); r.Status != http.StatusOK {
				t.Fatalf("GET a tenant with an unreadable secret: %d %s", r.Status, r.Raw)
			}
			secret := "repaired-" + randomHex(t, 8)
			if r := b.do(t, b.platformKey, http.MethodPatch, "/tenants/broken", map[string]string{"wechat_secret": secret}); r.Status != http.StatusOK {
				t.Fatalf("repair the secret: %d %s", r.Status, r.Raw)
			}
			// What a login loads: the repaired secret.
			rt, err := lookup()
			if err != nil {
				t.Fatalf("load the repaired tenant: %v", err)
			}
			if rt.Secret != secret {
				t.Errorf("repaired secret %q, want %q", rt.Secret, secret)
			}
		})
	}
}
