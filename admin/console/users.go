package console

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/console/views"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/web"
)

// pageSize is the rows of one list page.
const pageSize = 50

func (h *Handler) userRoutes(s *gin.RouterGroup) {
	const u = "/tenants/:slug/users"
	s.GET(u, h.can(admin.ObjUsers, admin.ActRead), h.usersPage)
	s.GET(u+"/:id", h.can(admin.ObjUsers, admin.ActRead), h.userPage)
	s.POST(u+"/:id/status", h.can(admin.ObjUsers, admin.ActWrite), h.setUserStatus)
	s.POST(u+"/:id/erase", h.can(admin.ObjUsers, admin.ActWrite), h.eraseUser)
	s.POST(u+"/:id/revoke-sessions", h.can(admin.ObjSessions, admin.ActWrite), h.revokeUserSessions)
	s.POST(u+"/:id/sessions/:sid/revoke", h.can(admin.ObjSessions, admin.ActWrite), h.revokeSession)
	s.POST(u+"/:id/ban", h.can(admin.ObjBans, admin.ActWrite), h.banUser)
	s.POST(u+"/:id/unban", h.can(admin.ObjBans, admin.ActWrite), h.unbanUser)
	h.banRoutes(s)
}

// beforeParam reads the ?before= keyset cursor (a row id); a malformed
// one is answered with 400 and ok false.
func (h *Handler) beforeParam(c *gin.Context) (before *uuid.UUID, ok bool) {
	v := c.Query("before")
	if v == "" {
		return nil, true
	}
	id, err := uuid.Parse(v)
	if err != nil {
		h.fail(c, tenant.Invalid("before", "is not a page of this list"))
		return nil, false
	}
	return &id, true
}

func (h *Handler) usersPage(c *gin.Context) {
	ctx := c.Request.Context()
	rt := routeTenant(c)
	q, err := web.Query(c, "q", 128)
	if err != nil {
		h.fail(c, tenant.Invalid("q", "must be text of at most 128 bytes"))
		return
	}
	status := c.Query("status")
	if status != "" && status != "active" && status != "disabled" {
		h.errorPage(c, http.StatusBadRequest, views.T(ctx, "user.bad_status"))
		return
	}
	before, ok := h.beforeParam(c)
	if !ok {
		return
	}
	q = strings.TrimSpace(q)
	users, err := h.Users.List(ctx, rt.ID, auth.UserFilter{Query: q, Status: status, Before: before, Limit: pageSize + 1})
	if err != nil {
		h.fail(c, err)
		return
	}
	m := views.UsersPage{Slug: rt.Slug, Query: q, Status: status, Paged: before != nil}
	if len(users) > pageSize {
		users = users[:pageSize]
		m.Next = users[pageSize-1].ID
	}
	m.Users = users
	if htmx(c) {
		h.render(c, http.StatusOK, views.UsersResults(m))
		return
	}
	m.Page = h.page(c, "users.title", "tenants")
	h.render(c, http.StatusOK, views.Users(m))
}

// routeUser is the :id user of the route's tenant; a malformed id or a
// user of another tenant is a 404.
func (h *Handler) routeUser(c *gin.Context) (tenant.Tenant, auth.User, bool) {
	rt := routeTenant(c)
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		h.fail(c, auth.ErrUserNotFound)
		return rt, auth.User{}, false
	}
	u, err := h.Users.Get(c.Request.Context(), rt.ID, id)
	if err != nil {
		h.fail(c, err)
		return rt, auth.User{}, false
	}
	return rt, u, true
}

func (h *Handler) userPage(c *gin.Context) {
	rt, u, ok := h.routeUser(c)
	if !ok {
		return
	}
	h.renderUser(c, http.StatusOK, rt, u, func(*views.UserPage) {})
}

// renderUser renders a user's page; edit adds a form's values and errors.
func (h *Handler) renderUser(c *gin.Context, status int, rt tenant.Tenant, u auth.User, edit func(*views.UserPage)) {
	ctx := c.Request.Context()
	uid := uuid.MustParse(u.ID)
	sessions, err := h.Users.Sessions(ctx, rt.ID, uid, pageSize+1)
	if err != nil {
		h.fail(c, err)
		return
	}
	bans, err := h.Bans.OfUser(ctx, rt.ID, uid, u.OpenID)
	if err != nil {
		h.fail(c, err)
		return
	}
	dom := admin.TenantDomain(rt.ID)
	m := views.UserPage{Page: h.page(c, "user.title", "tenants"), Slug: rt.Slug, User: u, Sessions: sessions, Bans: bans,
		CanWriteUsers:    h.allowed(c, dom, admin.ObjUsers, admin.ActWrite),
		CanWriteSessions: h.allowed(c, dom, admin.ObjSessions, admin.ActWrite),
		CanWriteBans:     h.allowed(c, dom, admin.ObjBans, admin.ActWrite),
	}
	if len(sessions) > pageSize {
		m.Sessions, m.MoreSessions = sessions[:pageSize], true
	}
	edit(&m)
	h.render(c, status, views.User(m))
}

func userURL(rt tenant.Tenant, id string) string { return "/admin/tenants/" + rt.Slug + "/users/" + id }

func (h *Handler) revokeSession(c *gin.Context) {
	rt, u, ok := h.routeUser(c)
	if !ok {
		return
	}
	sid, err := uuid.Parse(c.Param("sid"))
	if err != nil {
		h.fail(c, auth.ErrSessionNotFound)
		return
	}
	if err := h.Users.RevokeSession(c.Request.Context(), rt.ID, uuid.MustParse(u.ID), sid); err != nil {
		h.fail(c, err)
		return
	}
	h.record(c, admin.Event{Action: "session.revoke", TenantID: &rt.ID, TenantSlug: rt.Slug, TargetType: "session",
		TargetID: sid.String(), Diff: map[string]admin.Change{"user_id": {From: nil, To: u.ID}}})
	h.done(c, userURL(rt, u.ID), "user.session_revoked")
}

func (h *Handler) revokeUserSessions(c *gin.Context) {
	rt, u, ok := h.routeUser(c)
	if !ok {
		return
	}
	n, err := h.Users.RevokeSessions(c.Request.Context(), rt.ID, uuid.MustParse(u.ID))
	if err != nil {
		h.fail(c, err)
		return
	}
	h.record(c, admin.Event{Action: "user.revoke_sessions", TenantID: &rt.ID, TenantSlug: rt.Slug, TargetType: "user",
		TargetID: u.ID, Diff: map[string]admin.Change{"revoked_sessions": {From: nil, To: n}}})
	h.done(c, userURL(rt, u.ID), "user.sessions_revoked", strconv.FormatInt(n, 10))
}

func (h *Handler) eraseUser(c *gin.Context) {
	ctx := c.Request.Context()
	rt, u, ok := h.routeUser(c)
	if !ok {
		return
	}
	// The typed openid guards against erasing the wrong user, say from a
	// stale tab; the server, not only the browser, compares it.
	if typed := strings.TrimSpace(c.PostForm("confirm_openid")); typed != u.OpenID {
		h.renderUser(c, http.StatusBadRequest, rt, u, func(m *views.UserPage) {
			m.EraseForm = views.Form{Values: map[string]string{"confirm_openid": typed},
				Errors: map[string]string{"confirm_openid": views.T(ctx, "user.erase_mismatch")}}
		})
		return
	}
	if err := h.Users.Erase(ctx, rt.ID, uuid.MustParse(u.ID)); err != nil {
		h.fail(c, err)
		return
	}
	h.record(c, admin.Event{Action: "user.erase", TenantID: &rt.ID, TenantSlug: rt.Slug, TargetType: "user", TargetID: u.ID})
	h.done(c, "/admin/tenants/"+rt.Slug+"/users", "user.erased", u.OpenID)
}

func (h *Handler) banUser(c *gin.Context) {
	ctx := c.Request.Context()
	rt, u, ok := h.routeUser(c)
	if !ok {
		return
	}
	form := views.Form{Values: map[string]string{"reason": c.PostForm("reason"), "expires_at": c.PostForm("expires_at")},
		Errors: map[string]string{}}
	n := auth.NewBan{UserID: u.ID, Reason: form.V("reason"), CreatedBy: h.createdBy(c)}
	var err error
	if n.ExpiresAt, err = localTime(c, form.V("expires_at")); err != nil {
		form.Errors["expires_at"] = views.T(ctx, "bans.bad_expiry")
	} else {
		var b auth.Ban
		if b, err = h.Bans.Create(ctx, rt.ID, n); err == nil {
			h.record(c, admin.BanEvent("ban.create", rt.Slug, b))
			h.done(c, userURL(rt, u.ID), "user.banned_flash")
			return
		}
		if !fieldErrors(c, err, form.Errors, nil) {
			h.fail(c, err)
			return
		}
	}
	h.renderUser(c, http.StatusBadRequest, rt, u, func(m *views.UserPage) { m.BanForm = form })
}

func (h *Handler) unbanUser(c *gin.Context) {
	rt, u, ok := h.routeUser(c)
	if !ok {
		return
	}
	lifted, err := h.Bans.LiftUser(c.Request.Context(), rt.ID, uuid.MustParse(u.ID), u.OpenID)
	if err != nil {
		h.fail(c, err)
		return
	}
	for _, b := range lifted {
		h.record(c, admin.BanEvent("ban.delete", rt.Slug, b))
	}
	h.done(c, userURL(rt, u.ID), "user.unbanned")
}

// createdBy names the viewer in a ban, as the management API names its caller.
func (h *Handler) createdBy(c *gin.Context) string {
	a := viewerOf(c).Actor
	return a.Type + ":" + a.ID
}

func (h *Handler) setUserStatus(c *gin.Context) {
	rt, u, ok := h.routeUser(c)
	if !ok {
		return
	}
	before, after, err := h.Users.SetStatus(c.Request.Context(), rt.ID, uuid.MustParse(u.ID), c.PostForm("status"))
	var invalid *tenant.ValidationError
	if errors.As(err, &invalid) {
		h.errorPage(c, http.StatusBadRequest, views.T(c.Request.Context(), "user.bad_status"))
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.record(c, admin.Event{Action: "user.update", TenantID: &rt.ID, TenantSlug: rt.Slug, TargetType: "user", TargetID: u.ID,
		Diff: admin.Diff(map[string]any{"status": before.Status}, map[string]any{"status": after.Status})})
	flash := "user.enabled"
	if after.Status == auth.UserDisabled {
		flash = "user.disabled"
	}
	h.done(c, userURL(rt, u.ID), flash)
}
