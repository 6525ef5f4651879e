package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/miniauth/miniauth/admin"
)

// TestBrowserUserTasks is a tenant admin's work on end users, in
// Chromium: find a user as one types, revoke a session, disable and
// enable them, ban and unban them, each in the audit log; and the walls
// around the tenant: another tenant's pages, and a form of their own
// whose hidden target was edited to point at the other tenant.
func TestBrowserUserTasks(t *testing.T) {
	b := setup(t)
	shop, other := b.tenant(t, "shop"), b.tenant(t, "other")
	for _, o := range []string{"oAlpha001", "oBravo002", "oCharlie03"} {
		b.user(t, shop.ID, o)
	}
	alice := b.user(t, shop.ID, "oAlice-in-shop")
	b.session(t, shop.ID, alice, "203.0.113.7", "WeChat/8.0 iPhone")
	b.session(t, shop.ID, alice, "198.51.100.9", "WeChat/8.0 Android")
	stranger := b.user(t, other.ID, "oStranger-elsewhere")

	br := newBrowser(t, b)
	acc := b.adminAccount(t, admin.RoleTenantAdmin, "shop")
	br.signIn(acc.Email, testPassword)

	// Search as one types.
	br.open("/admin/tenants/shop/users")
	br.waitFor("users-table")
	br.axe("users")
	br.screenshot("users")
	br.fill("field-q", "oAli")
	value(br, "search results", chromedp.Poll[bool](
		`document.querySelectorAll('[data-testid="user-row"]').length === 1 && document.querySelector('[data-testid="user-link"]').textContent.trim() === "oAlice-in-shop"`,
		chromedp.WithPollingInterval(20*time.Millisecond)))
	br.click("user-link")
	br.waitFor("user-fields")
	br.axe("user")
	br.screenshot("user")
	if got := br.text("user-openid"); got != "oAlice-in-shop" {
		t.Fatalf("user page of %q", got)
	}

	// Revoke one session of two.
	if n := rows(br, "session-row"); n != 2 {
		t.Fatalf("%d live sessions shown, want 2", n)
	}
	br.click("revoke-session")
	if n := rows(br, "session-row"); n != 1 || b.liveSessions(t, alice) != 1 {
		t.Fatalf("after revoking one: %d shown, %d live", n, b.liveSessions(t, alice))
	}

	// Disable, then enable.
	br.click("disable-user")
	if got := br.text("status"); got != "disabled" {
		t.Fatalf("after disabling the status is %q", got)
	}
	if b.liveSessions(t, alice) != 0 {
		t.Error("a disabled user keeps a live session")
	}
	br.click("enable-user")
	if got := br.text("status"); got != "active" {
		t.Fatalf("after enabling the status is %q", got)
	}

	// Ban with a reason, then lift it.
	br.fill("field-reason", "chargeback fraud")
	br.click("ban-submit")
	if !strings.Contains(br.text("user-ban-state"), "chargeback fraud") {
		t.Fatalf("ban state: %q", br.text("user-ban-state"))
	}
	br.click("unban")
	br.waitFor("ban-submit")

	// The tenant admin reads each change in the tenant's audit log.
	for _, action := range []string{"session.revoke", "user.update", "ban.create", "ban.delete"} {
		br.open("/admin/audit?action=" + action)
		got := value(br, "audit "+action, jsString(`Array.from(document.querySelectorAll('[data-testid="audit-action"]')).map(e => e.textContent.trim()).join(",")`))
		if !strings.Contains(got, action) {
			t.Errorf("the audit log shows no %s entry: %q", action, got)
		}
	}

	// The other tenant's pages are refused, by URL and by a doctored form.
	for _, path := range []string{"/admin/tenants/other", "/admin/tenants/other/users", "/admin/tenants/other/users/" + stranger.String(),
		"/admin/tenants/other/bans", "/admin/tenants/other/keys", "/admin/tenants/shop/users/" + stranger.String()} {
		br.open(path)
		if got := br.text("error-status"); got != "Not allowed" && got != "Not found" {
			t.Errorf("%s shows %q to shop's admin", path, got)
		}
	}
	br.open("/admin/tenants/shop/users/" + alice.String())
	br.waitFor("ban-form")
	// Point the ban form of shop's user at the other tenant's user.
	value(br, "doctor the form", chromedp.Evaluate[bool](
		`document.querySelector('[data-testid="ban-form"]').action = "/admin/tenants/other/users/`+stranger.String()+`/ban"; true`))
	br.fill("field-reason", "reaching across tenants")
	br.click("ban-submit")
	if got := br.text("error-status"); got != "Not allowed" {
		t.Errorf("a ban posted to the other tenant: %q", got)
	}
	if n := b.count(t, `SELECT count(*) FROM bans WHERE tenant_id = $1`, other.ID); n != 0 {
		t.Errorf("the doctored form banned someone in the other tenant (%d bans)", n)
	}

	// A hidden choice edited: the API key form's tenant set to the other.
	br.open("/admin/api-keys")
	br.fill("field-name", "sneaky")
	value(br, "doctor the select", chromedp.Evaluate[bool](`(() => { const s = document.querySelector('[data-testid="field-tenant"]');
		const o = document.createElement("option"); o.value = "other"; o.textContent = "other"; s.append(o); s.value = "other"; return true; })()`))
	br.click("create-apikey")
	if got := br.text("error-status"); got != "Not allowed" {
		t.Errorf("an API key for the other tenant: %q", got)
	}
	if n := b.count(t, `SELECT count(*) FROM api_keys WHERE tenant_id = $1`, other.ID); n != 0 {
		t.Errorf("the doctored select made %d keys for the other tenant", n)
	}

	br.open("/admin/tenants/shop/bans")
	br.waitFor("ban-create-form")
	br.axe("bans")
	br.screenshot("bans")
}

// rows counts the elements with this data-testid.
func rows(br *browser, id string) int {
	br.t.Helper()
	return value(br, "count "+id, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="`+id+`"]').length`))
}
