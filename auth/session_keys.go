package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/miniauth/miniauth/auth/wechat"
	"github.com/miniauth/miniauth/tenant"
)

// ErrNoSessionKey means the user has no stored session_key (a user row
// made before one was kept, or erased data); nothing can be checked or
// decrypted until the user logs in again.
var ErrNoSessionKey = errors.New("no stored session_key")

// sessionKey opens the user's stored session_key.
func (s *Service) sessionKey(ctx context.Context, tenantID int64, userID uuid.UUID) (openID, key string, err error) {
	openID, key, _, err = s.sealedSessionKey(ctx, tenantID, userID)
	return openID, key, err
}

// sealedSessionKey is sessionKey with the sealed value as stored, for a
// write that must not overwrite a newer one.
func (s *Service) sealedSessionKey(ctx context.Context, tenantID int64, userID uuid.UUID) (openID, key string, sealed []byte, err error) {
	err = s.db.QueryRow(ctx, `SELECT openid, session_key_sealed FROM users WHERE tenant_id = $1 AND id = $2`,
		tenantID, userID).Scan(&openID, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", nil, ErrUserNotFound
	}
	if err != nil {
		return "", "", nil, err
	}
	if len(sealed) == 0 {
		return openID, "", nil, ErrNoSessionKey
	}
	plain, err := s.sealer.Open(sealed, sessionKeyContext(tenantID, openID))
	if err != nil {
		return "", "", nil, fmt.Errorf("session_key of user %s: %w", userID, err)
	}
	return openID, string(plain), sealed, nil
}

// Decrypt opens encrypted data a mini-program got from WeChat (getUserInfo,
// share tickets, run data) with the caller's stored session_key.
func (s *Service) Decrypt(ctx context.Context, p *Principal, encryptedData, iv string) (json.RawMessage, error) {
	_, key, err := s.sessionKey(ctx, p.Tenant.ID, p.UserID)
	if errors.Is(err, ErrNoSessionKey) {
		return nil, ErrSessionKeyStale
	}
	if err != nil {
		return nil, err
	}
	return DecryptData(key, encryptedData, iv, p.Tenant.WeChatAppID)
}

// VerifySignature checks a rawData signature with the caller's stored
// session_key.
func (s *Service) VerifySignature(ctx context.Context, p *Principal, rawData, signature string) error {
	_, key, err := s.sessionKey(ctx, p.Tenant.ID, p.UserID)
	if errors.Is(err, ErrNoSessionKey) {
		if err := VerifyRawData(rawData, signature, ""); err != nil && !errors.Is(err, ErrSessionKeyStale) {
			return err
		}
		return ErrSessionKeyStale
	}
	if err != nil {
		return err
	}
	return VerifyRawData(rawData, signature, key)
}

// SessionKeyHealth is whether WeChat still holds a user's stored
// session_key as the current one.
type SessionKeyHealth struct {
	Valid     bool      `json:"valid"`
	CheckedAt time.Time `json:"checked_at"`
}

// CheckSessionKey asks WeChat (checksession) whether the user's stored
// session_key is still current.
func (s *Service) CheckSessionKey(ctx context.Context, rt *tenant.Runtime, userID uuid.UUID) (SessionKeyHealth, error) {
	openID, key, err := s.sessionKey(ctx, rt.ID, userID)
	if err != nil {
		return SessionKeyHealth{}, err
	}
	err = s.wxTokens.withAccessToken(ctx, rt, func(token string) error {
		return s.wxFor(rt).CheckSession(ctx, token, openID, key)
	})
	h := SessionKeyHealth{Valid: err == nil, CheckedAt: time.Now().UTC()}
	if wechat.IsCode(err, wechat.CodeInvalidSignature) {
		return h, nil
	}
	if err != nil {
		return SessionKeyHealth{}, s.adminWeChatError(ctx, rt, "checksession", err)
	}
	return h, nil
}

// ResetSessionKey makes WeChat issue the user a new session_key
// (resetusersessionkey, proven with the stored one) and stores it sealed.
// A stale stored key cannot prove anything: ErrSessionKeyStale.
func (s *Service) ResetSessionKey(ctx context.Context, rt *tenant.Runtime, userID uuid.UUID) (SessionKeyHealth, error) {
	openID, key, old, err := s.sealedSessionKey(ctx, rt.ID, userID)
	if err != nil {
		return SessionKeyHealth{}, err
	}
	var ws wechat.Session
	err = s.wxTokens.withAccessToken(ctx, rt, func(token string) error {
		var err error
		ws, err = s.wxFor(rt).ResetSessionKey(ctx, token, openID, key)
		return err
	})
	if wechat.IsCode(err, wechat.CodeInvalidSignature) {
		return SessionKeyHealth{}, ErrSessionKeyStale
	}
	if err != nil {
		return SessionKeyHealth{}, s.adminWeChatError(ctx, rt, "resetusersessionkey", err)
	}
	if ws.OpenID != openID {
		s.log.ErrorContext(ctx, "resetusersessionkey answered for another openid", "tenant", rt.Slug)
		return SessionKeyHealth{}, fmt.Errorf("%w: answer for another openid", ErrWeChatUnavailable)
	}
	if !validSessionKey(ws.SessionKey) {
		s.log.ErrorContext(ctx, "wechat answered a malformed session_key", "tenant", rt.Slug)
		return SessionKeyHealth{}, fmt.Errorf("%w: malformed session_key", ErrWeChatUnavailable)
	}
	sealed, err := s.sealer.Seal([]byte(ws.SessionKey), sessionKeyContext(rt.ID, openID))
	if err != nil {
		return SessionKeyHealth{}, err
	}
	// Only over the key the reset was signed with. WeChat accepted that
	// signature, so the reset came before any jscode2session a login ran
	// meanwhile: a key such a login stored is newer than the reset's, and
	// stays.
	if _, err := s.db.Exec(ctx, `UPDATE users SET session_key_sealed = $3, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 AND session_key_sealed = $4`, rt.ID, userID, sealed, old); err != nil {
		return SessionKeyHealth{}, err
	}
	return SessionKeyHealth{Valid: true, CheckedAt: time.Now().UTC()}, nil
}

// adminWeChatError maps a failed WeChat call made for an operator.
func (s *Service) adminWeChatError(ctx context.Context, rt *tenant.Runtime, op string, err error) error {
	if qerr, ok := s.quotaError(rt, err); ok {
		return qerr
	}
	s.logUnavailable(ctx, rt, "wechat "+op+" failed", err)
	return fmt.Errorf("%w: %w", ErrWeChatUnavailable, err)
}
