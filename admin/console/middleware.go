package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/console/views"
	"github.com/miniauth/miniauth/tenant"
)

// contentSecurityPolicy allows nothing inline and nothing from elsewhere:
// the console's scripts and styles are its own embedded files.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// headers sets the security headers of every console response.
func (h *Handler) headers(c *gin.Context) {
	setHeaders(c)
	c.Next()
}

func setHeaders(c *gin.Context) {
	w := c.Writer.Header()
	w.Set("Content-Security-Policy", contentSecurityPolicy)
	w.Set("X-Frame-Options", "DENY")
	w.Set("X-Content-Type-Options", "nosniff")
	w.Set("Referrer-Policy", "same-origin")
	w.Set("Cross-Origin-Opener-Policy", "same-origin")
	w.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	// Pages show tenant data; no cache, shared or private, keeps them.
	w.Set("Cache-Control", "no-store")
}

// Cookie names. The session cookie takes the __Host- prefix over https,
// which binds it to this host and path /.
const (
	cookieSession = "miniauth_console"
	cookiePre     = "miniauth_csrf" // the signed-out forms' CSRF token
	cookieLang    = "lang"
	cookieZone    = "tz"
	cookieFlash   = "flash"
)

func (h *Handler) sessionCookieName() string {
	if h.secure {
		return "__Host-" + cookieSession
	}
	return cookieSession
}

func (h *Handler) setCookie(c *gin.Context, name, value string, maxAge time.Duration, httpOnly bool) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(maxAge.Seconds()),
		Secure: h.secure, HttpOnly: httpOnly, SameSite: http.SameSiteLaxMode,
	})
}

func (h *Handler) clearCookie(c *gin.Context, name string) {
	http.SetCookie(c.Writer, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		Secure: h.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// zones caches parsed time zones by name; there are a few hundred.
var zones sync.Map

func zone(name string) *time.Location {
	if name == "" || len(name) > 64 {
		return nil
	}
	if z, ok := zones.Load(name); ok {
		return z.(*time.Location)
	}
	z, err := time.LoadLocation(name)
	if err != nil || name == "Local" {
		return nil
	}
	zones.Store(name, z)
	return z
}

// locale picks the language (the switch's cookie, else Accept-Language)
// and the time zone (the browser's, remembered by console.js; else
// China's for Chinese and UTC otherwise).
func (h *Handler) locale(c *gin.Context) {
	applyLocale(c)
	c.Next()
}

func applyLocale(c *gin.Context) {
	lang := views.FromAcceptLanguage(c.GetHeader("Accept-Language"))
	if v, err := c.Cookie(cookieLang); err == nil {
		if l, ok := views.ParseLang(v); ok {
			lang = l
		}
	}
	var z *time.Location
	if v, err := c.Cookie(cookieZone); err == nil {
		if name, err := url.QueryUnescape(v); err == nil {
			z = zone(name)
		}
	}
	if z == nil {
		z = time.UTC
		if lang == views.Chinese {
			z = zone("Asia/Shanghai")
		}
	}
	c.Request = c.Request.WithContext(views.WithLocale(c.Request.Context(), views.Locale{Lang: lang, Zone: z}))
}

// setLang remembers the language switch's choice. It is a form like any
// other: signed in, it carries the session's token, signed out the
// sign-in page's.
func (h *Handler) setLang(c *gin.Context) {
	token, err := c.Cookie(h.sessionCookieName())
	signedIn := err == nil && admin.CheckCSRF(token, presentedToken(c))
	if !signedIn && !h.signedOutForm(c) {
		return
	}
	if l, ok := views.ParseLang(c.PostForm("lang")); ok {
		h.setCookie(c, cookieLang, string(l), 365*24*time.Hour, false)
	}
	c.Redirect(http.StatusSeeOther, sameSitePath(c.Request.Referer(), h.origin, "/admin/"))
}

// sameSitePath is the path of ref when ref is a console URL of this
// origin, else fallback: redirects never leave the console.
func sameSitePath(ref, origin, fallback string) string {
	u, err := url.Parse(ref)
	if err != nil || (u.Host != "" && u.Scheme+"://"+u.Host != origin) {
		return fallback
	}
	return safeNext(u.RequestURI(), fallback)
}

// safeNext accepts a local console path only (no scheme, no host, no
// "//" or "\" tricks).
func safeNext(next, fallback string) string {
	if !strings.HasPrefix(next, "/admin/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return fallback
	}
	return next
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// preToken is the signed-out CSRF token, kept in its own cookie.
func (h *Handler) preToken(c *gin.Context) string {
	if v, err := c.Cookie(cookiePre); err == nil && len(v) == 43 {
		return v
	}
	v := randomToken()
	h.setCookie(c, cookiePre, v, 12*time.Hour, true)
	return v
}

// csrf refuses a state-changing request that comes from another origin or
// lacks the form's token. The token is checked after the session is known
// (in session), or here against the signed-out cookie for the sign-in and
// language forms.
func (h *Handler) csrf(c *gin.Context) {
	if safeMethod(c.Request.Method) {
		c.Next()
		return
	}
	if !h.sameOrigin(c.Request) {
		// Most often the console was opened under another address than
		// MINIAUTH_PUBLIC_URL (127.0.0.1 for localhost): say which one.
		h.errorPage(c, http.StatusForbidden, views.T(c.Request.Context(), "error.origin", h.origin))
		return
	}
	c.Next()
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// sameOrigin checks Origin (every current browser sends it on POST), or
// failing that Referer.
func (h *Handler) sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		return o == h.origin
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		u, err := url.Parse(ref)
		return err == nil && u.Scheme+"://"+u.Host == h.origin
	}
	return false
}

// presentedToken is the CSRF token of the form or of the htmx header.
func presentedToken(c *gin.Context) string {
	if v := c.GetHeader("X-CSRF-Token"); v != "" {
		return v
	}
	return c.PostForm("_csrf")
}

func tokensEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (h *Handler) refuseCSRF(c *gin.Context) {
	h.errorPage(c, http.StatusForbidden, views.T(c.Request.Context(), "error.csrf"))
}

// signedOutForm checks the CSRF token of a form posted without a session.
func (h *Handler) signedOutForm(c *gin.Context) bool {
	v, err := c.Cookie(cookiePre)
	if err != nil || !tokensEqual(v, presentedToken(c)) {
		h.refuseCSRF(c)
		return false
	}
	return true
}

const viewerKey = "miniauth.console.viewer"

// viewer is the signed-in admin of a request.
type viewer struct {
	Session admin.ConsoleSession
	Token   string // the session cookie's value
	CSRF    string
	Subject string
	Actor   admin.Actor
	// tenants are the rows of the tenants of the admin's role bindings.
	tenants []tenant.Tenant
}

func viewerOf(c *gin.Context) *viewer { return c.MustGet(viewerKey).(*viewer) }

// session admits signed-in admins only, and checks the CSRF token of
// their state-changing requests.
func (h *Handler) session(c *gin.Context) {
	token, err := c.Cookie(h.sessionCookieName())
	var s admin.ConsoleSession
	if err == nil {
		s, err = h.Sessions.Authenticate(c.Request.Context(), token)
	}
	if err != nil {
		if !errors.Is(err, admin.ErrUnauthorized) && !errors.Is(err, http.ErrNoCookie) {
			h.fail(c, err)
			return
		}
		h.clearCookie(c, h.sessionCookieName())
		h.toLogin(c, "expired")
		return
	}
	v := &viewer{Session: s, Token: token, CSRF: admin.CSRFToken(token), Subject: admin.AdminSubject(s.Account.ID.String())}
	ip, _ := netip.ParseAddr(c.ClientIP())
	v.Actor = admin.Actor{Type: "admin", ID: s.Account.ID.String(), Name: s.Account.Email, Role: roleNames(s.Account),
		IP: ip, RequestID: requestID(c)}
	if !safeMethod(c.Request.Method) && !admin.CheckCSRF(token, presentedToken(c)) {
		h.refuseCSRF(c)
		return
	}
	for _, b := range s.Account.Roles {
		if b.Tenant == nil {
			continue
		}
		// A binding's tenant is gone only while its delete cascades.
		t, err := h.Tenants.Get(c.Request.Context(), *b.Tenant)
		if errors.Is(err, tenant.ErrNotFound) {
			continue
		}
		if err != nil {
			h.fail(c, err)
			return
		}
		v.tenants = append(v.tenants, t)
	}
	h.Authz.Known(v.Subject)
	c.Set(viewerKey, v)
	c.Next()
}

func roleNames(a admin.Account) string {
	names := make([]string, 0, len(a.Roles))
	for _, b := range a.Roles {
		names = append(names, string(b.Role))
	}
	return strings.Join(names, ",")
}

// toLogin sends a signed-out request to the sign-in page, back to where
// it was going afterwards; htmx requests are told to navigate there.
func (h *Handler) toLogin(c *gin.Context, flash string) {
	next := "/admin/"
	if c.Request.Method == http.MethodGet {
		next = safeNext(c.Request.URL.RequestURI(), "/admin/")
	}
	if flash != "" {
		h.flash(c, "login."+flash, false)
	}
	target := "/admin/login?next=" + url.QueryEscape(next)
	if c.GetHeader("HX-Request") == "true" {
		c.Header("HX-Redirect", target)
		c.AbortWithStatus(http.StatusUnauthorized)
		return
	}
	c.Redirect(http.StatusSeeOther, target)
	c.Abort()
}

// can authorises a console route exactly as the management API does:
// :slug routes in that tenant's domain (an unknown slug is a 404 only for
// admins who could see every tenant), others in the platform domain.
func (h *Handler) can(obj, act string) gin.HandlerFunc {
	return func(c *gin.Context) {
		t, err := h.Authz.TenantAccess(c.Request.Context(), h.Tenants, viewerOf(c).Subject, c.Param("slug"), obj, act)
		if err != nil {
			h.fail(c, err)
			return
		}
		if t != nil {
			c.Set(tenantKey, *t)
		}
		c.Next()
	}
}

const tenantKey = "miniauth.console.tenant"

// routeTenant is the tenant resolved by can for a :slug route.
func routeTenant(c *gin.Context) tenant.Tenant { return c.MustGet(tenantKey).(tenant.Tenant) }

// allowed reports whether the viewer may do act on obj in dom, for
// deciding which actions a screen offers (the routes check again).
func (h *Handler) allowed(c *gin.Context, dom, obj, act string) bool {
	ok, err := h.Authz.Allowed(viewerOf(c).Subject, dom, obj, act)
	if err != nil {
		h.Log.ErrorContext(c.Request.Context(), "policy check failed", "err", err)
		return false
	}
	return ok
}
