package api

import (
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/web"
)

// Handler serves the mini-program API.
type Handler struct {
	svc    *auth.Service
	dir    *tenant.Directory
	tokens *auth.Tokens
	limits *auth.Limits
	stats  *auth.Stats
	m      Metrics
	seen   sync.Map // tenant slug -> struct{}, for Metrics.FirstSeen
}

// Metrics are the operators' counters of this surface, by tenant slug and
// result: "ok" or the problem code of a refused request.
type Metrics struct {
	Logins, Refreshes auth.Counter
	// BansEnforced counts requests refused for a ban, by tenant.
	BansEnforced auth.Counter
	// FirstSeen, when set, is called once per tenant slug, on the first
	// request of that tenant this handler counts, so the tenant's series
	// can start at zero.
	FirstSeen func(slug string)
}

// New returns the mini-program API handler; m may be the zero Metrics.
func New(svc *auth.Service, dir *tenant.Directory, tokens *auth.Tokens, limits *auth.Limits, m Metrics) *Handler {
	m.Logins, m.Refreshes, m.BansEnforced = orNop(m.Logins), orNop(m.Refreshes), orNop(m.BansEnforced)
	return &Handler{svc: svc, dir: dir, tokens: tokens, limits: limits, stats: svc.Stats(), m: m}
}

type nopCounter struct{}

func (nopCounter) Inc(...string) {}

func orNop(c auth.Counter) auth.Counter {
	if c == nil {
		return nopCounter{}
	}
	return c
}

// Routes registers every mini-program endpoint. Each request resolves its
// tenant once (h.tenant), and the routes that act for a user admit it once
// (h.admit: tenant active, address not banned, the ban view read); every
// later step reads what those put in the request.
func (h *Handler) Routes(r gin.IRouter) {
	t := r.Group("/v1/t/:tenant", h.tenant, h.count)
	// The discovery documents stay readable while a tenant is disabled,
	// so verifiers keep working.
	t.GET("/.well-known/jwks.json", h.jwks)
	t.GET("/.well-known/openid-configuration", h.discovery)

	a := t.Group("", h.admit)
	// A banned or over-limit address is turned away before it counts
	// against the tenant-wide quota, so one address cannot spend it all.
	a.POST("/login", h.limit(tenant.LimitLoginPerIP, byIP), h.limit(tenant.LimitLoginPerTenant, byTenant), h.login)
	a.POST("/refresh", h.limit(tenant.LimitRefreshPerIP, byIP), h.refresh)

	authed := a.Group("", h.authenticate, h.limit(tenant.LimitAPIPerUser, byUser))
	authed.POST("/logout", h.logout)
	authed.GET("/me", h.me)
	authed.PATCH("/me", h.updateMe)
	authed.POST("/me/phone", h.setPhone)
	authed.POST("/me/decrypt", h.decrypt)
	authed.POST("/me/verify-signature", h.verifySignature)
	h.qrRoutes(a, authed)
}

const (
	tenantKey    = "miniauth.tenant"
	scopeKey     = "miniauth.scope"
	principalKey = "miniauth.principal"
	quotaKey     = "miniauth.quota"
	problemKey   = "miniauth.problem"
	loginKey     = "miniauth.login"
)

// loginRoute and refreshRoute are route patterns (gin's FullPath).
const (
	loginRoute   = "/v1/t/:tenant/login"
	refreshRoute = "/v1/t/:tenant/refresh"
)

// count gives the dashboard's statistics the outcome of every request of a
// known tenant, once it is decided: each login and the problem code of
// each refused one, and on every route the refusals for a rate limit or a
// ban. It is the only place requests are counted; the steps before it
// leave their outcome in the request (fail the problem, login the login).
// Count does no I/O, so this costs a map increment; so do the operators'
// counters, by result.
func (h *Handler) count(c *gin.Context) {
	c.Next()
	rt := tenantOf(c)
	if h.m.FirstSeen != nil {
		if _, seen := h.seen.Load(rt.Slug); !seen {
			if _, raced := h.seen.LoadOrStore(rt.Slug, struct{}{}); !raced {
				h.m.FirstSeen(rt.Slug)
			}
		}
	}
	result := "ok"
	if v, refused := c.Get(problemKey); refused {
		result = v.(*web.Problem).Code
	}
	switch c.FullPath() {
	case loginRoute:
		h.m.Logins.Inc(rt.Slug, result)
	case refreshRoute:
		h.m.Refreshes.Inc(rt.Slug, result)
	}
	if result != "ok" {
		switch result {
		case "rate_limited":
			h.stats.Count(rt.ID, auth.StatRateLimited)
		case "user_banned":
			h.stats.Count(rt.ID, auth.StatBanned)
			h.m.BansEnforced.Inc(rt.Slug)
		}
		if c.FullPath() == loginRoute {
			h.stats.Count(rt.ID, auth.StatFailure(result))
		}
		return
	}
	if v, ok := c.Get(loginKey); ok {
		h.stats.Count(rt.ID, auth.StatLogin)
		if v.(auth.TokenSubject).IsNew {
			h.stats.Count(rt.ID, auth.StatNewUser)
		}
	}
}

// tenant resolves the :tenant slug for everything after it.
func (h *Handler) tenant(c *gin.Context) {
	rt, err := h.dir.Lookup(c.Request.Context(), c.Param("tenant"))
	if errors.Is(err, tenant.ErrNotFound) {
		err = auth.ErrTenantNotFound
	}
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(tenantKey, rt)
	c.Next()
}

func tenantOf(c *gin.Context) *tenant.Runtime { return c.MustGet(tenantKey).(*tenant.Runtime) }

// admit opens the request on an active tenant for an unbanned address.
func (h *Handler) admit(c *gin.Context) {
	sc, err := h.svc.Admit(c.Request.Context(), tenantOf(c), clientIP(c))
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(scopeKey, sc)
	c.Next()
}

func scope(c *gin.Context) *auth.Scope { return c.MustGet(scopeKey).(*auth.Scope) }

// fail answers err as a problem and leaves the problem in the request for
// count.
func fail(c *gin.Context, err error) {
	p := problemFor(err)
	c.Set(problemKey, p)
	web.Abort(c, p)
}

func clientIP(c *gin.Context) netip.Addr {
	ip, _ := netip.ParseAddr(c.ClientIP())
	return ip
}

func clientMeta(c *gin.Context) auth.ClientMeta {
	return auth.ClientMeta{IP: clientIP(c), UserAgent: c.Request.UserAgent()}
}

func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
}

type loginRequest struct {
	Code string `json:"code"`
}

func (h *Handler) login(c *gin.Context) {
	var req loginRequest
	if err := web.DecodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	resp, err := h.svc.Login(c.Request.Context(), scope(c), req.Code, clientMeta(c))
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(loginKey, resp.User)
	noStore(c)
	c.JSON(http.StatusOK, resp)
}

type refreshRequest struct {
	RefreshToken string `json:"refresh_token"`
}

func (h *Handler) refresh(c *gin.Context) {
	var req refreshRequest
	if err := web.DecodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	resp, err := h.svc.Refresh(c.Request.Context(), scope(c), req.RefreshToken, clientMeta(c))
	if err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, resp)
}

// authenticate admits requests with a live access token of this tenant.
func (h *Handler) authenticate(c *gin.Context) {
	p, err := h.svc.Authenticate(c.Request.Context(), scope(c), bearer(c))
	if err != nil {
		if errors.Is(err, auth.ErrInvalidToken) {
			c.Header("WWW-Authenticate", `Bearer error="invalid_token"`)
		}
		fail(c, err)
		return
	}
	c.Set(principalKey, p)
	c.Next()
}

func principal(c *gin.Context) *auth.Principal { return c.MustGet(principalKey).(*auth.Principal) }

func bearer(c *gin.Context) string {
	scheme, token, ok := strings.Cut(c.GetHeader("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

type logoutRequest struct {
	All bool `json:"all"`
}

func (h *Handler) logout(c *gin.Context) {
	var req logoutRequest
	if err := web.DecodeJSON(c, &req); err != nil && err != web.ErrEmptyBody {
		fail(c, err)
		return
	}
	if err := h.svc.Logout(c.Request.Context(), principal(c), req.All); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *Handler) me(c *gin.Context) {
	u, err := h.svc.Me(c.Request.Context(), principal(c))
	if err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, u)
}

func (h *Handler) updateMe(c *gin.Context) {
	var patch auth.ProfilePatch
	if err := web.DecodeJSON(c, &patch); err != nil {
		fail(c, err)
		return
	}
	u, err := h.svc.UpdateMe(c.Request.Context(), principal(c), patch)
	if err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, u)
}

func (h *Handler) jwks(c *gin.Context) {
	rt := tenantOf(c)
	// Short enough that verifiers pick up a rotated key within a minute.
	c.Header("Cache-Control", "public, max-age=60")
	c.Data(http.StatusOK, "application/jwk-set+json", rt.JWKS)
}

func (h *Handler) discovery(c *gin.Context) {
	rt := tenantOf(c)
	iss := h.tokens.Issuer(rt.Slug)
	c.Header("Cache-Control", "public, max-age=300")
	c.JSON(http.StatusOK, gin.H{
		"issuer":                                iss,
		"jwks_uri":                              iss + "/.well-known/jwks.json",
		"token_endpoint":                        iss + "/refresh",
		"login_endpoint":                        iss + "/login",
		"refresh_endpoint":                      iss + "/refresh",
		"logout_endpoint":                       iss + "/logout",
		"userinfo_endpoint":                     iss + "/me",
		"grant_types_supported":                 []string{"urn:miniauth:wechat-code", "refresh_token"},
		"token_endpoint_auth_methods_supported": []string{"none"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{rt.Signing.Alg},
		"response_types_supported":              []string{"token"},
	})
}

// Keys of the limits: what a counter is per.
func byTenant(*gin.Context) string { return "" }
func byIP(c *gin.Context) string   { return auth.ClientNet(clientIP(c)).String() }
func byUser(c *gin.Context) string { return principal(c).UserID.String() }

// limit counts the request against one of the tenant's limits and sets the
// X-RateLimit-* headers; over the limit it answers 429 with Retry-After.
func (h *Handler) limit(name string, key func(*gin.Context) string) gin.HandlerFunc {
	return func(c *gin.Context) {
		q, err := h.limits.Tenant(c.Request.Context(), tenantOf(c), name, key(c))
		// With several limits on a route, the headers describe the one
		// closest to refusing.
		if prev, seen := c.Get(quotaKey); q.Limit > 0 && (!seen || q.Remaining < prev.(auth.Quota).Remaining) {
			c.Set(quotaKey, q)
			c.Header("X-RateLimit-Limit", strconv.FormatInt(q.Limit, 10))
			c.Header("X-RateLimit-Remaining", strconv.FormatInt(q.Remaining, 10))
			c.Header("X-RateLimit-Reset", strconv.FormatInt(q.Reset.Unix(), 10))
		}
		if err != nil {
			fail(c, err)
			return
		}
		c.Next()
	}
}

type phoneRequest struct {
	Code string `json:"code"`
}

func (h *Handler) setPhone(c *gin.Context) {
	var req phoneRequest
	if err := web.DecodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	u, err := h.svc.SetPhone(c.Request.Context(), principal(c), req.Code)
	if err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, u)
}

type decryptRequest struct {
	EncryptedData string `json:"encrypted_data"`
	IV            string `json:"iv"`
}

func (h *Handler) decrypt(c *gin.Context) {
	var req decryptRequest
	if err := web.DecodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	plain, err := h.svc.Decrypt(c.Request.Context(), principal(c), req.EncryptedData, req.IV)
	if err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.Data(http.StatusOK, "application/json; charset=utf-8", plain)
}

type verifySignatureRequest struct {
	RawData   string `json:"raw_data"`
	Signature string `json:"signature"`
}

func (h *Handler) verifySignature(c *gin.Context) {
	var req verifySignatureRequest
	if err := web.DecodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	if err := h.svc.VerifySignature(c.Request.Context(), principal(c), req.RawData, req.Signature); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
