package console_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth"
)

func TestDashboard(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	one, two := b.tenant(t, "dash-one"), b.tenant(t, "dash-two")
	for range 3 {
		b.stats.Count(one.ID, auth.StatLogin)
	}
	b.stats.Count(one.ID, auth.StatNewUser)
	b.stats.Count(one.ID, auth.StatFailure("invalid_code"))
	b.stats.Count(two.ID, auth.StatLogin)
	b.stats.Count(two.ID, auth.StatRateLimited)
	if err := b.stats.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	tile := func(p page, key string) string { return p.find("tile-" + key + "-value").Text() }

	t.Run("a platform admin sees the platform and any tenant", func(t *testing.T) {
		c := b.signIn(t, admin.RolePlatformAdmin, "")
		p := c.get(t, "/admin/").want(t, http.StatusOK)
		if tile(p, "logins") != "4" || tile(p, "tenants") != "2" || tile(p, "rate-limited") != "1" || tile(p, "failed") != "1" {
			t.Fatalf("platform tiles: logins %s tenants %s limited %s failed %s", tile(p, "logins"), tile(p, "tenants"),
				tile(p, "rate-limited"), tile(p, "failed"))
		}
		if p.find("chart-bar").Length() != 24 {
			t.Fatalf("%d bars", p.find("chart-bar").Length())
		}
		if n, _ := p.find("chart-bar").Last().Attr("data-n"); n != "4" {
			t.Fatalf("the current hour's bar is %s, want 4", n)
		}
		p = c.get(t, "/admin/?tenant=dash-one").want(t, http.StatusOK)
		if tile(p, "logins") != "3" || tile(p, "new-users") != "1" || p.find("failure-invalid_code").Length() != 1 {
			t.Fatalf("tenant tiles: logins %s new %s", tile(p, "logins"), tile(p, "new-users"))
		}
		c.get(t, "/admin/?tenant=no-such-tenant").want(t, http.StatusNotFound)
	})

	t.Run("a tenant admin sees only their tenant", func(t *testing.T) {
		c := b.signIn(t, admin.RoleTenantViewer, "dash-two")
		p := c.get(t, "/admin/").want(t, http.StatusOK)
		if tile(p, "logins") != "1" || p.find("tile-tenants").Length() != 0 {
			t.Fatalf("tenant viewer's dashboard: logins %s", tile(p, "logins"))
		}
		c.get(t, "/admin/?tenant=dash-one").want(t, http.StatusForbidden)
		c.get(t, "/admin/?tenant=no-such-tenant").want(t, http.StatusForbidden)
	})
}
