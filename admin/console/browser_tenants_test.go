package console_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/miniauth/miniauth/admin"
)

// TestBrowserTenants drives the tenant screens in Chromium under the
// console's CSP: search as one types, the credentials check answered in
// place, and the pages' accessibility.
func TestBrowserTenants(t *testing.T) {
	wx, creds := withWeChat(t)
	b := setup(t, creds)
	shop := b.tenant(t, "shop-one")
	wx.AddApp(shop.WeChatAppID, "secret-of-shop-one", "")
	b.tenant(t, "cafe")
	br := newBrowser(t, b)
	acc := b.adminAccount(t, admin.RolePlatformAdmin, "")
	br.signIn(acc.Email, testPassword)

	br.open("/admin/tenants")
	br.waitFor("tenant-row-cafe")
	br.axe("tenants")
	br.screenshot("tenants")
	br.fill("tenant-search-q", "sho")
	value(br, "search results", chromedp.Poll[bool](`!document.querySelector('[data-testid="tenant-row-cafe"]') &&
		!!document.querySelector('[data-testid="tenant-row-shop-one"]')`,
		chromedp.WithPollingInterval(20*time.Millisecond)))
	if loc := br.location(); loc != "/admin/tenants?q=sho" {
		t.Errorf("the search is not in the address: %s", loc)
	}

	br.click("tenant-link-shop-one")
	br.waitFor("tenant-edit-form")
	br.axe("tenant")
	br.click("test-credentials")
	br.waitFor("credential-result")
	if got := br.text("credential-result"); !strings.Contains(got, "accepted") {
		t.Errorf("credentials check: %q", got)
	}
	if loc := br.location(); loc != "/admin/tenants/shop-one" {
		t.Errorf("the check navigated to %s", loc)
	}
	br.screenshot("tenant")

	br.click("tenant-keys")
	br.waitFor("key-table")
	br.axe("keys")
}
