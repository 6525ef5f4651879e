// Package api is the management REST API under /api/v1: it authenticates
// API keys, authorises every route through the Casbin policy, records
// every change in the audit log, and translates requests into calls on the
// tenant, auth and admin domains.
package api

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/web"
)

// Deps are the handler's collaborators.
type Deps struct {
	Tenants  *tenant.Store
	Users    *auth.Users
	Bans     *auth.Bans
	APIKeys  *admin.APIKeys
	Accounts *admin.Accounts
	Audit    *admin.Audit
	Authz    *admin.Authorizer
	Limits   *auth.Limits
	// RateDefaults are the server's default tenant rate limits, shown in
	// place of the keys a tenant leaves unset.
	RateDefaults map[string]string
	// KeyRate limits each API key's requests (a "600-M" rate).
	KeyRate string
	// Directory gives the tenants' runtimes (the AppSecret) for the
	// calls to WeChat made for operators.
	Directory   *tenant.Directory
	SessionKeys SessionKeys
	// Breakers are this instance's WeChat circuit breakers, whose state
	// a tenant's view shows; nil shows every circuit closed.
	Breakers *auth.Breakers
	Log      *slog.Logger
}

// Handler serves the management API.
type Handler struct{ Deps }

// New returns the management API handler.
func New(d Deps) *Handler { return &Handler{d} }

// actDelete is granted only through platform_admin's wildcard.
const actDelete = "delete"

// limitPerKey names the per-API-key limit in metrics and errors.
const limitPerKey = "management_per_key"

// Routes registers every management endpoint with the permission it needs.
func (h *Handler) Routes(r gin.IRouter) {
	r.GET("/api/v1/openapi.json", serveSpec)
	g := r.Group("/api/v1", h.authenticate)

	g.POST("/tenants", h.can(admin.ObjTenants, admin.ActWrite), h.createTenant)
	g.GET("/tenants", h.can(admin.ObjTenants, admin.ActRead), h.listTenants)
	g.GET("/tenants/:slug", h.can(admin.ObjTenants, admin.ActRead), h.getTenant)
	g.PATCH("/tenants/:slug", h.can(admin.ObjTenants, admin.ActWrite), h.updateTenant)
	g.DELETE("/tenants/:slug", h.can(admin.ObjTenants, actDelete), h.deleteTenant)

	g.GET("/tenants/:slug/keys", h.can(admin.ObjKeys, admin.ActRead), h.listKeys)
	g.POST("/tenants/:slug/keys/rotate", h.can(admin.ObjKeys, admin.ActWrite), h.rotateKey)

	g.GET("/tenants/:slug/users", h.can(admin.ObjUsers, admin.ActRead), h.listUsers)
	g.GET("/tenants/:slug/users/:id", h.can(admin.ObjUsers, admin.ActRead), h.getUser)
	g.PATCH("/tenants/:slug/users/:id", h.can(admin.ObjUsers, admin.ActWrite), h.updateUser)
	g.DELETE("/tenants/:slug/users/:id", h.can(admin.ObjUsers, admin.ActWrite), h.eraseUser)
	g.POST("/tenants/:slug/users/:id/revoke-sessions", h.can(admin.ObjSessions, admin.ActWrite), h.revokeSessions)
	g.GET("/tenants/:slug/users/:id/session-key", h.can(admin.ObjUsers, admin.ActRead), h.checkSessionKey)
	g.POST("/tenants/:slug/users/:id/session-key/reset", h.can(admin.ObjUsers, admin.ActWrite), h.resetSessionKey)

	g.GET("/tenants/:slug/bans", h.can(admin.ObjBans, admin.ActRead), h.listBans)
	g.POST("/tenants/:slug/bans", h.can(admin.ObjBans, admin.ActWrite), h.createBan)
	g.DELETE("/tenants/:slug/bans/:id", h.can(admin.ObjBans, admin.ActWrite), h.deleteBan)
	// Platform-wide IP bans.
	g.GET("/bans", h.can(admin.ObjBans, admin.ActRead), h.listBans)
	g.POST("/bans", h.can(admin.ObjBans, admin.ActWrite), h.createBan)
	g.DELETE("/bans/:id", h.can(admin.ObjBans, admin.ActWrite), h.deleteBan)

	// The domain of these depends on the body, query or the key named.
	g.GET("/api-keys", h.listAPIKeys)
	g.POST("/api-keys", h.createAPIKey)
	g.DELETE("/api-keys/:id", h.revokeAPIKey)
	g.GET("/audit", h.listAudit)
	// Authorised per tenant of the answer.
	g.GET("/unionids/:unionid", h.listUnionID)

	g.GET("/admins", h.can(admin.ObjAdmins, admin.ActRead), h.listAdmins)
	g.POST("/admins", h.can(admin.ObjAdmins, admin.ActWrite), h.createAdmin)
	g.GET("/admins/:id", h.can(admin.ObjAdmins, admin.ActRead), h.getAdmin)
	g.PATCH("/admins/:id", h.can(admin.ObjAdmins, admin.ActWrite), h.updateAdmin)
	g.DELETE("/admins/:id", h.can(admin.ObjAdmins, admin.ActWrite), h.deleteAdmin)
}

func fail(c *gin.Context, err error) { web.Abort(c, problemFor(err)) }

// problemFor is the one error mapping of the management surface.
func problemFor(err error) *web.Problem {
	var v *tenant.ValidationError
	var limited *auth.LimitedError
	var p *web.Problem
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &limited):
		p := web.NewProblem(http.StatusTooManyRequests, "rate_limited", "This API key made too many requests; retry after the time in Retry-After.")
		p.RetryAfter = limited.RetryAfter
		return p
	case errors.As(err, &v):
		return web.Invalid("The request has invalid fields.", v)
	case errors.Is(err, auth.ErrNoSessionKey):
		return web.NewProblem(http.StatusConflict, "conflict", "No session_key is stored for this user; it is stored at their next login.")
	case errors.Is(err, auth.ErrSessionKeyStale):
		return web.NewProblem(http.StatusConflict, "conflict", "The stored session_key is stale, so WeChat refuses it as proof; the user must log in again.")
	case errors.Is(err, auth.ErrWeChatQuota):
		return web.NewProblem(http.StatusServiceUnavailable, "wechat_quota_exceeded", "WeChat's daily call quota for this mini-program is used up.").WithInternal(err)
	case errors.Is(err, auth.ErrWeChatUnavailable):
		return web.NewProblem(http.StatusBadGateway, "wechat_unavailable", "WeChat could not answer; try again later.").WithInternal(err)
	case errors.Is(err, tenant.ErrNotFound):
		return web.NewProblem(http.StatusNotFound, "not_found", "No such resource.")
	case errors.Is(err, tenant.ErrConflict):
		return web.NewProblem(http.StatusConflict, "conflict", "A resource with this identifier already exists.")
	case errors.Is(err, admin.ErrWideBanForbidden):
		return web.NewProblem(http.StatusForbidden, "forbidden", "Only a platform admin may ban an IP range wider than /16 (IPv4) or /48 (IPv6).")
	case errors.Is(err, admin.ErrGroupForbidden):
		return web.NewProblem(http.StatusForbidden, "forbidden", "Only a platform admin may set unionid_group.")
	case errors.Is(err, admin.ErrForbidden):
		return errForbidden
	case errors.Is(err, admin.ErrUnauthorized):
		return web.NewProblem(http.StatusUnauthorized, "unauthorized", "A valid API key is required.")
	}
	return web.Unexpected(err)
}

var errForbidden = web.NewProblem(http.StatusForbidden, "forbidden", "This API key may not do that.")

// principal is the authenticated caller.
type principal struct {
	Subject string
	Actor   admin.Actor
}

const (
	principalKey = "miniauth.principal"
	tenantKey    = "miniauth.tenant"
)

func (h *Handler) authenticate(c *gin.Context) {
	scheme, token, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	var k admin.APIKey
	err := admin.ErrUnauthorized
	if strings.EqualFold(scheme, "Bearer") {
		k, err = h.APIKeys.Authenticate(c.Request.Context(), strings.TrimSpace(token))
	}
	if err != nil {
		c.Header("WWW-Authenticate", `Bearer realm="miniauth"`)
		fail(c, err)
		return
	}
	if q, err := h.Limits.Take(c.Request.Context(), limitPerKey, h.KeyRate, k.ID.String()); err != nil {
		c.Header("X-RateLimit-Limit", strconv.FormatInt(q.Limit, 10))
		c.Header("X-RateLimit-Remaining", "0")
		c.Header("X-RateLimit-Reset", strconv.FormatInt(q.Reset.Unix(), 10))
		fail(c, err)
		return
	}
	ip, _ := netip.ParseAddr(c.ClientIP())
	sub := admin.APIKeySubject(k.ID.String())
	h.Authz.Known(sub)
	c.Set(principalKey, &principal{
		Subject: sub,
		Actor: admin.Actor{Type: "apikey", ID: k.ID.String(), Name: k.Name, Role: string(k.Role),
			IP: ip, RequestID: web.RequestID(c.Request.Context())},
	})
	c.Next()
}

func caller(c *gin.Context) *principal { return c.MustGet(principalKey).(*principal) }

// can authorises a route. Routes with :slug are checked in that tenant's
// domain; others in the platform domain. An unknown slug is a 404 only for
// callers who could see every tenant, so tenant keys cannot probe for
// other tenants' slugs.
func (h *Handler) can(obj, act string) gin.HandlerFunc {
	return func(c *gin.Context) {
		t, err := h.Authz.TenantAccess(c.Request.Context(), h.Tenants, caller(c).Subject, c.Param("slug"), obj, act)
		if err != nil {
			if !errors.Is(err, admin.ErrForbidden) && !errors.Is(err, tenant.ErrNotFound) {
				h.Log.ErrorContext(c.Request.Context(), "policy check failed", "err", err)
				err = admin.ErrForbidden
			}
			fail(c, err)
			return
		}
		if t != nil {
			c.Set(tenantKey, *t)
		}
		c.Next()
	}
}

func (h *Handler) allowed(c *gin.Context, dom, obj, act string) bool {
	ok, err := h.Authz.Allowed(caller(c).Subject, dom, obj, act)
	if err != nil {
		h.Log.ErrorContext(c.Request.Context(), "policy check failed", "err", err)
		return false
	}
	return ok
}

// routeTenant is the tenant resolved by can for a :slug route.
func routeTenant(c *gin.Context) tenant.Tenant { return c.MustGet(tenantKey).(tenant.Tenant) }

// record writes an audit entry for a change that has been made. A failure
// is logged loudly; the change itself stands.
func (h *Handler) record(c *gin.Context, e admin.Event) {
	if err := h.Audit.Record(c.Request.Context(), caller(c).Actor, e); err != nil {
		h.Log.ErrorContext(c.Request.Context(), "audit entry not written", "action", e.Action, "err", err)
	}
}

// limitParam reads ?limit= (default 50, 1-200).
func limitParam(c *gin.Context) (int, error) {
	s := c.Query("limit")
	if s == "" {
		return 50, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 200 {
		return 0, web.BadRequest("The query is invalid.", web.FieldError{Field: "limit", Message: "must be 1-200"})
	}
	return n, nil
}

// cursorParam decodes ?cursor=, an opaque base64url string.
func cursorParam(c *gin.Context) (string, error) {
	s := c.Query("cursor")
	if s == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 || len(b) > 200 || !web.Text(string(b)) {
		return "", badCursor
	}
	return string(b), nil
}

// uuidPage reads ?limit= and a ?cursor= holding a row id.
func uuidPage(c *gin.Context) (int, *uuid.UUID, error) {
	limit, err := limitParam(c)
	if err != nil {
		return 0, nil, err
	}
	cur, err := uuidCursor(c)
	return limit, cur, err
}

// uuidCursor reads ?cursor= holding a row id; nil when absent.
func uuidCursor(c *gin.Context) (*uuid.UUID, error) {
	cur, err := cursorParam(c)
	if err != nil || cur == "" {
		return nil, err
	}
	id, err := uuid.Parse(cur)
	if err != nil {
		return nil, badCursor
	}
	return &id, nil
}

var badCursor = web.BadRequest("The query is invalid.", web.FieldError{Field: "cursor", Message: "is not a cursor from this API"})

func encodeCursor(s string) *string {
	c := base64.RawURLEncoding.EncodeToString([]byte(s))
	return &c
}

// list is the shape of every list response.
type list[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// page trims a result fetched with limit+1 rows and sets the cursor from
// the last item kept.
func page[T any](items []T, limit int, key func(T) string) list[T] {
	out := list[T]{Items: items}
	if out.Items == nil {
		out.Items = []T{}
	}
	if len(items) > limit {
		out.Items = items[:limit]
		out.NextCursor = encodeCursor(key(items[limit-1]))
	}
	return out
}
