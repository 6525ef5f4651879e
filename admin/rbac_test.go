package admin_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/migrations/dbtest"
)

// policyLoads counts the policy reads an Authorizer makes, seen at the
// driver, so a test can tell a reload from a cached answer.
type policyLoads struct{ n atomic.Int64 }

func (p *policyLoads) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(d.SQL, "FROM casbin_rule") {
		p.n.Add(1)
	}
	return ctx
}

func (p *policyLoads) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

type rbacBundle struct {
	*testBundle
	loads *policyLoads
	authz *admin.Authorizer
	own   string // domain of the tenant the subjects are bound in
	other string // domain of another tenant
}

func setupRBAC(t *testing.T) *rbacBundle {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dbtest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	loads := &policyLoads{}
	cfg.ConnConfig.Tracer = loads
	db, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	rb := &rbacBundle{testBundle: setupOn(t, db), loads: loads}
	rb.own = admin.TenantDomain(rb.createTenant(t, "rbac-own").ID)
	rb.other = admin.TenantDomain(rb.createTenant(t, "rbac-other").ID)
	return rb
}

// start makes the Authorizer; subjects made before it are in its policy.
func (rb *rbacBundle) start(t *testing.T) {
	t.Helper()
	rb.authz = rb.newAuthorizer(t)
}

func (rb *rbacBundle) newAuthorizer(t *testing.T) *admin.Authorizer {
	t.Helper()
	a, err := admin.NewAuthorizer(rb.db, rb.feed, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("NewAuthorizer: %v", err)
	}
	return a
}

func allowed(t *testing.T, a *admin.Authorizer, sub, dom, obj, act string) bool {
	t.Helper()
	ok, err := a.Allowed(sub, dom, obj, act)
	if err != nil {
		t.Fatalf("Allowed(%s, %s, %s, %s): %v", sub, dom, obj, act, err)
	}
	return ok
}

// seeded is the permission table of migrations/0004_management_access.sql,
// written out again so that a change to it has to change this test too.
var seeded = map[admin.Role][]string{
	admin.RoleTenantAdmin: {
		"tenants.read", "tenants.write", "keys.read", "keys.write", "users.read", "users.write",
		"sessions.write", "bans.read", "bans.write", "apikeys.read", "apikeys.write", "audit.read",
	},
	admin.RoleTenantOperator: {
		"tenants.read", "keys.read", "users.read", "users.write", "sessions.write", "bans.read", "bans.write", "audit.read",
	},
	admin.RoleTenantViewer: {"tenants.read", "keys.read", "users.read", "bans.read", "audit.read"},
}

var (
	allObjects = []string{admin.ObjTenants, admin.ObjKeys, admin.ObjUsers, admin.ObjSessions,
		admin.ObjBans, admin.ObjAPIKeys, admin.ObjAudit, admin.ObjAdmins}
	allActions = []string{admin.ActRead, admin.ActWrite, "delete"}
)

func TestAuthorizerMatrix(t *testing.T) {
	t.Parallel()
	rb := setupRBAC(t)
	type subject struct {
		name string
		sub  string
		role admin.Role
	}
	var subs []subject
	for _, role := range admin.Roles {
		slug := "rbac-own"
		if role == admin.RolePlatformAdmin {
			slug = ""
		}
		k, _ := rb.createKey(t, string(role), role, slug)
		subs = append(subs, subject{"apikey " + string(role), admin.APIKeySubject(k.ID.String()), role})
		a := rb.createAccount(t, string(role)+"@example.com", bind(role, slug))
		subs = append(subs, subject{"admin " + string(role), admin.AdminSubject(a.ID.String()), role})
	}
	rb.start(t)

	domains := []struct{ name, dom string }{
		{"own tenant", rb.own}, {"other tenant", rb.other}, {"platform", admin.PlatformDomain},
	}
	for _, s := range subs {
		t.Run(s.name, func(t *testing.T) {
			for _, d := range domains {
				for _, obj := range allObjects {
					for _, act := range allActions {
						want := s.role == admin.RolePlatformAdmin ||
							(d.dom == rb.own && slices.Contains(seeded[s.role], obj+"."+act))
						if got := allowed(t, rb.authz, s.sub, d.dom, obj, act); got != want {
							t.Errorf("%s: %s %s: allowed = %v, want %v", d.name, act, obj, got, want)
						}
					}
				}
			}
		})
	}

	t.Run("unknown subject", func(t *testing.T) {
		for _, sub := range []string{admin.APIKeySubject("00000000-0000-0000-0000-000000000000"), "", "apikey:"} {
			for _, d := range domains {
				for _, obj := range allObjects {
					for _, act := range allActions {
						if allowed(t, rb.authz, sub, d.dom, obj, act) {
							t.Errorf("%q allowed to %s %s in %s", sub, act, obj, d.name)
						}
					}
				}
			}
		}
	})

	t.Run("only platform_admin deletes", func(t *testing.T) {
		for _, s := range subs {
			for _, d := range domains {
				for _, obj := range append(slices.Clone(allObjects), "*") {
					if got := allowed(t, rb.authz, s.sub, d.dom, obj, "delete"); got != (s.role == admin.RolePlatformAdmin) {
						t.Errorf("%s: delete %s in %s: allowed = %v", s.name, obj, d.name, got)
					}
				}
			}
		}
	})
}

func TestAuthorizerBindingPerTenant(t *testing.T) {
	t.Parallel()
	rb := setupRBAC(t)
	otherSlug := "rbac-other"
	a := rb.createAccount(t, "two-tenants@example.com",
		bind(admin.RoleTenantAdmin, "rbac-own"), bind(admin.RoleTenantViewer, otherSlug))
	third := admin.TenantDomain(rb.createTenant(t, "rbac-third").ID)
	rb.start(t)
	sub := admin.AdminSubject(a.ID.String())

	for _, c := range []struct {
		dom, obj, act string
		want          bool
	}{
		{rb.own, admin.ObjUsers, admin.ActWrite, true},
		{rb.own, admin.ObjAPIKeys, admin.ActWrite, true},
		{rb.other, admin.ObjUsers, admin.ActRead, true},
		{rb.other, admin.ObjUsers, admin.ActWrite, false},
		{rb.other, admin.ObjAPIKeys, admin.ActWrite, false},
		{third, admin.ObjUsers, admin.ActRead, false},
		{admin.PlatformDomain, admin.ObjTenants, admin.ActRead, false},
	} {
		t.Run(fmt.Sprintf("%s %s in %s", c.act, c.obj, c.dom), func(t *testing.T) {
			if got := allowed(t, rb.authz, sub, c.dom, c.obj, c.act); got != c.want {
				t.Fatalf("allowed = %v, want %v", got, c.want)
			}
		})
	}
}

func TestAuthorizerChanged(t *testing.T) {
	t.Parallel()
	rb := setupRBAC(t)
	ctx := context.Background()
	key, _ := rb.createKey(t, "revoked", admin.RoleTenantViewer, "rbac-own")
	bystander, _ := rb.createKey(t, "bystander", admin.RoleTenantViewer, "rbac-own")
	acct := rb.createAccount(t, "operator@example.com", bind(admin.RoleTenantOperator, "rbac-own"))
	rb.start(t)
	keySub := admin.APIKeySubject(key.ID.String())
	acctSub := admin.AdminSubject(acct.ID.String())
	bystanderSub := admin.APIKeySubject(bystander.ID.String())

	t.Run("a revoked key is refused after Changed", func(t *testing.T) {
		if !allowed(t, rb.authz, keySub, rb.own, admin.ObjUsers, admin.ActRead) {
			t.Fatal("live key refused")
		}
		if err := rb.keys.Revoke(ctx, key.ID); err != nil {
			t.Fatal(err)
		}
		rb.authz.Changed(ctx)
		if allowed(t, rb.authz, keySub, rb.own, admin.ObjUsers, admin.ActRead) {
			t.Fatal("revoked key still allowed after Changed")
		}
		if !allowed(t, rb.authz, bystanderSub, rb.own, admin.ObjUsers, admin.ActRead) {
			t.Fatal("another key lost its role")
		}
		if got := rb.feed.Topics(); !slices.Contains(got, admin.TopicPolicy) {
			t.Fatalf("Changed published %v, want a notice on %q for the other instances", got, admin.TopicPolicy)
		}
	})

	t.Run("a disabled admin loses its roles after Changed", func(t *testing.T) {
		if !allowed(t, rb.authz, acctSub, rb.own, admin.ObjBans, admin.ActWrite) {
			t.Fatal("live admin refused")
		}
		if _, err := rb.accounts.Update(ctx, acct.ID, admin.AccountPatch{Disabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		rb.authz.Changed(ctx)
		for _, obj := range allObjects {
			for _, act := range allActions {
				if allowed(t, rb.authz, acctSub, rb.own, obj, act) {
					t.Errorf("disabled admin still allowed to %s %s", act, obj)
				}
			}
		}
	})

	t.Run("an enabled admin gets its roles back after Changed", func(t *testing.T) {
		if _, err := rb.accounts.Update(ctx, acct.ID, admin.AccountPatch{Disabled: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		rb.authz.Changed(ctx)
		if !allowed(t, rb.authz, acctSub, rb.own, admin.ObjBans, admin.ActWrite) {
			t.Fatal("re-enabled admin refused")
		}
	})

	t.Run("replaced roles apply after Changed", func(t *testing.T) {
		if _, err := rb.accounts.Update(ctx, acct.ID, admin.AccountPatch{
			Roles: []admin.Binding{bind(admin.RoleTenantViewer, "rbac-other")},
		}); err != nil {
			t.Fatal(err)
		}
		rb.authz.Changed(ctx)
		if allowed(t, rb.authz, acctSub, rb.own, admin.ObjBans, admin.ActRead) {
			t.Error("still allowed in the tenant it was moved out of")
		}
		if !allowed(t, rb.authz, acctSub, rb.other, admin.ObjBans, admin.ActRead) {
			t.Error("not allowed in its new tenant")
		}
		if allowed(t, rb.authz, acctSub, rb.other, admin.ObjBans, admin.ActWrite) {
			t.Error("a viewer may write bans")
		}
	})
}

// watch runs a second Authorizer, as on another instance, on the same
// feed, until the test ends.
func (rb *rbacBundle) watch(t *testing.T) *admin.Authorizer {
	t.Helper()
	peer := rb.newAuthorizer(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		peer.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return peer
}

// eventually waits until cond holds; the Authorizer has no hook that tells
// when a reload it was asked for has landed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAuthorizerFeed(t *testing.T) {
	t.Parallel()
	rb := setupRBAC(t)
	ctx := context.Background()
	k1, _ := rb.createKey(t, "notice", admin.RoleTenantAdmin, "rbac-own")
	k2, _ := rb.createKey(t, "reset", admin.RoleTenantAdmin, "rbac-own")
	rb.start(t)
	peer := rb.watch(t)
	sub1, sub2 := admin.APIKeySubject(k1.ID.String()), admin.APIKeySubject(k2.ID.String())

	t.Run("a notice reloads another instance", func(t *testing.T) {
		if !allowed(t, peer, sub1, rb.own, admin.ObjKeys, admin.ActWrite) {
			t.Fatal("live key refused")
		}
		if err := rb.keys.Revoke(ctx, k1.ID); err != nil {
			t.Fatal(err)
		}
		rb.authz.Changed(ctx)
		eventually(t, "the peer still allows the revoked key", func() bool {
			return !allowed(t, peer, sub1, rb.own, admin.ObjKeys, admin.ActWrite)
		})
	})
	t.Run("a feed reset reloads", func(t *testing.T) {
		if !allowed(t, peer, sub2, rb.own, admin.ObjKeys, admin.ActWrite) {
			t.Fatal("live key refused")
		}
		// Revoked with no notice, as if the notice was lost.
		if _, err := rb.db.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1`, k2.ID); err != nil {
			t.Fatal(err)
		}
		rb.feed.Reset()
		eventually(t, "the peer still allows the revoked key after a reset", func() bool {
			return !allowed(t, peer, sub2, rb.own, admin.ObjKeys, admin.ActWrite)
		})
	})
}

func TestAuthorizerKnown(t *testing.T) {
	t.Parallel()
	rb := setupRBAC(t)
	ctx := context.Background()
	old, _ := rb.createKey(t, "old", admin.RoleTenantViewer, "rbac-own")
	spare, _ := rb.createKey(t, "spare", admin.RoleTenantViewer, "rbac-own")
	rb.start(t)
	oldSub, spareSub := admin.APIKeySubject(old.ID.String()), admin.APIKeySubject(spare.ID.String())

	// Made behind the Authorizer's back: no Changed, no notice.
	fresh, _ := rb.createKey(t, "fresh", admin.RoleTenantViewer, "rbac-own")
	freshSub := admin.APIKeySubject(fresh.ID.String())

	t.Run("a new subject is unknown until Known", func(t *testing.T) {
		if allowed(t, rb.authz, freshSub, rb.own, admin.ObjUsers, admin.ActRead) {
			t.Fatal("a key the policy has not loaded is allowed")
		}
	})
	t.Run("Known of a new subject reloads once", func(t *testing.T) {
		before := rb.loads.n.Load()
		rb.authz.Known(freshSub)
		if n := rb.loads.n.Load() - before; n != 1 {
			t.Fatalf("%d policy loads, want 1", n)
		}
		if !allowed(t, rb.authz, freshSub, rb.own, admin.ObjUsers, admin.ActRead) {
			t.Fatal("still refused after Known")
		}
	})
	t.Run("Known of a loaded subject does not reload", func(t *testing.T) {
		// Revoked behind its back: a reload would drop spare.
		if _, err := rb.db.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1`, spare.ID); err != nil {
			t.Fatal(err)
		}
		before := rb.loads.n.Load()
		rb.authz.Known(freshSub)
		rb.authz.Known(oldSub)
		if n := rb.loads.n.Load() - before; n != 0 {
			t.Fatalf("%d policy loads, want 0", n)
		}
		if !allowed(t, rb.authz, spareSub, rb.own, admin.ObjUsers, admin.ActRead) {
			t.Fatal("the policy was reloaded")
		}
	})
	t.Run("concurrent Known of one new subject reloads once", func(t *testing.T) {
		k, _ := rb.createKey(t, "burst", admin.RoleTenantViewer, "rbac-own")
		sub := admin.APIKeySubject(k.ID.String())
		before := rb.loads.n.Load()
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { rb.authz.Known(sub) })
		}
		wg.Wait()
		if n := rb.loads.n.Load() - before; n != 1 {
			t.Fatalf("%d policy loads for 8 concurrent Known, want 1", n)
		}
		if !allowed(t, rb.authz, sub, rb.own, admin.ObjUsers, admin.ActRead) {
			t.Fatal("refused after Known")
		}
	})
}

func TestAuthorizerReloadFlushesDecisions(t *testing.T) {
	t.Parallel()
	rb := setupRBAC(t)
	ctx := context.Background()
	k, _ := rb.createKey(t, "cached", admin.RoleTenantOperator, "rbac-own")
	rb.start(t)
	sub := admin.APIKeySubject(k.ID.String())

	if !allowed(t, rb.authz, sub, rb.own, admin.ObjBans, admin.ActWrite) {
		t.Fatal("live key refused")
	}
	if _, err := rb.db.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1`, k.ID); err != nil {
		t.Fatal(err)
	}
	t.Run("served from the cache until a reload", func(t *testing.T) {
		if !allowed(t, rb.authz, sub, rb.own, admin.ObjBans, admin.ActWrite) {
			t.Fatal("refused before any reload: the decision was not cached")
		}
	})
	t.Run("gone after Reload", func(t *testing.T) {
		if err := rb.authz.Reload(); err != nil {
			t.Fatal(err)
		}
		if allowed(t, rb.authz, sub, rb.own, admin.ObjBans, admin.ActWrite) {
			t.Fatal("a cached decision survived Reload")
		}
	})
}
