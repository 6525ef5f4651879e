// Package api is the mini-program facing HTTP surface, /v1/t/{tenant}/...:
// it translates requests into auth.Service calls and auth errors into
// problem responses, and nothing more.
package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/web"
)

// problemFor is the one mapping from auth errors to responses on this
// surface. Anything unknown is a 500 whose cause is only logged.
func problemFor(err error) *web.Problem {
	var banned *auth.BannedError
	var limited *auth.LimitedError
	var invalid *tenant.ValidationError
	var p *web.Problem
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &invalid):
		return web.Invalid("The request is invalid.", invalid)
	case errors.Is(err, auth.ErrTenantNotFound):
		return web.NewProblem(http.StatusNotFound, "tenant_not_found", "No tenant has this slug.")
	case errors.Is(err, auth.ErrTenantDisabled):
		return web.NewProblem(http.StatusForbidden, "tenant_disabled", "This mini-program is disabled.")
	case errors.Is(err, auth.ErrUserDisabled):
		return web.NewProblem(http.StatusForbidden, "user_disabled", "This user is disabled.")
	case errors.Is(err, auth.ErrInvalidCode):
		return web.NewProblem(http.StatusUnauthorized, "invalid_code", "The login code is invalid, expired or already used.")
	case errors.Is(err, auth.ErrInvalidPhoneCode):
		// 400, not 401: the caller's session is fine, only the code is bad.
		return web.NewProblem(http.StatusBadRequest, "invalid_code", "The phone number code is invalid, expired or already used.")
	case errors.Is(err, auth.ErrInvalidToken):
		return web.NewProblem(http.StatusUnauthorized, "invalid_token", "The access token is missing, expired, revoked or not valid here.").WithInternal(err)
	case errors.Is(err, auth.ErrInvalidRefreshToken):
		return web.NewProblem(http.StatusUnauthorized, "invalid_refresh_token", "The refresh token is unknown, expired or revoked.")
	case errors.Is(err, auth.ErrRefreshTokenReused):
		return web.NewProblem(http.StatusUnauthorized, "refresh_token_reused", "The refresh token was already used; its session has been revoked.")
	case errors.As(err, &banned):
		p := web.NewProblem(http.StatusForbidden, "user_banned", "This user is banned.")
		if !banned.Until.IsZero() {
			u := banned.Until.UTC()
			p.BannedUntil = &u
		}
		return p
	case errors.As(err, &limited):
		p := web.NewProblem(http.StatusTooManyRequests, "rate_limited", "Too many requests; retry after the time in Retry-After.")
		p.RetryAfter = limited.RetryAfter
		return p
	case errors.Is(err, auth.ErrRiskBlocked):
		return web.NewProblem(http.StatusForbidden, "wechat_risk_blocked", "WeChat refused this login as high-risk.")
	case errors.Is(err, auth.ErrWeChatRateLimited):
		p := web.NewProblem(http.StatusTooManyRequests, "rate_limited", "WeChat is limiting logins for this user; retry shortly.")
		p.RetryAfter = 60e9
		return p
	case errors.Is(err, auth.ErrQRNotFound):
		return web.NewProblem(http.StatusNotFound, "qr_ticket_not_found", "No such sign-in ticket: it never existed, was already redeemed, or expired a while ago.")
	case errors.Is(err, auth.ErrQRExpired):
		return web.NewProblem(http.StatusGone, "qr_ticket_expired", "The sign-in ticket expired; the web page must show a new code.")
	case errors.Is(err, auth.ErrQRCancelled):
		return web.NewProblem(http.StatusConflict, "qr_ticket_cancelled", "The sign-in ticket was cancelled.")
	case errors.Is(err, auth.ErrQRTaken):
		return web.NewProblem(http.StatusConflict, "qr_ticket_taken", "The sign-in ticket was scanned or confirmed by another user.")
	case errors.Is(err, auth.ErrQRPollToken):
		p := web.NewProblem(http.StatusUnauthorized, "invalid_poll_token", "The poll token is missing or is not the one issued with this ticket.")
		return p
	case errors.Is(err, auth.ErrQRUnavailable):
		return web.NewProblem(http.StatusServiceUnavailable, "unavailable", "Scan to sign in is briefly unavailable; try again.").WithInternal(err)
	case errors.Is(err, auth.ErrQRPageRejected):
		return web.NewProblem(http.StatusBadGateway, "wechat_unavailable", "WeChat refused to make the code: the tenant's qr_login_page is not a page of the released mini-program.").WithInternal(err)
	case errors.Is(err, auth.ErrSessionKeyStale):
		return web.NewProblem(http.StatusConflict, "session_key_stale", "The stored session_key cannot decrypt or verify this payload: call wx.login, log in again, and ask WeChat for the data anew.")
	case errors.Is(err, auth.ErrForeignData):
		return web.Invalid("The request is invalid.", &tenant.ValidationError{Fields: []tenant.FieldError{
			{Field: "encrypted_data", Message: "is not user data WeChat issued to this mini-program (no watermark with its AppID)"}}})
	case errors.Is(err, auth.ErrWeChatQuota):
		p := web.NewProblem(http.StatusServiceUnavailable, "wechat_quota_exceeded", "WeChat's daily call quota for this mini-program is used up; it resets at midnight China time.").WithInternal(err)
		p.RetryAfter = untilChinaMidnight(time.Now())
		return p
	case errors.Is(err, auth.ErrCircuitOpen):
		return web.NewProblem(http.StatusBadGateway, "wechat_unavailable", "WeChat keeps failing for this mini-program, so calls to it are paused for a few seconds; try again shortly.").WithInternal(err)
	case errors.Is(err, auth.ErrWeChatUnavailable), errors.Is(err, auth.ErrWeChatMisconfigured):
		return web.NewProblem(http.StatusBadGateway, "wechat_unavailable", "WeChat could not complete the login; try again with a new code.").WithInternal(err)
	case errors.Is(err, auth.ErrUserNotFound):
		return web.NewProblem(http.StatusUnauthorized, "invalid_token", "The user of this token no longer exists.")
	}
	return web.Unexpected(err)
}

// china is UTC+8, where WeChat's daily quotas reset; it keeps no daylight
// saving time, so a fixed zone is exact and needs no tz database.
var china = time.FixedZone("CST", 8*60*60)

// untilChinaMidnight is how long until WeChat's daily quotas reset.
func untilChinaMidnight(now time.Time) time.Duration {
	n := now.In(china)
	midnight := time.Date(n.Year(), n.Month(), n.Day()+1, 0, 0, 0, 0, china)
	return midnight.Sub(now)
}
