package api_test

// Access control the handlers enforce on one instance: guessed ids across
// tenants, revoked keys, and a refusal that comes before any validation.

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
)

// mgWorld is two tenants, A and B, a key of every tenant role bound to A,
// and a user with a live session in each tenant.
type mgWorld struct {
	b       *testBundle
	pc      *mgClient
	a, tb   string // slugs
	clients map[admin.Role]*mgClient
	users   map[string]uuid.UUID // "A", "B" -> user id
}

func mgNewWorld(t *testing.T) *mgWorld {
	b := setup(t)
	w := &mgWorld{b: b, pc: b.mg(t), clients: map[admin.Role]*mgClient{}, users: map[string]uuid.UUID{}}
	a, tb := b.tenant(t, "rbac-a"), b.tenant(t, "rbac-b")
	w.a, w.tb = a.Slug, tb.Slug
	w.clients[admin.RolePlatformAdmin] = w.pc
	for _, role := range []admin.Role{admin.RoleTenantAdmin, admin.RoleTenantOperator, admin.RoleTenantViewer} {
		_, key := mgCreateKey(t, w.pc, "rbac "+string(role), string(role), a.Slug)
		w.clients[role] = w.pc.as(key)
	}
	for name, ten := range map[string]int64{"A": a.ID, "B": tb.ID} {
		w.users[name] = b.user(t, ten, "fixture-"+name)
		b.mgSession(t, ten, w.users[name])
	}
	return w
}

// ban creates a ban through the platform key, of tenant slug or of the
// platform when slug is "".
func (w *mgWorld) ban(t *testing.T, slug, target string) string {
	t.Helper()
	path, body := "/bans", map[string]any{"ip": target, "reason": "rbac"}
	if slug != "" {
		path, body = "/tenants/"+slug+"/bans", map[string]any{"openid": target, "reason": "rbac"}
	}
	r := w.pc.do(http.MethodPost, path, body)
	r.want(t, "ban fixture", http.StatusCreated, "")
	return r.Body["id"].(string)
}

func TestRBACCrossTenant(t *testing.T) {
	t.Parallel()
	w := mgNewWorld(t)
	b, A, B := w.b, w.a, w.tb
	ta, to, tv, pc := w.clients[admin.RoleTenantAdmin], w.clients[admin.RoleTenantOperator], w.clients[admin.RoleTenantViewer], w.pc
	bUser := w.users["B"].String()

	// Ids of tenant B guessed under tenant A's slug: the query is tenant-scoped.
	for _, c := range []struct {
		who string
		c   *mgClient
	}{{"tenant_admin", ta}, {"tenant_operator", to}, {"tenant_viewer", tv}, {"platform_admin", pc}} {
		c.c.do(http.MethodGet, "/tenants/"+A+"/users/"+bUser, nil).want(t, c.who+" gets B's user under A", http.StatusNotFound, "not_found")
	}
	ta.do(http.MethodDelete, "/tenants/"+A+"/users/"+bUser, nil).want(t, "erase B's user under A", http.StatusNotFound, "not_found")
	to.do(http.MethodPost, "/tenants/"+A+"/users/"+bUser+"/revoke-sessions", nil).want(t, "revoke B's user under A", http.StatusNotFound, "not_found")
	pc.do(http.MethodGet, "/tenants/"+B+"/users/"+bUser, nil).want(t, "B's user untouched", http.StatusOK, "")
	if n := b.mgLive(t, w.users["B"]); n != 1 {
		t.Errorf("B's user has %d live sessions, want 1", n)
	}
	// And the same through B's slug is forbidden outright.
	ta.do(http.MethodGet, "/tenants/"+B+"/users/"+bUser, nil).want(t, "get B's user under B", http.StatusForbidden, "forbidden")

	// Bans of another tenant and platform bans, guessed by id.
	bBan, pBan := w.ban(t, B, "o-banned-1"), w.ban(t, "", "198.51.100.1")
	if r := ta.do(http.MethodDelete, "/tenants/"+A+"/bans/"+bBan, nil); r.Status != http.StatusNotFound && r.Status != http.StatusForbidden {
		t.Errorf("delete B's ban under A: %d %s", r.Status, r.Raw)
	}
	ta.do(http.MethodDelete, "/bans/"+pBan, nil).want(t, "delete a platform ban", http.StatusForbidden, "forbidden")
	if n := b.count(t, `SELECT count(*) FROM bans WHERE id = ANY($1::uuid[])`, []string{bBan, pBan}); n != 2 {
		t.Errorf("bans left after refused deletes: %d, want 2", n)
	}
	for _, it := range mgAll(t, ta, "/tenants/"+A+"/bans", 50, "id") {
		if it["id"] == bBan || it["id"] == pBan {
			t.Errorf("tenant A's ban list shows %v", it)
		}
	}

	// A ban in A naming B's user by id: refused, and B's user keeps the session.
	r := ta.do(http.MethodPost, "/tenants/"+A+"/bans", map[string]any{"user_id": bUser, "reason": "cross-tenant"})
	if r.Status == http.StatusCreated {
		t.Errorf("ban of B's user under A created: %s", r.Raw)
	} else {
		mgFields(t, "ban B's user under A", r, "user_id")
	}
	if n := b.mgLive(t, w.users["B"]); n != 1 {
		t.Errorf("B's user has %d live sessions after the refused ban, want 1", n)
	}

	// API keys of other tenants and of the platform.
	bKeyID, bKey := mgCreateKey(t, pc, "fresh B", string(admin.RoleTenantViewer), B)
	pKeyID, pKey := mgCreateKey(t, pc, "fresh platform", string(admin.RolePlatformAdmin), "")
	ta.do(http.MethodDelete, "/api-keys/"+bKeyID, nil).want(t, "revoke B's key", http.StatusForbidden, "forbidden")
	ta.do(http.MethodDelete, "/api-keys/"+pKeyID, nil).want(t, "revoke a platform key", http.StatusForbidden, "forbidden")
	ta.do(http.MethodDelete, "/api-keys/"+uuid.NewString(), nil).want(t, "revoke an unknown key", http.StatusForbidden, "forbidden")
	pc.as(bKey).do(http.MethodGet, "/tenants/"+B, nil).want(t, "B's key still works", http.StatusOK, "")
	pc.as(pKey).do(http.MethodGet, "/tenants", nil).want(t, "platform key still works", http.StatusOK, "")

	// Creating keys elsewhere, or above one's own role.
	keysBefore := b.count(t, `SELECT count(*) FROM api_keys`)
	ta.do(http.MethodPost, "/api-keys", map[string]any{"name": "x", "role": "tenant_viewer", "tenant": B}).
		want(t, "create a key for B", http.StatusForbidden, "forbidden")
	ta.do(http.MethodPost, "/api-keys", map[string]any{"name": "x", "role": "platform_admin"}).
		want(t, "create a platform key", http.StatusForbidden, "forbidden")
	ta.do(http.MethodPost, "/api-keys", map[string]any{"name": "x", "role": "tenant_viewer", "tenant": "rbac-nobody"}).
		want(t, "create a key for an unknown tenant", http.StatusForbidden, "forbidden")
	if r := ta.do(http.MethodPost, "/api-keys", map[string]any{"name": "x", "role": "platform_admin", "tenant": A}); r.Status != http.StatusBadRequest && r.Status != http.StatusForbidden {
		t.Errorf("platform key with tenant A by tenant_admin: %d %s", r.Status, r.Raw)
	}
	to.do(http.MethodPost, "/api-keys", map[string]any{"name": "x", "role": "tenant_viewer", "tenant": A}).
		want(t, "operator creates a key", http.StatusForbidden, "forbidden")
	if n := b.count(t, `SELECT count(*) FROM api_keys`); n != keysBefore {
		t.Fatalf("refused key creates made %d keys", n-keysBefore)
	}
	_, ownKey := mgCreateKey(t, ta, "made by the tenant admin", "tenant_admin", A)
	pc.as(ownKey).do(http.MethodGet, "/tenants/"+A, nil).want(t, "tenant admin's new key works", http.StatusOK, "")

	// Listing keys: own tenant only.
	for _, it := range mgAll(t, ta, "/api-keys?tenant="+A, 50, "id") {
		if it["tenant"] != A {
			t.Errorf("tenant_admin of A lists %v", it)
		}
	}
	ta.do(http.MethodGet, "/api-keys", nil).want(t, "list every key", http.StatusForbidden, "forbidden")
	ta.do(http.MethodGet, "/api-keys?tenant="+B, nil).want(t, "list B's keys", http.StatusForbidden, "forbidden")

	// Audit: own tenant only, and it must be named.
	pc.do(http.MethodPost, "/tenants/"+B+"/keys/rotate", nil).want(t, "rotate for an audit entry", http.StatusCreated, "")
	for _, c := range []struct {
		who string
		c   *mgClient
	}{{"tenant_admin", ta}, {"tenant_operator", to}, {"tenant_viewer", tv}} {
		c.c.do(http.MethodGet, "/audit", nil).want(t, c.who+" audit without tenant", http.StatusForbidden, "forbidden")
		c.c.do(http.MethodGet, "/audit?tenant="+B, nil).want(t, c.who+" audit of B", http.StatusForbidden, "forbidden")
		c.c.do(http.MethodGet, "/audit?tenant="+B+"&action=key.rotate", nil).want(t, c.who+" audit of B by action", http.StatusForbidden, "forbidden")
		c.c.do(http.MethodGet, "/audit?tenant=rbac-nobody", nil).want(t, c.who+" audit of an unknown tenant", http.StatusForbidden, "forbidden")
		for _, e := range mgAll(t, c.c, "/audit?tenant="+A, 50, "id") {
			if e["tenant"] != A {
				t.Errorf("%s sees an audit entry of another tenant: %v", c.who, e)
			}
		}
	}

	// Unknown slugs: forbidden for tenant keys (no probing), 404 for the platform.
	n := 0
	for _, route := range b.engine.Routes() {
		if !strings.HasPrefix(route.Path, "/api/v1/") || !strings.Contains(route.Path, ":slug") {
			continue
		}
		n++
		path := strings.TrimPrefix(route.Path, "/api/v1")
		path = strings.ReplaceAll(path, ":slug", "rbac-nobody")
		path = strings.ReplaceAll(path, ":id", uuid.NewString())
		var body any
		if route.Method == http.MethodPost || route.Method == http.MethodPatch {
			body = map[string]any{"name": "x"}
		}
		what := route.Method + " " + route.Path + " unknown slug"
		for _, role := range []admin.Role{admin.RoleTenantAdmin, admin.RoleTenantOperator, admin.RoleTenantViewer} {
			w.clients[role].do(route.Method, path, body).want(t, string(role)+" "+what, http.StatusForbidden, "forbidden")
		}
		pc.do(route.Method, path, body).want(t, "platform "+what, http.StatusNotFound, "not_found")
	}
	if n == 0 {
		t.Error("no route names a tenant slug")
	}

	pc.log.assertClean(t, "secret-of-"+A, "secret-of-"+B, bKey, pKey, ownKey, b.platformKey)
}

func TestRBACRevokedKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pc := b.mg(t)
	tt := b.tenant(t, "rbac-rev")

	id, key := mgCreateKey(t, pc, "to revoke", string(admin.RoleTenantAdmin), tt.Slug)
	kc := pc.as(key)
	kc.do(http.MethodGet, "/tenants/"+tt.Slug, nil).want(t, "before revoke", http.StatusOK, "")
	pc.do(http.MethodDelete, "/api-keys/"+id, nil).want(t, "revoke", http.StatusNoContent, "")
	kc.do(http.MethodGet, "/tenants/"+tt.Slug, nil).want(t, "after revoke", http.StatusUnauthorized, "unauthorized")
	kc.do(http.MethodPost, "/tenants/"+tt.Slug+"/keys/rotate", nil).want(t, "after revoke, write", http.StatusUnauthorized, "unauthorized")

	// A tenant admin may revoke its own key; the next request is refused.
	selfID, self := mgCreateKey(t, pc, "self", string(admin.RoleTenantAdmin), tt.Slug)
	sc := pc.as(self)
	sc.do(http.MethodDelete, "/api-keys/"+selfID, nil).want(t, "self revoke", http.StatusNoContent, "")
	sc.do(http.MethodGet, "/tenants/"+tt.Slug, nil).want(t, "after self revoke", http.StatusUnauthorized, "unauthorized")

	// A key revoked in the store directly (another host's CLI or console).
	rawID, raw := mgCreateKey(t, pc, "raw", string(admin.RoleTenantViewer), tt.Slug)
	pc.as(raw).do(http.MethodGet, "/tenants/"+tt.Slug, nil).want(t, "before raw revoke", http.StatusOK, "")
	if err := b.apiKeys.Revoke(context.Background(), uuid.MustParse(rawID)); err != nil {
		t.Fatal(err)
	}
	pc.as(raw).do(http.MethodGet, "/tenants/"+tt.Slug, nil).want(t, "after raw revoke", http.StatusUnauthorized, "unauthorized")
	pc.log.assertClean(t, key, self, raw, "secret-of-"+tt.Slug)
}

// TestRBACForbiddenBeforeValidation: a caller who may not do something is
// told so (403) whatever the shape of its request; a 400 about the body or
// query would answer a question it may not ask, and makes the caller fix
// input for a call that can never succeed.
func TestRBACForbiddenBeforeValidation(t *testing.T) {
	t.Parallel()
	w := mgNewWorld(t)
	A, B := w.a, w.tb
	TA, TO, TV := admin.RoleTenantAdmin, admin.RoleTenantOperator, admin.RoleTenantViewer
	for _, tc := range []struct {
		role         admin.Role
		method, path string
		body         any
	}{
		{TV, "PATCH", "/tenants/" + A, `{"name":`},
		{TV, "POST", "/tenants", nil},
		{TA, "GET", "/tenants?limit=0", nil},
		{TV, "GET", "/tenants/" + B + "/users?limit=0", nil},
		{TV, "POST", "/api-keys", nil},
		{TO, "POST", "/api-keys", `{"name":`},
		{TV, "POST", "/api-keys", map[string]any{"name": "x", "role": "tenant_viewer", "tenant": A, "scopes": "all"}},
		{TA, "POST", "/api-keys", map[string]any{"name": "x", "role": "tenant_viewer", "tenant": B, "scopes": "all"}},
		{TA, "GET", "/api-keys?tenant=" + B + "&limit=0", nil},
		{TV, "GET", "/api-keys?tenant=" + A + "&limit=x", nil},
		{TA, "GET", "/audit?tenant=" + B + "&limit=0", nil},
		{TA, "GET", "/audit?limit=500", nil},
		{TA, "GET", "/audit?tenant=" + B + "&since=yesterday", nil},
		{TA, "POST", "/admins", nil},
		{TA, "GET", "/admins?limit=0", nil},
	} {
		r := w.clients[tc.role].do(tc.method, tc.path, tc.body)
		if r.Status != http.StatusForbidden {
			t.Errorf("%s %s %v as %s: %d %s, want 403", tc.method, tc.path, tc.body, tc.role, r.Status, r.Raw)
		}
	}
}
