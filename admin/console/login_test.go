package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/console"
)

func TestSignIn(t *testing.T) {
	b := setup(t)

	t.Run("signed-out pages go to the sign-in form and come back", func(t *testing.T) {
		c := b.client(t)
		res := c.get(t, "/admin/account?x=1")
		if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/admin/login?next="+url.QueryEscape("/admin/account?x=1") {
			t.Fatalf("signed-out GET: %d %q", res.Status, res.Header.Get("Location"))
		}
		login := c.get(t, "/admin/login?next=/admin/account").want(t, http.StatusOK)
		a := b.adminAccount(t, admin.RolePlatformAdmin, "")
		res = c.post(t, "/admin/login", url.Values{"email": {a.Email}, "password": {testPassword},
			"next": {"/admin/account"}}, login.csrf(t))
		if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/admin/account" {
			t.Fatalf("sign in: %d %q: %s", res.Status, res.Header.Get("Location"), res.Body)
		}
	})

	t.Run("the session cookie is HttpOnly and SameSite=Lax", func(t *testing.T) {
		c := b.client(t)
		login := c.get(t, "/admin/login")
		acc := b.adminAccount(t, admin.RolePlatformAdmin, "")
		res := c.post(t, "/admin/login", url.Values{"email": {acc.Email}, "password": {testPassword}}, login.csrf(t))
		var cookie string
		for _, v := range res.Header.Values("Set-Cookie") {
			if strings.HasPrefix(v, "miniauth_console=") {
				cookie = v
			}
		}
		if !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Lax") || !strings.Contains(cookie, "Path=/") {
			t.Fatalf("session cookie %q", cookie)
		}
	})

	t.Run("an open redirect in next is ignored", func(t *testing.T) {
		c := b.client(t)
		login := c.get(t, "/admin/login")
		acc := b.adminAccount(t, admin.RolePlatformAdmin, "")
		for _, next := range []string{"https://evil.example/", "//evil.example/admin/", "/admin/\\evil", "/elsewhere"} {
			res := c.post(t, "/admin/login", url.Values{"email": {acc.Email}, "password": {testPassword}, "next": {next}}, login.csrf(t))
			if res.Header.Get("Location") != "/admin/" {
				t.Errorf("next %q: Location %q", next, res.Header.Get("Location"))
			}
		}
	})

	t.Run("a wrong password and an unknown e-mail get the same answer", func(t *testing.T) {
		acc := b.adminAccount(t, admin.RolePlatformAdmin, "")
		answer := func(email string) (int, string) {
			c := b.client(t)
			login := c.get(t, "/admin/login")
			res := c.post(t, "/admin/login", url.Values{"email": {email}, "password": {"wrong password here"}}, login.csrf(t))
			return res.Status, res.find("form-error").Text()
		}
		s1, m1 := answer(acc.Email)
		s2, m2 := answer("nobody-" + acc.Email)
		if s1 != http.StatusUnauthorized || s1 != s2 || m1 != m2 || m1 == "" {
			t.Fatalf("known: %d %q; unknown: %d %q", s1, m1, s2, m2)
		}
		if n := b.auditCount(t, "console.signin_failed"); n < 2 {
			t.Fatalf("%d failed sign-ins audited, want 2", n)
		}
	})

	t.Run("a form without the CSRF token or from another origin is refused", func(t *testing.T) {
		acc := b.adminAccount(t, admin.RolePlatformAdmin, "")
		c := b.client(t)
		c.get(t, "/admin/login")
		form := url.Values{"email": {acc.Email}, "password": {testPassword}}
		if res := c.post(t, "/admin/login", form, "not-the-token"); res.Status != http.StatusForbidden {
			t.Fatalf("wrong token: %d", res.Status)
		}
		login := c.get(t, "/admin/login")
		res := c.postWith(t, "/admin/login", url.Values{"email": {acc.Email}, "password": {testPassword}, "_csrf": {login.csrf(t)}},
			"Origin", "https://evil.example")
		if res.Status != http.StatusForbidden {
			t.Fatalf("foreign origin: %d", res.Status)
		}
		res = c.postWith(t, "/admin/login", url.Values{"email": {acc.Email}, "password": {testPassword}, "_csrf": {login.csrf(t)}})
		if res.Status != http.StatusForbidden {
			t.Fatalf("no Origin or Referer: %d", res.Status)
		}
	})

	t.Run("signed-in forms need the session's token", func(t *testing.T) {
		c := b.signIn(t, admin.RolePlatformAdmin, "")
		if res := c.post(t, "/admin/logout", nil, "forged"); res.Status != http.StatusForbidden {
			t.Fatalf("logout with a forged token: %d", res.Status)
		}
		c.get(t, "/admin/").want(t, http.StatusOK)
	})

	t.Run("sign out ends the session", func(t *testing.T) {
		c := b.signIn(t, admin.RolePlatformAdmin, "")
		res := c.post(t, "/admin/logout", nil)
		if res.Status != http.StatusSeeOther {
			t.Fatalf("logout: %d", res.Status)
		}
		if res := c.get(t, "/admin/"); res.Status != http.StatusSeeOther {
			t.Fatalf("after sign-out: %d", res.Status)
		}
		if b.auditCount(t, "console.signout") < 1 || b.auditCount(t, "console.signin") < 1 {
			t.Fatal("sign-in and sign-out not audited")
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	b := setup(t)
	c := b.signIn(t, admin.RolePlatformAdmin, "")
	for _, path := range []string{"/admin/login", "/admin/", "/admin/no-such-page"} {
		res := c.get(t, path)
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP %q allows inline code", path, csp)
		}
		if res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: headers %v", path, res.Header)
		}
		res.Doc.Find("script").Each(func(_ int, s *goquery.Selection) {
			if _, ok := s.Attr("src"); !ok || strings.TrimSpace(s.Text()) != "" {
				t.Errorf("%s: inline script %q", path, s.Text())
			}
		})
		if res.Doc.Find("[style]").Length() > 0 {
			t.Errorf("%s: inline style attribute", path)
		}
	}
}

func TestLanguageSwitch(t *testing.T) {
	b := setup(t)
	c := b.client(t)
	login := c.get(t, "/admin/login", "Accept-Language", "zh-CN,zh;q=0.9")
	if got := login.find("sign-in").Text(); got != "登录" {
		t.Fatalf("Accept-Language zh: button %q", got)
	}
	if res := c.post(t, "/admin/lang", url.Values{"lang": {"en"}}, "forged"); res.Status != http.StatusForbidden {
		t.Fatalf("language switch with a forged token: %d", res.Status)
	}
	res := c.postWith(t, "/admin/lang", url.Values{"lang": {"en"}, "_csrf": {login.csrf(t)}},
		"Origin", b.URL, "Referer", b.URL+"/admin/login")
	if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/admin/login" {
		t.Fatalf("switch: %d %q", res.Status, res.Header.Get("Location"))
	}
	if got := c.get(t, "/admin/login", "Accept-Language", "zh-CN").find("sign-in").Text(); got != "Sign in" {
		t.Fatalf("the cookie's English does not win over Accept-Language: %q", got)
	}
	signed := b.signIn(t, admin.RolePlatformAdmin, "")
	signed.post(t, "/admin/lang", url.Values{"lang": {"zh"}})
	if got := signed.get(t, "/admin/").find("dashboard-title").Text(); got != "概览" {
		t.Fatalf("signed-in switch to Chinese: %q", got)
	}
}

func TestSignInThrottled(t *testing.T) {
	b := setup(t, func(d *console.Deps) {
		d.SignIn.AccountRate, d.SignIn.CaptchaAfter = "3-H", 100
	})
	acc := b.adminAccount(t, admin.RolePlatformAdmin, "")
	c := b.client(t)
	for i := range 3 {
		login := c.get(t, "/admin/login")
		res := c.post(t, "/admin/login", url.Values{"email": {acc.Email}, "password": {"wrong password here"}}, login.csrf(t))
		if res.Status != http.StatusUnauthorized {
			t.Fatalf("failure %d: status %d", i+1, res.Status)
		}
	}
	// Now even the right password waits, and says for how long.
	login := c.get(t, "/admin/login")
	res := c.post(t, "/admin/login", url.Values{"email": {acc.Email}, "password": {testPassword}}, login.csrf(t))
	if res.Status != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("after 3 failures: status %d, Retry-After %q", res.Status, res.Header.Get("Retry-After"))
	}
	if !strings.Contains(res.find("form-error").Text(), "Too many failed sign-ins") {
		t.Fatalf("throttled answer: %q", res.find("form-error").Text())
	}
	if b.auditCount(t, "console.signin") != 0 {
		t.Fatal("a throttled sign-in went through")
	}
}
