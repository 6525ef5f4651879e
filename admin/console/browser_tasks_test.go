package console_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth"
)

// TestBrowserAdminTasks is a platform admin's day in the console, in
// Chromium under the console's CSP: create a tenant, check its WeChat
// credentials, change a rate limit, rotate its key, create and revoke an
// API key, and find the audit entry of each change. Every main screen is
// checked with axe and, when CONSOLE_SCREENSHOTS is set, photographed at
// desktop and phone width.
func TestBrowserAdminTasks(t *testing.T) {
	wx, creds := withWeChat(t)
	b := setup(t, creds)
	wx.AddApp("wx0mall000000000001", "secret-of-the-mall", "")
	seedStats(t, b)
	br := newBrowser(t, b)
	acc := b.adminAccount(t, admin.RolePlatformAdmin, "")
	br.signIn(acc.Email, testPassword)
	br.waitFor("dashboard-title")
	br.axe("dashboard")
	br.screenshot("dashboard")

	// Create a tenant.
	br.open("/admin/tenants")
	br.click("tenant-new")
	br.waitFor("tenant-create-form")
	br.axe("tenant-new")
	br.fill("field-slug", "mall")
	br.fill("field-name", "The Mall")
	br.fill("field-wechat_appid", "wx0mall000000000001")
	br.fill("field-wechat_secret", "secret-of-the-mall")
	br.click("tenant-create")
	if loc := br.location(); loc != "/admin/tenants/mall" {
		t.Fatalf("after create at %s", loc)
	}
	if got := br.text("flash"); !strings.Contains(got, "mall") {
		t.Errorf("create flash %q", got)
	}

	// Its credentials are right.
	br.click("test-credentials")
	br.waitFor("credential-result")
	if v := value(br, "verdict", jsString(`document.querySelector('[data-testid="credential-result"]').dataset.verdict`)); v != "accepted" {
		t.Errorf("credentials verdict %q", v)
	}

	// A bad rate limit is refused beside its field (the browser's own
	// check of the pattern is lifted, to reach the server's); a good one is
	// saved.
	value(br, "no pattern", chromedp.Evaluate[bool](`document.querySelector('[data-testid="field-login_per_ip"]').removeAttribute("pattern"); true`))
	br.fill("field-login_per_ip", "lots")
	br.click("tenant-limits-save")
	br.waitFor("error-login_per_ip")
	br.fill("field-login_per_ip", "7-M")
	br.click("tenant-limits-save")
	if got := value(br, "limit", jsString(`document.querySelector('[data-testid="field-login_per_ip"]').value`)); got != "7-M" {
		t.Errorf("login_per_ip after saving: %q", got)
	}
	br.screenshot("tenant")

	// Rotate the signing key (after the confirmation).
	br.click("tenant-keys")
	br.waitFor("key-table")
	before := value(br, "keys", jsString(`String(document.querySelectorAll('[data-testid^="key-row-"]').length)`))
	br.click("key-rotate")
	if q := br.confirmed(); q == "" {
		t.Error("rotation asked no confirmation")
	}
	after := value(br, "keys", jsString(`String(document.querySelectorAll('[data-testid^="key-row-"]').length)`))
	if before != "1" || after != "2" {
		t.Errorf("keys before/after rotation: %s/%s", before, after)
	}
	br.screenshot("keys")

	// Create an API key for the tenant: the secret is shown once.
	br.open("/admin/api-keys")
	br.axe("api-keys")
	br.fill("field-name", "mall deploy")
	br.do("pick role", chromedp.SetValue(tid("field-role"), string(admin.RoleTenantOperator)))
	br.do("pick tenant", chromedp.SetValue(tid("field-tenant"), "mall"))
	br.click("create-apikey")
	secret := value(br, "secret", jsString(`document.querySelector('[data-testid="apikey-secret"]').value`))
	if _, err := b.deps.APIKeys.Authenticate(context.Background(), secret); err != nil {
		t.Fatalf("the key shown does not authenticate: %v", err)
	}
	br.waitFor("copy-secret")
	br.screenshot("api-key-created")
	br.click("back-to-keys")
	id := value(br, "key id", jsString(`document.querySelector('[data-testid^="revoke-"]').dataset.testid.slice(7)`))
	br.click("revoke-" + id)
	if _, err := b.deps.APIKeys.Authenticate(context.Background(), secret); err == nil {
		t.Fatal("the revoked key still authenticates")
	}
	br.screenshot("api-keys")

	// Each change is in the audit log, with the admin as actor.
	br.open("/admin/audit")
	br.axe("audit")
	br.screenshot("audit")
	for _, action := range []string{"tenant.create", "tenant.update", "key.rotate", "apikey.create", "apikey.revoke"} {
		br.open("/admin/audit?action=" + action)
		got := value(br, "audit "+action, jsString(`Array.from(document.querySelectorAll('[data-testid="audit-action"]')).map(e => e.textContent.trim()).join(",")`))
		if !strings.Contains(got, action) {
			t.Errorf("audit has no %s entry: %q", action, got)
		}
		actor := value(br, "actor", jsString(`(document.querySelector('[data-testid="audit-actor"]') || {}).textContent || ""`))
		if !strings.Contains(actor, acc.Email) {
			t.Errorf("%s entry's actor %q is not %s", action, actor, acc.Email)
		}
	}

	br.open("/admin/admins")
	br.axe("admins")
	br.screenshot("admins")
	br.open("/admin/account")
	br.axe("account")
}

// seedStats gives the dashboard a day of logins to show.
func seedStats(t *testing.T, b *testBundle) {
	t.Helper()
	ten := b.tenant(t, "busy-shop")
	counts := map[string]int{auth.StatLogin: 1840, auth.StatNewUser: 212, auth.StatFailure("invalid_code"): 31,
		auth.StatFailure("rate_limited"): 9, auth.StatFailure("user_banned"): 4, auth.StatRateLimited: 17, auth.StatBanned: 6}
	for metric, n := range counts {
		for range n {
			b.stats.Count(ten.ID, metric)
		}
	}
	if err := b.stats.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Earlier hours, written as flushes of other hours would have.
	for h := 1; h < 24; h++ {
		n := 40 + (h*37)%90
		if _, err := b.db.Exec(context.Background(), `INSERT INTO login_stats (tenant_id, hour, metric, n)
			VALUES ($1, date_trunc('hour', now() - make_interval(hours => $2), 'UTC'), $3, $4)`, ten.ID, h, auth.StatLogin, n); err != nil {
			t.Fatal(err)
		}
		if _, err := b.db.Exec(context.Background(), `INSERT INTO login_stats_platform (hour, metric, n)
			VALUES (date_trunc('hour', now() - make_interval(hours => $1), 'UTC'), $2, $3)`, h, auth.StatLogin, n); err != nil {
			t.Fatal(err)
		}
	}
}
