// Package auth is end-user authentication for mini-programs: the WeChat
// login, access tokens, sessions with rotating refresh tokens, and the
// per-request check of a token. Transports map its errors to responses.
package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/miniauth/miniauth/tenant"
)

// Errors of the login, refresh and token paths. Each maps to one stable
// problem code in the HTTP surface.
var (
	ErrTenantNotFound      = errors.New("tenant not found")
	ErrTenantDisabled      = errors.New("tenant disabled")
	ErrUserDisabled        = errors.New("user disabled")
	ErrInvalidCode         = errors.New("invalid, expired or used login code")
	ErrInvalidToken        = errors.New("invalid access token")
	ErrInvalidRefreshToken = errors.New("invalid refresh token")
	ErrRefreshTokenReused  = errors.New("refresh token reused; session revoked")
	ErrRiskBlocked         = errors.New("wechat refused a high-risk user")
	ErrWeChatRateLimited   = errors.New("wechat rate limit")
	ErrWeChatUnavailable   = errors.New("wechat unavailable")
	ErrWeChatMisconfigured = errors.New("tenant's wechat appid or secret rejected")
	ErrWeChatQuota         = errors.New("wechat daily quota exhausted")
	ErrUserNotFound        = fmt.Errorf("user %w", tenant.ErrNotFound)
)

// BannedError refuses a banned subject; Until is zero for a permanent ban.
type BannedError struct {
	Until time.Time
}

func (e *BannedError) Error() string { return "banned" }

// Counter counts events for operators' metrics (web/metrics.Counter);
// label values are given in the counter's label order.
type Counter interface {
	Inc(labelValues ...string)
}

type nopCounter struct{}

func (nopCounter) Inc(...string) {}

func orNop(c Counter) Counter {
	if c == nil {
		return nopCounter{}
	}
	return c
}
