package api

import (
	"encoding/json"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/web"
)

// tenantDomain resolves an optional tenant slug to its tenant id (nil for
// the platform domain) if the caller may do act on obj there
// (admin.Authorizer.ScopeAccess).
func (h *Handler) tenantDomain(c *gin.Context, slug, obj, act string) (id *int64, ok bool) {
	t, err := h.Authz.ScopeAccess(c.Request.Context(), h.Tenants, caller(c).Subject, slug, obj, act)
	if err != nil {
		fail(c, err)
		return nil, false
	}
	if t != nil {
		id = &t.ID
	}
	return id, true
}

type createAPIKeyRequest struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Tenant string `json:"tenant"`
}

type createdAPIKey struct {
	admin.APIKey
	Key string `json:"key"`
}

func (h *Handler) createAPIKey(c *gin.Context) {
	body, err := web.ReadBody(c)
	if err != nil {
		fail(c, err)
		return
	}
	// The key is created in the domain it will act in: a tenant admin may
	// mint keys for their tenant, never a platform key. That is decided
	// from the tenant the body names before the body is validated, so a
	// caller who may not create keys there learns only "forbidden".
	var scope struct {
		Tenant string `json:"tenant"`
	}
	_ = json.Unmarshal(body, &scope)
	_, ok := h.tenantDomain(c, scope.Tenant, admin.ObjAPIKeys, admin.ActWrite)
	if !ok {
		return
	}
	var req createAPIKeyRequest
	if err := web.DecodeJSONBytes(body, &req); err != nil {
		fail(c, err)
		return
	}
	k, plain, err := h.APIKeys.Create(c.Request.Context(), req.Name, admin.Role(req.Role), req.Tenant)
	if err != nil {
		fail(c, err)
		return
	}
	h.Authz.Changed(c.Request.Context())
	h.record(c, admin.APIKeyCreated(k))
	c.JSON(http.StatusCreated, createdAPIKey{APIKey: k, Key: plain})
}

func (h *Handler) listAPIKeys(c *gin.Context) {
	tenantID, ok := h.tenantDomain(c, c.Query("tenant"), admin.ObjAPIKeys, admin.ActRead)
	if !ok {
		return
	}
	limit, before, err := uuidPage(c)
	if err != nil {
		fail(c, err)
		return
	}
	keys, err := h.APIKeys.List(c.Request.Context(), tenantID, limit+1, before)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page(keys, limit, func(k admin.APIKey) string { return k.ID.String() }))
}

func (h *Handler) revokeAPIKey(c *gin.Context) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		fail(c, tenant.ErrNotFound)
		return
	}
	k, err := h.Authz.APIKeyAccess(c.Request.Context(), h.APIKeys, caller(c).Subject, id, admin.ActWrite)
	if err != nil {
		fail(c, err)
		return
	}
	if err := h.APIKeys.Revoke(c.Request.Context(), id); err != nil {
		fail(c, err)
		return
	}
	h.Authz.Changed(c.Request.Context())
	h.record(c, admin.APIKeyRevoked(k))
	c.Status(http.StatusNoContent)
}
