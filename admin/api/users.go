package api

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/web"
)

func (h *Handler) listUsers(c *gin.Context) {
	limit, err := limitParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	q, err := web.Query(c, "q", 128)
	if err != nil {
		fail(c, err)
		return
	}
	f := auth.UserFilter{Query: strings.TrimSpace(q), Status: c.Query("status"), Limit: limit + 1}
	if f.Status != "" && f.Status != "active" && f.Status != "disabled" {
		fail(c, web.BadRequest("The query is invalid.", web.FieldError{Field: "status", Message: "must be active or disabled"}))
		return
	}
	if f.Before, err = uuidCursor(c); err != nil {
		fail(c, err)
		return
	}
	users, err := h.Users.List(c.Request.Context(), routeTenant(c).ID, f)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page(users, limit, func(u auth.User) string { return u.ID }))
}

// userID parses :id; a malformed id cannot name a user, so it is a 404.
func userID(c *gin.Context) (uuid.UUID, bool) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		fail(c, auth.ErrUserNotFound)
		return uuid.Nil, false
	}
	return id, true
}

func (h *Handler) getUser(c *gin.Context) {
	id, ok := userID(c)
	if !ok {
		return
	}
	u, err := h.Users.Get(c.Request.Context(), routeTenant(c).ID, id)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, u)
}

type patchUserRequest struct {
	Status string `json:"status"`
}

func (h *Handler) updateUser(c *gin.Context) {
	id, ok := userID(c)
	if !ok {
		return
	}
	var req patchUserRequest
	if err := web.DecodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	rt := routeTenant(c)
	before, after, err := h.Users.SetStatus(c.Request.Context(), rt.ID, id, req.Status)
	if err != nil {
		fail(c, err)
		return
	}
	h.record(c, admin.Event{Action: "user.update", TenantID: &rt.ID, TenantSlug: rt.Slug, TargetType: "user", TargetID: id.String(),
		Diff: admin.Diff(map[string]any{"status": before.Status}, map[string]any{"status": after.Status})})
	c.JSON(http.StatusOK, after)
}

func (h *Handler) eraseUser(c *gin.Context) {
	id, ok := userID(c)
	if !ok {
		return
	}
	rt := routeTenant(c)
	if err := h.Users.Erase(c.Request.Context(), rt.ID, id); err != nil {
		fail(c, err)
		return
	}
	h.record(c, admin.Event{Action: "user.erase", TenantID: &rt.ID, TenantSlug: rt.Slug, TargetType: "user", TargetID: id.String()})
	c.Status(http.StatusNoContent)
}

func (h *Handler) revokeSessions(c *gin.Context) {
	id, ok := userID(c)
	if !ok {
		return
	}
	rt := routeTenant(c)
	n, err := h.Users.RevokeSessions(c.Request.Context(), rt.ID, id)
	if err != nil {
		fail(c, err)
		return
	}
	h.record(c, admin.Event{Action: "user.revoke_sessions", TenantID: &rt.ID, TenantSlug: rt.Slug, TargetType: "user",
		TargetID: id.String(), Diff: map[string]admin.Change{"revoked_sessions": {From: nil, To: n}}})
	c.JSON(http.StatusOK, gin.H{"revoked_sessions": n})
}
