package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/miniauth/miniauth/auth/wechat"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/web/metrics"
)

// WeChat is the part of the WeChat API auth uses.
type WeChat interface {
	Code2Session(ctx context.Context, appID, secret, code string) (wechat.Session, error)
	StableToken(ctx context.Context, appID, secret string, forceRefresh bool) (wechat.AccessToken, error)
	PhoneNumber(ctx context.Context, accessToken, code string) (wechat.Phone, error)
}

// Changes is the cross-instance change feed (tenant/changes.Bus).
type Changes interface {
	Publisher
	Subscribe(topic string, fn func(payload string))
	OnReset(fn func())
	Healthy() bool
}

// Service is the mini-program facing auth: login, refresh, logout, the
// per-request token check and the user's own profile.
type Service struct {
	db       *pgxpool.Pool
	dir      *tenant.Directory
	wx       WeChat
	sealer   *tenant.Sealer
	tokens   *Tokens
	sessions *Sessions
	bans     *Bans
	limits   *Limits
	autoBan  AutoBan
	wxTokens *AccessTokens
	log      *slog.Logger
	autoBans *metrics.Counter
}

// AutoBan configures the automatic IP bans: how long they last, and a hook
// told of each one (the audit log).
type AutoBan struct {
	Duration time.Duration
	OnBan    func(ctx context.Context, tenantSlug string, tenantID int64, ban Ban)
}

// Deps are the Service's collaborators.
type Deps struct {
	DB        *pgxpool.Pool
	Directory *tenant.Directory
	WeChat    WeChat
	Sealer    *tenant.Sealer
	Tokens    *Tokens
	Changes   Changes
	Limits    *Limits
	Redis     redis.UniversalClient
	// RedisPrefix prefixes the shared WeChat access tokens' keys.
	RedisPrefix string
	AutoBan     AutoBan
	Metrics     *metrics.Registry
	Log         *slog.Logger
}

// NewService wires the service and subscribes its caches to the feed.
func NewService(d Deps) *Service {
	cache := newRevocations(d.Changes.Healthy)
	d.Changes.Subscribe(TopicSessionRevoked, cache.dropSession)
	d.Changes.Subscribe(TopicUserRevoked, cache.dropUser)
	d.Changes.Subscribe(TopicSessionsFlush, func(string) { cache.flush() })
	d.Changes.OnReset(cache.flush)
	sessions := &Sessions{db: d.DB, pub: d.Changes, cache: cache}
	return &Service{
		db: d.DB, dir: d.Directory, wx: d.WeChat, sealer: d.Sealer, tokens: d.Tokens, log: d.Log,
		sessions: sessions, bans: newBans(d.DB, d.Changes, sessions, d.Log), limits: d.Limits, autoBan: d.AutoBan,
		wxTokens: NewAccessTokens(d.Redis, d.RedisPrefix, d.WeChat),
		autoBans: d.Metrics.Counter("miniauth_autoban_total", "Automatic IP bans.", "tenant", "reason"),
	}
}

// Bans exposes ban management to the management surfaces.
func (s *Service) Bans() *Bans { return s.bans }

// Sessions exposes session revocation to the management surfaces.
func (s *Service) Sessions() *Sessions { return s.sessions }

// TokenResponse is what login and refresh return.
type TokenResponse struct {
	AccessToken      string       `json:"access_token"`
	TokenType        string       `json:"token_type"`
	ExpiresIn        int          `json:"expires_in"`
	RefreshToken     string       `json:"refresh_token"`
	RefreshExpiresIn int          `json:"refresh_expires_in"`
	User             TokenSubject `json:"user"`
}

// TokenSubject is the user summary inside a token response.
type TokenSubject struct {
	ID      string  `json:"id"`
	OpenID  string  `json:"openid"`
	UnionID *string `json:"unionid"`
	IsNew   bool    `json:"is_new"`
}

// tenantFor resolves a slug and refuses disabled tenants.
func (s *Service) tenantFor(ctx context.Context, slug string) (*tenant.Runtime, error) {
	rt, err := s.dir.Lookup(ctx, slug)
	if errors.Is(err, tenant.ErrNotFound) {
		return nil, ErrTenantNotFound
	}
	if err != nil {
		return nil, err
	}
	if rt.Status != tenant.StatusActive {
		return nil, ErrTenantDisabled
	}
	return rt, nil
}

// admit resolves an active tenant and refuses a banned address. The bans
// it returns are read once, before any transaction, so checks inside one
// never need a second connection.
func (s *Service) admit(ctx context.Context, slug string, ip netip.Addr) (*tenant.Runtime, BanView, error) {
	rt, err := s.tenantFor(ctx, slug)
	if err != nil {
		return nil, BanView{}, err
	}
	bans, err := s.bans.View(ctx, rt.ID)
	if err != nil {
		return nil, BanView{}, err
	}
	if err := bans.Check("", "", ip); err != nil {
		return nil, BanView{}, err
	}
	return rt, bans, nil
}

// Login exchanges a wx.login code for tokens, creating the user on first
// login. The code is sent to WeChat exactly once: it may be spent even when
// the answer is lost, so nothing here retries.
func (s *Service) Login(ctx context.Context, slug, code string, meta ClientMeta) (TokenResponse, error) {
	if code == "" || len(code) > 128 {
		return TokenResponse{}, &InvalidFieldError{Field: "code", Message: "must be a wx.login code"}
	}
	// A banned IP is refused before its code is spent at WeChat.
	rt, bans, err := s.admit(ctx, slug, meta.IP)
	if err != nil {
		return TokenResponse{}, err
	}
	ws, err := s.wx.Code2Session(ctx, rt.WeChatAppID, rt.Secret, code)
	if err != nil {
		err = s.wechatError(ctx, rt, err)
		if errors.Is(err, ErrInvalidCode) {
			s.noteAbuse(ctx, rt, meta.IP, LimitAutoBanBadCode)
		}
		return TokenResponse{}, err
	}
	// Pre-emptive openid bans apply before the user row is ever written.
	if err := bans.Check("", ws.OpenID, netip.Addr{}); err != nil {
		return TokenResponse{}, err
	}
	sealedKey, err := s.sealer.Seal([]byte(ws.SessionKey), sessionKeyContext(rt.ID, ws.OpenID))
	if err != nil {
		return TokenResponse{}, err
	}
	newID, err := uuid.NewV7()
	if err != nil {
		return TokenResponse{}, err
	}
	var unionID *string
	if ws.UnionID != "" {
		unionID = &ws.UnionID
	}

	var resp TokenResponse
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var userID uuid.UUID
		var status string
		// One statement decides insert-or-update, so N simultaneous first
		// logins of one openid make one user; only an insert returns the id
		// proposed here.
		err := tx.QueryRow(ctx, `
			INSERT INTO users (tenant_id, id, openid, unionid, session_key_sealed, last_login_at, last_login_ip)
			VALUES ($1, $2, $3, $4, $5, now(), $6)
			ON CONFLICT (tenant_id, openid) DO UPDATE SET
				unionid = COALESCE(EXCLUDED.unionid, users.unionid),
				session_key_sealed = EXCLUDED.session_key_sealed,
				last_login_at = now(), last_login_ip = EXCLUDED.last_login_ip, updated_at = now()
			RETURNING id, unionid, status`,
			rt.ID, newID, ws.OpenID, unionID, sealedKey, ipOrNil(meta.IP),
		).Scan(&userID, &resp.User.UnionID, &status)
		if err != nil {
			return err
		}
		resp.User.IsNew = userID == newID
		if status != "active" {
			return &BannedError{}
		}
		if err := bans.Check(userID.String(), "", netip.Addr{}); err != nil {
			return err
		}
		sid, refresh, err := s.sessions.create(ctx, tx, rt.ID, userID, rt.RefreshTTL, meta)
		if err != nil {
			return err
		}
		resp.User.ID, resp.User.OpenID = userID.String(), ws.OpenID
		return s.fillTokens(&resp, rt, userID, sid, refresh)
	})
	if err != nil {
		return TokenResponse{}, err
	}
	return resp, nil
}

// Refresh rotates a refresh token and issues a new access token.
func (s *Service) Refresh(ctx context.Context, slug, token string, meta ClientMeta) (TokenResponse, error) {
	if token == "" || len(token) > 256 {
		return TokenResponse{}, &InvalidFieldError{Field: "refresh_token", Message: "must be a refresh token"}
	}
	rt, bans, err := s.admit(ctx, slug, meta.IP)
	if err != nil {
		return TokenResponse{}, err
	}
	var resp TokenResponse
	r, err := s.sessions.rotate(ctx, rt.ID, token, rt.RefreshTTL, func(ctx context.Context, tx pgx.Tx, userID uuid.UUID) error {
		var status string
		err := tx.QueryRow(ctx, `SELECT openid, unionid, status FROM users WHERE tenant_id = $1 AND id = $2`,
			rt.ID, userID).Scan(&resp.User.OpenID, &resp.User.UnionID, &status)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrInvalidRefreshToken
		}
		if err != nil {
			return err
		}
		if status != "active" {
			return &BannedError{}
		}
		return bans.Check(userID.String(), resp.User.OpenID, netip.Addr{})
	})
	if errors.Is(err, ErrRefreshTokenReused) {
		s.noteAbuse(ctx, rt, meta.IP, LimitAutoBanReuse)
	}
	if err != nil {
		return TokenResponse{}, err
	}
	resp.User.ID = r.UserID.String()
	if err := s.fillTokens(&resp, rt, r.UserID, r.SessionID, r.Token); err != nil {
		return TokenResponse{}, err
	}
	return resp, nil
}

func (s *Service) fillTokens(resp *TokenResponse, rt *tenant.Runtime, userID, sid uuid.UUID, refresh string) error {
	access, err := s.tokens.Issue(rt, userID.String(), sid.String())
	if err != nil {
		return err
	}
	resp.AccessToken = access
	resp.TokenType = "Bearer"
	resp.ExpiresIn = int(rt.AccessTTL.Seconds())
	resp.RefreshToken = refresh
	resp.RefreshExpiresIn = int(rt.RefreshTTL.Seconds())
	return nil
}

// Principal is the caller behind a verified, live access token.
type Principal struct {
	Tenant    *tenant.Runtime
	UserID    uuid.UUID
	SessionID uuid.UUID
	Claims    *Claims
}

// Authenticate verifies a bearer token for a tenant and checks, through the
// shared revocation cache, that its session is still live.
func (s *Service) Authenticate(ctx context.Context, slug, bearer string, meta ClientMeta) (*Principal, error) {
	rt, err := s.tenantFor(ctx, slug)
	if err != nil {
		return nil, err
	}
	if bearer == "" {
		return nil, fmt.Errorf("%w: no bearer token", ErrInvalidToken)
	}
	claims, err := s.tokens.Verify(rt, bearer)
	if err != nil {
		return nil, err
	}
	uid, err1 := uuid.Parse(claims.Subject)
	sid, err2 := uuid.Parse(claims.SID)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w: malformed sub or sid", ErrInvalidToken)
	}
	// Bans first: a ban revokes the sessions it covers, and the caller
	// should learn it is banned, not merely logged out.
	if err := s.bans.Check(ctx, rt.ID, claims.Subject, "", meta.IP); err != nil {
		return nil, err
	}
	active, err := s.sessions.Active(ctx, rt.ID, sid, uid)
	if err != nil {
		return nil, err
	}
	if !active {
		return nil, fmt.Errorf("%w: session revoked", ErrInvalidToken)
	}
	return &Principal{Tenant: rt, UserID: uid, SessionID: sid, Claims: claims}, nil
}

// Logout revokes the caller's session, or every session of the user.
func (s *Service) Logout(ctx context.Context, p *Principal, all bool) error {
	if all {
		_, err := s.sessions.RevokeUser(ctx, p.Tenant.ID, p.UserID, "logout_all")
		return err
	}
	return s.sessions.Revoke(ctx, p.Tenant.ID, p.SessionID, "logout")
}

// wechatError maps a WeChat failure to the login's errors; the cause is
// logged, never returned to the caller.
func (s *Service) wechatError(ctx context.Context, rt *tenant.Runtime, err error) error {
	switch {
	case wechat.IsCode(err, wechat.CodeInvalidCode, wechat.CodeCodeUsed):
		return ErrInvalidCode
	case wechat.IsCode(err, wechat.CodeHighRisk):
		return ErrRiskBlocked
	case wechat.IsCode(err, wechat.CodeFrequencyLimit):
		return ErrWeChatRateLimited
	case wechat.IsCode(err, wechat.CodeInvalidAppID, wechat.CodeInvalidSecret, wechat.CodeAppIDMissing, wechat.CodeSecretMissing):
		s.log.ErrorContext(ctx, "wechat rejected the tenant's credentials", "tenant", rt.Slug, "err", err)
		return fmt.Errorf("%w: %w", ErrWeChatMisconfigured, err)
	default:
		s.log.WarnContext(ctx, "wechat call failed", "tenant", rt.Slug, "err", err)
		return fmt.Errorf("%w: %w", ErrWeChatUnavailable, err)
	}
}

// noteAbuse counts a failure that suggests abuse (an invalid code, a
// reused refresh token) against the caller's IP; past the tenant's
// threshold the IP is banned from the tenant for a while.
func (s *Service) noteAbuse(ctx context.Context, rt *tenant.Runtime, ip netip.Addr, limit string) {
	if !ip.IsValid() || s.limits == nil {
		return
	}
	client := ClientNet(ip)
	_, err := s.limits.Tenant(ctx, rt, limit, client.String())
	var limited *LimitedError
	if !errors.As(err, &limited) {
		return
	}
	if s.bans.Check(ctx, rt.ID, "", "", ip) != nil {
		return // already banned
	}
	until := time.Now().Add(s.autoBan.Duration)
	ban, err := s.bans.Create(context.WithoutCancel(ctx), rt.ID, NewBan{
		IP: client.String(), Reason: "auto", ExpiresAt: &until, CreatedBy: "system:" + limit, UnlessBanned: true,
	})
	if errors.Is(err, errAlreadyBanned) {
		return
	}
	if err != nil {
		s.log.ErrorContext(ctx, "automatic ban failed", "tenant", rt.Slug, "err", err)
		return
	}
	s.autoBans.Inc(rt.Slug, limit)
	s.log.WarnContext(ctx, "automatic IP ban", "tenant", rt.Slug, "ip", client.String(), "reason", limit, "until", until)
	if s.autoBan.OnBan != nil {
		s.autoBan.OnBan(ctx, rt.Slug, rt.ID, ban)
	}
}

func sessionKeyContext(tenantID int64, openID string) string {
	return fmt.Sprintf("session_key:%d:%s", tenantID, openID)
}
