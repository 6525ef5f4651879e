package admin_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/changes/changestest"
	"github.com/miniauth/miniauth/tenant/seal"
)

// The per-request cost of the RBAC check, on the real policy (casbin_rule
// from the migrations, role bindings from API keys of every role):
//
//	go test -run '^$' -bench Authorizer -cpu 1,2 -count 5 ./admin/
//
// BenchmarkAuthorizerAllowed is the steady state, every decision already
// cached; with -cpu 1 its ns/op is the latency of one check, with -cpu 2
// the cost per check when two cores check at once.
// BenchmarkAuthorizerAllowedCold asks for a decision never seen before on
// every call (a distinct tenant domain each time), so each one runs the
// Casbin matcher; that is the cost of the first checks after a policy
// reload.
func BenchmarkAuthorizerAllowed(b *testing.B) {
	rb := setupRBACBench(b)
	for _, r := range rb.reqs { // warm the decision cache
		rb.allowed(b, r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r := rb.reqs[i%len(rb.reqs)]
			i++
			if _, err := rb.authz.Allowed(r.sub, r.dom, r.obj, r.act); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkAuthorizerAllowedCold(b *testing.B) {
	rb := setupRBACBench(b)
	// The platform admin is allowed everywhere (its binding is in the "*"
	// domain); tenant roles are refused in a tenant they are not bound to.
	// Both walk the whole matcher.
	subs := []string{rb.platform, rb.viewer}
	b.ReportAllocs()
	i := 0
	dom := make([]byte, 0, 32)
	for b.Loop() {
		i++
		dom = strconv.AppendInt(append(dom[:0], "tenant:"...), int64(1_000_000+i), 10)
		if _, err := rb.authz.Allowed(subs[i%2], string(dom), admin.ObjUsers, admin.ActRead); err != nil {
			b.Fatal(err)
		}
	}
}

type rbacRequest struct{ sub, dom, obj, act string }

type rbacBench struct {
	authz            *admin.Authorizer
	reqs             []rbacRequest
	platform, viewer string // subjects of a platform_admin and a tenant_viewer key
}

func (rb *rbacBench) allowed(b *testing.B, r rbacRequest) bool {
	ok, err := rb.authz.Allowed(r.sub, r.dom, r.obj, r.act)
	if err != nil {
		b.Fatal(err)
	}
	return ok
}

// setupRBACBench makes three tenants, one platform_admin key and a key of
// every tenant role in every tenant, and the requests of each key against
// every domain, object and action: 640 distinct decisions, allowed and
// refused.
func setupRBACBench(b *testing.B) *rbacBench {
	b.Helper()
	ctx := context.Background()
	db := dbtest.Pool(b)
	sealer, err := seal.New(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	tenants := tenant.NewStore(db, sealer, nil)
	keys := admin.NewAPIKeys(db)

	rb := &rbacBench{}
	var subs []string
	doms := []string{admin.PlatformDomain}
	k, _, err := keys.Create(ctx, "platform", admin.RolePlatformAdmin, "")
	if err != nil {
		b.Fatal(err)
	}
	rb.platform = admin.APIKeySubject(k.ID.String())
	subs = append(subs, rb.platform)
	for i := range 3 {
		slug := fmt.Sprintf("rbac-bench-%d", i)
		t, err := tenants.Create(ctx, tenant.NewTenant{
			Slug: slug, Name: slug, WeChatAppID: "wx0123456789abcdef", WeChatSecret: "bench-secret-0123",
		})
		if err != nil {
			b.Fatal(err)
		}
		doms = append(doms, admin.TenantDomain(t.ID))
		for _, role := range []admin.Role{admin.RoleTenantAdmin, admin.RoleTenantOperator, admin.RoleTenantViewer} {
			k, _, err := keys.Create(ctx, string(role)+" "+slug, role, slug)
			if err != nil {
				b.Fatal(err)
			}
			subs = append(subs, admin.APIKeySubject(k.ID.String()))
			if role == admin.RoleTenantViewer && rb.viewer == "" {
				rb.viewer = subs[len(subs)-1]
			}
		}
	}

	rb.authz, err = admin.NewAuthorizer(db, changestest.New(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	objs := []string{admin.ObjTenants, admin.ObjKeys, admin.ObjUsers, admin.ObjSessions,
		admin.ObjBans, admin.ObjAPIKeys, admin.ObjAudit, admin.ObjAdmins}
	for _, sub := range subs {
		for _, dom := range doms {
			for _, obj := range objs {
				for _, act := range []string{admin.ActRead, admin.ActWrite} {
					rb.reqs = append(rb.reqs, rbacRequest{sub, dom, obj, act})
				}
			}
		}
	}

	// A benchmark of wrong answers measures nothing: check a few.
	for _, c := range []struct {
		r    rbacRequest
		want bool
	}{
		{rbacRequest{rb.platform, doms[2], admin.ObjAdmins, admin.ActWrite}, true},
		{rbacRequest{rb.viewer, doms[1], admin.ObjUsers, admin.ActRead}, true},
		{rbacRequest{rb.viewer, doms[1], admin.ObjUsers, admin.ActWrite}, false},
		{rbacRequest{rb.viewer, doms[2], admin.ObjUsers, admin.ActRead}, false},
		{rbacRequest{rb.viewer, admin.PlatformDomain, admin.ObjTenants, admin.ActRead}, false},
	} {
		if got := rb.allowed(b, c.r); got != c.want {
			b.Fatalf("Allowed(%v) = %v, want %v", c.r, got, c.want)
		}
	}
	return rb
}
