package api

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/web"
)

// tenantDomain resolves an optional tenant slug to its Casbin domain and
// id; "" is the platform domain. An unknown slug is reported as forbidden
// unless the caller could see every tenant.
func (h *Handler) tenantDomain(c *gin.Context, slug, obj, act string) (dom string, id *int64, ok bool) {
	if slug == "" {
		dom = admin.PlatformDomain
	} else {
		rt, err := tenant.Tenant{}, tenant.ErrNotFound
		if tenant.ValidSlug(slug) {
			rt, err = h.Tenants.Get(c.Request.Context(), slug)
		}
		switch {
		case errors.Is(err, tenant.ErrNotFound) && h.allowed(c, admin.PlatformDomain, obj, act):
			fail(c, &tenant.ValidationError{Fields: []tenant.FieldError{{Field: "tenant", Message: "no tenant has this slug"}}})
			return "", nil, false
		case errors.Is(err, tenant.ErrNotFound):
			fail(c, errForbidden)
			return "", nil, false
		case err != nil:
			fail(c, err)
			return "", nil, false
		}
		dom, id = admin.TenantDomain(rt.ID), &rt.ID
	}
	if !h.allowed(c, dom, obj, act) {
		fail(c, errForbidden)
		return "", nil, false
	}
	return dom, id, true
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
	_, tenantID, ok := h.tenantDomain(c, scope.Tenant, admin.ObjAPIKeys, admin.ActWrite)
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
	h.record(c, admin.Event{Action: "apikey.create", TenantID: tenantID, TenantSlug: req.Tenant, TargetType: "apikey",
		TargetID: k.ID.String(), Diff: admin.Diff(nil, map[string]any{"name": k.Name, "role": k.Role, "tenant": k.Tenant})})
	c.JSON(http.StatusCreated, createdAPIKey{APIKey: k, Key: plain})
}

func (h *Handler) listAPIKeys(c *gin.Context) {
	_, tenantID, ok := h.tenantDomain(c, c.Query("tenant"), admin.ObjAPIKeys, admin.ActRead)
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
	k, err := h.APIKeys.Get(c.Request.Context(), id)
	if errors.Is(err, tenant.ErrNotFound) && !h.allowed(c, admin.PlatformDomain, admin.ObjAPIKeys, admin.ActWrite) {
		// Tenant callers learn nothing about keys outside their tenant.
		fail(c, errForbidden)
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	dom := admin.PlatformDomain
	if k.TenantID != nil {
		dom = admin.TenantDomain(*k.TenantID)
	}
	if !h.allowed(c, dom, admin.ObjAPIKeys, admin.ActWrite) {
		fail(c, errForbidden)
		return
	}
	if err := h.APIKeys.Revoke(c.Request.Context(), id); err != nil {
		fail(c, err)
		return
	}
	h.Authz.Changed(c.Request.Context())
	slug := ""
	if k.Tenant != nil {
		slug = *k.Tenant
	}
	h.record(c, admin.Event{Action: "apikey.revoke", TenantID: k.TenantID, TenantSlug: slug, TargetType: "apikey", TargetID: id.String()})
	c.Status(http.StatusNoContent)
}
