package main

// End-to-end tests of the management API's access control: the full
// role × route × tenant matrix over every route the server registers, and
// how fast a new or revoked key is seen by another instance. Guessed ids
// across tenants, unknown slugs and revoked keys on one instance are
// tested in admin/api.

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

	"GET /api/v1/tenants/:slug/users":                        {"AB", mgmtAllow("AB", "A", "A", "A")},
	"GET /api/v1/tenants/:slug/users/:id":                    {"AB", mgmtAllow("AB", "A", "A", "A")},
	"PATCH /api/v1/tenants/:slug/users/:id":                  {"AB", mgmtAllow("AB", "A", "A", "")},
	"DELETE /api/v1/tenants/:slug/users/:id":                 {"AB", mgmtAllow("AB", "A", "A", "")},
	"POST /api/v1/tenants/:slug/users/:id/revoke-sessions":   {"AB", mgmtAllow("AB", "A", "A", "")},
	"GET /api/v1/tenants/:slug/users/:id/session-key":        {"AB", mgmtAllow("AB", "A", "A", "A")},
	"POST /api/v1/tenants/:slug/users/:id/session-key/reset": {"AB", mgmtAllow("AB", "A", "A", "")},

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
	// Every role may ask; the answer holds only the tenants it may read
	// users of (TestUnionIDLinking).
	"GET /api/v1/unionids/:unionid": {"-", mgmtAllow("-", "-", "-", "-")},

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
	case "GET /api/v1/tenants/:slug/users/:id", "GET /api/v1/tenants/:slug/users/:id/session-key":
		call.path = strings.ReplaceAll(path, ":id", w.users[target].User.ID)
	case "POST /api/v1/tenants/:slug/users/:id/session-key/reset":
		u := w.freshUser(target)
		path = strings.ReplaceAll(path, ":id", u.User.ID)
		count := func() int {
			return mgmtCount(t, w.b, `SELECT count(*) FROM audit_log WHERE action = 'user.session_key_reset' AND target_id = $1`, u.User.ID)
		}
		call.verify = func(r response, allowed bool) {
			if n := count(); (n == 1) != allowed {
				t.Errorf("reset session key in %s (allowed %v): %d audit entries", slug, allowed, n)
			}
		}
	case "GET /api/v1/unionids/:unionid":
		path = strings.ReplaceAll(path, ":unionid", "o-rbac-unionid")
	case "DELETE /api/v1/tenants/:slug/users/:id":
		u := w.freshUser(target)
		path = strings.ReplaceAll(path, ":id", u.User.ID)
		call.verify = func(r response, allowed bool) {
			if got := pc.do("GET", "/tenants/"+slug+"/users/"+u.User.ID, nil).Status; (got == http.StatusNotFound) != allowed {
				t.Errorf("erase in %s (allowed %v): GET answers %d", slug, allowed, got)
			}
		}
	case "PATCH /api/v1/tenants/:slug/users/:id":
		u := w.freshUser(target)
		path = strings.ReplaceAll(path, ":id", u.User.ID)
		call.body = map[string]any{"status": "disabled"}
		call.verify = func(r response, allowed bool) {
			got := pc.do("GET", "/tenants/"+slug+"/users/"+u.User.ID, nil).JSON(t)["status"]
			if (got == "disabled") != allowed {
				t.Errorf("disable in %s (allowed %v): status is %v", slug, allowed, got)
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
