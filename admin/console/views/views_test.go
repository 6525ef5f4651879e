package views_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"github.com/miniauth/miniauth/admin/console/views"
)

// render renders a view in a language and parses it, failing on what no
// console page may contain: a string missing from the catalogue, an
// inline script or style, or more than 60 KB of HTML.
func render(t *testing.T, lang views.Lang, c templ.Component) *goquery.Document {
	t.Helper()
	ctx := views.WithLocale(context.Background(), views.Locale{Lang: lang, Zone: time.UTC})
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	html := buf.String()
	if strings.Contains(html, views.Missing) {
		i := strings.Index(html, views.Missing)
		t.Errorf("%s: untranslated string %s", lang, html[i:min(len(html), i+60)])
	}
	if len(html) > 60<<10 {
		t.Errorf("%s: page is %d bytes, over 60 KB", lang, len(html))
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Find("[style]").Length() > 0 {
		t.Errorf("%s: an inline style attribute breaks the CSP", lang)
	}
	doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		if _, ok := s.Attr("src"); !ok || strings.TrimSpace(s.Text()) != "" {
			t.Errorf("%s: inline script breaks the CSP", lang)
		}
	})
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range s.Nodes[0].Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("%s: inline event handler %s", lang, a.Key)
			}
		}
	})
	return doc
}

func both(t *testing.T, c templ.Component, check func(t *testing.T, doc *goquery.Document)) {
	for _, lang := range []views.Lang{views.English, views.Chinese} {
		t.Run(string(lang), func(t *testing.T) { check(t, render(t, lang, c)) })
	}
}

func byID(doc *goquery.Document, id string) *goquery.Selection {
	return doc.Find(`[data-testid="` + id + `"]`)
}

var page = views.Page{Title: "t", Active: "dashboard", CSRF: "tok", Admin: "a@example.com",
	Nav: []views.NavItem{{Key: "dashboard", Href: "/admin/"}, {Key: "tenants", Href: "/admin/tenants"}}}

func TestLayout(t *testing.T) {
	both(t, views.Dashboard(views.DashboardPage{Page: page}), func(t *testing.T, doc *goquery.Document) {
		if v, _ := doc.Find(`meta[name="csrf-token"]`).Attr("content"); v != "tok" {
			t.Errorf("csrf meta %q", v)
		}
		if cur, _ := byID(doc, "nav-dashboard").Attr("aria-current"); cur != "page" {
			t.Error("the active screen is not marked in the nav")
		}
		if _, ok := byID(doc, "nav-tenants").Attr("aria-current"); ok {
			t.Error("an inactive screen is marked")
		}
		if v, _ := byID(doc, "sign-out").Closest("form").Find(`input[name="_csrf"]`).Attr("value"); v != "tok" {
			t.Error("the sign-out form lacks the CSRF token")
		}
		if byID(doc, "lang-zh").Length() != 1 || byID(doc, "lang-en").Length() != 1 {
			t.Error("no language switch")
		}
		for _, sel := range []string{`link[rel="stylesheet"]`, "script"} {
			doc.Find(sel).Each(func(_ int, s *goquery.Selection) {
				u, _ := s.Attr("href")
				if u == "" {
					u, _ = s.Attr("src")
				}
				if !strings.HasPrefix(u, "/static/") {
					t.Errorf("asset %q is not an embedded, hashed one", u)
				}
			})
		}
	})
}

func TestLanguage(t *testing.T) {
	for header, want := range map[string]views.Lang{
		"": views.English, "zh-CN,zh;q=0.9": views.Chinese, "en-US,en;q=0.9,zh;q=0.8": views.English,
		"zh-TW": views.Chinese, "fr-FR,zh;q=0.5": views.Chinese, "fr": views.English, "ZH-hans": views.Chinese,
	} {
		if got := views.FromAcceptLanguage(header); got != want {
			t.Errorf("Accept-Language %q: %s, want %s", header, got, want)
		}
	}
	doc := render(t, views.Chinese, views.Dashboard(views.DashboardPage{Page: page}))
	if lang, _ := doc.Find("html").Attr("lang"); lang != "zh" {
		t.Errorf("html lang %q", lang)
	}
	if got := byID(doc, "dashboard-title").Text(); got != "概览" {
		t.Errorf("Chinese title %q", got)
	}
}

func TestLoginView(t *testing.T) {
	m := views.LoginPage{CSRF: "pre", Next: "/admin/audit",
		Form: views.Form{Values: map[string]string{"email": "a@example.com"}, Error: "wrong"}}
	both(t, views.Login(m), func(t *testing.T, doc *goquery.Document) {
		if v, _ := byID(doc, "field-email").Attr("value"); v != "a@example.com" {
			t.Errorf("e-mail not kept: %q", v)
		}
		if v, _ := byID(doc, "field-password").Attr("value"); v != "" {
			t.Error("the password is echoed back")
		}
		if byID(doc, "captcha").Length() != 0 {
			t.Error("CAPTCHA shown before it is required")
		}
		if byID(doc, "form-error").Text() != "wrong" {
			t.Error("form error not shown")
		}
	})
	m.CaptchaID = "abc123"
	doc := render(t, views.English, views.Login(m))
	if src, _ := byID(doc, "captcha-image").Attr("src"); src != "/admin/captcha/abc123.png" {
		t.Errorf("captcha image %q", src)
	}
	if byID(doc, "field-captcha").Length() != 1 {
		t.Error("no CAPTCHA field")
	}
}

func TestDashboardView(t *testing.T) {
	bars := make([]views.Bar, 24)
	for i := range bars {
		bars[i] = views.Bar{Label: "00", N: int64(i)}
	}
	m := views.DashboardPage{Page: page, PlatformScope: true,
		Tiles:    []views.Tile{{Key: "logins", Label: "dashboard.logins", Value: 42}},
		Failures: []views.CodeCount{{Code: "invalid_code", N: 3}},
		Chart:    views.Chart{Bars: bars, Max: 23}}
	both(t, views.Dashboard(m), func(t *testing.T, doc *goquery.Document) {
		if got := byID(doc, "tile-logins-value").Text(); got != "42" {
			t.Errorf("tile %q", got)
		}
		if n := byID(doc, "chart-bar").Length(); n != 24 {
			t.Errorf("%d bars, want 24", n)
		}
		if h, _ := byID(doc, "chart-bar").Last().Attr("height"); h != "168.0" {
			t.Errorf("the highest bar is %s tall, want the full 168", h)
		}
		if h, _ := byID(doc, "chart-bar").First().Attr("height"); h != "0.0" {
			t.Errorf("an empty hour's bar is %s tall", h)
		}
		if byID(doc, "failure-invalid_code").Length() != 1 {
			t.Error("failures by code missing")
		}
	})
	empty := render(t, views.English, views.Dashboard(views.DashboardPage{Page: page, Chart: views.Chart{Bars: bars[:1]}}))
	if byID(empty, "empty").Length() != 1 {
		t.Error("no empty state without failures")
	}
}

func TestCatalogue(t *testing.T) {
	if got := views.Translate(views.Chinese, "no.such.key"); !strings.HasPrefix(got, views.Missing) {
		t.Errorf("a missing key renders as %q", got)
	}
	if views.Translate(views.English, "nav.tenants") == views.Translate(views.Chinese, "nav.tenants") {
		t.Error("the two languages say the same")
	}
}
