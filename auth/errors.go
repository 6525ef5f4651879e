// Package auth is end-user authentication for mini-programs: the WeChat
// login, access tokens, sessions with rotating refresh tokens, and the
// per-request check of a token. Transports map its errors to responses.
package auth

import (
	"errors"
	"time"
)

// Errors of the login, refresh and token paths. Each maps to one stable
// problem code in the HTTP surface.
var (
	ErrTenantNotFound      = errors.New("tenant not found")
	ErrTenantDisabled      = errors.New("tenant disabled")
	ErrInvalidCode         = errors.New("invalid, expired or used login code")
	ErrInvalidToken        = errors.New("invalid access token")
	ErrInvalidRefreshToken = errors.New("invalid refresh token")
	ErrRefreshTokenReused  = errors.New("refresh token reused; session revoked")
	ErrRiskBlocked         = errors.New("wechat refused a high-risk user")
	ErrWeChatRateLimited   = errors.New("wechat rate limit")
	ErrWeChatUnavailable   = errors.New("wechat unavailable")
	ErrWeChatMisconfigured = errors.New("tenant's wechat appid or secret rejected")
	ErrUserNotFound        = errors.New("user not found")
)

// BannedError refuses a banned subject; Until is zero for a permanent ban.
type BannedError struct {
	Until time.Time
}

func (e *BannedError) Error() string { return "banned" }

// InvalidFieldError is a request field that fails validation.
type InvalidFieldError struct {
	Field, Message string
}

func (e *InvalidFieldError) Error() string { return e.Field + ": " + e.Message }
