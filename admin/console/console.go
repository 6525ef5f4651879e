// Package console is the admin web console under /admin: server-rendered
// templ views enhanced by htmx. It is one more surface over the domain
// operations the management API calls (tenant, auth, admin), authorised by
// the same Casbin policy and audited with the signed-in admin as actor.
// Each screen's handlers live in their own file; views/ holds the views.
package console

import (
	"log/slog"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
)

// Deps are the console's collaborators.
type Deps struct {
	Tenants  *tenant.Store
	Users    *auth.Users
	Bans     *auth.Bans
	APIKeys  *admin.APIKeys
	Accounts *admin.Accounts
	Audit    *admin.Audit
	Authz    *admin.Authorizer
	Sessions *admin.ConsoleSessions
	SignIn   *admin.SignInGuard
	Stats    *auth.Stats
	// Credentials checks a tenant's WeChat AppID/AppSecret pair for the
	// tenant page's "test credentials" button; nil leaves the button out.
	Credentials *auth.Credentials
	// Breakers are this instance's WeChat circuit breakers, shown on a
	// tenant's page; nil shows every circuit closed.
	Breakers *auth.Breakers
	// RateDefaults are the server's default tenant rate limits.
	RateDefaults map[string]string
	// PublicURL is the server's external base URL: its origin is the only
	// one state-changing requests may come from, and https makes the
	// session cookie Secure.
	PublicURL string
	Log       *slog.Logger
}

// Handler serves the console.
type Handler struct {
	Deps
	origin string
	secure bool
}

// New returns the console handler.
func New(d Deps) *Handler {
	h := &Handler{Deps: d}
	if u, err := url.Parse(d.PublicURL); err == nil {
		h.origin = u.Scheme + "://" + u.Host
		h.secure = u.Scheme == "https"
	}
	return h
}

// Routes registers every console URL.
func (h *Handler) Routes(r gin.IRouter) {
	r.GET("/", func(c *gin.Context) { c.Redirect(302, "/admin/") })
	g := r.Group("/admin", h.headers, h.locale, h.csrf)
	g.GET("", func(c *gin.Context) { c.Redirect(301, "/admin/") })
	g.GET("/login", h.loginPage)
	g.POST("/login", h.login)
	g.GET("/captcha/:file", h.captchaImage)
	g.POST("/lang", h.setLang)

	s := g.Group("", h.session)
	s.POST("/logout", h.logout)
	s.GET("/", h.dashboard)
	s.GET("/account", h.accountPage)
	s.POST("/account/password", h.changePassword)
	h.tenantRoutes(s)
	h.userRoutes(s)
	h.accessRoutes(s)
}
