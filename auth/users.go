package auth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/miniauth/miniauth/auth/wechat"
	"github.com/miniauth/miniauth/tenant"
)

// User is an end user of one tenant as the API shows it.
type User struct {
	ID          string     `json:"id"`
	OpenID      string     `json:"openid"`
	UnionID     *string    `json:"unionid"`
	Nickname    *string    `json:"nickname"`
	AvatarURL   *string    `json:"avatar_url"`
	Phone       *string    `json:"phone"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	LastLoginAt *time.Time `json:"last_login_at"`
	// LinkedTenants: on /me of a tenant that shows them, the person's
	// accounts in the other tenants of its unionid group.
	LinkedTenants []LinkedTenant `json:"linked_tenants,omitempty"`
}

// UserColumns are the columns ScanUser reads, in order.
const UserColumns = `id, openid, unionid, nickname, avatar_url, phone, status, created_at, last_login_at`

// ScanUser reads one row of UserColumns.
func ScanUser(row pgx.Row) (User, error) {
	var u User
	var id uuid.UUID
	err := row.Scan(&id, &u.OpenID, &u.UnionID, &u.Nickname, &u.AvatarURL, &u.Phone, &u.Status, &u.CreatedAt, &u.LastLoginAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, ErrUserNotFound
	}
	u.ID = id.String()
	return u, err
}

// Me returns the caller's own user, with the person's accounts in the
// other tenants of the group when the tenant shows them.
func (s *Service) Me(ctx context.Context, p *Principal) (User, error) {
	var u User
	var err error
	if s.profiles != nil {
		u, err = s.profiles.Get(ctx, p.Tenant.ID, p.UserID)
	} else {
		u, err = ScanUser(s.db.QueryRow(ctx, `SELECT `+UserColumns+` FROM users WHERE tenant_id = $1 AND id = $2`,
			p.Tenant.ID, p.UserID))
	}
	if err != nil || !p.Tenant.ShowLinkedTenants || p.Tenant.UnionIDGroup == "" || u.UnionID == nil {
		return u, err
	}
	u.LinkedTenants, err = s.linkedTenants(ctx, p.Tenant, *u.UnionID)
	return u, err
}

// ProfilePatch is what a user may change of their own profile; an empty
// string clears a field.
type ProfilePatch struct {
	Nickname  *string `json:"nickname"`
	AvatarURL *string `json:"avatar_url"`
}

// Validate checks the patch.
func (p *ProfilePatch) Validate() error {
	if p.Nickname != nil {
		*p.Nickname = strings.TrimSpace(*p.Nickname)
		if n := utf8.RuneCountInString(*p.Nickname); n > 64 || strings.ContainsFunc(*p.Nickname, isControl) {
			return tenant.Invalid("nickname", "must be at most 64 characters without control characters")
		}
	}
	if p.AvatarURL != nil && *p.AvatarURL != "" {
		u, err := url.Parse(*p.AvatarURL)
		if err != nil || len(*p.AvatarURL) > 1024 || u.Scheme != "https" || u.Host == "" {
			return tenant.Invalid("avatar_url", "must be an https URL of at most 1024 characters")
		}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// UpdateMe changes the caller's profile.
func (s *Service) UpdateMe(ctx context.Context, p *Principal, patch ProfilePatch) (User, error) {
	if err := patch.Validate(); err != nil {
		return User{}, err
	}
	u, err := ScanUser(s.db.QueryRow(ctx, `UPDATE users SET
			nickname = CASE WHEN $3::boolean THEN NULLIF($4, '') ELSE nickname END,
			avatar_url = CASE WHEN $5::boolean THEN NULLIF($6, '') ELSE avatar_url END,
			updated_at = now()
		WHERE tenant_id = $1 AND id = $2 RETURNING `+UserColumns,
		p.Tenant.ID, p.UserID, patch.Nickname != nil, deref(patch.Nickname), patch.AvatarURL != nil, deref(patch.AvatarURL)))
	s.profileChanged(ctx, p, err)
	return u, err
}

// profileChanged tells the profile caches that the caller's row changed.
func (s *Service) profileChanged(ctx context.Context, p *Principal, err error) {
	if err == nil && s.profiles != nil {
		s.profiles.Changed(ctx, p.Tenant.ID, p.UserID)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ErrInvalidPhoneCode means WeChat refused a getPhoneNumber code.
var ErrInvalidPhoneCode = errors.New("invalid, expired or used phone code")

// SetPhone exchanges a getPhoneNumber code for the caller's phone number
// and stores it. The WeChat access token comes from the shared cache.
func (s *Service) SetPhone(ctx context.Context, p *Principal, code string) (User, error) {
	if code == "" || len(code) > 256 {
		return User{}, tenant.Invalid("code", "must be a getPhoneNumber code")
	}
	rt := p.Tenant
	var phone wechat.Phone
	err := s.wxTokens.withAccessToken(ctx, rt, func(token string) error {
		var err error
		phone, err = s.wxFor(rt).PhoneNumber(ctx, token, code)
		return err
	})
	if qerr, ok := s.quotaError(rt, err); ok {
		return User{}, qerr
	}
	switch {
	case wechat.IsCode(err, wechat.CodeInvalidCode, wechat.CodeCodeUsed):
		return User{}, ErrInvalidPhoneCode
	case wechat.IsCode(err, wechat.CodeFrequencyLimit):
		return User{}, ErrWeChatRateLimited
	case err != nil:
		s.logUnavailable(ctx, rt, "wechat phone number call failed", err)
		return User{}, fmt.Errorf("%w: %w", ErrWeChatUnavailable, err)
	}
	// The watermark proves the number was issued to this tenant's app.
	if phone.WatermarkAppID != rt.WeChatAppID {
		s.log.ErrorContext(ctx, "phone number watermark is for another app", "tenant", rt.Slug)
		return User{}, fmt.Errorf("%w: watermark appid mismatch", ErrWeChatUnavailable)
	}
	u, err := ScanUser(s.db.QueryRow(ctx, `UPDATE users SET phone = $3, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 RETURNING `+UserColumns, rt.ID, p.UserID, phone.PhoneNumber))
	s.profileChanged(ctx, p, err)
	return u, err
}

// collect reads every row with scan; an empty result is an empty slice,
// which lists render as [].
func collect[T any](rows pgx.Rows, scan func(pgx.Row) (T, error)) ([]T, error) {
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if out == nil && err == nil {
		out = []T{}
	}
	return out, err
}
