package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/web"
)

type createBanRequest struct {
	UserID    string     `json:"user_id"`
	OpenID    string     `json:"openid"`
	IP        string     `json:"ip"`
	Reason    string     `json:"reason"`
	ExpiresAt *time.Time `json:"expires_at"`
	// Confirm repeats the target of a ban wide enough to lock out a whole
	// population (admin.CheckWideBan).
	Confirm string `json:"confirm"`
}

type banJSON struct {
	auth.Ban
	Tenant *string `json:"tenant"`
}

// banScope is the tenant a ban route works in: the :slug's, or the
// platform (id 0, slug "") for /api/v1/bans.
func banScope(c *gin.Context) (int64, string) {
	if c.Param("slug") == "" {
		return 0, ""
	}
	rt := routeTenant(c)
	return rt.ID, rt.Slug
}

func toBanJSON(b auth.Ban, slug string) banJSON {
	out := banJSON{Ban: b}
	if slug != "" {
		out.Tenant = &slug
	}
	return out
}

func (h *Handler) createBan(c *gin.Context) {
	var req createBanRequest
	if err := web.DecodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	tenantID, slug := banScope(c)
	p := caller(c)
	n := auth.NewBan{
		UserID: req.UserID, OpenID: req.OpenID, IP: req.IP, Reason: req.Reason, ExpiresAt: req.ExpiresAt,
		CreatedBy: p.Actor.Type + ":" + p.Actor.ID,
	}
	if err := h.Authz.AuthorizeBan(p.Subject, n, req.Confirm); err != nil {
		fail(c, err)
		return
	}
	b, err := h.Bans.Create(c.Request.Context(), tenantID, n)
	if err != nil {
		fail(c, err)
		return
	}
	h.record(c, admin.BanEvent("ban.create", slug, b))
	c.JSON(http.StatusCreated, toBanJSON(b, slug))
}

func (h *Handler) listBans(c *gin.Context) {
	limit, before, err := uuidPage(c)
	if err != nil {
		fail(c, err)
		return
	}
	tenantID, slug := banScope(c)
	bans, err := h.Bans.List(c.Request.Context(), tenantID, limit+1, before)
	if err != nil {
		fail(c, err)
		return
	}
	items := make([]banJSON, len(bans))
	for i, b := range bans {
		items[i] = toBanJSON(b, slug)
	}
	c.JSON(http.StatusOK, page(items, limit, func(b banJSON) string { return b.ID.String() }))
}

func (h *Handler) deleteBan(c *gin.Context) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		fail(c, auth.ErrBanNotFound)
		return
	}
	tenantID, slug := banScope(c)
	b, err := h.Bans.Delete(c.Request.Context(), tenantID, id)
	if err != nil {
		fail(c, err)
		return
	}
	h.record(c, admin.BanEvent("ban.delete", slug, b))
	c.Status(http.StatusNoContent)
}
