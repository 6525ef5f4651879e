// Package console is the admin web console under /admin: server-rendered
// templ views enhanced by htmx. It is one more surface over the domain
// operations the management API calls (tenant, auth, admin), authorised by
// the same Casbin policy and audited with the signed-in admin as actor.
// Each screen's handlers live in their own file; views/ holds the views.
package console

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"net/url"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
)

// Sessions are the console's server-side sessions (admin.ConsoleSessions).
type Sessions interface {
	Create(ctx context.Context, accountID uuid.UUID, ip netip.Addr, userAgent string) (string, admin.ConsoleSession, error)
	Authenticate(ctx context.Context, token string) (admin.ConsoleSession, error)
	End(ctx context.Context, token string) error
}

// SignInGuard throttles failed sign-ins and keeps the CAPTCHA
// (admin.SignInGuard).
type SignInGuard interface {
	Check(ctx context.Context, ip netip.Addr, email string) (admin.SignInState, error)
	Failed(ctx context.Context, ip netip.Addr, email string) error
	Succeeded(ctx context.Context, ip netip.Addr, email string) error
	NewCaptcha(ctx context.Context) (string, error)
	CaptchaImage(ctx context.Context, id string, w io.Writer) error
	SolveCaptcha(ctx context.Context, id, answer string) bool
}

// Deps are the console's collaborators.
type Deps struct {
	Tenants  *tenant.Store
	Users    *auth.Users
	Bans     *auth.Bans
	APIKeys  *admin.APIKeys
	Accounts *admin.Accounts
	Audit    *admin.Audit
	Authz    *admin.Authorizer
	Sessions Sessions
	SignIn   SignInGuard
	Stats    *auth.Stats
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
