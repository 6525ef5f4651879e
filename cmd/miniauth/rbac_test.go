package main

// End-to-end tests of the management API's access control: the full
// role × route × tenant matrix over every route the server registers,
// guessed ids across tenants, unknown slugs, revoked keys and how fast a
// new or revoked key is seen by another instance.

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/tenant"
)

const (
	mgmtPA = "platform_admin"
	mgmtTA = "tenant_admin"
	mgmtTO = "tenant_operator"
	mgmtTV = "tenant_viewer"
)

// mgmtRoles in the order the matrix runs them (platform last, so its
// destructive calls come after everyone else's).
var mgmtRoles = []string{mgmtTV, mgmtTO, mgmtTA, mgmtPA}

// mgmtRule is the expectation for one route. Targets are "A" (tenant A,
// the tenant every tenant-role key is bound to), "B" (another tenant) and
// "-" (no tenant: the platform scope, e.g. GET /audit without ?tenant or a
// platform_admin API key). targets lists the targets the route is called
// with; allow maps each role to the targets on which it is allowed.
type mgmtRule struct {
	targets string
	allow   map[string]string
}

func mgmtAllow(platformAdmin, tenantAdmin, tenantOperator, tenantViewer string) map[string]string {
	return map[string]string{mgmtPA: platformAdmin, mgmtTA: tenantAdmin, mgmtTO: tenantOperator, mgmtTV: tenantViewer}
}

// mgmtRBACTable is the permission contract, written out by hand from the
// role table (DESIGN.md, migrations/0004_management_access.sql), not
// derived from the code under test:
//
//	tenant_viewer:   read tenants, keys, users, bans, audit (own tenant)
//	tenant_operator: viewer + write users, sessions, bans
//	tenant_admin:    operator + write tenant (not delete), keys; read/write API keys
//	platform_admin:  everything, every tenant, and the platform routes
//	                 (tenant list/create, admins)
var mgmtRBACTable = map[string]mgmtRule{
	"POST /api/v1/tenants": {"-", mgmtAllow("-", "", "", "")},
	"GET /api/v1/tenants":  {"-", mgmtAllow("-", "", "", "")},

	"GET /api/v1/tenants/:slug":    {"AB", mgmtAllow("AB", "A", "A", "A")},
	"PATCH /api/v1/tenants/:slug":  {"AB", mgmtAllow("AB", "A", "", "")},
	"DELETE /api/v1/tenants/:slug": {"AB", mgmtAllow("AB", "", "", "")},

	"GET /api/v1/tenants/:slug/keys":         {"AB", mgmtAllow("AB", "A", "A", "A")},
	"POST /api/v1/tenants/:slug/keys/rotate": {"AB", mgmtAllow("AB", "A", "", "")},

	"GET /api/v1/tenants/:slug/users":                      {"AB", mgmtAllow("AB", "A", "A", "A")},
	"GET /api/v1/tenants/:slug/users/:id":                  {"AB", mgmtAllow("AB", "A", "A", "A")},
	"DELETE /api/v1/tenants/:slug/users/:id":               {"AB", mgmtAllow("AB", "A", "A", "")},
	"POST /api/v1/tenants/:slug/users/:id/revoke-sessions": {"AB", mgmtAllow("AB", "A", "A", "")},

	"GET /api/v1/tenants/:slug/bans":        {"AB", mgmtAllow("AB", "A", "A", "A")},
	"POST /api/v1/tenants/:slug/bans":       {"AB", mgmtAllow("AB", "A", "A", "")},
	"DELETE /api/v1/tenants/:slug/bans/:id": {"AB", mgmtAllow("AB", "A", "A", "")},
	// Platform-wide IP bans.
	"GET /api/v1/bans":        {"-", mgmtAllow("-", "", "", "")},
	"POST /api/v1/bans":       {"-", mgmtAllow("-", "", "", "")},
	"DELETE /api/v1/bans/:id": {"-", mgmtAllow("-", "", "", "")},

	"GET /api/v1/api-keys":        {"AB-", mgmtAllow("AB-", "A", "", "")},
	"POST /api/v1/api-keys":       {"AB-", mgmtAllow("AB-", "A", "", "")},
	"DELETE /api/v1/api-keys/:id": {"AB-", mgmtAllow("AB-", "A", "", "")},

	"GET /api/v1/audit": {"AB-", mgmtAllow("AB-", "A", "A", "A")},

	"GET /api/v1/admins":        {"-", mgmtAllow("-", "", "", "")},
	"POST /api/v1/admins":       {"-", mgmtAllow("-", "", "", "")},
	"GET /api/v1/admins/:id":    {"-", mgmtAllow("-", "", "", "")},
	"PATCH /api/v1/admins/:id":  {"-", mgmtAllow("-", "", "", "")},
	"DELETE /api/v1/admins/:id": {"-", mgmtAllow("-", "", "", "")},
}

// mgmtRoutes lists "METHOD path" of every route registered under /api/v1
// except the public OpenAPI document.
func mgmtRoutes(t testing.TB, srv *testServer) []string {
	t.Helper()
	engine, ok := srv.app.handler.(*gin.Engine)
	if !ok {
		t.Fatalf("handler is %T, not *gin.Engine", srv.app.handler)
	}
	var out []string
	for _, r := range engine.Routes() {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Path == "/api/v1/openapi.json" {
			continue
		}
		out = append(out, r.Method+" "+r.Path)
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatal("no management routes registered")
	}
	return out
}

// mgmtRBACWorld is the fixture of the matrix: tenants A and B, one key per
// role (tenant roles bound to A), and real resources to point ids at.
type mgmtRBACWorld struct {
	t       *testing.T
	b       *testBundle
	pc      *mgmtClient
	tenants map[string]testTenant // "A", "B"
	clients map[string]*mgmtClient
	users   map[string]tokens // a fixture user per tenant
	adminID string
	n       int
}

func mgmtNewRBACWorld(t *testing.T) *mgmtRBACWorld {
	b := setup(t)
	w := &mgmtRBACWorld{t: t, b: b, pc: mgmtPlatform(t, b), tenants: map[string]testTenant{}, clients: map[string]*mgmtClient{},
		users: map[string]tokens{}}
	w.tenants["A"] = mgmtTenant(t, b, w.pc, "rbac-a", nil)
	w.tenants["B"] = mgmtTenant(t, b, w.pc, "rbac-b", nil)
	w.clients[mgmtPA] = w.pc
	for _, role := range []string{mgmtTA, mgmtTO, mgmtTV} {
		_, key := mgmtCreateKey(t, w.pc, "rbac "+role, role, w.tenants["A"].Slug)
		w.clients[role] = w.pc.as(key)
	}
	for _, tg := range []string{"A", "B"} {
		w.users[tg] = mgmtLogin(t, b, nil, w.tenants[tg], "fixture")
	}
	w.adminID = w.freshAdmin()
	return w
}

func (w *mgmtRBACWorld) next() int { w.n++; return w.n }

func (w *mgmtRBACWorld) slug(target string) string {
	if target == "-" {
		return ""
	}
	return w.tenants[target].Slug
}

func (w *mgmtRBACWorld) freshUser(target string) tokens {
	return mgmtLogin(w.t, w.b, nil, w.tenants[target], fmt.Sprintf("fresh-%d", w.next()))
}

// freshKey creates a key straight in the store: a tenant_viewer key of the
// target tenant, or a platform_admin key for "-".
func (w *mgmtRBACWorld) freshKey(target string) (string, string) {
	role := admin.RoleTenantViewer
	if target == "-" {
		role = admin.RolePlatformAdmin
	}
	k, plain, err := admin.NewAPIKeys(w.b.db).Create(context.Background(), fmt.Sprintf("fresh key %d", w.next()), role, w.slug(target))
	if err != nil {
		w.t.Fatal(err)
	}
	return k.ID.String(), plain
}

func (w *mgmtRBACWorld) freshAdmin() string {
	id := uuid.Must(uuid.NewV7()).String()
	if _, err := w.b.db.Exec(context.Background(), `INSERT INTO admins (id, email, password_hash) VALUES ($1, $2, 'not-a-hash')`,
		id, fmt.Sprintf("fixture-%d@example.com", w.next())); err != nil {
		w.t.Fatal(err)
	}
	return id
}

// freshBan creates a ban through the platform key: an openid ban of the
// target tenant, or a platform-wide IP ban for "-". When that fails the id
// is a random one (an allowed call then answers 404).
func (w *mgmtRBACWorld) freshBan(target string) string {
	var r response
	if target == "-" {
		r = w.pc.do("POST", "/bans", map[string]any{"ip": fmt.Sprintf("198.51.100.%d", w.next()%250), "reason": "rbac"})
	} else {
		r = w.pc.do("POST", "/tenants/"+w.slug(target)+"/bans", map[string]any{"openid": fmt.Sprintf("o-banned-%d", w.next()), "reason": "rbac"})
	}
	if r.Status == http.StatusCreated {
		if id, ok := r.JSON(w.t)["id"]; ok {
			return fmt.Sprint(id)
		}
	}
	w.t.Errorf("cannot create a ban fixture: %d %s", r.Status, r.Body)
	return uuid.NewString()
}

// mgmtCall is one request of the matrix and how to check its effect.
type mgmtCall struct {
	method, path string // path below /api/v1
	body         any
	// verify checks the state afterwards; allowed is the expectation.
	verify func(r response, allowed bool)
}

// build turns a route and a target into a request on real resources.
func (w *mgmtRBACWorld) build(route, target string) (mgmtCall, bool) {
	t, pc := w.t, w.pc
	method, pattern, _ := strings.Cut(route, " ")
	slug := w.slug(target)
	path := strings.TrimPrefix(pattern, "/api/v1")
	path = strings.ReplaceAll(path, ":slug", slug)
	call := mgmtCall{method: method}
	withTenantQuery := func(p string) string {
		if slug == "" {
			return p
		}
		return p + "?tenant=" + slug
	}
	switch route {
	case "POST /api/v1/tenants":
		newSlug := fmt.Sprintf("rbac-new-%d", w.next())
		call.body = map[string]any{"slug": newSlug, "name": "new", "wechat_appid": "wxrbacnew0000000", "wechat_secret": "rbac-new-secret"}
		call.verify = func(r response, allowed bool) {
			if got := pc.do("GET", "/tenants/"+newSlug, nil).Status; !allowed && got != http.StatusNotFound {
				t.Errorf("refused tenant create left tenant %s (%d)", newSlug, got)
			}
		}
	case "GET /api/v1/tenants", "GET /api/v1/tenants/:slug", "GET /api/v1/tenants/:slug/keys",
		"GET /api/v1/tenants/:slug/users", "GET /api/v1/tenants/:slug/bans", "GET /api/v1/bans", "GET /api/v1/admins":
	case "PATCH /api/v1/tenants/:slug":
		name := fmt.Sprintf("renamed %d", w.next())
		call.body = map[string]any{"name": name}
		call.verify = func(r response, allowed bool) {
			got := pc.do("GET", "/tenants/"+slug, nil).JSON(t)["name"]
			if (got == name) != allowed {
				t.Errorf("PATCH %s (allowed %v): name is now %v", slug, allowed, got)
			}
		}
	case "DELETE /api/v1/tenants/:slug":
		call.verify = func(r response, allowed bool) {
			if got := pc.do("GET", "/tenants/"+slug, nil).Status; (got == http.StatusNotFound) != allowed {
				t.Errorf("DELETE tenant %s (allowed %v): GET answers %d", slug, allowed, got)
			}
		}
	case "POST /api/v1/tenants/:slug/keys/rotate":
		count := func() int {
			return mgmtCount(t, w.b, `SELECT count(*) FROM signing_keys k JOIN tenants t ON t.id = k.tenant_id WHERE t.slug = $1`, slug)
		}
		before := count()
		call.verify = func(r response, allowed bool) {
			if got := count(); (got == before+1) != allowed || (got != before && got != before+1) {
				t.Errorf("rotate %s (allowed %v): %d keys, had %d", slug, allowed, got, before)
			}
		}
	case "GET /api/v1/tenants/:slug/users/:id":
		call.path = strings.ReplaceAll(path, ":id", w.users[target].User.ID)
	case "DELETE /api/v1/tenants/:slug/users/:id":
		u := w.freshUser(target)
		path = strings.ReplaceAll(path, ":id", u.User.ID)
		call.verify = func(r response, allowed bool) {
			if got := pc.do("GET", "/tenants/"+slug+"/users/"+u.User.ID, nil).Status; (got == http.StatusNotFound) != allowed {
				t.Errorf("erase in %s (allowed %v): GET answers %d", slug, allowed, got)
			}
		}
	case "POST /api/v1/tenants/:slug/users/:id/revoke-sessions":
		u := w.freshUser(target)
		path = strings.ReplaceAll(path, ":id", u.User.ID)
		call.verify = func(r response, allowed bool) {
			live := func() bool { return mgmtMe(t, w.b.srv, slug, u.AccessToken).Status == http.StatusOK }
			// The revocation ran on the instance asked, which honours it at once.
			if allowed && live() {
				t.Errorf("revoke-sessions in %s left the session live", slug)
			} else if !allowed && !live() {
				t.Errorf("refused revoke-sessions in %s ended the session", slug)
			}
		}
	case "POST /api/v1/tenants/:slug/bans", "POST /api/v1/bans":
		reason := fmt.Sprintf("rbac ban %d", w.next())
		if slug == "" {
			call.body = map[string]any{"ip": fmt.Sprintf("203.0.113.%d", w.n%250), "reason": reason}
		} else {
			call.body = map[string]any{"openid": fmt.Sprintf("o-ban-%d", w.n), "reason": reason}
		}
		call.verify = func(r response, allowed bool) {
			if n := mgmtCount(t, w.b, `SELECT count(*) FROM bans WHERE reason = $1`, reason); (n == 1) != allowed {
				t.Errorf("create ban (allowed %v): %d rows", allowed, n)
			}
		}
	case "DELETE /api/v1/tenants/:slug/bans/:id", "DELETE /api/v1/bans/:id":
		id := w.freshBan(target)
		path = strings.ReplaceAll(path, ":id", id)
		call.verify = func(r response, allowed bool) {
			if n := mgmtCount(t, w.b, `SELECT count(*) FROM bans WHERE id = $1`, id); (n == 0) != allowed {
				t.Errorf("delete ban (allowed %v): %d rows left", allowed, n)
			}
		}
	case "GET /api/v1/api-keys", "GET /api/v1/audit":
		path = withTenantQuery(path)
	case "POST /api/v1/api-keys":
		name := fmt.Sprintf("rbac created %d", w.next())
		if slug == "" {
			call.body = map[string]any{"name": name, "role": "platform_admin"}
		} else {
			call.body = map[string]any{"name": name, "role": "tenant_viewer", "tenant": slug}
		}
		call.verify = func(r response, allowed bool) {
			if r.Status == http.StatusCreated {
				pc.log.issue(t, r.JSON(t)["key"].(string))
			}
			if n := mgmtCount(t, w.b, `SELECT count(*) FROM api_keys WHERE name = $1`, name); (n == 1) != allowed {
				t.Errorf("create key %q (allowed %v): %d rows", name, allowed, n)
			}
		}
	case "DELETE /api/v1/api-keys/:id":
		id, _ := w.freshKey(target)
		path = strings.ReplaceAll(path, ":id", id)
		call.verify = func(r response, allowed bool) {
			if n := mgmtCount(t, w.b, `SELECT count(*) FROM api_keys WHERE id = $1 AND revoked_at IS NOT NULL`, id); (n == 1) != allowed {
				t.Errorf("revoke key of %q (allowed %v): revoked rows %d", target, allowed, n)
			}
		}
	case "POST /api/v1/admins":
		email := fmt.Sprintf("rbac-%d@example.com", w.next())
		call.body = map[string]any{"email": email, "password": "rbac matrix password",
			"roles": []map[string]any{{"role": "tenant_viewer", "tenant": w.tenants["A"].Slug}}}
		call.verify = func(r response, allowed bool) {
			if n := mgmtCount(t, w.b, `SELECT count(*) FROM admins WHERE email = $1`, email); (n == 1) != allowed {
				t.Errorf("create admin (allowed %v): %d rows", allowed, n)
			}
		}
	case "GET /api/v1/admins/:id":
		path = strings.ReplaceAll(path, ":id", w.adminID)
	case "PATCH /api/v1/admins/:id":
		path = strings.ReplaceAll(path, ":id", w.adminID)
		call.body = map[string]any{"disabled": false}
	case "DELETE /api/v1/admins/:id":
		id := w.freshAdmin()
		path = strings.ReplaceAll(path, ":id", id)
		call.verify = func(r response, allowed bool) {
			if got := pc.do("GET", "/admins/"+id, nil).Status; (got == http.StatusNotFound) != allowed {
				t.Errorf("delete admin (allowed %v): GET answers %d", allowed, got)
			}
		}
	default:
		return call, false
	}
	if call.path == "" {
		call.path = path
	}
	if strings.Contains(call.path, ":") {
		t.Errorf("%s: unresolved parameter in %s", route, call.path)
		return call, false
	}
	return call, true
}

func TestRBACMatrix(t *testing.T) {
	t.Parallel()
	w := mgmtNewRBACWorld(t)

	type mgmtCase struct{ route, role, target string }
	var cases []mgmtCase
	for _, route := range mgmtRoutes(t, w.b.srv) {
		rule, ok := mgmtRBACTable[route]
		if !ok {
			t.Errorf("route %s has no RBAC expectation: add it to mgmtRBACTable", route)
			continue
		}
		for _, role := range mgmtRoles {
			for _, target := range strings.Split(rule.targets, "") {
				cases = append(cases, mgmtCase{route, role, target})
			}
		}
	}
	// Deleting the tenants goes last: everything else needs them.
	const deleteTenant = "DELETE /api/v1/tenants/:slug"
	sort.SliceStable(cases, func(i, j int) bool { return cases[i].route != deleteTenant && cases[j].route == deleteTenant })

	allowedCount, deniedCount := 0, 0
	for _, cs := range cases {
		call, ok := w.build(cs.route, cs.target)
		if !ok {
			t.Errorf("%s: the test does not know how to call this route", cs.route)
			continue
		}
		allowed := strings.Contains(mgmtRBACTable[cs.route].allow[cs.role], cs.target)
		name := fmt.Sprintf("%s as %s on %s (%s %s)", cs.route, cs.role, map[string]string{"A": "own tenant A", "B": "other tenant B", "-": "no tenant"}[cs.target],
			call.method, call.path)
		r := w.clients[cs.role].do(call.method, call.path, call.body)
		if allowed {
			allowedCount++
			switch {
			case r.Status == http.StatusUnauthorized || r.Status == http.StatusForbidden:
				t.Errorf("%s: want allowed, got %d %s", name, r.Status, r.Body)
			case r.Status >= 500:
				t.Errorf("%s: %d %s", name, r.Status, r.Body)
			case r.Status >= 300:
				// The fixtures are real, so an allowed call should succeed.
				t.Errorf("%s: allowed, but the handler answered %d %s", name, r.Status, r.Body)
			}
		} else {
			deniedCount++
			if r.Status != http.StatusForbidden {
				t.Errorf("%s: want 403, got %d %s", name, r.Status, r.Body)
			} else if code := r.Code(t); code != "forbidden" {
				t.Errorf("%s: problem code %q, want forbidden", name, code)
			}
		}
		if call.verify != nil {
			call.verify(r, allowed)
		}
	}
	if allowedCount == 0 || deniedCount == 0 {
		t.Fatalf("degenerate matrix: %d allowed, %d denied", allowedCount, deniedCount)
	}
	t.Logf("%d allowed and %d denied calls checked", allowedCount, deniedCount)

	// Deleting tenant A took its keys with it.
	for _, role := range []string{mgmtTA, mgmtTO, mgmtTV} {
		wantStatus(t, role+" key of the deleted tenant", w.clients[role].do("GET", "/tenants/rbac-a", nil), http.StatusUnauthorized, "unauthorized")
	}
	w.pc.log.assertClean(t, w.tenants["A"].Secret, w.tenants["B"].Secret, "rbac-new-secret", "rbac matrix password", w.b.apiKey)
}

// TestRBACContractRoutes checks that every route of the permission
// contract (DESIGN.md "Management REST API") is served.
func TestRBACContractRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	registered := map[string]bool{}
	for _, r := range mgmtRoutes(t, b.srv) {
		registered[r] = true
	}
	var missing []string
	for route := range mgmtRBACTable {
		if !registered[route] {
			missing = append(missing, route)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("routes of the contract that the server does not register: %v", missing)
	}
}

func TestRBACCrossTenant(t *testing.T) {
	t.Parallel()
	w := mgmtNewRBACWorld(t)
	A, B := w.tenants["A"], w.tenants["B"]
	ta, to, tv, pc := w.clients[mgmtTA], w.clients[mgmtTO], w.clients[mgmtTV], w.pc
	bUser := w.users["B"]

	// Ids of tenant B guessed under tenant A's slug: the query is tenant-scoped.
	for _, c := range []struct {
		who string
		c   *mgmtClient
	}{{"tenant_admin", ta}, {"tenant_operator", to}, {"tenant_viewer", tv}, {"platform_admin", pc}} {
		wantStatus(t, c.who+" gets B's user under A", c.c.do("GET", "/tenants/"+A.Slug+"/users/"+bUser.User.ID, nil), http.StatusNotFound, "not_found")
	}
	wantStatus(t, "erase B's user under A", ta.do("DELETE", "/tenants/"+A.Slug+"/users/"+bUser.User.ID, nil), http.StatusNotFound, "not_found")
	wantStatus(t, "revoke B's user under A", to.do("POST", "/tenants/"+A.Slug+"/users/"+bUser.User.ID+"/revoke-sessions", nil), http.StatusNotFound, "not_found")
	wantStatus(t, "B's user untouched", pc.do("GET", "/tenants/"+B.Slug+"/users/"+bUser.User.ID, nil), http.StatusOK, "")
	wantStatus(t, "B's user keeps the session", mgmtMe(t, w.b.srv, B.Slug, bUser.AccessToken), http.StatusOK, "")
	// And the same through B's slug is forbidden outright.
	wantStatus(t, "get B's user under B", ta.do("GET", "/tenants/"+B.Slug+"/users/"+bUser.User.ID, nil), http.StatusForbidden, "forbidden")

	// Bans of another tenant and platform bans, guessed by id.
	bBan, pBan := w.freshBan("B"), w.freshBan("-")
	if r := ta.do("DELETE", "/tenants/"+A.Slug+"/bans/"+bBan, nil); r.Status != http.StatusNotFound && r.Status != http.StatusForbidden {
		t.Errorf("delete B's ban under A: %d %s", r.Status, r.Body)
	}
	wantStatus(t, "delete a platform ban", ta.do("DELETE", "/bans/"+pBan, nil), http.StatusForbidden, "forbidden")
	if n := mgmtCount(t, w.b, `SELECT count(*) FROM bans WHERE id = ANY($1::uuid[])`, []string{bBan, pBan}); n != 2 {
		t.Errorf("bans left after refused deletes: %d, want 2", n)
	}
	for _, it := range mgmtAll(t, ta, "/tenants/"+A.Slug+"/bans", 50, "id") {
		if it["id"] == bBan || it["id"] == pBan {
			t.Errorf("tenant A's ban list shows %v", it)
		}
	}

	// A ban in A naming B's user by id: refused, and B's user keeps the session.
	r := ta.do("POST", "/tenants/"+A.Slug+"/bans", map[string]any{"user_id": bUser.User.ID, "reason": "cross-tenant"})
	if r.Status == http.StatusCreated {
		t.Errorf("ban of B's user under A created: %s", r.Body)
	} else {
		wantFields(t, "ban B's user under A", r, "user_id")
	}
	wantStatus(t, "B's user after the refused ban", mgmtMe(t, w.b.srv, B.Slug, bUser.AccessToken), http.StatusOK, "")

	// API keys of other tenants and of the platform.
	bKeyID, bKey := w.freshKey("B")
	pKeyID, pKey := w.freshKey("-")
	wantStatus(t, "revoke B's key", ta.do("DELETE", "/api-keys/"+bKeyID, nil), http.StatusForbidden, "forbidden")
	wantStatus(t, "revoke a platform key", ta.do("DELETE", "/api-keys/"+pKeyID, nil), http.StatusForbidden, "forbidden")
	wantStatus(t, "revoke an unknown key", ta.do("DELETE", "/api-keys/"+uuid.NewString(), nil), http.StatusForbidden, "forbidden")
	wantStatus(t, "B's key still works", pc.as(bKey).do("GET", "/tenants/"+B.Slug, nil), http.StatusOK, "")
	wantStatus(t, "platform key still works", pc.as(pKey).do("GET", "/tenants", nil), http.StatusOK, "")

	// Creating keys elsewhere, or above one's own role.
	keysBefore := mgmtCount(t, w.b, `SELECT count(*) FROM api_keys`)
	wantStatus(t, "create a key for B", ta.do("POST", "/api-keys", map[string]any{"name": "x", "role": "tenant_viewer", "tenant": B.Slug}),
		http.StatusForbidden, "forbidden")
	wantStatus(t, "create a platform key", ta.do("POST", "/api-keys", map[string]any{"name": "x", "role": "platform_admin"}),
		http.StatusForbidden, "forbidden")
	wantStatus(t, "create a key for an unknown tenant", ta.do("POST", "/api-keys", map[string]any{"name": "x", "role": "tenant_viewer", "tenant": "rbac-nobody"}),
		http.StatusForbidden, "forbidden")
	if r := ta.do("POST", "/api-keys", map[string]any{"name": "x", "role": "platform_admin", "tenant": A.Slug}); r.Status != http.StatusBadRequest && r.Status != http.StatusForbidden {
		t.Errorf("platform key with tenant A by tenant_admin: %d %s", r.Status, r.Body)
	}
	wantStatus(t, "operator creates a key", to.do("POST", "/api-keys", map[string]any{"name": "x", "role": "tenant_viewer", "tenant": A.Slug}),
		http.StatusForbidden, "forbidden")
	if n := mgmtCount(t, w.b, `SELECT count(*) FROM api_keys`); n != keysBefore {
		t.Fatalf("refused key creates made %d keys", n-keysBefore)
	}
	_, ownKey := mgmtCreateKey(t, ta, "made by the tenant admin", "tenant_admin", A.Slug)
	wantStatus(t, "tenant admin's new key works", pc.as(ownKey).do("GET", "/tenants/"+A.Slug, nil), http.StatusOK, "")

	// Listing keys: own tenant only.
	for _, it := range mgmtAll(t, ta, "/api-keys?tenant="+A.Slug, 50, "id") {
		if it["tenant"] != A.Slug {
			t.Errorf("tenant_admin of A lists %v", it)
		}
	}
	wantStatus(t, "list every key", ta.do("GET", "/api-keys", nil), http.StatusForbidden, "forbidden")
	wantStatus(t, "list B's keys", ta.do("GET", "/api-keys?tenant="+B.Slug, nil), http.StatusForbidden, "forbidden")

	// Audit: own tenant only, and it must be named.
	wantStatus(t, "rotate for an audit entry", pc.do("POST", "/tenants/"+B.Slug+"/keys/rotate", nil), http.StatusCreated, "")
	for _, c := range []struct {
		who string
		c   *mgmtClient
	}{{"tenant_admin", ta}, {"tenant_operator", to}, {"tenant_viewer", tv}} {
		wantStatus(t, c.who+" audit without tenant", c.c.do("GET", "/audit", nil), http.StatusForbidden, "forbidden")
		wantStatus(t, c.who+" audit of B", c.c.do("GET", "/audit?tenant="+B.Slug, nil), http.StatusForbidden, "forbidden")
		wantStatus(t, c.who+" audit of B by action", c.c.do("GET", "/audit?tenant="+B.Slug+"&action=key.rotate", nil), http.StatusForbidden, "forbidden")
		wantStatus(t, c.who+" audit of an unknown tenant", c.c.do("GET", "/audit?tenant=rbac-nobody", nil), http.StatusForbidden, "forbidden")
		for _, e := range mgmtAll(t, c.c, "/audit?tenant="+A.Slug, 50, "id") {
			if e["tenant"] != A.Slug {
				t.Errorf("%s sees an audit entry of another tenant: %v", c.who, e)
			}
		}
	}

	// Unknown slugs: forbidden for tenant keys (no probing), 404 for the platform.
	for _, route := range mgmtRoutes(t, w.b.srv) {
		if !strings.Contains(route, ":slug") {
			continue
		}
		method, pattern, _ := strings.Cut(route, " ")
		path := strings.TrimPrefix(pattern, "/api/v1")
		path = strings.ReplaceAll(path, ":slug", "rbac-nobody")
		path = strings.ReplaceAll(path, ":id", uuid.NewString())
		var body any
		if method == "POST" || method == "PATCH" {
			body = map[string]any{"name": "x"}
		}
		for _, role := range []string{mgmtTA, mgmtTO, mgmtTV} {
			wantStatus(t, role+" "+route+" unknown slug", w.clients[role].do(method, path, body), http.StatusForbidden, "forbidden")
		}
		wantStatus(t, "platform "+route+" unknown slug", pc.do(method, path, body), http.StatusNotFound, "not_found")
	}

	w.pc.log.assertClean(t, A.Secret, B.Secret, bKey, pKey, ownKey, w.b.apiKey)
}

func TestRBACRevokedKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pc := mgmtPlatform(t, b)
	tt := mgmtTenant(t, b, pc, "rbac-rev", nil)

	id, key := mgmtCreateKey(t, pc, "to revoke", mgmtTA, tt.Slug)
	kc := pc.as(key)
	wantStatus(t, "before revoke", kc.do("GET", "/tenants/"+tt.Slug, nil), http.StatusOK, "")
	wantStatus(t, "revoke", pc.do("DELETE", "/api-keys/"+id, nil), http.StatusNoContent, "")
	wantStatus(t, "after revoke", kc.do("GET", "/tenants/"+tt.Slug, nil), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, "after revoke, write", kc.do("POST", "/tenants/"+tt.Slug+"/keys/rotate", nil), http.StatusUnauthorized, "unauthorized")

	// A tenant admin may revoke its own key; the next request is refused.
	selfID, self := mgmtCreateKey(t, pc, "self", mgmtTA, tt.Slug)
	sc := pc.as(self)
	wantStatus(t, "self revoke", sc.do("DELETE", "/api-keys/"+selfID, nil), http.StatusNoContent, "")
	wantStatus(t, "after self revoke", sc.do("GET", "/tenants/"+tt.Slug, nil), http.StatusUnauthorized, "unauthorized")

	// A key revoked in the store directly (another host's CLI or console).
	rawID, raw := mgmtCreateKey(t, pc, "raw", mgmtTV, tt.Slug)
	wantStatus(t, "before raw revoke", pc.as(raw).do("GET", "/tenants/"+tt.Slug, nil), http.StatusOK, "")
	if err := admin.NewAPIKeys(b.db).Revoke(context.Background(), uuid.MustParse(rawID)); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "after raw revoke", pc.as(raw).do("GET", "/tenants/"+tt.Slug, nil), http.StatusUnauthorized, "unauthorized")
	pc.log.assertClean(t, key, self, raw, tt.Secret)
}

func TestRBACPropagation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pc := mgmtPlatform(t, b)
	tt := mgmtTenant(t, b, pc, "rbac-prop", nil)
	other := mgmtTenant(t, b, pc, "rbac-prop2", nil)
	srv2 := b.startInstance()
	// Instance 2 has answered for tenant keys before, so it holds a policy
	// and decisions of its own.
	_, warm := mgmtCreateKey(t, pc, "warm", mgmtTV, tt.Slug)
	wantStatus(t, "warm up instance 2", pc.as(warm).on(srv2).do("GET", "/tenants/"+tt.Slug, nil), http.StatusOK, "")

	id, key := mgmtCreateKey(t, pc, "viewer", mgmtTV, tt.Slug) // on instance 1
	on2 := pc.as(key).on(srv2)
	// Immediately usable on instance 2, with exactly the viewer's rights.
	wantStatus(t, "new key on instance 2", on2.do("GET", "/tenants/"+tt.Slug, nil), http.StatusOK, "")
	wantStatus(t, "new key reads users on instance 2", on2.do("GET", "/tenants/"+tt.Slug+"/users", nil), http.StatusOK, "")
	wantStatus(t, "new key cannot write on instance 2", on2.do("PATCH", "/tenants/"+tt.Slug, map[string]any{"name": "x"}), http.StatusForbidden, "forbidden")
	wantStatus(t, "new key cannot read other tenants on instance 2", on2.do("GET", "/tenants/"+other.Slug, nil), http.StatusForbidden, "forbidden")

	// Revoked on instance 1: refused on instance 2 once it hears of it.
	policy := srv2.notices(t, admin.TopicPolicy, nil)
	wantStatus(t, "revoke on instance 1", pc.do("DELETE", "/api-keys/"+id, nil), http.StatusNoContent, "")
	policy.wait(t, "instance 2 hears the key was revoked")
	wantStatus(t, "revoked key on instance 2", on2.do("GET", "/tenants/"+tt.Slug, nil), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, "revoked key on instance 1", pc.as(key).do("GET", "/tenants/"+tt.Slug, nil), http.StatusUnauthorized, "unauthorized")

	// A tenant deleted on instance 1 takes its keys' rights on instance 2.
	_, otherKey := mgmtCreateKey(t, pc, "other admin", mgmtTA, other.Slug)
	wantStatus(t, "other key on instance 2", pc.as(otherKey).on(srv2).do("GET", "/tenants/"+other.Slug, nil), http.StatusOK, "")
	deleted := srv2.notices(t, tenant.TopicTenant, naming(other.Slug))
	policy = srv2.notices(t, admin.TopicPolicy, nil)
	wantStatus(t, "delete other tenant", pc.do("DELETE", "/tenants/"+other.Slug, nil), http.StatusNoContent, "")
	deleted.wait(t, "instance 2 hears the tenant was deleted")
	policy.wait(t, "instance 2 hears the policy changed with the tenant")
	wantStatus(t, "deleted tenant's key on instance 2", pc.as(otherKey).on(srv2).do("GET", "/tenants/"+other.Slug, nil),
		http.StatusUnauthorized, "")
	pc.log.assertClean(t, key, warm, otherKey, tt.Secret, other.Secret)
}

// TestRBACForbiddenBeforeValidation: a caller who may not do something is
// told so (403) whatever the shape of its request; a 400 about the body or
// query would answer a question it may not ask, and makes the caller fix
// input for a call that can never succeed.
func TestRBACForbiddenBeforeValidation(t *testing.T) {
	t.Parallel()
	w := mgmtNewRBACWorld(t)
	A, B := w.tenants["A"].Slug, w.tenants["B"].Slug
	for _, tc := range []struct {
		role, method, path string
		body               any
	}{
		{mgmtTV, "PATCH", "/tenants/" + A, `{"name":`},
		{mgmtTV, "POST", "/tenants", nil},
		{mgmtTA, "GET", "/tenants?limit=0", nil},
		{mgmtTV, "GET", "/tenants/" + B + "/users?limit=0", nil},
		{mgmtTV, "POST", "/api-keys", nil},
		{mgmtTO, "POST", "/api-keys", `{"name":`},
		{mgmtTV, "POST", "/api-keys", map[string]any{"name": "x", "role": "tenant_viewer", "tenant": A, "scopes": "all"}},
		{mgmtTA, "POST", "/api-keys", map[string]any{"name": "x", "role": "tenant_viewer", "tenant": B, "scopes": "all"}},
		{mgmtTA, "GET", "/api-keys?tenant=" + B + "&limit=0", nil},
		{mgmtTV, "GET", "/api-keys?tenant=" + A + "&limit=x", nil},
		{mgmtTA, "GET", "/audit?tenant=" + B + "&limit=0", nil},
		{mgmtTA, "GET", "/audit?limit=500", nil},
		{mgmtTA, "GET", "/audit?tenant=" + B + "&since=yesterday", nil},
		{mgmtTA, "POST", "/admins", nil},
		{mgmtTA, "GET", "/admins?limit=0", nil},
	} {
		r := w.clients[tc.role].do(tc.method, tc.path, tc.body)
		if r.Status != http.StatusForbidden {
			t.Errorf("%s %s %v as %s: %d %s, want 403", tc.method, tc.path, tc.body, tc.role, r.Status, r.Body)
		}
	}
}
