package console

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/console/views"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
)

func clientIP(c *gin.Context) netip.Addr {
	ip, _ := netip.ParseAddr(c.ClientIP())
	return ip
}

func (h *Handler) loginPage(c *gin.Context) {
	if token, err := c.Cookie(h.sessionCookieName()); err == nil {
		if _, err := h.Sessions.Authenticate(c.Request.Context(), token); err == nil {
			c.Redirect(http.StatusSeeOther, safeNext(c.Query("next"), "/admin/"))
			return
		}
	}
	m := views.LoginPage{CSRF: h.preToken(c), Next: safeNext(c.Query("next"), "/admin/"), Flash: h.takeFlash(c)}
	if st, err := h.SignIn.Check(c.Request.Context(), clientIP(c), ""); err == nil && st.CaptchaRequired {
		m.CaptchaID, _ = h.SignIn.NewCaptcha(c.Request.Context())
	}
	h.render(c, http.StatusOK, views.Login(m))
}

// login signs an admin in. Every outcome looks the same whether or not the
// e-mail exists; failures are throttled per address and per account, and
// after a few the CAPTCHA is required.
func (h *Handler) login(c *gin.Context) {
	if !h.signedOutForm(c) {
		return
	}
	ctx := c.Request.Context()
	ip := clientIP(c)
	email := strings.TrimSpace(c.PostForm("email"))
	if len(email) > 254 {
		email = email[:254]
	}
	m := views.LoginPage{CSRF: h.preToken(c), Next: safeNext(c.PostForm("next"), "/admin/"),
		Form: views.Form{Values: map[string]string{"email": email}, Errors: map[string]string{}}}
	failed := func(status int, reason, message string) {
		h.recordSignIn(c, admin.Actor{Type: "admin", Name: email}, "console.signin_failed", reason)
		m.Form.Error = message
		if st, err := h.SignIn.Check(ctx, ip, email); err == nil && st.CaptchaRequired {
			m.CaptchaID, _ = h.SignIn.NewCaptcha(ctx)
		}
		h.render(c, status, views.Login(m))
	}

	st, err := h.SignIn.Check(ctx, ip, email)
	var limited *auth.LimitedError
	switch {
	case errors.As(err, &limited):
		c.Header("Retry-After", retryAfter(limited.RetryAfter))
		h.recordSignIn(c, admin.Actor{Type: "admin", Name: email}, "console.signin_failed", "throttled")
		m.Form.Error = views.T(ctx, "login.throttled", limited.RetryAfter.Round(time.Second).String())
		h.render(c, http.StatusTooManyRequests, views.Login(m))
		return
	case err != nil:
		h.Log.ErrorContext(ctx, "sign-in guard unavailable", "err", err)
		m.Form.Error = views.T(ctx, "login.unavailable")
		h.render(c, http.StatusServiceUnavailable, views.Login(m))
		return
	}
	if st.CaptchaRequired && !h.SignIn.SolveCaptcha(ctx, c.PostForm("captcha_id"), c.PostForm("captcha")) {
		m.Form.Errors["captcha"] = views.T(ctx, "login.captcha_bad")
		failed(http.StatusBadRequest, "captcha", "")
		return
	}
	acc, err := h.Accounts.VerifyPassword(ctx, email, c.PostForm("password"))
	if errors.Is(err, admin.ErrUnauthorized) {
		if err := h.SignIn.Failed(ctx, ip, email); err != nil {
			h.Log.WarnContext(ctx, "failed sign-in not counted", "err", err)
		}
		failed(http.StatusUnauthorized, "password", views.T(ctx, "login.failed"))
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	if err := h.SignIn.Succeeded(ctx, ip, email); err != nil {
		h.Log.WarnContext(ctx, "sign-in counter not reset", "err", err)
	}
	token, _, err := h.Sessions.Create(ctx, acc.ID, ip, c.Request.UserAgent())
	if err != nil {
		h.fail(c, err)
		return
	}
	h.setCookie(c, h.sessionCookieName(), token, admin.ConsoleAbsoluteTimeout, true)
	h.recordSignIn(c, admin.Actor{Type: "admin", ID: acc.ID.String(), Name: acc.Email, Role: roleNames(acc)}, "console.signin", "")
	c.Redirect(http.StatusSeeOther, m.Next)
}

// recordSignIn audits a sign-in, a failure or a sign-out.
func (h *Handler) recordSignIn(c *gin.Context, actor admin.Actor, action, reason string) {
	actor.IP, actor.RequestID = clientIP(c), requestID(c)
	e := admin.Event{Action: action, TargetType: "admin", TargetID: actor.ID}
	if reason != "" {
		e.Diff = map[string]admin.Change{"reason": {To: reason}}
	}
	if err := h.Audit.Record(c.Request.Context(), actor, e); err != nil {
		h.Log.ErrorContext(c.Request.Context(), "audit entry not written", "action", action, "err", err)
	}
}

func (h *Handler) logout(c *gin.Context) {
	v := viewerOf(c)
	if err := h.Sessions.End(c.Request.Context(), v.Token); err != nil {
		h.fail(c, err)
		return
	}
	h.clearCookie(c, h.sessionCookieName())
	h.record(c, admin.Event{Action: "console.signout", TargetType: "admin", TargetID: v.Actor.ID})
	h.flash(c, "login.signed_out", false)
	c.Redirect(http.StatusSeeOther, "/admin/login")
}

func (h *Handler) captchaImage(c *gin.Context) {
	id, ok := strings.CutSuffix(c.Param("file"), ".png")
	if !ok || len(id) == 0 || len(id) > 64 {
		h.errorPage(c, http.StatusNotFound, "")
		return
	}
	c.Header("Content-Type", "image/png")
	err := h.SignIn.CaptchaImage(c.Request.Context(), id, c.Writer)
	if errors.Is(err, tenant.ErrNotFound) {
		c.Header("Content-Type", "text/html; charset=utf-8")
		h.errorPage(c, http.StatusNotFound, "")
		return
	}
	if err != nil {
		h.Log.ErrorContext(c.Request.Context(), "captcha image failed", "err", err)
	}
}
