package console_test

import (
	"strings"
	"testing"

	"github.com/miniauth/miniauth/admin"
)

// TestBrowserSignIn drives the sign-in screen in Chromium: failures, the
// CAPTCHA they bring, a successful sign-in, the language switch and
// signing out.
func TestBrowserSignIn(t *testing.T) {
	b := setup(t)
	seedStats(t, b)
	br := newBrowser(t, b)
	acc := b.adminAccount(t, admin.RolePlatformAdmin, "")

	br.open("/admin/login")
	br.axe("login")
	br.screenshot("login")
	for i := range 5 {
		br.signIn(acc.Email, "not the password")
		if got := br.text("form-error"); got != "The e-mail or password is wrong." {
			t.Fatalf("failure %d: %q", i+1, got)
		}
	}
	// The fifth failure brings the CAPTCHA; the right password alone is
	// no longer enough.
	br.waitFor("captcha-image")
	br.fill("field-password", testPassword)
	br.fill("field-captcha", "000000x")
	br.click("sign-in")
	if got := br.text("error-captcha"); !strings.Contains(got, "do not match") {
		t.Fatalf("wrong CAPTCHA: %q", got)
	}
	id := value(br, "captcha id", jsString(`document.querySelector('input[name="captcha_id"]').value`))
	br.fill("field-password", testPassword)
	br.fill("field-captcha", b.captchaAnswer(t, id))
	br.click("sign-in")
	if loc := br.location(); loc != "/admin/" {
		t.Fatalf("after sign-in at %s", loc)
	}
	if got := br.text("signed-in-as"); got != acc.Email {
		t.Fatalf("signed in as %q", got)
	}

	br.click("lang-zh")
	if got := br.text("dashboard-title"); got != "概览" {
		t.Fatalf("after switching to Chinese the title is %q", got)
	}
	br.axe("dashboard in Chinese")
	br.screenshot("dashboard-zh")
	br.click("lang-en")
	if got := br.text("dashboard-title"); got != "Dashboard" {
		t.Fatalf("after switching back the title is %q", got)
	}

	br.click("sign-out")
	if got := br.text("flash"); got != "You are signed out." {
		t.Fatalf("after sign-out: %q", got)
	}
	br.open("/admin/")
	if loc := br.location(); !strings.HasPrefix(loc, "/admin/login") {
		t.Fatalf("signed out, /admin/ shows %s", loc)
	}
	if n := b.auditCount(t, "console.signin_failed"); n < 6 {
		t.Errorf("%d failed sign-ins audited, want at least 6", n)
	}
}
