package console_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
)

func TestAPIKeysScreen(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	b.tenant(t, "acme")
	b.tenant(t, "beta")
	keys := b.deps.APIKeys

	t.Run("platform admin creates, uses and revokes a key", func(t *testing.T) {
		c := b.signIn(t, admin.RolePlatformAdmin, "")
		if c.get(t, "/admin/api-keys").want(t, http.StatusOK).find("empty").Length() != 1 {
			t.Error("no empty state")
		}
		res := c.post(t, "/admin/api-keys", url.Values{"name": {"ci"}, "role": {"tenant_admin"}, "tenant": {"acme"}})
		res.want(t, http.StatusCreated)
		secret, _ := res.find("apikey-secret").Attr("value")
		if !strings.HasPrefix(secret, admin.APIKeyPrefix) {
			t.Fatalf("secret %q", secret)
		}
		if target, _ := res.find("copy-secret").Attr("data-copy"); target == "" {
			t.Error("no copy button")
		}
		if res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("Location") != "" {
			t.Errorf("the secret page may be cached or redirected: %v", res.Header)
		}
		for _, ck := range res.Header.Values("Set-Cookie") {
			if strings.Contains(ck, secret) || strings.Contains(ck, url.QueryEscape(secret)) {
				t.Error("the secret is in a cookie")
			}
		}
		k, err := keys.Authenticate(ctx, secret)
		if err != nil || k.Role != admin.RoleTenantAdmin || k.Tenant == nil || *k.Tenant != "acme" {
			t.Fatalf("authenticate: %+v %v", k, err)
		}
		if b.auditCount(t, "apikey.create") != 1 {
			t.Error("create not audited")
		}
		var leaked bool
		if err := b.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_log WHERE diff::text LIKE '%' || $1 || '%')`, secret).Scan(&leaked); err != nil || leaked {
			t.Errorf("the secret is in the audit log (%v)", err)
		}
		list := c.get(t, "/admin/api-keys").want(t, http.StatusOK)
		if list.find("apikey-"+k.ID.String()).Length() != 1 || strings.Contains(list.Body, secret) {
			t.Error("the list lacks the key or shows its secret")
		}
		res = c.post(t, "/admin/api-keys/"+k.ID.String()+"/revoke", nil)
		if res.Status != http.StatusSeeOther {
			t.Fatalf("revoke: %d %s", res.Status, res.Body)
		}
		if _, err := keys.Authenticate(ctx, secret); !errors.Is(err, admin.ErrUnauthorized) {
			t.Errorf("a revoked key still authenticates: %v", err)
		}
		if b.auditCount(t, "apikey.revoke") != 1 {
			t.Error("revoke not audited")
		}
		after := c.get(t, "/admin/api-keys")
		if after.find("flash").Length() != 1 || after.find("apikey-"+k.ID.String()).Length() != 0 {
			t.Error("no flash, or the revoked key is still listed")
		}
		// A platform key.
		c.post(t, "/admin/api-keys", url.Values{"name": {"root"}, "role": {"platform_admin"}, "tenant": {""}}).want(t, http.StatusCreated)
	})

	t.Run("field errors", func(t *testing.T) {
		c := b.signIn(t, admin.RolePlatformAdmin, "")
		res := c.post(t, "/admin/api-keys", url.Values{"name": {""}, "role": {"tenant_admin"}, "tenant": {""}}).want(t, http.StatusBadRequest)
		if res.find("error-name").Length() != 1 || res.find("error-tenant").Length() != 1 {
			t.Errorf("errors not beside the fields: %s", res.Body)
		}
		res = c.post(t, "/admin/api-keys", url.Values{"name": {"x"}, "role": {"tenant_admin"}, "tenant": {"no-such"}}).want(t, http.StatusBadRequest)
		if res.find("error-tenant").Length() != 1 {
			t.Error("unknown tenant not reported")
		}
	})

	t.Run("tenant admin stays in their tenant", func(t *testing.T) {
		acme, _, _ := keys.Create(ctx, "acme-key", admin.RoleTenantViewer, "acme")
		beta, _, _ := keys.Create(ctx, "beta-key", admin.RoleTenantViewer, "beta")
		plat, _, _ := keys.Create(ctx, "plat-key", admin.RolePlatformAdmin, "")
		c := b.signIn(t, admin.RoleTenantAdmin, "acme")
		list := c.get(t, "/admin/api-keys").want(t, http.StatusOK)
		if list.find("apikey-"+acme.ID.String()).Length() != 1 {
			t.Error("own tenant's key missing")
		}
		if list.find("apikey-"+beta.ID.String()).Length() != 0 || list.find("apikey-"+plat.ID.String()).Length() != 0 {
			t.Error("another tenant's or a platform key is listed")
		}
		if list.find("field-tenant").Find(`option[value=""]`).Length() != 0 || list.find("field-role").Find(`option[value="platform_admin"]`).Length() != 0 {
			t.Error("a platform key is offered")
		}
		c.get(t, "/admin/api-keys?tenant=beta").want(t, http.StatusForbidden)
		var before int
		_ = b.db.QueryRow(ctx, `SELECT count(*) FROM api_keys`).Scan(&before)
		for _, form := range []url.Values{
			{"name": {"x"}, "role": {"platform_admin"}, "tenant": {""}},
			{"name": {"x"}, "role": {"tenant_admin"}, "tenant": {"beta"}},
			{"name": {"x"}, "role": {"tenant_admin"}, "tenant": {"no-such"}},
		} {
			c.post(t, "/admin/api-keys", form).want(t, http.StatusForbidden)
		}
		c.post(t, "/admin/api-keys", url.Values{"name": {"x"}, "role": {"platform_admin"}, "tenant": {"acme"}}).want(t, http.StatusBadRequest)
		var now int
		_ = b.db.QueryRow(ctx, `SELECT count(*) FROM api_keys`).Scan(&now)
		if now != before {
			t.Errorf("%d keys created by refused requests", now-before)
		}
		for _, id := range []string{beta.ID.String(), plat.ID.String(), uuid.NewString()} {
			c.post(t, "/admin/api-keys/"+id+"/revoke", nil).want(t, http.StatusForbidden)
		}
		res := c.post(t, "/admin/api-keys", url.Values{"name": {"mine"}, "role": {"tenant_operator"}, "tenant": {"acme"}}).want(t, http.StatusCreated)
		secret, _ := res.find("apikey-secret").Attr("value")
		if k, err := keys.Authenticate(ctx, secret); err != nil || *k.Tenant != "acme" {
			t.Errorf("tenant key: %v", err)
		}
		c.post(t, "/admin/api-keys/"+acme.ID.String()+"/revoke", nil).want(t, http.StatusSeeOther)
		c.get(t, "/admin/admins").want(t, http.StatusForbidden)
		if c.get(t, "/admin/").find("nav-admins").Length() != 0 {
			t.Error("the admins screen is offered to a tenant admin")
		}
	})

	t.Run("pages", func(t *testing.T) {
		for i := range 51 {
			if _, _, err := keys.Create(ctx, "bulk-"+strconv.Itoa(i), admin.RoleTenantViewer, "beta"); err != nil {
				t.Fatal(err)
			}
		}
		c := b.signIn(t, admin.RolePlatformAdmin, "")
		first := c.get(t, "/admin/api-keys?tenant=beta").want(t, http.StatusOK)
		t.Logf("a full page is %d bytes", len(first.Body))
		if n := first.find("apikeys").Find("tbody tr").Length(); n != 50 {
			t.Errorf("first page has %d rows", n)
		}
		next, _ := first.find("next-page").Attr("href")
		if !strings.Contains(next, "tenant=beta") {
			t.Fatalf("next %q", next)
		}
		second := c.get(t, next).want(t, http.StatusOK)
		if n := second.find("apikeys").Find("tbody tr").Length(); n != 2 || second.find("next-page").Length() != 0 {
			t.Errorf("second page has %d rows", n)
		}
	})
}

func TestAdminsScreen(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	b.tenant(t, "acme")
	b.tenant(t, "beta")
	c := b.signIn(t, admin.RolePlatformAdmin, "")

	list := c.get(t, "/admin/admins").want(t, http.StatusOK)
	if list.find("admin-"+c.Account.ID.String()).Length() != 1 || list.find("admin-form").Length() != 1 {
		t.Fatal("the list lacks the signed-in admin or the create form")
	}

	for field, form := range map[string]url.Values{
		"email":    {"email": {"not-an-email"}, "password": {testPassword}, "role": {"tenant_admin"}, "tenant": {"acme"}},
		"password": {"email": {"x@example.com"}, "password": {"short"}, "role": {"tenant_admin"}, "tenant": {"acme"}},
		"roles":    {"email": {"x@example.com"}, "password": {testPassword}, "role": {"tenant_admin"}, "tenant": {""}},
	} {
		res := c.post(t, "/admin/admins", form).want(t, http.StatusBadRequest)
		if res.find("error-"+field).Length() != 1 {
			t.Errorf("%s: no error beside the field", field)
		}
	}
	res := c.post(t, "/admin/admins", url.Values{"email": {"new@example.com"}, "password": {testPassword},
		"role": {"tenant_admin"}, "tenant": {"acme"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	id, err := uuid.Parse(strings.TrimPrefix(res.Header.Get("Location"), "/admin/admins/"))
	if err != nil {
		t.Fatalf("Location %q", res.Header.Get("Location"))
	}
	if b.auditCount(t, "admin.create") != 1 {
		t.Error("create not audited")
	}
	dup := c.post(t, "/admin/admins", url.Values{"email": {"new@example.com"}, "password": {testPassword},
		"role": {"tenant_admin"}, "tenant": {"acme"}}).want(t, http.StatusBadRequest)
	if dup.find("error-email").Length() != 1 {
		t.Error("a taken email is not reported")
	}

	detail := c.get(t, "/admin/admins/"+id.String()).want(t, http.StatusOK)
	if v, _ := detail.find("binding-0").Attr("value"); v != "tenant_admin|acme" {
		t.Errorf("binding %q", v)
	}
	res = c.post(t, "/admin/admins/"+id.String(), url.Values{"binding": {"tenant_admin|acme"},
		"add_role": {"tenant_viewer"}, "add_tenant": {"beta"}, "disabled": {"true"}, "password": {"another long password"}})
	if res.Status != http.StatusSeeOther {
		t.Fatalf("update: %d %s", res.Status, res.Body)
	}
	a, err := b.accounts.Get(ctx, id)
	if err != nil || !a.Disabled || len(a.Roles) != 2 {
		t.Fatalf("after update: %+v %v", a, err)
	}
	entries, err := b.audit.List(ctx, admin.AuditFilter{Action: "admin.update", Limit: 10})
	if err != nil || len(entries) != 1 {
		t.Fatalf("update audit: %v %v", entries, err)
	}
	d := entries[0].Diff
	if d["password"].To != admin.Masked || d["disabled"].To != true || d["roles"].To == nil {
		t.Errorf("update diff %+v", d)
	}
	if _, err := b.accounts.VerifyPassword(ctx, "new@example.com", "another long password"); !errors.Is(err, admin.ErrUnauthorized) {
		t.Errorf("a disabled admin signs in: %v", err)
	}
	// Enable again, dropping a role.
	c.post(t, "/admin/admins/"+id.String(), url.Values{"binding": {"tenant_viewer|beta"}}).want(t, http.StatusSeeOther)
	if a, _ := b.accounts.Get(ctx, id); a.Disabled || len(a.Roles) != 1 || *a.Roles[0].Tenant != "beta" {
		t.Errorf("after re-enable: %+v", a)
	}
	bad := c.post(t, "/admin/admins/"+id.String(), url.Values{"password": {"short"}, "binding": {"tenant_viewer|beta"}}).want(t, http.StatusBadRequest)
	if bad.find("error-password").Length() != 1 {
		t.Error("a short password is not reported")
	}

	self := "/admin/admins/" + c.Account.ID.String()
	if c.get(t, self).find("delete-admin").Length() != 0 {
		t.Error("deleting oneself is offered")
	}
	r := c.post(t, self, url.Values{"binding": {"platform_admin"}, "disabled": {"true"}}).want(t, http.StatusBadRequest)
	if r.find("error-disabled").Length() != 1 {
		t.Error("disabling oneself is not refused")
	}
	r = c.post(t, self, url.Values{"add_role": {"tenant_admin"}, "add_tenant": {"acme"}}).want(t, http.StatusBadRequest)
	if r.find("error-roles").Length() != 1 {
		t.Error("demoting oneself is not refused")
	}
	c.post(t, self+"/delete", nil).want(t, http.StatusSeeOther)
	if me, err := b.accounts.Get(ctx, c.Account.ID); err != nil || me.Disabled || me.Roles[0].Role != admin.RolePlatformAdmin {
		t.Fatalf("the signed-in admin changed themselves: %+v %v", me, err)
	}

	c.post(t, "/admin/admins/"+id.String()+"/delete", nil).want(t, http.StatusSeeOther)
	if _, err := b.accounts.Get(ctx, id); err == nil {
		t.Error("not deleted")
	}
	if b.auditCount(t, "admin.delete") != 1 {
		t.Error("delete not audited")
	}
	c.get(t, "/admin/admins/"+id.String()).want(t, http.StatusNotFound)

	ta := b.signIn(t, admin.RoleTenantAdmin, "acme")
	ta.get(t, "/admin/admins").want(t, http.StatusForbidden)
	ta.get(t, self).want(t, http.StatusForbidden)
	ta.post(t, "/admin/admins", url.Values{"email": {"evil@example.com"}, "password": {testPassword}, "role": {"platform_admin"}}).want(t, http.StatusForbidden)
	ta.post(t, self+"/delete", nil).want(t, http.StatusForbidden)
}

func TestAuditScreen(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	acme := b.tenant(t, "acme")
	beta := b.tenant(t, "beta")
	actor := admin.Actor{Type: "apikey", ID: "key-1", Name: "ci", Role: "platform_admin"}
	record := func(e admin.Event) {
		t.Helper()
		if err := b.audit.Record(ctx, actor, e); err != nil {
			t.Fatal(err)
		}
	}
	record(admin.Event{Action: "tenant.update", TenantID: &acme.ID, TenantSlug: "acme", TargetType: "tenant", TargetID: "acme",
		Diff: admin.Diff(map[string]any{"name": "Old", "wechat_secret": "a"}, map[string]any{"name": "New", "wechat_secret": "b"}, "wechat_secret")})
	record(admin.Event{Action: "tenant.update", TenantID: &beta.ID, TenantSlug: "beta", TargetType: "tenant", TargetID: "beta"})
	record(admin.Event{Action: "admin.create", TargetType: "admin", TargetID: "x"})
	for range 55 {
		record(admin.Event{Action: "user.update", TenantID: &acme.ID, TenantSlug: "acme", TargetType: "user", TargetID: "u"})
	}
	rows := func(p page) int { return p.find("audit").Find("tbody tr").Length() }

	c := b.signIn(t, admin.RolePlatformAdmin, "")
	all := c.get(t, "/admin/audit").want(t, http.StatusOK)
	t.Logf("a full page is %d bytes", len(all.Body))
	if rows(all) != 50 {
		t.Errorf("first page has %d rows", rows(all))
	}
	byAction := c.get(t, "/admin/audit?action=tenant.").want(t, http.StatusOK)
	if rows(byAction) != 2 {
		t.Errorf("prefix filter: %d rows", rows(byAction))
	}
	diff := byAction.find("change-name")
	if diff.Find(`[data-testid="change-from"]`).Text() != "Old" || diff.Find(`[data-testid="change-to"]`).Text() != "New" {
		t.Errorf("diff shown as %q", diff.Text())
	}
	if byAction.find("change-wechat_secret").Find(`[data-testid="change-to"]`).Text() != admin.Masked {
		t.Error("secret not shown masked")
	}
	scoped := c.get(t, "/admin/audit?tenant=beta&action=tenant.update").want(t, http.StatusOK)
	if rows(scoped) != 1 || scoped.find("audit-tenant").Text() != "beta" {
		t.Errorf("tenant filter: %d rows", rows(scoped))
	}
	if rows(c.get(t, "/admin/audit?action=admin.create")) != 1 {
		t.Error("platform entry not shown to a platform admin")
	}

	now := time.Now().UTC()
	local := func(d time.Duration) string { return now.Add(d).Format("2006-01-02T15:04") }
	if rows(c.get(t, "/admin/audit?from="+local(time.Hour))) != 0 {
		t.Error("from in the future still lists entries")
	}
	if rows(c.get(t, "/admin/audit?until="+local(-time.Hour))) != 0 {
		t.Error("until in the past still lists entries")
	}
	if rows(c.get(t, "/admin/audit?action=tenant.&from="+local(-time.Hour)+"&until="+local(time.Hour))) != 2 {
		t.Error("a range around now misses entries")
	}
	if c.get(t, "/admin/audit?from=yesterday").want(t, http.StatusBadRequest).find("error-from").Length() != 1 {
		t.Error("a bad time is not reported beside the field")
	}

	first := c.get(t, "/admin/audit?tenant=acme&action=user.update").want(t, http.StatusOK)
	next, _ := first.find("next-page").Attr("href")
	if rows(first) != 50 || !strings.Contains(next, "tenant=acme") || !strings.Contains(next, "action=user.update") || !strings.Contains(next, "before=") {
		t.Fatalf("first page: %d rows, next %q", rows(first), next)
	}
	second := c.get(t, next).want(t, http.StatusOK)
	if rows(second) != 5 || second.find("next-page").Length() != 0 {
		t.Errorf("second page: %d rows", rows(second))
	}
	frag := c.htmx(t, http.MethodGet, "/admin/audit", url.Values{"action": {"tenant."}}).want(t, http.StatusOK)
	if frag.Doc.Find("aside").Length() != 0 || rows(frag) != 2 {
		t.Error("htmx does not get the table fragment alone")
	}

	ta := b.signIn(t, admin.RoleTenantAdmin, "acme")
	mine := ta.get(t, "/admin/audit?action=tenant.").want(t, http.StatusOK)
	if rows(mine) != 1 || mine.find("audit-tenant").Text() != "acme" {
		t.Errorf("a tenant admin sees %d tenant entries", rows(mine))
	}
	if rows(ta.get(t, "/admin/audit?action=admin.create")) != 0 {
		t.Error("a tenant admin sees platform entries")
	}
	if ta.get(t, "/admin/audit").find("filter-tenant").Find(`option[value=""]`).Length() != 0 {
		t.Error("a tenant admin is offered every entry")
	}
	ta.get(t, "/admin/audit?tenant=beta").want(t, http.StatusForbidden)
	ta.get(t, "/admin/audit?tenant=no-such").want(t, http.StatusForbidden)
}

func TestAuditFilterErrorsUnderHTMX(t *testing.T) {
	b := setup(t)
	c := b.signIn(t, admin.RolePlatformAdmin, "")
	frag := c.htmx(t, http.MethodGet, "/admin/audit", url.Values{"until": {"soon"}}).want(t, http.StatusOK)
	if frag.find("form-error").Length() != 1 || frag.find("empty").Length() != 0 {
		t.Errorf("the fragment does not say the filter is wrong: %s", frag.Body)
	}
}
