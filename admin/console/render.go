package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/console/views"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/web"
)

func requestID(c *gin.Context) string { return web.RequestID(c.Request.Context()) }

// render writes a component with the request's context (its locale).
func (h *Handler) render(c *gin.Context, status int, comp templ.Component) {
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(status)
	if err := comp.Render(c.Request.Context(), c.Writer); err != nil {
		h.Log.ErrorContext(c.Request.Context(), "render failed", "err", err)
	}
}

// htmx reports whether the request came from htmx, which wants a
// fragment rather than a whole page.
func htmx(c *gin.Context) bool {
	return c.GetHeader("HX-Request") == "true" && c.GetHeader("HX-History-Restore-Request") != "true"
}

// page is the layout model of a signed-in screen; title is a catalogue key.
func (h *Handler) page(c *gin.Context, title, active string) views.Page {
	v := viewerOf(c)
	return views.Page{
		Title: views.T(c.Request.Context(), title), Active: active, CSRF: v.CSRF,
		Admin: v.Session.Account.Email, Nav: h.nav(c), Flash: h.takeFlash(c),
	}
}

// nav lists the screens the viewer's roles reach.
func (h *Handler) nav(c *gin.Context) []views.NavItem {
	items := []views.NavItem{{Key: "dashboard", Href: "/admin/"}, {Key: "tenants", Href: "/admin/tenants"}}
	if h.allowed(c, admin.PlatformDomain, admin.ObjAPIKeys, admin.ActRead) || h.anyTenant(c, admin.ObjAPIKeys, admin.ActRead) {
		items = append(items, views.NavItem{Key: "api-keys", Href: "/admin/api-keys"})
	}
	if h.allowed(c, admin.PlatformDomain, admin.ObjBans, admin.ActRead) {
		items = append(items, views.NavItem{Key: "bans", Href: "/admin/bans"})
	}
	if h.allowed(c, admin.PlatformDomain, admin.ObjAdmins, admin.ActRead) {
		items = append(items, views.NavItem{Key: "admins", Href: "/admin/admins"})
	}
	items = append(items, views.NavItem{Key: "audit", Href: "/admin/audit"})
	return items
}

// anyTenant reports whether the viewer may do act on obj in one of the
// tenants they are bound to.
func (h *Handler) anyTenant(c *gin.Context, obj, act string) bool {
	for _, t := range viewerOf(c).tenants {
		if h.allowed(c, admin.TenantDomain(t.ID), obj, act) {
			return true
		}
	}
	return false
}

// flash keeps a message (a catalogue key) for the next page the viewer sees.
func (h *Handler) flash(c *gin.Context, key string, isError bool, args ...string) {
	v := key
	if isError {
		v = "!" + key
	}
	for _, a := range args {
		v += "|" + a
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: cookieFlash, Value: url.QueryEscape(v), Path: "/admin", MaxAge: 60,
		Secure: h.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func (h *Handler) takeFlash(c *gin.Context) *views.Flash {
	raw, err := c.Cookie(cookieFlash)
	if err != nil || raw == "" {
		return nil
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: cookieFlash, Path: "/admin", MaxAge: -1, Secure: h.secure, HttpOnly: true})
	v, err := url.QueryUnescape(raw)
	if err != nil {
		return nil
	}
	f := &views.Flash{}
	if strings.HasPrefix(v, "!") {
		f.Error, v = true, v[1:]
	}
	parts := strings.Split(v, "|")
	if !views.Has(parts[0]) || len(parts) > 4 {
		return nil
	}
	args := make([]any, 0, len(parts)-1)
	for _, p := range parts[1:] {
		if len(p) > 200 {
			return nil
		}
		args = append(args, p)
	}
	f.Text = views.T(c.Request.Context(), parts[0], args...)
	return f
}

// done ends a successful change: back to target with a flash, or for
// htmx a client-side redirect to it.
func (h *Handler) done(c *gin.Context, target, flashKey string, args ...string) {
	h.flash(c, flashKey, false, args...)
	if htmx(c) {
		c.Header("HX-Redirect", target)
		c.Status(http.StatusNoContent)
		return
	}
	c.Redirect(http.StatusSeeOther, target)
}

// record writes an audit entry for a change the viewer made. A failure is
// logged loudly; the change itself stands.
func (h *Handler) record(c *gin.Context, e admin.Event) {
	if err := h.Audit.Record(c.Request.Context(), viewerOf(c).Actor, e); err != nil {
		h.Log.ErrorContext(c.Request.Context(), "audit entry not written", "action", e.Action, "err", err)
	}
}

// fail answers an error the screen does not handle itself, as an HTML
// error page; the cause goes to the log only.
func (h *Handler) fail(c *gin.Context, err error) {
	var limited *auth.LimitedError
	var v *tenant.ValidationError
	switch {
	case errors.Is(err, admin.ErrForbidden):
		h.errorPage(c, http.StatusForbidden, "")
	case errors.Is(err, tenant.ErrNotFound):
		h.errorPage(c, http.StatusNotFound, "")
	case errors.As(err, &limited):
		c.Header("Retry-After", retryAfter(limited.RetryAfter))
		h.errorPage(c, http.StatusTooManyRequests, "")
	case errors.As(err, &v):
		h.errorPage(c, http.StatusBadRequest, v.Error())
	default:
		h.Log.ErrorContext(c.Request.Context(), "console request failed", "err", err)
		p := web.Unexpected(err)
		if p.RetryAfter > 0 {
			c.Header("Retry-After", retryAfter(p.RetryAfter))
		}
		h.errorPage(c, p.Status, "")
	}
}

func retryAfter(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	return strconv.Itoa(max(s, 1))
}

// errorPage renders the error screen (inside the layout when signed in).
func (h *Handler) errorPage(c *gin.Context, status int, message string) {
	ctx := c.Request.Context()
	key := "error." + strconv.Itoa(status)
	if !views.Has(key) {
		key = "error.500"
	}
	if message == "" {
		message = views.T(ctx, key+".detail")
	}
	p := views.Page{Title: views.T(ctx, key)}
	if v, ok := c.Get(viewerKey); ok {
		vw := v.(*viewer)
		p = views.Page{Title: p.Title, CSRF: vw.CSRF, Admin: vw.Session.Account.Email, Nav: h.nav(c)}
	}
	c.Abort()
	h.render(c, status, views.Error(views.ErrorPage{Page: p, Status: status, Message: message}))
}

// NotFound answers unknown /admin paths with the console's 404 page.
func (h *Handler) NotFound(c *gin.Context) {
	setHeaders(c)
	applyLocale(c)
	h.errorPage(c, http.StatusNotFound, "")
}

// fieldErrors puts a domain validation error's messages beside the fields;
// rename maps domain field names to the form's where they differ.
func fieldErrors(c *gin.Context, err error, errs map[string]string, rename func(string) string) bool {
	var invalid *tenant.ValidationError
	if !errors.As(err, &invalid) {
		return false
	}
	invalid.EachField(func(field, message string) {
		if rename != nil {
			field = rename(field)
		}
		if _, ok := errs[field]; !ok {
			errs[field] = views.FieldMessage(c.Request.Context(), message)
		}
	})
	return true
}
