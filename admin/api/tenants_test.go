package api_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/tenant"
)

// TestTenantManagement drives the tenant endpoints: create, list, get,
// patch, delete, keys, and a tenant_viewer key's reach. That a deleted
// tenant's JWKS is gone is the mini-program API's (cmd/miniauth
// TestSessionDeletedTenantJWKS).
func TestTenantManagement(t *testing.T) {
	t.Parallel()
	b := setup(t)
	api := func(method, path string, body any) reply {
		t.Helper()
		return b.do(t, b.platformKey, method, path, body)
	}

	// A bearer that is no API key at all; the other refused headers are
	// TestAuthentication's.
	r := b.do(t, "", http.MethodGet, "/tenants", nil, "Authorization", "Bearer hunter2")
	r.want(t, "not a key", http.StatusUnauthorized, "unauthorized")
	if r.Header.Get("WWW-Authenticate") == "" {
		t.Error("not a key: no WWW-Authenticate")
	}

	// Create.
	secret := "sess-very-secret-value"
	create := map[string]any{"slug": "sess-m1", "name": "Tenant one", "wechat_appid": "wxsessm100000000", "wechat_secret": secret}
	r = api("POST", "/tenants", create)
	r.want(t, "create", http.StatusCreated, "")
	tenNoSecret(t, "create", r, secret)
	tn := r.Body
	if tn["slug"] != "sess-m1" || tn["name"] != "Tenant one" || tn["status"] != "active" || tn["wechat_appid"] != "wxsessm100000000" ||
		tn["wechat_secret_set"] != true || tn["signing_alg"] != "ES256" ||
		tn["access_ttl_seconds"] != float64(900) || tn["refresh_ttl_seconds"] != float64(2592000) ||
		tn["created_at"] == nil || tn["updated_at"] == nil {
		t.Fatalf("created tenant: %s", r.Raw)
	}
	tenWantLimits(t, "created", tn, nil)
	if loc := r.Header.Get("Location"); loc != "" && loc != "/api/v1/tenants/sess-m1" {
		t.Errorf("Location %q", loc)
	}
	// A duplicate slug and a create wrong in every field are
	// TestErrorMapping's.
	mgFields(t, "create without secret", api("POST", "/tenants", map[string]any{
		"slug": "sess-m9", "name": "x", "wechat_appid": "wxsessm900000000"}), "wechat_secret")
	mgFields(t, "create with unknown field", api("POST", "/tenants", map[string]any{
		"slug": "sess-m9", "name": "x", "wechat_appid": "wxsessm900000000", "wechat_secret": secret, "owner": "me"}), "owner")
	api("POST", "/tenants", `{"slug":`).want(t, "create broken JSON", http.StatusBadRequest, "invalid_request")

	create2 := map[string]any{"slug": "sess-m2", "name": "Tenant two", "wechat_appid": "wxsessm200000000", "wechat_secret": secret,
		"signing_alg": "EdDSA", "access_ttl_seconds": 120, "rate_limits": map[string]any{"login_per_ip": "5-M"}}
	r = api("POST", "/tenants", create2)
	r.want(t, "create 2", http.StatusCreated, "")
	tn2 := r.Body
	if tn2["signing_alg"] != "EdDSA" || tn2["access_ttl_seconds"] != float64(120) {
		t.Fatalf("created tenant 2: %s", r.Raw)
	}
	tenWantLimits(t, "created 2", tn2, map[string]string{"login_per_ip": "5-M"})
	api("POST", "/tenants", map[string]any{"slug": "sess-m3", "name": "Tenant three",
		"wechat_appid": "wxsessm300000000", "wechat_secret": secret}).want(t, "create 3", http.StatusCreated, "")

	// List with pagination.
	var slugs []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("pagination does not end")
		}
		path := "/tenants?limit=1"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		r := api("GET", path, nil)
		r.want(t, "list page", http.StatusOK, "")
		tenNoSecret(t, "list", r, secret)
		var l struct {
			Items []map[string]any `json:"items"`
			Next  *string          `json:"next_cursor"`
		}
		r.into(t, &l)
		if !strings.Contains(string(r.Raw), `"next_cursor"`) {
			t.Fatalf("list has no next_cursor member: %s", r.Raw)
		}
		if len(l.Items) != 1 {
			t.Fatalf("page %d has %d items: %s", page, len(l.Items), r.Raw)
		}
		slugs = append(slugs, l.Items[0]["slug"].(string))
		if l.Next == nil {
			break
		}
		cursor = *l.Next
	}
	if !slices.Equal(slugs, []string{"sess-m1", "sess-m2", "sess-m3"}) {
		t.Fatalf("paginated slugs %v", slugs)
	}
	r = api("GET", "/tenants", nil)
	r.want(t, "list all", http.StatusOK, "")
	if items, _ := r.Body["items"].([]any); len(items) != 3 || r.Body["next_cursor"] != nil {
		t.Fatalf("unpaginated list: %s", r.Raw)
	}

	// Get.
	r = api("GET", "/tenants/sess-m2", nil)
	r.want(t, "get", http.StatusOK, "")
	tenNoSecret(t, "get", r, secret)
	if r.Body["wechat_secret_set"] != true || r.Body["slug"] != "sess-m2" {
		t.Fatalf("get: %s", r.Raw)
	}

	// PATCH merges rate limits key by key; null resets a key to the default.
	r = api("PATCH", "/tenants/sess-m2", map[string]any{"rate_limits": map[string]any{"refresh_per_ip": "7-S"}})
	r.want(t, "patch limits", http.StatusOK, "")
	tenWantLimits(t, "after set", r.Body, map[string]string{"login_per_ip": "5-M", "refresh_per_ip": "7-S"})
	r = api("PATCH", "/tenants/sess-m2", map[string]any{"rate_limits": map[string]any{"login_per_ip": nil}})
	r.want(t, "patch limit null", http.StatusOK, "")
	tenWantLimits(t, "after reset", r.Body, map[string]string{"refresh_per_ip": "7-S"})
	r = api("PATCH", "/tenants/sess-m2", map[string]any{"name": "Renamed"})
	r.want(t, "patch name", http.StatusOK, "")
	if r.Body["name"] != "Renamed" || r.Body["signing_alg"] != "EdDSA" {
		t.Fatalf("patch name: %s", r.Raw)
	}
	tenWantLimits(t, "patch without limits", r.Body, map[string]string{"refresh_per_ip": "7-S"})
	r = api("GET", "/tenants/sess-m2", nil)
	if r.Body["name"] != "Renamed" {
		t.Fatalf("get after patch: %s", r.Raw)
	}
	tenWantLimits(t, "get after patch", r.Body, map[string]string{"refresh_per_ip": "7-S"})
	r = api("PATCH", "/tenants/sess-m2", map[string]any{"wechat_secret": "another-secret-value"})
	r.want(t, "patch secret", http.StatusOK, "")
	tenNoSecret(t, "patch secret", r, "another-secret-value")
	mgFields(t, "patch bad limit", api("PATCH", "/tenants/sess-m2",
		map[string]any{"rate_limits": map[string]any{"api_per_user": "lots"}}), "rate_limits.api_per_user")
	mgFields(t, "patch unknown limit", api("PATCH", "/tenants/sess-m2",
		map[string]any{"rate_limits": map[string]any{"per_moon": "1-D"}}), "rate_limits.per_moon")
	mgFields(t, "patch bad status", api("PATCH", "/tenants/sess-m2", map[string]any{"status": "paused"}), "status")
	mgFields(t, "patch unknown field", api("PATCH", "/tenants/sess-m2", map[string]any{"slug": "sess-m7"}), "slug")
	api("PATCH", "/tenants/sess-nobody", map[string]any{"name": "x"}).want(t, "patch unknown tenant", http.StatusNotFound, "not_found")
	// The refused patches changed nothing.
	tenWantLimits(t, "after refused patches", api("GET", "/tenants/sess-m2", nil).Body, map[string]string{"refresh_per_ip": "7-S"})

	// Delete.
	api("DELETE", "/tenants/sess-m3", nil).want(t, "delete", http.StatusNoContent, "")
	api("GET", "/tenants/sess-m3", nil).want(t, "get deleted", http.StatusNotFound, "not_found")
	api("DELETE", "/tenants/sess-m3", nil).want(t, "delete again", http.StatusNotFound, "not_found")

	// A tenant_viewer key sees its own tenant only, and changes nothing.
	viewer, _ := b.key(t, admin.RoleTenantViewer, "sess-m1")
	as := func(method, path string, body any) reply {
		t.Helper()
		return b.do(t, viewer, method, path, body)
	}
	r = as("GET", "/tenants/sess-m1", nil)
	r.want(t, "viewer gets own tenant", http.StatusOK, "")
	tenNoSecret(t, "viewer get", r, secret)
	as("GET", "/tenants/sess-m1/keys", nil).want(t, "viewer lists own keys", http.StatusOK, "")
	for name, c := range map[string]struct{ method, path string }{
		"viewer gets other tenant":   {"GET", "/tenants/sess-m2"},
		"viewer lists other's keys":  {"GET", "/tenants/sess-m2/keys"},
		"viewer patches own tenant":  {"PATCH", "/tenants/sess-m1"},
		"viewer patches other":       {"PATCH", "/tenants/sess-m2"},
		"viewer rotates own keys":    {"POST", "/tenants/sess-m1/keys/rotate"},
		"viewer deletes own tenant":  {"DELETE", "/tenants/sess-m1"},
		"viewer lists tenants":       {"GET", "/tenants"},
		"viewer creates a tenant":    {"POST", "/tenants"},
		"viewer gets unknown tenant": {"GET", "/tenants/sess-nobody"},
	} {
		var body any
		switch c.method {
		case "PATCH":
			body = map[string]any{"status": "disabled", "name": "hijacked"}
		case "POST":
			body = map[string]any{"slug": "sess-v9", "name": "x", "wechat_appid": "wxsessv900000000", "wechat_secret": secret}
		}
		as(c.method, c.path, body).want(t, name, http.StatusForbidden, "forbidden")
	}
	r = api("GET", "/tenants/sess-m1", nil)
	if r.Body["status"] != "active" || r.Body["name"] != "Tenant one" {
		t.Fatalf("viewer changed the tenant: %s", r.Raw)
	}
	if r := api("GET", "/tenants/sess-m1/keys", nil); len(r.Body["items"].([]any)) != 1 {
		t.Fatalf("viewer rotated the key: %s", r.Raw)
	}
	if r := api("GET", "/tenants/sess-v9", nil); r.Status != http.StatusNotFound {
		t.Fatalf("viewer created a tenant: %d %s", r.Status, r.Raw)
	}
}

// tenNoSecret asserts a management answer carries no wechat_secret member
// and not the secret's value.
func tenNoSecret(t *testing.T, what string, r reply, secret string) {
	t.Helper()
	if strings.Contains(string(r.Raw), secret) || strings.Contains(string(r.Raw), `"wechat_secret"`) {
		t.Fatalf("%s: the AppSecret leaks: %s", what, r.Raw)
	}
}

// tenWantLimits asserts a tenant's rate_limits are the defaults overlaid
// with own.
func tenWantLimits(t *testing.T, what string, tn map[string]any, own map[string]string) {
	t.Helper()
	want := map[string]any{}
	for k, v := range tenant.DefaultRateLimits() {
		want[k] = v
	}
	for k, v := range own {
		want[k] = v
	}
	got, _ := tn["rate_limits"].(map[string]any)
	if len(got) != len(want) {
		t.Fatalf("%s: rate_limits %v, want %v", what, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: rate_limits %v, want %v", what, got, want)
		}
	}
}
