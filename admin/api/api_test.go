package api_test

// Handler-level tests of the management API: one engine per test on a real
// Postgres and Redis, requests through httptest, no listening server. The
// end-to-end suite (cmd/miniauth) covers what only whole instances show.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/api"
	"github.com/miniauth/miniauth/tenant"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	revoked, revokedID := b.key(t, admin.RolePlatformAdmin, "")
	b.do(t, revoked, http.MethodGet, "/tenants", nil).want(t, "the key before it is revoked", http.StatusOK, "")
	if err := b.apiKeys.Revoke(ctx, revokedID); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name   string
		header string // the Authorization header; "" sends none
		status int
	}{
		{"valid key", "Bearer " + b.platformKey, http.StatusOK},
		{"lower-case scheme", "bearer " + b.platformKey, http.StatusOK},
		{"no authorization", "", http.StatusUnauthorized},
		{"wrong scheme", "Basic " + b.platformKey, http.StatusUnauthorized},
		{"scheme without key", "Bearer ", http.StatusUnauthorized},
		{"key without scheme", b.platformKey, http.StatusUnauthorized},
		{"unknown key", "Bearer " + admin.APIKeyPrefix + randomHex(t, 32), http.StatusUnauthorized},
		{"revoked key", "Bearer " + revoked, http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			var h []string
			if c.header != "" {
				h = []string{"Authorization", c.header}
			}
			r := b.do(t, "", http.MethodGet, "/tenants", nil, h...)
			if c.status == http.StatusOK {
				r.want(t, "GET /tenants", http.StatusOK, "")
				if r.Header.Get("WWW-Authenticate") != "" {
					t.Errorf("WWW-Authenticate on a success: %q", r.Header.Get("WWW-Authenticate"))
				}
				return
			}
			r.want(t, "GET /tenants", http.StatusUnauthorized, "unauthorized")
			if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
			}
		})
	}

	t.Run("per-key limit", func(t *testing.T) {
		b := setup(t, func(d *api.Deps) { d.KeyRate = "3-M" })
		other, _ := b.key(t, admin.RolePlatformAdmin, "")
		for i := 1; i <= 3; i++ {
			b.do(t, b.platformKey, http.MethodGet, "/tenants", nil).want(t, "call "+strconv.Itoa(i), http.StatusOK, "")
		}
		r := b.do(t, b.platformKey, http.MethodGet, "/tenants", nil)
		r.want(t, "call 4", http.StatusTooManyRequests, "rate_limited")
		secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 61 {
			t.Errorf("Retry-After = %q, want 1-61 seconds", r.Header.Get("Retry-After"))
		}
		if got := r.Header.Get("X-RateLimit-Limit"); got != "3" {
			t.Errorf("X-RateLimit-Limit = %q, want 3", got)
		}
		// The limit counts per key: another key still has its own three.
		b.do(t, other, http.MethodGet, "/tenants", nil).want(t, "another key", http.StatusOK, "")
	})
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	a := b.tenant(t, "tenant-a")
	tb := b.tenant(t, "tenant-b")
	adminA, _ := b.key(t, admin.RoleTenantAdmin, a.Slug)

	t.Run("validation lists every bad field", func(t *testing.T) {
		r := b.do(t, b.platformKey, http.MethodPost, "/tenants", map[string]any{
			"slug": "Not A Slug", "name": "  ", "wechat_appid": "nope", "wechat_secret": "short",
			"signing_alg": "RS256", "access_ttl_seconds": 5, "refresh_ttl_seconds": 1,
			"rate_limits": map[string]any{"login_per_ip": "fast", "no_such_limit": "1-M"},
		})
		r.want(t, "POST /tenants", http.StatusBadRequest, "invalid_request")
		var got []string
		for _, e := range r.Problem.Errors {
			if e.Message == "" {
				t.Errorf("field %s has no message", e.Field)
			}
			got = append(got, e.Field)
		}
		want := []string{"access_ttl_seconds", "name", "rate_limits.login_per_ip", "rate_limits.no_such_limit",
			"refresh_ttl_seconds", "signing_alg", "slug", "wechat_appid", "wechat_secret"}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("errors name %v, want %v", got, want)
		}
		if n := b.count(t, `SELECT count(*) FROM tenants`); n != 2 {
			t.Errorf("%d tenants after a refused create, want 2", n)
		}
	})

	t.Run("unknown slug", func(t *testing.T) {
		// What a tenant key gets for another tenant that exists: an unknown
		// slug must look exactly the same, so slugs cannot be probed.
		foreign := b.do(t, adminA, http.MethodGet, "/tenants/"+tb.Slug+"/users", nil)
		foreign.want(t, "tenant key on another tenant", http.StatusForbidden, "forbidden")

		for _, path := range []string{
			"/tenants/no-such-tenant",
			"/tenants/no-such-tenant/users",
			"/tenants/no-such-tenant/users/01900000-0000-7000-8000-000000000000",
			"/tenants/no-such-tenant/bans",
			"/tenants/no-such-tenant/keys",
			"/tenants/NOT_A_SLUG/users",
		} {
			t.Run(path, func(t *testing.T) {
				b.do(t, b.platformKey, http.MethodGet, path, nil).want(t, "platform key", http.StatusNotFound, "not_found")
				r := b.do(t, adminA, http.MethodGet, path, nil)
				r.want(t, "tenant key", http.StatusForbidden, "forbidden")
				if string(r.Raw) != string(foreign.Raw) {
					t.Errorf("tenant key: unknown slug answers %s, another tenant %s", r.Raw, foreign.Raw)
				}
			})
		}
	})

	t.Run("unknown tenant in a query", func(t *testing.T) {
		// /api-keys and /audit name their tenant in the query: a platform
		// key is told the slug is wrong, a tenant key only that it may not.
		for _, path := range []string{"/api-keys?tenant=no-such-tenant", "/audit?tenant=no-such-tenant"} {
			t.Run(path, func(t *testing.T) {
				r := b.do(t, b.platformKey, http.MethodGet, path, nil)
				r.want(t, "platform key", http.StatusBadRequest, "invalid_request")
				if len(r.Problem.Errors) != 1 || r.Problem.Errors[0].Field != "tenant" {
					t.Errorf("errors %+v, want one naming tenant", r.Problem.Errors)
				}
				b.do(t, adminA, http.MethodGet, path, nil).want(t, "tenant key", http.StatusForbidden, "forbidden")
			})
		}
	})

	t.Run("unknown or malformed ids", func(t *testing.T) {
		uid := b.user(t, a.ID, "openid-a")
		uidB := b.user(t, tb.ID, "openid-b")
		bans := b.do(t, b.platformKey, http.MethodPost, "/tenants/"+tb.Slug+"/bans",
			map[string]any{"openid": "someone", "reason": "spam"})
		bans.want(t, "ban in tenant B", http.StatusCreated, "")
		banB := bans.Body["id"].(string)
		// The ids exist somewhere, so a 404 below is the lookup's, not the route's.
		b.do(t, b.platformKey, http.MethodGet, "/tenants/"+a.Slug+"/users/"+uid.String(), nil).
			want(t, "a user of A", http.StatusOK, "")

		for _, c := range []struct{ name, method, path string }{
			{"unknown user", http.MethodGet, "/tenants/tenant-a/users/" + uuid.NewString()},
			{"malformed user id", http.MethodGet, "/tenants/tenant-a/users/not-a-uuid"},
			{"user of another tenant", http.MethodGet, "/tenants/tenant-a/users/" + uidB.String()},
			{"erase unknown user", http.MethodDelete, "/tenants/tenant-a/users/" + uuid.NewString()},
			{"erase malformed user id", http.MethodDelete, "/tenants/tenant-a/users/12345"},
			{"revoke sessions of unknown user", http.MethodPost, "/tenants/tenant-a/users/" + uuid.NewString() + "/revoke-sessions"},
			{"revoke sessions of malformed user id", http.MethodPost, "/tenants/tenant-a/users/xyz/revoke-sessions"},
			{"lift unknown ban", http.MethodDelete, "/tenants/tenant-a/bans/" + uuid.NewString()},
			{"lift malformed ban id", http.MethodDelete, "/tenants/tenant-a/bans/not-a-uuid"},
			{"lift ban of another tenant", http.MethodDelete, "/tenants/tenant-a/bans/" + banB},
			{"revoke unknown api key", http.MethodDelete, "/api-keys/" + uuid.NewString()},
			{"revoke malformed api key id", http.MethodDelete, "/api-keys/not-a-uuid"},
		} {
			t.Run(c.name, func(t *testing.T) {
				b.do(t, b.platformKey, c.method, c.path, nil).want(t, c.method+" "+c.path, http.StatusNotFound, "not_found")
			})
		}
		if n := b.count(t, `SELECT count(*) FROM bans WHERE id = $1`, banB); n != 1 {
			t.Errorf("tenant B's ban is gone after a delete through tenant A")
		}
	})

	t.Run("duplicate slug", func(t *testing.T) {
		body := map[string]any{"slug": "dup-slug", "name": "Dup", "wechat_appid": "wxdup0123456789", "wechat_secret": "dup-secret-123"}
		b.do(t, b.platformKey, http.MethodPost, "/tenants", body).want(t, "first create", http.StatusCreated, "")
		body["name"] = "Dup again"
		b.do(t, b.platformKey, http.MethodPost, "/tenants", body).want(t, "second create", http.StatusConflict, "conflict")
		got, err := b.tenants.Get(ctx, "dup-slug")
		if err != nil || got.Name != "Dup" {
			t.Errorf("after the conflict the tenant is %+v, %v; want the first one", got, err)
		}
	})

	t.Run("bad list parameters", func(t *testing.T) {
		cursor := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		lists := []string{"/tenants", "/tenants/tenant-a/users", "/tenants/tenant-a/bans", "/api-keys", "/audit", "/admins"}
		type bad struct{ path, query, field string }
		var cases []bad
		for _, l := range lists {
			for _, q := range []string{"limit=0", "limit=201", "limit=x", "limit=-1"} {
				cases = append(cases, bad{l, q, "limit"})
			}
			cases = append(cases, bad{l, "cursor=" + url.QueryEscape("*not base64*"), "cursor"})
		}
		// Cursors that decode but cannot be a position in that list.
		for _, l := range []string{"/tenants/tenant-a/users", "/tenants/tenant-a/bans", "/api-keys", "/admins"} {
			cases = append(cases, bad{l, "cursor=" + cursor("not-a-uuid"), "cursor"})
		}
		cases = append(cases, bad{"/audit", "cursor=" + cursor("-7"), "cursor"}, bad{"/audit", "cursor=" + cursor("abc"), "cursor"})

		for _, c := range cases {
			t.Run(c.path+"?"+c.query, func(t *testing.T) {
				r := b.do(t, b.platformKey, http.MethodGet, c.path+"?"+c.query, nil)
				r.want(t, "list", http.StatusBadRequest, "invalid_request")
				if len(r.Problem.Errors) != 1 || r.Problem.Errors[0].Field != c.field {
					t.Errorf("errors %+v, want one naming %s", r.Problem.Errors, c.field)
				}
			})
		}
		// The bounds themselves are accepted.
		for _, l := range lists {
			for _, q := range []string{"limit=1", "limit=200"} {
				b.do(t, b.platformKey, http.MethodGet, l+"?"+q, nil).want(t, l+"?"+q, http.StatusOK, "")
			}
		}
	})
}

func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.tenant(t, "tenant-a")
	get := func(t *testing.T) tenantView {
		t.Helper()
		r := b.do(t, b.platformKey, http.MethodGet, "/tenants/"+a.Slug, nil)
		r.want(t, "GET tenant", http.StatusOK, "")
		var v tenantView
		r.into(t, &v)
		return v
	}

	t.Run("tenant status and rate limits", func(t *testing.T) {
		defaults := tenant.DefaultRateLimits()
		before := get(t)
		if before.Status != "active" || before.RateLimits["login_per_ip"] != defaults["login_per_ip"] {
			t.Fatalf("before the patch: %+v", before)
		}
		r := b.do(t, b.platformKey, http.MethodPatch, "/tenants/"+a.Slug, map[string]any{
			"status": "disabled", "rate_limits": map[string]any{"login_per_ip": "7-M"},
		})
		r.want(t, "PATCH", http.StatusOK, "")
		var answered tenantView
		r.into(t, &answered)
		if answered.Status != "disabled" || answered.RateLimits["login_per_ip"] != "7-M" {
			t.Errorf("the PATCH answers %+v, want the patched tenant", answered)
		}
		after := get(t)
		if after.Status != "disabled" {
			t.Errorf("status %q right after the patch, want disabled", after.Status)
		}
		if after.RateLimits["login_per_ip"] != "7-M" {
			t.Errorf("login_per_ip %q right after the patch, want 7-M", after.RateLimits["login_per_ip"])
		}
		if after.RateLimits["refresh_per_ip"] != defaults["refresh_per_ip"] {
			t.Errorf("refresh_per_ip %q, want the untouched default %q", after.RateLimits["refresh_per_ip"], defaults["refresh_per_ip"])
		}

		// Merges key by key; null resets a key to the default.
		b.do(t, b.platformKey, http.MethodPatch, "/tenants/"+a.Slug, map[string]any{
			"status": "active", "rate_limits": map[string]any{"login_per_ip": nil, "refresh_per_ip": "9-S"},
		}).want(t, "second PATCH", http.StatusOK, "")
		again := get(t)
		if again.Status != "active" || again.RateLimits["login_per_ip"] != defaults["login_per_ip"] ||
			again.RateLimits["refresh_per_ip"] != "9-S" {
			t.Errorf("after the second patch: %+v", again)
		}
	})

	t.Run("ban created then deleted", func(t *testing.T) {
		listed := func(t *testing.T, id string) bool {
			t.Helper()
			r := b.do(t, b.platformKey, http.MethodGet, "/tenants/"+a.Slug+"/bans", nil)
			r.want(t, "list bans", http.StatusOK, "")
			var p page[banView]
			r.into(t, &p)
			return slices.ContainsFunc(p.Items, func(v banView) bool { return v.ID == id })
		}
		r := b.do(t, b.platformKey, http.MethodPost, "/tenants/"+a.Slug+"/bans",
			map[string]any{"ip": "203.0.113.7", "reason": "scraping"})
		r.want(t, "create ban", http.StatusCreated, "")
		var ban banView
		r.into(t, &ban)
		if ban.Kind != "ip" || ban.Target != "203.0.113.7/32" || ban.Reason != "scraping" ||
			ban.CreatedBy != "apikey:"+b.platformKeyID.String() {
			t.Errorf("created ban %+v", ban)
		}
		if !listed(t, ban.ID) {
			t.Fatal("the new ban is not listed right after its create")
		}
		b.do(t, b.platformKey, http.MethodDelete, "/tenants/"+a.Slug+"/bans/"+ban.ID, nil).want(t, "delete ban", http.StatusNoContent, "")
		if listed(t, ban.ID) {
			t.Error("the ban is still listed right after its delete")
		}
		b.do(t, b.platformKey, http.MethodDelete, "/tenants/"+a.Slug+"/bans/"+ban.ID, nil).
			want(t, "delete again", http.StatusNotFound, "not_found")
	})

	t.Run("revoked key", func(t *testing.T) {
		r := b.do(t, b.platformKey, http.MethodPost, "/api-keys",
			map[string]any{"name": "ci", "role": "tenant_admin", "tenant": a.Slug})
		r.want(t, "create key", http.StatusCreated, "")
		key, _ := r.Body["key"].(string)
		id, _ := r.Body["id"].(string)
		if !strings.HasPrefix(key, admin.APIKeyPrefix) || id == "" {
			t.Fatalf("create answer %s", r.Raw)
		}
		b.do(t, key, http.MethodGet, "/tenants/"+a.Slug, nil).want(t, "the new key", http.StatusOK, "")
		b.do(t, b.platformKey, http.MethodDelete, "/api-keys/"+id, nil).want(t, "revoke", http.StatusNoContent, "")
		r = b.do(t, key, http.MethodGet, "/tenants/"+a.Slug, nil)
		r.want(t, "the revoked key", http.StatusUnauthorized, "unauthorized")
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Error("no WWW-Authenticate on the 401")
		}
	})
}

func TestRBAC(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	a := b.tenant(t, "tenant-a")
	tb := b.tenant(t, "tenant-b")
	adminA, _ := b.key(t, admin.RoleTenantAdmin, a.Slug)
	viewerA, _ := b.key(t, admin.RoleTenantViewer, a.Slug)

	t.Run("viewer reads users but cannot ban", func(t *testing.T) {
		uid := b.user(t, a.ID, "openid-viewer")
		r := b.do(t, viewerA, http.MethodGet, "/tenants/"+a.Slug+"/users", nil)
		r.want(t, "viewer lists users", http.StatusOK, "")
		var users page[map[string]any]
		r.into(t, &users)
		if len(users.Items) != 1 || users.Items[0]["id"] != uid.String() {
			t.Errorf("viewer sees %s, want the one user %s", r.Raw, uid)
		}
		ban := map[string]any{"user_id": uid.String(), "reason": "abuse"}
		b.do(t, viewerA, http.MethodPost, "/tenants/"+a.Slug+"/bans", ban).want(t, "viewer bans", http.StatusForbidden, "forbidden")
		if n := b.count(t, `SELECT count(*) FROM bans`); n != 0 {
			t.Fatalf("%d bans written by a refused request", n)
		}
		// The same body from a key that may ban is a valid ban.
		b.do(t, adminA, http.MethodPost, "/tenants/"+a.Slug+"/bans", ban).want(t, "admin bans", http.StatusCreated, "")
		if n := b.count(t, `SELECT count(*) FROM bans`); n != 1 {
			t.Errorf("%d bans after the admin's, want 1", n)
		}
	})

	t.Run("tenant admin is confined to its tenant", func(t *testing.T) {
		uidB := b.user(t, tb.ID, "openid-b")
		r := b.do(t, b.platformKey, http.MethodPost, "/tenants/"+tb.Slug+"/bans", map[string]any{"ip": "198.51.100.1", "reason": "x"})
		r.want(t, "ban in B", http.StatusCreated, "")
		banB := r.Body["id"].(string)
		_, keyB := b.key(t, admin.RoleTenantViewer, tb.Slug)

		for _, c := range []struct {
			name, method, path string
			body               any
		}{
			{"get tenant", http.MethodGet, "/tenants/tenant-b", nil},
			{"patch tenant", http.MethodPatch, "/tenants/tenant-b", map[string]any{"name": "taken over"}},
			{"delete tenant", http.MethodDelete, "/tenants/tenant-b", nil},
			{"list users", http.MethodGet, "/tenants/tenant-b/users", nil},
			{"get user", http.MethodGet, "/tenants/tenant-b/users/" + uidB.String(), nil},
			{"disable user", http.MethodPatch, "/tenants/tenant-b/users/" + uidB.String(), map[string]any{"status": "disabled"}},
			{"erase user", http.MethodDelete, "/tenants/tenant-b/users/" + uidB.String(), nil},
			{"revoke sessions", http.MethodPost, "/tenants/tenant-b/users/" + uidB.String() + "/revoke-sessions", nil},
			{"list keys", http.MethodGet, "/tenants/tenant-b/keys", nil},
			{"rotate key", http.MethodPost, "/tenants/tenant-b/keys/rotate", nil},
			{"list bans", http.MethodGet, "/tenants/tenant-b/bans", nil},
			{"create ban", http.MethodPost, "/tenants/tenant-b/bans", map[string]any{"ip": "192.0.2.9", "reason": "x"}},
			{"lift ban", http.MethodDelete, "/tenants/tenant-b/bans/" + banB, nil},
			{"list api keys", http.MethodGet, "/api-keys?tenant=tenant-b", nil},
			{"create api key", http.MethodPost, "/api-keys", map[string]any{"name": "mine now", "role": "tenant_admin", "tenant": "tenant-b"}},
			{"revoke api key", http.MethodDelete, "/api-keys/" + keyB.String(), nil},
			{"list audit", http.MethodGet, "/audit?tenant=tenant-b", nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				b.do(t, adminA, c.method, c.path, c.body).want(t, c.method+" "+c.path, http.StatusForbidden, "forbidden")
			})
		}

		// Nothing of B changed.
		got, err := b.tenants.Get(ctx, tb.Slug)
		if err != nil || got.Name != tb.Name {
			t.Errorf("tenant B is now %+v, %v", got, err)
		}
		for what, n := range map[string]int{
			"B's user":        b.count(t, `SELECT count(*) FROM users WHERE tenant_id = $1 AND status = 'active'`, tb.ID),
			"B's ban":         b.count(t, `SELECT count(*) FROM bans WHERE tenant_id = $1`, tb.ID),
			"B's signing key": b.count(t, `SELECT count(*) FROM signing_keys WHERE tenant_id = $1`, tb.ID),
			"B's API key":     b.count(t, `SELECT count(*) FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL`, tb.ID),
		} {
			if n != 1 {
				t.Errorf("%s: %d rows, want 1", what, n)
			}
		}
		// The same key does all of it in its own tenant.
		for _, path := range []string{"/tenants/tenant-a/users", "/tenants/tenant-a/keys", "/tenants/tenant-a/bans",
			"/api-keys?tenant=tenant-a", "/audit?tenant=tenant-a"} {
			b.do(t, adminA, http.MethodGet, path, nil).want(t, "own tenant "+path, http.StatusOK, "")
		}
	})

	t.Run("tenant admin cannot mint a platform key", func(t *testing.T) {
		platformKeys := func() int {
			return b.count(t, `SELECT count(*) FROM api_keys WHERE role = 'platform_admin'`)
		}
		before := platformKeys()
		b.do(t, adminA, http.MethodPost, "/api-keys", map[string]any{"name": "escalate", "role": "platform_admin"}).
			want(t, "platform key", http.StatusForbidden, "forbidden")
		// Naming its own tenant does not get one either (the body is invalid).
		r := b.do(t, adminA, http.MethodPost, "/api-keys", map[string]any{"name": "escalate", "role": "platform_admin", "tenant": a.Slug})
		if r.Status != http.StatusForbidden && r.Status != http.StatusBadRequest {
			t.Errorf("platform key naming tenant A: status %d: %s", r.Status, r.Raw)
		}
		if n := platformKeys(); n != before {
			t.Errorf("%d platform keys, want %d", n, before)
		}
		b.do(t, adminA, http.MethodPost, "/api-keys", map[string]any{"name": "reader", "role": "tenant_viewer", "tenant": a.Slug}).
			want(t, "a key of its own tenant", http.StatusCreated, "")
	})

	t.Run("delete of a tenant is platform only", func(t *testing.T) {
		c := b.tenant(t, "tenant-c")
		adminC, _ := b.key(t, admin.RoleTenantAdmin, c.Slug)
		b.do(t, adminC, http.MethodDelete, "/tenants/"+c.Slug, nil).want(t, "tenant admin deletes", http.StatusForbidden, "forbidden")
		if _, err := b.tenants.Get(ctx, c.Slug); err != nil {
			t.Fatalf("tenant gone after a refused delete: %v", err)
		}
		b.do(t, b.platformKey, http.MethodDelete, "/tenants/"+c.Slug, nil).want(t, "platform deletes", http.StatusNoContent, "")
		b.do(t, b.platformKey, http.MethodGet, "/tenants/"+c.Slug, nil).want(t, "after delete", http.StatusNotFound, "not_found")
		// Its keys went with it.
		b.do(t, adminC, http.MethodGet, "/tenants", nil).want(t, "deleted tenant's key", http.StatusUnauthorized, "unauthorized")
	})
}

func TestAudit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	a := b.tenant(t, "tenant-a")
	other := b.tenant(t, "tenant-b")
	adminA, adminAID := b.key(t, admin.RoleTenantAdmin, a.Slug)
	const newSecret = "rotated-AppSecret-8f3a91"

	t.Run("tenant update", func(t *testing.T) {
		r := b.do(t, adminA, http.MethodPatch, "/tenants/"+a.Slug, map[string]any{"name": "Renamed", "wechat_secret": newSecret})
		r.want(t, "PATCH", http.StatusOK, "")
		if strings.Contains(string(r.Raw), newSecret) {
			t.Errorf("the response carries the secret: %s", r.Raw)
		}
		rows, err := b.db.Query(ctx, `SELECT actor_type, actor_id, tenant_slug, diff::text, row_to_json(audit_log)::text
			FROM audit_log WHERE action = 'tenant.update'`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			n++
			var actorType, actorID, slug, diff, row string
			if err := rows.Scan(&actorType, &actorID, &slug, &diff, &row); err != nil {
				t.Fatal(err)
			}
			if actorType != "apikey" || actorID != adminAID.String() || slug != a.Slug {
				t.Errorf("actor %s:%s on %s, want apikey:%s on %s", actorType, actorID, slug, adminAID, a.Slug)
			}
			for _, s := range []string{newSecret, "secret-of-" + a.Slug} {
				if strings.Contains(row, s) {
					t.Errorf("the audit row carries a secret: %s", row)
				}
			}
			var changes map[string]admin.Change
			if err := json.Unmarshal([]byte(diff), &changes); err != nil {
				t.Fatalf("diff %s: %v", diff, err)
			}
			if got := changes["wechat_secret"]; got != (admin.Change{From: admin.Masked, To: admin.Masked}) {
				t.Errorf("diff records the secret as %+v, want masked both ways: %s", got, diff)
			}
			if got := changes["name"]; got != (admin.Change{From: "Tenant tenant-a", To: "Renamed"}) {
				t.Errorf("diff records the name as %+v: %s", got, diff)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%d tenant.update rows, want 1", n)
		}
	})

	// Follows "tenant update": A's one entry is the update made there.
	t.Run("list as a tenant key", func(t *testing.T) {
		b.do(t, b.platformKey, http.MethodPatch, "/tenants/"+other.Slug, map[string]any{"name": "Other"}).
			want(t, "PATCH B", http.StatusOK, "")
		r := b.do(t, adminA, http.MethodGet, "/audit?tenant="+a.Slug, nil)
		r.want(t, "GET /audit?tenant=A", http.StatusOK, "")
		var p page[admin.AuditRecord]
		r.into(t, &p)
		if len(p.Items) != 1 {
			t.Fatalf("tenant A's audit: %s, want exactly its tenant.update", r.Raw)
		}
		e := p.Items[0]
		if e.Action != "tenant.update" || e.ActorID != adminAID.String() || e.Tenant == nil || *e.Tenant != a.Slug {
			t.Errorf("entry %+v", e)
		}
		if strings.Contains(string(r.Raw), newSecret) {
			t.Errorf("the audit list carries the secret: %s", r.Raw)
		}

		b.do(t, adminA, http.MethodGet, "/audit", nil).want(t, "GET /audit without tenant", http.StatusForbidden, "forbidden")
		r = b.do(t, b.platformKey, http.MethodGet, "/audit", nil)
		r.want(t, "platform GET /audit", http.StatusOK, "")
		r.into(t, &p)
		if len(p.Items) != 2 {
			t.Errorf("platform sees %d entries, want both tenants' 2: %s", len(p.Items), r.Raw)
		}
	})
}

func TestPagination(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.tenant(t, "tenant-a")

	t.Run("bans newest first, each once", func(t *testing.T) {
		var created []string
		for i := 1; i <= 5; i++ {
			r := b.do(t, b.platformKey, http.MethodPost, "/tenants/"+a.Slug+"/bans",
				map[string]any{"ip": "10.0.0." + strconv.Itoa(i), "reason": "test", "expires_at": time.Now().Add(time.Hour)})
			r.want(t, "create ban", http.StatusCreated, "")
			created = append(created, r.Body["id"].(string))
		}
		slices.Reverse(created)

		var seen []string
		var sizes []int
		path := "/tenants/" + a.Slug + "/bans?limit=2"
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatalf("more than 5 pages; seen %v", seen)
			}
			r := b.do(t, b.platformKey, http.MethodGet, path, nil)
			r.want(t, "GET "+path, http.StatusOK, "")
			var p page[banView]
			r.into(t, &p)
			sizes = append(sizes, len(p.Items))
			for _, v := range p.Items {
				seen = append(seen, v.ID)
			}
			if p.NextCursor == nil {
				if !strings.Contains(string(r.Raw), `"next_cursor":null`) {
					t.Errorf("last page does not say next_cursor null: %s", r.Raw)
				}
				break
			}
			path = "/tenants/" + a.Slug + "/bans?limit=2&cursor=" + url.QueryEscape(*p.NextCursor)
		}
		if !slices.Equal(seen, created) {
			t.Errorf("pages gave %v, want newest first %v", seen, created)
		}
		if !slices.Equal(sizes, []int{2, 2, 1}) {
			t.Errorf("page sizes %v, want [2 2 1]", sizes)
		}

		// A page that ends exactly at the last row has no next page.
		r := b.do(t, b.platformKey, http.MethodGet, "/tenants/"+a.Slug+"/bans?limit=5", nil)
		var p page[banView]
		r.into(t, &p)
		if len(p.Items) != 5 || p.NextCursor != nil {
			t.Errorf("limit=5 over 5 bans: %d items, next_cursor %v", len(p.Items), p.NextCursor)
		}
	})
}
