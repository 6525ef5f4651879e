package console

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/console/views"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
)

// banRoutes are a tenant's bans and, on the same screen, the
// platform-wide ones (tenant 0), as the management API scopes them.
func (h *Handler) banRoutes(s *gin.RouterGroup) {
	for _, base := range []string{"/tenants/:slug/bans", "/bans"} {
		s.GET(base, h.can(admin.ObjBans, admin.ActRead), h.bansPage)
		s.POST(base, h.can(admin.ObjBans, admin.ActWrite), h.createBan)
		s.POST(base+"/:id/delete", h.can(admin.ObjBans, admin.ActWrite), h.deleteBan)
	}
}

// banScope is the tenant a ban route works in: the :slug's, or the
// platform (id 0, slug "") for /admin/bans.
func banScope(c *gin.Context) (id int64, slug, dom string) {
	if c.Param("slug") == "" {
		return 0, "", admin.PlatformDomain
	}
	rt := routeTenant(c)
	return rt.ID, rt.Slug, admin.TenantDomain(rt.ID)
}

func (h *Handler) bansPage(c *gin.Context) {
	ctx := c.Request.Context()
	kind := c.Query("kind")
	switch kind {
	case "", auth.BanUser, auth.BanOpenID, auth.BanIP:
	default:
		h.errorPage(c, http.StatusBadRequest, views.T(ctx, "bans.bad_kind"))
		return
	}
	before, ok := h.beforeParam(c)
	if !ok {
		return
	}
	m, ok := h.bansModel(c, kind, before)
	if !ok {
		return
	}
	if htmx(c) {
		h.render(c, http.StatusOK, views.BansResults(m))
		return
	}
	m.Page = h.page(c, "bans.title", bansNav(c))
	h.render(c, http.StatusOK, views.Bans(m))
}

// bansModel loads one page of the scope's bans (kind "": every kind).
func (h *Handler) bansModel(c *gin.Context, kind string, before *uuid.UUID) (views.BansPage, bool) {
	ctx := c.Request.Context()
	tenantID, slug, dom := banScope(c)
	var bans []auth.Ban
	var err error
	if kind == "" {
		bans, err = h.Bans.List(ctx, tenantID, pageSize+1, before)
	} else {
		bans, err = h.Bans.ListKind(ctx, tenantID, kind, pageSize+1, before)
	}
	if err != nil {
		h.fail(c, err)
		return views.BansPage{}, false
	}
	m := views.BansPage{Slug: slug, Kind: kind, Paged: before != nil, CanWrite: h.allowed(c, dom, admin.ObjBans, admin.ActWrite)}
	if len(bans) > pageSize {
		bans = bans[:pageSize]
		m.Next = bans[pageSize-1].ID.String()
	}
	m.Bans = bans
	return m, true
}

func (h *Handler) createBan(c *gin.Context) {
	ctx := c.Request.Context()
	tenantID, slug, _ := banScope(c)
	form := views.Form{Values: map[string]string{}, Errors: map[string]string{}}
	for _, k := range []string{"user_id", "openid", "ip", "reason", "expires_at", "confirm"} {
		form.Values[k] = strings.TrimSpace(c.PostForm(k))
	}
	n := auth.NewBan{UserID: form.V("user_id"), OpenID: form.V("openid"), IP: form.V("ip"), Reason: form.V("reason"),
		CreatedBy: h.createdBy(c)}
	status, confirm := http.StatusBadRequest, false
	var err error
	if n.ExpiresAt, err = localTime(c, form.V("expires_at")); err != nil {
		form.Errors["expires_at"] = views.T(ctx, "bans.bad_expiry")
	} else if err := h.Authz.AuthorizeBan(viewerOf(c).Subject, n, form.V("confirm")); err != nil {
		// A population-wide range: refused to all but platform admins, who
		// must type it again.
		var invalid *tenant.ValidationError
		switch {
		case errors.Is(err, admin.ErrWideBanForbidden):
			status = http.StatusForbidden
			form.Errors["ip"] = views.T(ctx, "bans.wide_forbidden", auth.WideBanBitsIPv4, auth.WideBanBitsIPv6)
		case errors.As(err, &invalid):
			target, _ := n.Wide()
			confirm = true
			form.Errors["confirm"] = views.T(ctx, "bans.confirm_needed", target)
			form.Values["confirm"] = ""
		default:
			h.fail(c, err)
			return
		}
	} else if b, err := h.Bans.Create(ctx, tenantID, n); err == nil {
		h.record(c, admin.BanEvent("ban.create", slug, b))
		base := "/admin/bans"
		if slug != "" {
			base = "/admin/tenants/" + slug + "/bans"
		}
		h.done(c, base, "bans.created")
		return
	} else if !fieldErrors(c, err, form.Errors, nil) {
		h.fail(c, err)
		return
	}
	m, ok := h.bansModel(c, "", nil)
	if !ok {
		return
	}
	m.Page, m.Form, m.Confirm = h.page(c, "bans.title", bansNav(c)), form, confirm
	h.render(c, status, views.Bans(m))
}

func (h *Handler) deleteBan(c *gin.Context) {
	tenantID, slug, _ := banScope(c)
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		h.fail(c, auth.ErrBanNotFound)
		return
	}
	b, err := h.Bans.Delete(c.Request.Context(), tenantID, id)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.record(c, admin.BanEvent("ban.delete", slug, b))
	base := "/admin/bans"
	if slug != "" {
		base = "/admin/tenants/" + slug + "/bans"
	}
	h.done(c, base, "bans.lifted")
}

// localTime reads a datetime-local input in the viewer's time zone; ""
// is no time.
func localTime(c *gin.Context, v string) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	zone := views.LocaleOf(c.Request.Context()).Zone
	t, err := time.ParseInLocation(views.DateTimeLocal, v, zone)
	if err != nil {
		if t, err = time.ParseInLocation(views.DateTimeLocal+":05", v, zone); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

// bansNav is the nav entry of a bans screen: platform bans have their own.
func bansNav(c *gin.Context) string {
	if c.Param("slug") == "" {
		return "bans"
	}
	return "tenants"
}
