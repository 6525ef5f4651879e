package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
)

// SessionKeys checks and resets users' WeChat session_keys (auth.Service).
type SessionKeys interface {
	CheckSessionKey(ctx context.Context, rt *tenant.Runtime, userID uuid.UUID) (auth.SessionKeyHealth, error)
	ResetSessionKey(ctx context.Context, rt *tenant.Runtime, userID uuid.UUID) (auth.SessionKeyHealth, error)
}

// sessionKeyTarget is the route's user and its tenant's runtime (the
// AppSecret the WeChat calls need).
func (h *Handler) sessionKeyTarget(c *gin.Context) (*tenant.Runtime, uuid.UUID, bool) {
	id, ok := userID(c)
	if !ok {
		return nil, uuid.Nil, false
	}
	rt, err := h.Directory.Lookup(c.Request.Context(), routeTenant(c).Slug)
	if err != nil {
		fail(c, err)
		return nil, uuid.Nil, false
	}
	return rt, id, true
}

func (h *Handler) checkSessionKey(c *gin.Context) {
	rt, id, ok := h.sessionKeyTarget(c)
	if !ok {
		return
	}
	health, err := h.SessionKeys.CheckSessionKey(c.Request.Context(), rt, id)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, health)
}

func (h *Handler) resetSessionKey(c *gin.Context) {
	rt, id, ok := h.sessionKeyTarget(c)
	if !ok {
		return
	}
	health, err := h.SessionKeys.ResetSessionKey(c.Request.Context(), rt, id)
	if err != nil {
		fail(c, err)
		return
	}
	h.record(c, admin.Event{Action: "user.session_key_reset", TenantID: &rt.ID, TenantSlug: rt.Slug,
		TargetType: "user", TargetID: id.String()})
	c.JSON(http.StatusOK, gin.H{"valid": health.Valid, "reset_at": health.CheckedAt})
}
