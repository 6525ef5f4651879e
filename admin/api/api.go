// Package api is the management REST API under /api/v1: it authenticates
// API keys, authorises by role and tenant, and translates requests into
// calls on the tenant and admin domains.
package api

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/web"
)

// Handler serves the management API.
type Handler struct {
	tenants *tenant.Store
	keys    *admin.APIKeys
	log     *slog.Logger
}

// New returns the management API handler.
func New(tenants *tenant.Store, keys *admin.APIKeys, log *slog.Logger) *Handler {
	return &Handler{tenants: tenants, keys: keys, log: log}
}

// Routes registers every management endpoint.
func (h *Handler) Routes(r gin.IRouter) {
	g := r.Group("/api/v1", h.authenticate)
	g.POST("/tenants", h.requirePlatform, h.createTenant)
	g.GET("/tenants", h.requirePlatform, h.listTenants)
	g.GET("/tenants/:slug", h.requireTenant(false), h.getTenant)
	g.PATCH("/tenants/:slug", h.requireTenant(true), h.updateTenant)
	g.DELETE("/tenants/:slug", h.requirePlatform, h.deleteTenant)
	g.GET("/tenants/:slug/keys", h.requireTenant(false), h.listKeys)
	g.POST("/tenants/:slug/keys/rotate", h.requireTenant(true), h.rotateKey)
}

func fail(c *gin.Context, err error) { web.Abort(c, problemFor(err)) }

// problemFor is the one error mapping of the management surface.
func problemFor(err error) *web.Problem {
	var v *tenant.ValidationError
	var p *web.Problem
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &v):
		fields := make([]web.FieldError, len(v.Fields))
		for i, f := range v.Fields {
			fields[i] = web.FieldError{Field: f.Field, Message: f.Message}
		}
		return web.BadRequest("The request has invalid fields.", fields...)
	case errors.Is(err, tenant.ErrNotFound):
		return web.NewProblem(http.StatusNotFound, "not_found", "No such resource.")
	case errors.Is(err, tenant.ErrConflict):
		return web.NewProblem(http.StatusConflict, "conflict", "A resource with this identifier already exists.")
	case errors.Is(err, admin.ErrUnauthorized):
		return web.NewProblem(http.StatusUnauthorized, "unauthorized", "A valid API key is required.")
	}
	return web.InternalError(err)
}

var errForbidden = web.NewProblem(http.StatusForbidden, "forbidden", "This API key may not do that.")

const keyCtx = "miniauth.apikey"

func (h *Handler) authenticate(c *gin.Context) {
	scheme, token, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		c.Header("WWW-Authenticate", `Bearer realm="miniauth"`)
		fail(c, admin.ErrUnauthorized)
		return
	}
	k, err := h.keys.Authenticate(c.Request.Context(), strings.TrimSpace(token))
	if err != nil {
		c.Header("WWW-Authenticate", `Bearer realm="miniauth"`)
		fail(c, err)
		return
	}
	c.Set(keyCtx, k)
	c.Next()
}

func caller(c *gin.Context) admin.APIKey { return c.MustGet(keyCtx).(admin.APIKey) }

func (h *Handler) requirePlatform(c *gin.Context) {
	if caller(c).Role != admin.RolePlatformAdmin {
		fail(c, errForbidden)
		return
	}
	c.Next()
}

// requireTenant admits platform admins, and tenant keys for their own
// tenant only: tenant admins for changes, any tenant role for reads.
func (h *Handler) requireTenant(write bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		k := caller(c)
		if k.Role == admin.RolePlatformAdmin {
			c.Next()
			return
		}
		if k.Tenant == nil || *k.Tenant != c.Param("slug") || (write && k.Role != admin.RoleTenantAdmin) {
			fail(c, errForbidden)
			return
		}
		c.Next()
	}
}

// page reads ?limit= and ?cursor=; cursors are opaque base64url strings.
func page(c *gin.Context) (limit int, after string, err error) {
	limit = 50
	if s := c.Query("limit"); s != "" {
		limit, err = strconv.Atoi(s)
		if err != nil || limit < 1 || limit > 200 {
			return 0, "", web.BadRequest("The query is invalid.", web.FieldError{Field: "limit", Message: "must be 1-200"})
		}
	}
	if s := c.Query("cursor"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return 0, "", web.BadRequest("The query is invalid.", web.FieldError{Field: "cursor", Message: "is not a cursor from this API"})
		}
		after = string(b)
	}
	return limit, after, nil
}

func cursor(s string) *string {
	c := base64.RawURLEncoding.EncodeToString([]byte(s))
	return &c
}

// list is the shape of every list response.
type list[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}
