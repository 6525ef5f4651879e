package console

import (
	"net/http"
	"sort"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/console/views"
)

// dashboard shows today's figures and the last 24 hours of logins, for
// the whole platform (admins who may read every tenant) or one tenant.
func (h *Handler) dashboard(c *gin.Context) {
	ctx := c.Request.Context()
	v := viewerOf(c)
	m := views.DashboardPage{Page: h.page(c, "dashboard.title", "dashboard"),
		PlatformScope: h.allowed(c, admin.PlatformDomain, admin.ObjTenants, admin.ActRead)}
	for _, b := range v.Session.Account.Roles {
		if b.Tenant != nil {
			m.Tenants = append(m.Tenants, views.TenantOption{Slug: *b.Tenant, Name: *b.Tenant})
		}
	}
	slug := c.Query("tenant")
	if slug == "" && !m.PlatformScope && len(m.Tenants) > 0 {
		slug = m.Tenants[0].Slug
	}
	var scope *int64
	if slug != "" || !m.PlatformScope {
		t, err := h.Authz.TenantAccess(ctx, h.Tenants, v.Subject, slug, admin.ObjTenants, admin.ActRead)
		if err != nil {
			h.fail(c, err)
			return
		}
		scope, m.Scope = &t.ID, t.Slug
	}
	zone := views.LocaleOf(ctx).Zone
	d, err := h.Stats.Dashboard(ctx, scope, time.Now(), zone)
	if err != nil {
		h.fail(c, err)
		return
	}
	var failed int64
	for code, n := range d.Failures {
		m.Failures = append(m.Failures, views.CodeCount{Code: code, N: n})
		failed += n
	}
	sort.Slice(m.Failures, func(i, j int) bool {
		if m.Failures[i].N != m.Failures[j].N {
			return m.Failures[i].N > m.Failures[j].N
		}
		return m.Failures[i].Code < m.Failures[j].Code
	})
	m.Tiles = []views.Tile{
		{Key: "users", Label: "dashboard.users", Value: d.Users},
		{Key: "logins", Label: "dashboard.logins", Value: d.LoginsToday},
		{Key: "new-users", Label: "dashboard.new_users", Value: d.NewUsersToday},
		{Key: "failed", Label: "dashboard.failed", Value: failed},
		{Key: "rate-limited", Label: "dashboard.limited", Value: d.RateLimited},
		{Key: "banned", Label: "dashboard.banned", Value: d.Banned},
	}
	if scope == nil {
		m.Tiles = append([]views.Tile{{Key: "tenants", Label: "dashboard.tenants", Value: d.Tenants}}, m.Tiles...)
	}
	for _, hc := range d.Hourly {
		m.Chart.Bars = append(m.Chart.Bars, views.Bar{Label: hc.Hour.In(zone).Format("15"), N: hc.Logins})
		m.Chart.Max = max(m.Chart.Max, hc.Logins)
	}
	h.render(c, http.StatusOK, views.Dashboard(m))
}
