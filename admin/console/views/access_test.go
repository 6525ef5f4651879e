package views_test

import (
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/miniauth/miniauth/admin/console/views"
)

func keyForm(platform bool) *views.APIKeyForm {
	f := &views.APIKeyForm{Form: views.Form{Values: map[string]string{}, Errors: map[string]string{}},
		Platform: platform, Tenants: []views.TenantOption{{Slug: "acme", Name: "Acme"}}}
	if platform {
		f.Roles = append(f.Roles, "platform_admin")
	}
	f.Roles = append(f.Roles, "tenant_admin", "tenant_operator", "tenant_viewer")
	return f
}

func TestAPIKeysView(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		both(t, views.APIKeys(views.APIKeysPage{Page: page, AllScope: true, Create: keyForm(true)}), func(t *testing.T, doc *goquery.Document) {
			if byID(doc, "empty").Length() != 1 || byID(doc, "apikeys").Length() != 0 {
				t.Error("no empty state")
			}
			if byID(doc, "next-page").Length() != 0 {
				t.Error("a next link without a next page")
			}
			if byID(doc, "apikey-form").Length() != 1 || byID(doc, "create-apikey").Length() != 1 {
				t.Error("no create form")
			}
			if v, _ := byID(doc, "apikey-form").Find(`input[name="_csrf"]`).Attr("value"); v != "tok" {
				t.Errorf("create form csrf %q", v)
			}
			if byID(doc, "field-tenant").Find(`option[value=""]`).Length() != 1 {
				t.Error("a platform admin is not offered a platform key")
			}
			if byID(doc, "field-role").Find(`option[value="platform_admin"]`).Length() != 1 {
				t.Error("platform_admin role not offered")
			}
		})
	})
	t.Run("rows", func(t *testing.T) {
		m := views.APIKeysPage{Page: page, Tenants: []views.TenantOption{{Slug: "acme", Name: "Acme"}, {Slug: "beta", Name: "Beta"}},
			Scope: "acme", Next: "/admin/api-keys?before=x&tenant=acme", Create: keyForm(false),
			Keys: []views.APIKeyRow{
				{ID: "k1", Name: "ci", Role: "tenant_admin", Tenant: "acme", Created: "2026-01-01 00:00:00", LastUsed: "—", CanRevoke: true},
				{ID: "k2", Name: "ro", Role: "tenant_viewer", Tenant: "acme", Created: "2026-01-01 00:00:00", LastUsed: "—"},
			}}
		both(t, views.APIKeys(m), func(t *testing.T, doc *goquery.Document) {
			if n := byID(doc, "apikeys").Find("tbody tr").Length(); n != 2 {
				t.Errorf("%d rows", n)
			}
			if got := byID(doc, "apikey-k1").Find(`[data-testid="apikey-name"]`).Text(); got != "ci" {
				t.Errorf("name %q", got)
			}
			f := byID(doc, "revoke-k1").Closest("form")
			if a, _ := f.Attr("action"); a != "/admin/api-keys/k1/revoke" {
				t.Errorf("revoke action %q", a)
			}
			if q, _ := f.Attr("data-confirm"); !strings.Contains(q, "ci") {
				t.Errorf("revoke is not confirmed: %q", q)
			}
			if byID(doc, "revoke-k2").Length() != 0 {
				t.Error("revoke offered without the right")
			}
			if href, _ := byID(doc, "next-page").Attr("href"); href != "/admin/api-keys?before=x&tenant=acme" {
				t.Errorf("next %q", href)
			}
			if byID(doc, "apikeys-tenant").Find(`option[value=""]`).Length() != 0 {
				t.Error("a tenant admin is offered every key")
			}
			if byID(doc, "field-tenant").Find(`option[value=""]`).Length() != 0 ||
				byID(doc, "field-role").Find(`option[value="platform_admin"]`).Length() != 0 {
				t.Error("a tenant admin is offered a platform key")
			}
		})
	})
	t.Run("field errors", func(t *testing.T) {
		f := keyForm(true)
		f.Values = map[string]string{"name": "", "role": "tenant_admin", "tenant": "acme"}
		f.Errors = map[string]string{"name": "must be 1-100 characters", "tenant": "no tenant has this slug"}
		both(t, views.APIKeys(views.APIKeysPage{Page: page, AllScope: true, Create: f}), func(t *testing.T, doc *goquery.Document) {
			if byID(doc, "error-name").Length() != 1 || byID(doc, "error-tenant").Length() != 1 {
				t.Error("field errors not shown beside the fields")
			}
			if v, _ := byID(doc, "field-name").Attr("aria-invalid"); v != "true" {
				t.Error("name not marked invalid")
			}
			if _, ok := byID(doc, "field-tenant").Find(`option[value="acme"]`).Attr("selected"); !ok {
				t.Error("the chosen tenant is lost")
			}
		})
	})
}

func TestAPIKeyCreatedView(t *testing.T) {
	m := views.APIKeyCreatedPage{Page: page, Key: views.APIKeyRow{ID: "k1", Name: "ci", Role: "platform_admin"}, Secret: "mak_secret"}
	both(t, views.APIKeyCreated(m), func(t *testing.T, doc *goquery.Document) {
		in := byID(doc, "apikey-secret")
		if v, _ := in.Attr("value"); v != "mak_secret" {
			t.Errorf("secret %q", v)
		}
		if _, ok := in.Attr("readonly"); !ok {
			t.Error("the secret is editable")
		}
		id, _ := in.Attr("id")
		if target, _ := byID(doc, "copy-secret").Attr("data-copy"); id == "" || target != id {
			t.Errorf("copy button targets %q, the input is %q", target, id)
		}
		if strings.TrimSpace(byID(doc, "secret-warning").Text()) == "" {
			t.Error("no warning that the secret is shown once")
		}
		if strings.Count(doc.Text(), "mak_secret") > 0 {
			t.Error("the secret is in the page's text, not only the input")
		}
	})
}

func TestAdminsView(t *testing.T) {
	form := func() *views.AdminForm {
		return &views.AdminForm{Form: views.Form{Values: map[string]string{}, Errors: map[string]string{}},
			Roles: []string{"platform_admin", "tenant_admin"}, Tenants: []views.TenantOption{{Slug: "acme", Name: "Acme"}}}
	}
	t.Run("empty", func(t *testing.T) {
		both(t, views.Admins(views.AdminsPage{Page: page}), func(t *testing.T, doc *goquery.Document) {
			if byID(doc, "empty").Length() != 1 {
				t.Error("no empty state")
			}
			if byID(doc, "admin-form").Length() != 0 {
				t.Error("create offered without the right")
			}
		})
	})
	t.Run("rows and field errors", func(t *testing.T) {
		f := form()
		f.Values = map[string]string{"email": "bad", "role": "tenant_admin", "tenant": "acme"}
		f.Errors = map[string]string{"email": "must be an email address", "password": "must be at least 12 characters",
			"roles": "tenant roles need a tenant; platform_admin takes none"}
		m := views.AdminsPage{Page: page, Create: f, Next: "/admin/admins?after=x", Accounts: []views.AdminRow{
			{ID: "a1", Email: "root@example.com", Roles: []string{"platform_admin"}, LastLogin: "—", Self: true},
			{ID: "a2", Email: "t@example.com", Roles: []string{"tenant_admin @ acme"}, Disabled: true, LastLogin: "—"},
		}}
		both(t, views.Admins(m), func(t *testing.T, doc *goquery.Document) {
			if n := byID(doc, "admins").Find("tbody tr").Length(); n != 2 {
				t.Errorf("%d rows", n)
			}
			if href, _ := byID(doc, "admin-a2").Find(`[data-testid="admin-link"]`).Attr("href"); href != "/admin/admins/a2" {
				t.Errorf("link %q", href)
			}
			if byID(doc, "admin-a2").Find(".badge.disabled").Length() != 1 {
				t.Error("disabled account not marked")
			}
			for _, f := range []string{"email", "password", "roles"} {
				if byID(doc, "error-"+f).Length() != 1 {
					t.Errorf("no error beside %s", f)
				}
			}
			if v, _ := byID(doc, "field-email").Attr("value"); v != "bad" {
				t.Errorf("email kept as %q", v)
			}
			if byID(doc, "next-page").Length() != 1 {
				t.Error("no next link")
			}
		})
	})
	t.Run("detail", func(t *testing.T) {
		m := views.AdminPage{Page: page, CanWrite: true, Form: *form(),
			Account:  views.AdminRow{ID: "a2", Email: "t@example.com", Roles: []string{"tenant_admin @ acme"}},
			Bindings: []views.BindingOption{{Value: "tenant_admin|acme", Label: "tenant_admin @ acme"}}}
		both(t, views.AdminDetail(m), func(t *testing.T, doc *goquery.Document) {
			if v, _ := byID(doc, "binding-0").Attr("value"); v != "tenant_admin|acme" {
				t.Errorf("binding %q", v)
			}
			if a, _ := byID(doc, "admin-edit").Attr("action"); a != "/admin/admins/a2" {
				t.Errorf("edit action %q", a)
			}
			del := byID(doc, "admin-delete")
			if q, _ := del.Attr("data-confirm"); !strings.Contains(q, "t@example.com") {
				t.Errorf("delete not confirmed: %q", q)
			}
			if byID(doc, "self-hint").Length() != 0 {
				t.Error("self hint on another account")
			}
		})
		m.Account.Self = true
		m.Form.Errors = map[string]string{"disabled": "no", "roles": "no"}
		both(t, views.AdminDetail(m), func(t *testing.T, doc *goquery.Document) {
			if byID(doc, "admin-delete").Length() != 0 {
				t.Error("delete offered on one's own account")
			}
			if byID(doc, "self-hint").Length() != 1 || byID(doc, "error-disabled").Length() != 1 || byID(doc, "error-roles").Length() != 1 {
				t.Error("self guard not explained")
			}
		})
	})
}

func TestAuditView(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		m := views.AuditPage{Page: page, AllScope: true, Filter: views.Form{Values: map[string]string{}}}
		both(t, views.Audit(m), func(t *testing.T, doc *goquery.Document) {
			if byID(doc, "empty").Length() != 1 {
				t.Error("no empty state")
			}
			f := byID(doc, "audit-filter")
			if m, _ := f.Attr("method"); m != "get" {
				t.Error("the filter form does not work without JS")
			}
			if tgt, _ := f.Attr("hx-target"); tgt != "#audit-results" || doc.Find("#audit-results").Length() != 1 {
				t.Error("the filter form does not target the table fragment")
			}
			if typ, _ := byID(doc, "field-from").Attr("type"); typ != "datetime-local" {
				t.Errorf("from is %q", typ)
			}
		})
	})
	t.Run("entries", func(t *testing.T) {
		m := views.AuditPage{Page: page, Tenants: []views.TenantOption{{Slug: "acme", Name: "Acme"}},
			Filter: views.Form{Values: map[string]string{"tenant": "acme", "action": "tenant."}, Errors: map[string]string{}},
			Next:   "/admin/audit?action=tenant.&before=7&tenant=acme",
			Entries: []views.AuditEntry{{ID: "8", At: "2026-01-02 03:04:05", ActorType: "admin", ActorID: "u1",
				ActorName: "root@example.com", ActorRole: "platform_admin", Action: "tenant.update", Tenant: "acme",
				TargetType: "tenant", Target: "acme", IP: "127.0.0.1", Changes: []views.AuditChange{
					{Field: "name", From: "Old", To: "New"}, {Field: "wechat_secret", From: "********", To: "********"}}}}}
		both(t, views.Audit(m), func(t *testing.T, doc *goquery.Document) {
			row := byID(doc, "audit-8")
			if got := row.Find(`[data-testid="audit-at"]`).Text(); got != "2026-01-02 03:04:05" {
				t.Errorf("time %q", got)
			}
			actor := row.Find(`[data-testid="audit-actor"]`).Text()
			for _, want := range []string{"admin", "root@example.com", "platform_admin"} {
				if !strings.Contains(actor, want) {
					t.Errorf("actor %q lacks %q", actor, want)
				}
			}
			name := row.Find(`[data-testid="change-name"]`)
			if name.Find(`[data-testid="change-from"]`).Text() != "Old" || name.Find(`[data-testid="change-to"]`).Text() != "New" {
				t.Errorf("diff %q", name.Text())
			}
			if row.Find(`[data-testid="change-wechat_secret"] [data-testid="change-to"]`).Text() != "********" {
				t.Error("secret not shown masked")
			}
			if href, _ := byID(doc, "next-page").Attr("href"); href != m.Next {
				t.Errorf("next %q", href)
			}
			if byID(doc, "filter-tenant").Find(`option[value=""]`).Length() != 0 {
				t.Error("a tenant admin is offered platform entries")
			}
			if v, _ := byID(doc, "field-action").Attr("value"); v != "tenant." {
				t.Errorf("filter lost: %q", v)
			}
		})
	})
	t.Run("fragment", func(t *testing.T) {
		doc := render(t, views.English, views.AuditResults(views.AuditPage{Page: page}))
		if doc.Find("nav, aside").Length() != 0 || byID(doc, "empty").Length() != 1 {
			t.Error("the fragment is not just the results")
		}
	})
}

func TestTenantPickerWithManyTenants(t *testing.T) {
	f := keyForm(true)
	f.MoreTenants = true
	f.Values["tenant"] = "zeta"
	both(t, views.APIKeys(views.APIKeysPage{Page: page, AllScope: true, MoreTenants: true, Create: f}), func(t *testing.T, doc *goquery.Document) {
		in := byID(doc, "field-tenant")
		if goquery.NodeName(in) != "input" {
			t.Fatalf("the tenant picker is a %s", goquery.NodeName(in))
		}
		if v, _ := in.Attr("value"); v != "zeta" {
			t.Errorf("slug kept as %q", v)
		}
		if goquery.NodeName(byID(doc, "apikeys-tenant")) != "input" {
			t.Error("the scope picker lists a page of tenants only")
		}
	})
}
