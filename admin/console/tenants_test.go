package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/console"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/auth/wechat"
	"github.com/miniauth/miniauth/auth/wechat/fake"
	"github.com/miniauth/miniauth/tenant"
)

// withWeChat gives the console's credentials check a fake WeChat.
func withWeChat(t testing.TB) (*fake.Server, func(*console.Deps)) {
	wx := fake.New()
	srv := httptest.NewServer(wx)
	t.Cleanup(srv.Close)
	return wx, func(d *console.Deps) {
		d.Credentials = auth.NewCredentials(wechat.New(srv.URL, nil), tenant.NewDirectory(d.Tenants, nil))
	}
}

// lastDiff is the diff of the newest audit entry of an action.
func (b *testBundle) lastDiff(t testing.TB, action string) (actorType, slug string, diff map[string]admin.Change) {
	t.Helper()
	var raw []byte
	if err := b.db.QueryRow(context.Background(),
		`SELECT actor_type, coalesce(tenant_slug, ''), diff FROM audit_log WHERE action = $1 ORDER BY id DESC LIMIT 1`, action).
		Scan(&actorType, &slug, &raw); err != nil {
		t.Fatalf("audit %s: %v", action, err)
	}
	if err := json.Unmarshal(raw, &diff); err != nil {
		t.Fatal(err)
	}
	return actorType, slug, diff
}

func TestTenantCreateAndList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pa := b.signIn(t, admin.RolePlatformAdmin, "")

	empty := pa.get(t, "/admin/tenants").want(t, http.StatusOK)
	if empty.find("empty").Length() != 1 || empty.find("tenant-new").Length() != 1 {
		t.Fatal("a platform admin with no tenants sees no empty state or no create button")
	}

	form := url.Values{"slug": {"Bad Slug"}, "name": {""}, "wechat_appid": {"nope"}, "wechat_secret": {"s3cret-never-shown"},
		"signing_alg": {"RS256"}, "access_ttl_seconds": {"ten"}, "refresh_ttl_seconds": {"60"}}
	bad := pa.post(t, "/admin/tenants/new", form).want(t, http.StatusBadRequest)
	for _, f := range []string{"slug", "name", "wechat_appid", "signing_alg", "access_ttl_seconds", "refresh_ttl_seconds"} {
		if bad.find("error-"+f).Length() != 1 {
			t.Errorf("no error beside %s", f)
		}
	}
	if strings.Contains(bad.Body, "s3cret-never-shown") {
		t.Error("the AppSecret is rendered back after a failed submit")
	}
	if v, _ := bad.find("field-slug").Attr("value"); v != "Bad Slug" {
		t.Errorf("typed slug not kept: %q", v)
	}

	form = url.Values{"slug": {"shop-one"}, "name": {"Shop One"}, "wechat_appid": {"wx1234567890abcd"},
		"wechat_secret": {"s3cret-never-shown"}, "signing_alg": {"EdDSA"}, "access_ttl_seconds": {"600"}, "refresh_ttl_seconds": {""}}
	wantRedirect(t, pa.post(t, "/admin/tenants/new", form), "/admin/tenants/shop-one")
	detail := pa.get(t, "/admin/tenants/shop-one").want(t, http.StatusOK)
	if detail.find("flash").Length() != 1 || !strings.Contains(detail.find("tenant-title").Text(), "Shop One") {
		t.Errorf("no flash or wrong tenant after create: %s", detail.find("flash").Text())
	}
	if strings.Contains(detail.Body, "s3cret-never-shown") {
		t.Error("the AppSecret is on the detail page")
	}
	ten, err := b.tenants.Get(context.Background(), "shop-one")
	if err != nil || ten.SigningAlg != tenant.AlgEdDSA || ten.AccessTTL.Seconds() != 600 || ten.RefreshTTL != tenant.DefaultRefreshTTL {
		t.Fatalf("stored tenant %+v, %v", ten, err)
	}
	actor, slug, diff := b.lastDiff(t, "tenant.create")
	if actor != "admin" || slug != "shop-one" || diff["slug"].To != "shop-one" {
		t.Errorf("audit: %s %s %v", actor, slug, diff)
	}
	if _, has := diff["wechat_secret"]; has {
		t.Error("the audit entry names the secret")
	}

	dup := pa.post(t, "/admin/tenants/new", form).want(t, http.StatusBadRequest)
	if dup.find("error-slug").Length() != 1 {
		t.Error("a taken slug is not an error beside the slug")
	}
	if n := b.auditCount(t, "tenant.create"); n != 1 {
		t.Errorf("%d tenant.create entries, want 1", n)
	}

	list := pa.get(t, "/admin/tenants").want(t, http.StatusOK)
	if list.find("tenant-row-shop-one").Length() != 1 {
		t.Fatal("the new tenant is not listed")
	}
}

func TestTenantListSearchAndPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range 52 {
		b.tenant(t, fmt.Sprintf("p-%02d", i))
	}
	b.tenant(t, "other")
	pa := b.signIn(t, admin.RolePlatformAdmin, "")

	first := pa.get(t, "/admin/tenants?q=p-").want(t, http.StatusOK)
	if n := first.find("tenant-table").Find("tbody tr").Length(); n != 50 {
		t.Fatalf("first page has %d rows, want 50", n)
	}
	if len(first.Body) > 60<<10 {
		t.Errorf("a full page is %d bytes", len(first.Body))
	}
	next, _ := first.find("page-next").Attr("href")
	if next != "/admin/tenants?after=p-49&q=p-" {
		t.Fatalf("next link %q", next)
	}
	second := pa.get(t, next).want(t, http.StatusOK)
	if n := second.find("tenant-table").Find("tbody tr").Length(); n != 2 || second.find("tenant-row-p-51").Length() != 1 {
		t.Fatalf("second page has %d rows", n)
	}
	if second.find("page-next").Length() != 0 {
		t.Error("a next link on the last page")
	}

	frag := pa.htmx(t, http.MethodGet, "/admin/tenants", url.Values{"q": {"OTH"}}).want(t, http.StatusOK)
	if frag.Doc.Find("aside").Length() != 0 || frag.find("tenant-row-other").Length() != 1 || frag.find("tenant-row-p-00").Length() != 0 {
		t.Fatalf("search fragment: %s", frag.Body)
	}
	none := pa.get(t, "/admin/tenants?q=zzz").want(t, http.StatusOK)
	if none.find("empty").Length() != 1 {
		t.Error("no empty state for a search without results")
	}
}

func TestTenantScopedAdmins(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tenant(t, "tenant-a")
	other := b.tenant(t, "tenant-b")
	ta := b.signIn(t, admin.RoleTenantAdmin, "tenant-a")

	list := ta.get(t, "/admin/tenants").want(t, http.StatusOK)
	if list.find("tenant-row-tenant-a").Length() != 1 || list.find("tenant-row-tenant-b").Length() != 0 {
		t.Fatalf("a tenant admin's list: %s", list.find("tenant-table").Text())
	}
	if list.find("tenant-new").Length() != 0 {
		t.Error("create offered to a tenant admin")
	}
	ta.get(t, "/admin/tenants/new").want(t, http.StatusForbidden)
	ta.post(t, "/admin/tenants/new", url.Values{"slug": {"sneaky"}, "name": {"x"}, "wechat_appid": {"wx1234567890"},
		"wechat_secret": {"secret-secret"}}).want(t, http.StatusForbidden)

	for _, path := range []string{"/admin/tenants/tenant-b", "/admin/tenants/tenant-b/keys", "/admin/tenants/no-such-tenant"} {
		if p := ta.get(t, path); p.Status != http.StatusForbidden && p.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d", path, p.Status)
		}
	}
	for _, path := range []string{"/admin/tenants/tenant-b", "/admin/tenants/tenant-b/status", "/admin/tenants/tenant-b/limits",
		"/admin/tenants/tenant-b/keys/rotate", "/admin/tenants/tenant-b/test-credentials"} {
		p := ta.post(t, path, url.Values{"name": {"Hijacked"}, "status": {"disabled"}, "login_per_ip": {"1-M"}})
		if p.Status != http.StatusForbidden && p.Status != http.StatusNotFound {
			t.Errorf("POST %s: %d", path, p.Status)
		}
	}
	// B's slug in a form of A changes A only.
	wantRedirect(t, ta.post(t, "/admin/tenants/tenant-a/limits", url.Values{"slug": {"tenant-b"}, "tenant": {"tenant-b"},
		"login_per_ip": {"7-M"}}), "/admin/tenants/tenant-a")
	gotA, _ := b.tenants.Get(context.Background(), "tenant-a")
	gotB, _ := b.tenants.Get(context.Background(), "tenant-b")
	if gotA.RateLimits["login_per_ip"] != "7-M" || len(gotB.RateLimits) != 0 {
		t.Errorf("limits: A %v, B %v", gotA.RateLimits, gotB.RateLimits)
	}
	if gotB.Name != other.Name || gotB.Status != tenant.StatusActive {
		t.Errorf("tenant B changed: %+v", gotB)
	}
	keys, _ := b.tenants.Keys(context.Background(), "tenant-b")
	if len(keys) != 1 {
		t.Errorf("tenant B has %d keys", len(keys))
	}

	viewer := b.signIn(t, admin.RoleTenantViewer, "tenant-a")
	d := viewer.get(t, "/admin/tenants/tenant-a").want(t, http.StatusOK)
	if n := d.Doc.Find(`main form[method="post"]`).Length(); n != 0 {
		t.Errorf("%d state-changing forms offered to a viewer", n)
	}
	if d.find("tenant-keys").Length() != 1 || d.find("tenant-users").Length() != 1 {
		t.Error("a viewer lacks the links to keys and users")
	}
	for _, path := range []string{"/admin/tenants/tenant-a", "/admin/tenants/tenant-a/status", "/admin/tenants/tenant-a/limits",
		"/admin/tenants/tenant-a/keys/rotate", "/admin/tenants/tenant-a/test-credentials"} {
		viewer.post(t, path, url.Values{"name": {"Viewer was here"}, "status": {"disabled"}}).want(t, http.StatusForbidden)
	}
	k := viewer.get(t, "/admin/tenants/tenant-a/keys").want(t, http.StatusOK)
	if k.find("key-rotate").Length() != 0 {
		t.Error("rotate offered to a viewer")
	}
	if n := b.auditCount(t, "tenant.update"); n != 1 {
		t.Errorf("%d tenant.update entries, want the one limits change", n)
	}
}

func TestTenantEdit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tenant(t, "shop")
	ta := b.signIn(t, admin.RoleTenantAdmin, "shop")
	page := ta.get(t, "/admin/tenants/shop").want(t, http.StatusOK)
	if v, _ := page.find("field-name").Attr("value"); v != "Tenant shop" {
		t.Fatalf("edit form name %q", v)
	}

	form := url.Values{"name": {"Renamed"}, "wechat_appid": {"wxshop0123456789"}, "wechat_secret": {""}, "signing_alg": {"ES256"},
		"access_ttl_seconds": {"1200"}, "refresh_ttl_seconds": {"2592000"}}
	wantRedirect(t, ta.post(t, "/admin/tenants/shop", form), "/admin/tenants/shop")
	got, _ := b.tenants.Get(context.Background(), "shop")
	if got.Name != "Renamed" || got.AccessTTL.Seconds() != 1200 {
		t.Fatalf("not saved: %+v", got)
	}
	_, slug, diff := b.lastDiff(t, "tenant.update")
	if slug != "shop" || diff["name"].From != "Tenant shop" || diff["name"].To != "Renamed" || diff["access_ttl_seconds"].To != float64(1200) {
		t.Errorf("diff %v", diff)
	}
	for _, k := range []string{"wechat_secret", "updated_at", "wechat_appid"} {
		if _, has := diff[k]; has {
			t.Errorf("diff names unchanged %s", k)
		}
	}

	form.Set("wechat_secret", "a-brand-new-secret")
	wantRedirect(t, ta.post(t, "/admin/tenants/shop", form), "/admin/tenants/shop")
	if _, _, diff := b.lastDiff(t, "tenant.update"); diff["wechat_secret"].From != admin.Masked || diff["wechat_secret"].To != admin.Masked {
		t.Errorf("secret change not recorded masked: %v", diff)
	}

	form.Set("wechat_secret", "short")
	form.Set("access_ttl_seconds", "5")
	form.Set("refresh_ttl_seconds", "99999999999999999999")
	bad := ta.post(t, "/admin/tenants/shop", form).want(t, http.StatusBadRequest)
	if bad.find("error-wechat_secret").Length() != 1 || bad.find("error-access_ttl_seconds").Length() != 1 ||
		bad.find("error-refresh_ttl_seconds").Length() != 1 {
		t.Errorf("errors not beside fields: %s", bad.find("tenant-edit-form").Text())
	}
	if strings.Contains(bad.Body, `value="short"`) {
		t.Error("the typed AppSecret is rendered back")
	}
	if v, _ := bad.find("field-access_ttl_seconds").Attr("value"); v != "5" {
		t.Errorf("typed value not kept: %q", v)
	}
	if n := b.auditCount(t, "tenant.update"); n != 2 {
		t.Errorf("%d tenant.update entries, want 2", n)
	}
}

func TestTenantStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tenant(t, "shop")
	pa := b.signIn(t, admin.RolePlatformAdmin, "")
	if pa.get(t, "/admin/tenants/shop").find("tenant-disable").Length() != 1 {
		t.Fatal("no disable button")
	}
	wantRedirect(t, pa.post(t, "/admin/tenants/shop/status", url.Values{"status": {"disabled"}}), "/admin/tenants/shop")
	if got, _ := b.tenants.Get(context.Background(), "shop"); got.Status != tenant.StatusDisabled {
		t.Fatalf("status %s", got.Status)
	}
	if _, _, diff := b.lastDiff(t, "tenant.update"); diff["status"].From != "active" || diff["status"].To != "disabled" {
		t.Errorf("diff %v", diff)
	}
	p := pa.get(t, "/admin/tenants/shop").want(t, http.StatusOK)
	if p.find("tenant-enable").Length() != 1 || p.find("flash").Length() != 1 {
		t.Error("no enable button or flash after disabling")
	}
	res := pa.htmx(t, http.MethodPost, "/admin/tenants/shop/status", url.Values{"status": {"active"}})
	if res.Header.Get("HX-Redirect") != "/admin/tenants/shop" {
		t.Errorf("htmx enable: %d %v", res.Status, res.Header)
	}
	if got, _ := b.tenants.Get(context.Background(), "shop"); got.Status != tenant.StatusActive {
		t.Fatalf("status %s", got.Status)
	}
	pa.post(t, "/admin/tenants/shop/status", url.Values{"status": {"gone"}}).want(t, http.StatusBadRequest)
}

func TestTenantLimits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tenant(t, "shop")
	ta := b.signIn(t, admin.RoleTenantAdmin, "shop")
	p := ta.get(t, "/admin/tenants/shop").want(t, http.StatusOK)
	if ph, _ := p.find("field-login_per_ip").Attr("placeholder"); ph != tenant.DefaultRateLimits()["login_per_ip"] {
		t.Errorf("placeholder %q, want the server default", ph)
	}

	bad := ta.post(t, "/admin/tenants/shop/limits", url.Values{"login_per_ip": {"lots"}, "refresh_per_ip": {"9-M"}}).
		want(t, http.StatusBadRequest)
	if e := bad.find("error-login_per_ip"); e.Length() != 1 || e.Closest("label").Find(`[name="login_per_ip"]`).Length() != 1 {
		t.Fatalf("no error beside login_per_ip: %s", bad.find("tenant-limits-form").Text())
	}
	if bad.find("error-refresh_per_ip").Length() != 0 {
		t.Error("an error on a valid limit")
	}
	if v, _ := bad.find("field-refresh_per_ip").Attr("value"); v != "9-M" {
		t.Errorf("typed limit not kept: %q", v)
	}
	if got, _ := b.tenants.Get(context.Background(), "shop"); len(got.RateLimits) != 0 {
		t.Fatalf("a refused form changed limits: %v", got.RateLimits)
	}

	wantRedirect(t, ta.post(t, "/admin/tenants/shop/limits", url.Values{"login_per_ip": {"5-M"}, "api_per_user": {"100-H"}}),
		"/admin/tenants/shop")
	got, _ := b.tenants.Get(context.Background(), "shop")
	if got.RateLimits["login_per_ip"] != "5-M" || got.RateLimits["api_per_user"] != "100-H" || len(got.RateLimits) != 2 {
		t.Fatalf("limits %v", got.RateLimits)
	}
	if _, _, diff := b.lastDiff(t, "tenant.update"); diff["rate_limits"].To == nil {
		t.Errorf("diff %v", diff)
	}
	if v, _ := ta.get(t, "/admin/tenants/shop").find("field-login_per_ip").Attr("value"); v != "5-M" {
		t.Errorf("own limit shown as %q", v)
	}

	wantRedirect(t, ta.post(t, "/admin/tenants/shop/limits", url.Values{"login_per_ip": {""}, "api_per_user": {"100-H"}}),
		"/admin/tenants/shop")
	if got, _ := b.tenants.Get(context.Background(), "shop"); got.RateLimits["login_per_ip"] != "" || len(got.RateLimits) != 1 {
		t.Fatalf("empty did not reset to the default: %v", got.RateLimits)
	}
}

func TestTenantKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tenant(t, "shop")
	ta := b.signIn(t, admin.RoleTenantAdmin, "shop")
	before, _ := b.tenants.Keys(context.Background(), "shop")
	p := ta.get(t, "/admin/tenants/shop/keys").want(t, http.StatusOK)
	if p.find("key-row-"+before[0].KID).Length() != 1 || p.find("key-rotate").Length() != 1 {
		t.Fatal("key or rotate button missing")
	}
	res := ta.post(t, "/admin/tenants/shop/keys/rotate", nil)
	wantRedirect(t, res, "/admin/tenants/shop/keys")
	after, _ := b.tenants.Keys(context.Background(), "shop")
	if len(after) != 2 {
		t.Fatalf("%d keys after rotation", len(after))
	}
	p = ta.get(t, "/admin/tenants/shop/keys").want(t, http.StatusOK)
	if !p.find("key-row-" + before[0].KID).Find(`[data-testid="status"]`).HasClass("retiring") {
		t.Error("the old key is not shown retiring")
	}
	if p.find("flash").Length() != 1 {
		t.Error("no flash after rotation")
	}
	_, slug, _ := b.lastDiff(t, "key.rotate")
	if slug != "shop" || b.auditCount(t, "key.rotate") != 1 {
		t.Error("rotation not audited")
	}
}

func TestTenantTestCredentials(t *testing.T) {
	t.Parallel()
	wx, creds := withWeChat(t)
	b := setup(t, creds)
	good, wrong := b.tenant(t, "good"), b.tenant(t, "wrong")
	wx.AddApp(good.WeChatAppID, "secret-of-good", "")
	wx.AddApp(wrong.WeChatAppID, "not-the-stored-secret", "")
	pa := b.signIn(t, admin.RolePlatformAdmin, "")
	if pa.get(t, "/admin/tenants/good").find("test-credentials").Length() != 1 {
		t.Fatal("no test credentials button")
	}

	frag := pa.htmx(t, http.MethodPost, "/admin/tenants/good/test-credentials", nil).want(t, http.StatusOK)
	if v, _ := frag.find("credential-result").Attr("data-verdict"); v != "accepted" || frag.Doc.Find("aside").Length() != 0 {
		t.Errorf("htmx answer for the right pair: %s", frag.Body)
	}
	frag = pa.htmx(t, http.MethodPost, "/admin/tenants/wrong/test-credentials", nil).want(t, http.StatusOK)
	if v, _ := frag.find("credential-result").Attr("data-verdict"); v != "wrong_secret" {
		t.Errorf("htmx answer for a wrong secret: %s", frag.Body)
	}

	wantRedirect(t, pa.post(t, "/admin/tenants/wrong/test-credentials", nil), "/admin/tenants/wrong")
	f := pa.get(t, "/admin/tenants/wrong").find("flash")
	if !f.HasClass("error") || !strings.Contains(f.Text(), "AppSecret") {
		t.Errorf("no error flash for a wrong pair: %q", f.Text())
	}
	wantRedirect(t, pa.post(t, "/admin/tenants/good/test-credentials", nil), "/admin/tenants/good")
	if f := pa.get(t, "/admin/tenants/good").find("flash"); f.HasClass("error") || f.Length() != 1 {
		t.Errorf("flash for the right pair: %q", f.Text())
	}
	if n := b.auditCount(t, "tenant.test_credentials"); n != 0 {
		t.Error("a check that changes nothing is audited")
	}
	if wx.Calls(fake.EndpointJSCode2Session) != 4 {
		t.Errorf("%d jscode2session calls, want 4", wx.Calls(fake.EndpointJSCode2Session))
	}
}

func TestTenantTestCredentialsAbsentWithoutWeChat(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tenant(t, "shop")
	pa := b.signIn(t, admin.RolePlatformAdmin, "")
	if pa.get(t, "/admin/tenants/shop").find("test-credentials").Length() != 0 {
		t.Error("the button is offered without a WeChat client")
	}
	pa.post(t, "/admin/tenants/shop/test-credentials", nil).want(t, http.StatusNotFound)
}

// The WeChat panel: the breaker state, the scan-to-sign-in page and the
// linked-tenants switch for tenant admins; the unionid group only for
// platform admins, whose form alone offers it.
func TestTenantWeChatSettings(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.tenant(t, "wxset")
	ta := b.signIn(t, admin.RoleTenantAdmin, "wxset")
	p := ta.get(t, "/admin/tenants/wxset").want(t, http.StatusOK)
	if s, _ := p.find("tenant-breaker").Attr("data-state"); s != "closed" {
		t.Errorf("breaker state %q, want closed", s)
	}
	if p.find("field-unionid_group").Length() != 0 || p.find("tenant-group").Length() != 1 {
		t.Error("a tenant admin is offered the unionid group")
	}

	bad := ta.post(t, "/admin/tenants/wxset/wechat", url.Values{"qr_login_page": {"/pages/x"}}).want(t, http.StatusBadRequest)
	if bad.find("error-qr_login_page").Length() != 1 {
		t.Fatalf("no error beside qr_login_page: %s", bad.find("tenant-wechat-form").Text())
	}
	wantRedirect(t, ta.post(t, "/admin/tenants/wxset/wechat", url.Values{"qr_login_page": {"pages/qr/index"}, "show_linked_tenants": {"true"}}),
		"/admin/tenants/wxset")
	got, _ := b.tenants.Get(context.Background(), "wxset")
	if got.QRLoginPage != "pages/qr/index" || !got.ShowLinkedTenants || got.UnionIDGroup != "" {
		t.Fatalf("saved %+v", got)
	}
	// A forged form field is refused, and changes nothing.
	ta.post(t, "/admin/tenants/wxset/wechat", url.Values{"qr_login_page": {""}, "unionid_group": {"stolen"}}).want(t, http.StatusForbidden)
	if got, _ := b.tenants.Get(context.Background(), "wxset"); got.UnionIDGroup != "" || got.QRLoginPage != "pages/qr/index" {
		t.Fatalf("a refused form changed the tenant: %+v", got)
	}

	pa := b.signIn(t, admin.RolePlatformAdmin, "")
	if pa.get(t, "/admin/tenants/wxset").find("field-unionid_group").Length() != 1 {
		t.Fatal("a platform admin is not offered the unionid group")
	}
	wantRedirect(t, pa.post(t, "/admin/tenants/wxset/wechat", url.Values{"unionid_group": {"acme"}, "show_linked_tenants": {"true"}, "qr_login_page": {"pages/qr/index"}}),
		"/admin/tenants/wxset")
	if got, _ := b.tenants.Get(context.Background(), "wxset"); got.UnionIDGroup != "acme" {
		t.Fatalf("group %q, want acme", got.UnionIDGroup)
	}
	if _, _, diff := b.lastDiff(t, "tenant.update"); diff["unionid_group"].To != "acme" {
		t.Errorf("audit diff %v", diff)
	}
}
