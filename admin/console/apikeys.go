package console

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/console/views"
	"github.com/miniauth/miniauth/tenant"
)

// accessRoutes are the platform's access screens: API keys, admin
// accounts and the audit log. API keys and the audit log decide their
// domain from the tenant a request names, as the management API does;
// admin accounts live in the platform domain.
func (h *Handler) accessRoutes(s *gin.RouterGroup) {
	s.GET("/api-keys", h.apiKeysPage)
	s.POST("/api-keys", h.createAPIKey)
	s.POST("/api-keys/:id/revoke", h.revokeAPIKey)

	s.GET("/admins", h.can(admin.ObjAdmins, admin.ActRead), h.adminsPage)
	s.POST("/admins", h.can(admin.ObjAdmins, admin.ActWrite), h.createAdmin)
	s.GET("/admins/:id", h.can(admin.ObjAdmins, admin.ActRead), h.adminPage)
	s.POST("/admins/:id", h.can(admin.ObjAdmins, admin.ActWrite), h.updateAdmin)
	s.POST("/admins/:id/delete", h.can(admin.ObjAdmins, admin.ActWrite), h.deleteAdmin)

	s.GET("/audit", h.auditPage)
}

// accessPageSize is the rows of one page of the access screens.
const accessPageSize = 50

// tenantOptionLimit caps the tenants a select lists, so a page stays
// small; past it the views ask for a slug instead.
const tenantOptionLimit = 100

// tenantScopes are the tenants whose obj the viewer may act on, for a
// tenant picker: every tenant when they may act on the whole platform
// (the first tenantOptionLimit, more telling there are others), else
// those of their own bindings that allow it.
func (h *Handler) tenantScopes(c *gin.Context, obj, act string) (platform bool, opts []views.TenantOption, more bool, err error) {
	if h.allowed(c, admin.PlatformDomain, obj, act) {
		opts, more, err := h.allTenants(c)
		return true, opts, more, err
	}
	for _, t := range viewerOf(c).tenants {
		if h.allowed(c, admin.TenantDomain(t.ID), obj, act) {
			opts = append(opts, views.TenantOption{Slug: t.Slug, Name: t.Name})
		}
	}
	return false, opts, false, nil
}

// allTenants are the first tenantOptionLimit tenants by slug.
func (h *Handler) allTenants(c *gin.Context) (opts []views.TenantOption, more bool, err error) {
	ts, err := h.Tenants.List(c.Request.Context(), tenantOptionLimit+1, "")
	if err != nil {
		return nil, false, err
	}
	if len(ts) > tenantOptionLimit {
		ts, more = ts[:tenantOptionLimit], true
	}
	for _, t := range ts {
		opts = append(opts, views.TenantOption{Slug: t.Slug, Name: t.Name})
	}
	return opts, more, nil
}

// scope is the tenant a list is narrowed to: ?tenant=, else nothing for
// viewers who may see the whole platform, else their first tenant. The
// domain decision is the API's (admin.Authorizer.ScopeAccess).
func (h *Handler) scope(c *gin.Context, obj string, platform bool, opts []views.TenantOption) (string, *int64, error) {
	slug := c.Query("tenant")
	if slug == "" && !platform && len(opts) > 0 {
		slug = opts[0].Slug
	}
	t, err := h.Authz.ScopeAccess(c.Request.Context(), h.Tenants, viewerOf(c).Subject, slug, obj, admin.ActRead)
	var invalid *tenant.ValidationError
	if errors.As(err, &invalid) {
		err = tenant.ErrNotFound
	}
	if err != nil || t == nil {
		return slug, nil, err
	}
	return slug, &t.ID, nil
}

func (h *Handler) apiKeysPage(c *gin.Context) {
	m, err := h.apiKeysModel(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, http.StatusOK, views.APIKeys(m))
}

// apiKeysModel is the list page of the viewer's scope with an empty create
// form.
func (h *Handler) apiKeysModel(c *gin.Context) (views.APIKeysPage, error) {
	ctx := c.Request.Context()
	m := views.APIKeysPage{Page: h.page(c, "apikeys.title", "api-keys")}
	platform, opts, more, err := h.tenantScopes(c, admin.ObjAPIKeys, admin.ActRead)
	if err != nil {
		return m, err
	}
	m.AllScope, m.Tenants, m.MoreTenants = platform, opts, more
	slug, tenantID, err := h.scope(c, admin.ObjAPIKeys, platform, opts)
	if err != nil {
		return m, err
	}
	m.Scope = slug
	var before *uuid.UUID
	if v := c.Query("before"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return m, tenant.Invalid("before", "is not a page cursor")
		}
		before = &id
	}
	keys, err := h.APIKeys.List(ctx, tenantID, accessPageSize+1, before)
	if err != nil {
		return m, err
	}
	if len(keys) > accessPageSize {
		keys = keys[:accessPageSize]
		q := url.Values{"before": {keys[len(keys)-1].ID.String()}}
		if slug != "" {
			q.Set("tenant", slug)
		}
		m.Next = "/admin/api-keys?" + q.Encode()
	}
	for _, k := range keys {
		dom := admin.PlatformDomain
		if k.TenantID != nil {
			dom = admin.TenantDomain(*k.TenantID)
		}
		m.Keys = append(m.Keys, h.apiKeyRow(c, k, h.allowed(c, dom, admin.ObjAPIKeys, admin.ActWrite)))
	}
	grantPlatform, grantable, grantMore, err := h.tenantScopes(c, admin.ObjAPIKeys, admin.ActWrite)
	if err != nil {
		return m, err
	}
	if grantPlatform || len(grantable) > 0 {
		f := &views.APIKeyForm{Form: views.Form{Values: map[string]string{}, Errors: map[string]string{}},
			Platform: grantPlatform, Tenants: grantable, MoreTenants: grantMore}
		for _, r := range admin.Roles {
			if grantPlatform || r.TenantScoped() {
				f.Roles = append(f.Roles, string(r))
			}
		}
		m.Create = f
	}
	return m, nil
}

func (h *Handler) apiKeyRow(c *gin.Context, k admin.APIKey, canRevoke bool) views.APIKeyRow {
	ctx := c.Request.Context()
	r := views.APIKeyRow{ID: k.ID.String(), Name: k.Name, Role: string(k.Role), Created: views.Time(ctx, k.CreatedAt),
		LastUsed: views.TimePtr(ctx, k.LastUsedAt), CanRevoke: canRevoke}
	if k.Tenant != nil {
		r.Tenant = *k.Tenant
	}
	return r
}

// createAPIKey makes a key in the domain the form names, exactly as the
// API does: a tenant admin may mint keys of their tenant, never a
// platform key, whatever the form was edited to say. The secret is shown
// on the answer to this POST only, never put in a redirect or a cookie.
func (h *Handler) createAPIKey(c *gin.Context) {
	ctx := c.Request.Context()
	name, role, slug := c.PostForm("name"), c.PostForm("role"), c.PostForm("tenant")
	if _, err := h.Authz.ScopeAccess(ctx, h.Tenants, viewerOf(c).Subject, slug, admin.ObjAPIKeys, admin.ActWrite); err != nil {
		var invalid *tenant.ValidationError
		if !errors.As(err, &invalid) {
			h.fail(c, err)
			return
		}
		h.apiKeyFormError(c, name, role, slug, invalid)
		return
	}
	k, plain, err := h.APIKeys.Create(ctx, name, admin.Role(role), slug)
	var invalid *tenant.ValidationError
	if errors.As(err, &invalid) {
		h.apiKeyFormError(c, name, role, slug, invalid)
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.Authz.Changed(ctx)
	h.record(c, admin.APIKeyCreated(k))
	h.render(c, http.StatusCreated, views.APIKeyCreated(views.APIKeyCreatedPage{
		Page: h.page(c, "apikeys.title", "api-keys"), Key: h.apiKeyRow(c, k, false), Secret: plain}))
}

// apiKeyFormError shows the list again with the form's field errors.
func (h *Handler) apiKeyFormError(c *gin.Context, name, role, slug string, invalid *tenant.ValidationError) {
	m, err := h.apiKeysModel(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	if m.Create == nil {
		h.fail(c, admin.ErrForbidden)
		return
	}
	m.Create.Values = map[string]string{"name": name, "role": role, "tenant": slug}
	if m.Create.Errors == nil {
		m.Create.Errors = map[string]string{}
	}
	fieldErrors(c, invalid, m.Create.Errors, nil)
	h.render(c, http.StatusBadRequest, views.APIKeys(m))
}

func (h *Handler) revokeAPIKey(c *gin.Context) {
	ctx := c.Request.Context()
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		h.fail(c, tenant.ErrNotFound)
		return
	}
	k, err := h.Authz.APIKeyAccess(ctx, h.APIKeys, viewerOf(c).Subject, id, admin.ActWrite)
	if err != nil {
		h.fail(c, err)
		return
	}
	if err := h.APIKeys.Revoke(ctx, id); err != nil {
		h.fail(c, err)
		return
	}
	h.Authz.Changed(ctx)
	h.record(c, admin.APIKeyRevoked(k))
	target := "/admin/api-keys"
	if k.Tenant != nil && !h.allowed(c, admin.PlatformDomain, admin.ObjAPIKeys, admin.ActRead) {
		target += "?tenant=" + url.QueryEscape(*k.Tenant)
	}
	h.done(c, target, "apikeys.revoked", k.Name)
}
