package views_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/miniauth/miniauth/admin/console/views"
	"github.com/miniauth/miniauth/tenant"
)

var created = time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)

func tenantsPage() views.Page {
	p := page
	p.Active = "tenants"
	return p
}

func TestTenantListView(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		both(t, views.TenantList(views.TenantListPage{Page: tenantsPage()}), func(t *testing.T, doc *goquery.Document) {
			if byID(doc, "empty").Length() != 1 || byID(doc, "tenant-table").Length() != 0 {
				t.Error("no empty state for no tenants")
			}
			if byID(doc, "tenant-new").Length() != 0 {
				t.Error("create offered to an admin who may not create")
			}
			if byID(doc, "page-next").Length() != 0 || byID(doc, "page-first").Length() != 0 {
				t.Error("a pager on a single page")
			}
		})
	})

	t.Run("no match names the search", func(t *testing.T) {
		doc := render(t, views.English, views.TenantList(views.TenantListPage{Page: tenantsPage(), Q: "zz<b>"}))
		if got := byID(doc, "empty").Text(); !strings.Contains(got, "zz<b>") {
			t.Errorf("empty state %q does not name the search", got)
		}
	})

	m := views.TenantListPage{Page: tenantsPage(), Q: "sh", Next: "shop-b", CanCreate: true, Rows: []views.TenantRow{
		{Slug: "shop-a", Name: "Shop A", Status: "active", AppID: "wx1234567890", CreatedAt: created},
		{Slug: "shop-b", Name: "Shop B", Status: "disabled", AppID: "wx0987654321", CreatedAt: created},
	}}
	both(t, views.TenantList(m), func(t *testing.T, doc *goquery.Document) {
		if n := byID(doc, "tenant-table").Find("tbody tr").Length(); n != 2 {
			t.Errorf("%d rows, want 2", n)
		}
		if href, _ := byID(doc, "tenant-link-shop-a").Attr("href"); href != "/admin/tenants/shop-a" {
			t.Errorf("row link %q", href)
		}
		if cls, _ := byID(doc, "tenant-row-shop-b").Find(`[data-testid="status"]`).Attr("class"); cls != "badge disabled" {
			t.Errorf("status badge class %q", cls)
		}
		if byID(doc, "tenant-new").Length() != 1 {
			t.Error("create not offered to a platform admin")
		}
		q := byID(doc, "tenant-search-q")
		if v, _ := q.Attr("value"); v != "sh" {
			t.Errorf("search box holds %q", v)
		}
		if f := q.Closest("form"); attr(f, "method") != "get" || attr(f, "action") != "/admin/tenants" {
			t.Error("the search is not a plain GET form")
		}
		if attr(q, "hx-get") != "/admin/tenants" || attr(q, "hx-target") != "#tenant-results" ||
			!strings.Contains(attr(q, "hx-trigger"), "input changed delay:300ms") || !strings.Contains(attr(q, "hx-trigger"), "search") {
			t.Error("the search box does not search as one types")
		}
		if doc.Find("#tenant-results #tenant-rows").Length() != 1 {
			t.Error("the rows are not inside the swapped region")
		}
		next := byID(doc, "page-next")
		if attr(next, "href") != "/admin/tenants?after=shop-b&q=sh" || attr(next, "hx-get") != attr(next, "href") {
			t.Errorf("next link %q / %q", attr(next, "href"), attr(next, "hx-get"))
		}
	})

	t.Run("fragment", func(t *testing.T) {
		m := m
		m.After = "mall"
		doc := render(t, views.English, views.TenantResults(m))
		if doc.Find("html head title").Length() != 0 || doc.Find("aside").Length() != 0 {
			t.Error("the fragment carries the layout")
		}
		if byID(doc, "tenant-row-shop-a").Length() != 1 || byID(doc, "page-next").Length() != 1 {
			t.Error("the fragment lacks rows or the next link")
		}
		if attr(byID(doc, "page-first"), "href") != "/admin/tenants?q=sh" {
			t.Error("no way back to the first page")
		}
	})
}

func attr(s *goquery.Selection, name string) string {
	v, _ := s.Attr(name)
	return v
}

// domainMessages are the validation messages of tenant fields, as the
// domain words them.
func domainMessages(t *testing.T) map[string]string {
	bad := "x"
	ttl := time.Second
	limit := "lots"
	var out = map[string]string{}
	for _, err := range []error{
		(&tenant.NewTenant{Slug: "-", WeChatAppID: bad, WeChatSecret: bad, SigningAlg: bad, AccessTTL: ttl, RefreshTTL: ttl,
			RateLimits: map[string]*string{"login_per_ip": &limit}}).Normalize(),
		(&tenant.Patch{Name: ptr("")}).Validate(),
	} {
		var v *tenant.ValidationError
		if !errors.As(err, &v) {
			t.Fatalf("not a validation error: %v", err)
		}
		v.EachField(func(field, message string) { out[field] = message })
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func TestTenantFieldMessagesTranslated(t *testing.T) {
	zh := views.WithLocale(context.Background(), views.Locale{Lang: views.Chinese, Zone: time.UTC})
	msgs := domainMessages(t)
	if len(msgs) < 8 {
		t.Fatalf("only %d messages: %v", len(msgs), msgs)
	}
	for field, m := range msgs {
		if views.FieldMessage(zh, m) == m {
			t.Errorf("%s: %q has no Chinese", field, m)
		}
	}
}

func TestTenantNewView(t *testing.T) {
	m := views.TenantNewPage{Page: tenantsPage(), Form: views.Form{
		Values: map[string]string{"slug": "Bad Slug", "name": "Shop", "signing_alg": "EdDSA", "wechat_secret": "leaked-if-shown"},
		Errors: map[string]string{"slug": "must be lowercase", "wechat_secret": "too short", "access_ttl_seconds": "must be 60-86400"},
	}}
	both(t, views.TenantNew(m), func(t *testing.T, doc *goquery.Document) {
		form := byID(doc, "tenant-create-form")
		if attr(form, "method") != "post" || attr(form, "action") != "/admin/tenants/new" {
			t.Error("create form does not post to /admin/tenants/new")
		}
		if attr(form.Find(`input[name="_csrf"]`), "value") != "tok" {
			t.Error("no CSRF token")
		}
		if attr(byID(doc, "field-slug"), "value") != "Bad Slug" || attr(byID(doc, "field-slug"), "aria-invalid") != "true" {
			t.Error("slug not kept or not marked invalid")
		}
		for field, msg := range m.Form.Errors {
			e := byID(doc, "error-"+field)
			if e.Text() != msg || e.Closest("label").Find(`[name="`+field+`"]`).Length() != 1 {
				t.Errorf("error of %s not beside its field: %q", field, e.Text())
			}
		}
		secret := byID(doc, "field-wechat_secret")
		if _, has := secret.Attr("value"); has || attr(secret, "type") != "password" {
			t.Error("the AppSecret is rendered back")
		}
		if strings.Contains(doc.Text(), "leaked-if-shown") {
			t.Error("the AppSecret appears on the page")
		}
		if !byID(doc, "field-signing_alg").Find(`option[value="EdDSA"]`).Is("[selected]") {
			t.Error("chosen algorithm not kept")
		}
	})
}

func detailModel() views.TenantPage {
	return views.TenantPage{
		Page: tenantsPage(),
		Tenant: views.TenantInfo{Slug: "shop-a", Name: "Shop A", Status: "active", AppID: "wx1234567890", SigningAlg: "ES256",
			AccessTTLSeconds: 900, RefreshTTLSeconds: 2592000, CreatedAt: created, UpdatedAt: created},
		Edit: views.Form{Values: map[string]string{"name": "Shop A", "wechat_appid": "wx1234567890", "signing_alg": "ES256",
			"access_ttl_seconds": "900", "refresh_ttl_seconds": "2592000"}},
		Limits:    views.Form{Values: map[string]string{"login_per_ip": "5-M"}},
		Defaults:  map[string]string{"login_per_ip": "60-M", "login_per_tenant": "6000-M", "refresh_per_ip": "120-M", "api_per_user": "300-M"},
		Effective: map[string]string{"login_per_ip": "5-M", "login_per_tenant": "6000-M", "refresh_per_ip": "120-M", "api_per_user": "300-M"},
		CanEdit:   true, CanTest: true, CanUsers: true, CanBans: true, CanKeys: true,
	}
}

func TestTenantDetailView(t *testing.T) {
	both(t, views.TenantDetail(detailModel()), func(t *testing.T, doc *goquery.Document) {
		for id, href := range map[string]string{"tenant-users": "/admin/tenants/shop-a/users",
			"tenant-bans": "/admin/tenants/shop-a/bans", "tenant-keys": "/admin/tenants/shop-a/keys"} {
			if attr(byID(doc, id), "href") != href {
				t.Errorf("%s links to %q", id, attr(byID(doc, id), "href"))
			}
		}
		edit := byID(doc, "tenant-edit-form")
		if attr(edit, "action") != "/admin/tenants/shop-a" || attr(byID(doc, "field-name"), "value") != "Shop A" {
			t.Error("edit form not filled")
		}
		if _, has := byID(doc, "field-wechat_secret").Attr("value"); has {
			t.Error("the AppSecret field has a value")
		}
		if _, req := byID(doc, "field-wechat_secret").Attr("required"); req {
			t.Error("the AppSecret is required on edit; empty should keep it")
		}
		status := byID(doc, "tenant-status-form")
		if attr(status, "action") != "/admin/tenants/shop-a/status" || attr(status, "data-confirm") == "" ||
			attr(status.Find(`input[name="status"]`), "value") != "disabled" || byID(doc, "tenant-disable").Length() != 1 {
			t.Error("no confirmed disable form")
		}
		test := byID(doc, "test-credentials-form")
		if attr(test, "action") != "/admin/tenants/shop-a/test-credentials" || attr(test, "hx-post") != attr(test, "action") ||
			attr(test, "hx-target") != "#credential-result" || doc.Find("#credential-result").Length() != 1 {
			t.Error("test credentials is not a form enhanced by htmx")
		}
		lim := byID(doc, "tenant-limits-form")
		if attr(lim, "action") != "/admin/tenants/shop-a/limits" {
			t.Error("limits form action")
		}
		if f := byID(doc, "field-login_per_ip"); attr(f, "value") != "5-M" || attr(f, "placeholder") != "60-M" {
			t.Errorf("own limit %q / placeholder %q", attr(f, "value"), attr(f, "placeholder"))
		}
		if f := byID(doc, "field-api_per_user"); attr(f, "value") != "" || attr(f, "placeholder") != "300-M" {
			t.Errorf("a default limit shows %q / placeholder %q", attr(f, "value"), attr(f, "placeholder"))
		}
	})

	t.Run("disabled tenant offers enable", func(t *testing.T) {
		m := detailModel()
		m.Tenant.Status = "disabled"
		doc := render(t, views.English, views.TenantDetail(m))
		if byID(doc, "tenant-enable").Length() != 1 || attr(byID(doc, "tenant-status-form").Find(`input[name="status"]`), "value") != "active" {
			t.Error("no enable form")
		}
	})

	t.Run("viewer sees no forms", func(t *testing.T) {
		m := detailModel()
		m.CanEdit, m.CanTest, m.CanBans = false, false, false
		both(t, views.TenantDetail(m), func(t *testing.T, doc *goquery.Document) {
			if n := doc.Find(`main form[method="post"]`).Length(); n != 0 {
				t.Errorf("%d state-changing forms offered to a viewer", n)
			}
			if byID(doc, "tenant-facts").Length() != 1 || byID(doc, "limit-login_per_ip").Text() != "5-M" {
				t.Error("settings or limits in force not shown read-only")
			}
			if byID(doc, "tenant-bans").Length() != 0 {
				t.Error("a link the viewer may not follow")
			}
		})
	})
}

func TestTenantLimitsErrorsView(t *testing.T) {
	m := detailModel()
	m.Limits = views.Form{Values: map[string]string{"login_per_ip": "lots", "refresh_per_ip": "9-M"},
		Errors: map[string]string{"login_per_ip": `must look like "20-M"`}}
	both(t, views.TenantDetail(m), func(t *testing.T, doc *goquery.Document) {
		e := byID(doc, "error-login_per_ip")
		if e.Text() != `must look like "20-M"` || e.Closest("label").Find(`[name="login_per_ip"]`).Length() != 1 {
			t.Error("limit error not beside its field")
		}
		if attr(byID(doc, "field-login_per_ip"), "value") != "lots" || attr(byID(doc, "field-refresh_per_ip"), "value") != "9-M" {
			t.Error("typed limits not kept")
		}
		if byID(doc, "error-refresh_per_ip").Length() != 0 {
			t.Error("an error on a valid field")
		}
	})
}

func TestCredentialResultView(t *testing.T) {
	for _, v := range []string{views.CredentialsAccepted, views.CredentialsWrongAppID, views.CredentialsWrongSecret, views.CredentialsUnknown} {
		both(t, views.CredentialResult(v), func(t *testing.T, doc *goquery.Document) {
			r := byID(doc, "credential-result")
			if attr(r, "id") != "credential-result" || attr(r, "data-verdict") != v || strings.TrimSpace(r.Text()) == "" {
				t.Errorf("%s: result %q", v, r.Text())
			}
			if r.HasClass("error") == (v == views.CredentialsAccepted) {
				t.Errorf("%s: wrong tone", v)
			}
		})
	}
}

func TestKeysView(t *testing.T) {
	retire := created.Add(time.Hour)
	m := views.KeysPage{Page: tenantsPage(), Slug: "shop-a", Name: "Shop A", CanRotate: true, Keys: []views.KeyRow{
		{KID: "k2", Alg: "ES256", Status: "active", CreatedAt: created},
		{KID: "k1", Alg: "ES256", Status: "retiring", CreatedAt: created, RetireAt: &retire},
		{KID: "k0", Alg: "EdDSA", Status: "retired", CreatedAt: created},
	}}
	both(t, views.Keys(m), func(t *testing.T, doc *goquery.Document) {
		for kid, status := range map[string]string{"k2": "active", "k1": "retiring", "k0": "retired"} {
			row := byID(doc, "key-row-"+kid)
			if row.Find(`[data-testid="kid"]`).Text() != kid || !row.Find(`[data-testid="status"]`).HasClass(status) {
				t.Errorf("key %s row wrong", kid)
			}
		}
		if !strings.Contains(byID(doc, "key-row-k1").Text(), "2026-03-01 09:30:00") {
			t.Error("retiring key's end not shown")
		}
		f := byID(doc, "key-rotate-form")
		if attr(f, "action") != "/admin/tenants/shop-a/keys/rotate" || attr(f, "data-confirm") == "" || attr(f, "method") != "post" {
			t.Error("no confirmed rotate form")
		}
	})
	m.CanRotate, m.Keys = false, nil
	doc := render(t, views.English, views.Keys(m))
	if byID(doc, "key-rotate").Length() != 0 || byID(doc, "empty").Length() != 1 {
		t.Error("a viewer is offered rotate, or no empty state")
	}
}
