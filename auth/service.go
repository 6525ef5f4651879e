package auth

import (
	"cmp"
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
	"github.com/miniauth/miniauth/tenant/seal"
)

// WeChat is the part of the WeChat API auth uses.
type WeChat interface {
	Code2Session(ctx context.Context, appID, secret, code string) (wechat.Session, error)
	StableToken(ctx context.Context, appID, secret string, forceRefresh bool) (wechat.AccessToken, error)
	PhoneNumber(ctx context.Context, accessToken, code string) (wechat.Phone, error)
	CheckSession(ctx context.Context, accessToken, openID, sessionKey string) error
	ResetSessionKey(ctx context.Context, accessToken, openID, sessionKey string) (wechat.Session, error)
	WXACodeUnlimit(ctx context.Context, accessToken string, r wechat.WXACodeRequest) (wechat.Image, error)
}

// Service is the mini-program surface: login, refresh, logout, the
// per-request token check and the user's own profile. The operators' side
// of the same data is Users, Bans and Sessions.
type Service struct {
	db        *pgxpool.Pool
	wx        WeChat
	sealer    *seal.Sealer
	tokens    *Tokens
	sessions  *Sessions
	views     *BanViews
	bans      *Bans
	limits    *Limits
	autoBan   AutoBan
	wxTokens  *AccessTokens
	exchanges *Exchanges
	breakers  *Breakers
	// Scan to sign in on the web keeps its tickets here.
	rdb         redis.UniversalClient
	redisPrefix string
	qrTTL       time.Duration
	quota       Counter
	stats       *Stats
	profiles    *Profiles
	log         *slog.Logger
}

// AutoBan configures the automatic IP bans: how long they last, a hook
// told of each one (the audit log) and a counter of them by tenant and
// reason.
type AutoBan struct {
	Duration time.Duration
	OnBan    func(ctx context.Context, tenantSlug string, tenantID int64, ban Ban)
	Count    Counter
}

// Deps are the Service's collaborators.
type Deps struct {
	DB       *pgxpool.Pool
	WeChat   WeChat
	Sealer   *seal.Sealer
	Tokens   *Tokens
	Sessions *Sessions
	BanViews *BanViews
	// Bans makes the automatic bans.
	Bans   *Bans
	Limits *Limits
	Redis  redis.UniversalClient
	// RedisPrefix prefixes the shared WeChat access tokens' keys.
	RedisPrefix string
	AutoBan     AutoBan
	// Stats counts the outcomes of mini-program requests for the
	// console's dashboard; nil counts nothing.
	Stats *Stats
	// Profiles, when set, serves GET /me from a cache (profiles.go).
	Profiles *Profiles
	// Breakers guard each tenant's WeChat calls; nil guards nothing.
	Breakers *Breakers
	// QRLoginTTL is how long a scan-to-sign-in ticket lives (0 is
	// DefaultQRLoginTTL).
	QRLoginTTL time.Duration
	// QuotaExceeded counts WeChat's daily-quota refusals (45009) by tenant.
	QuotaExceeded Counter
	Log           *slog.Logger
}

// NewService wires the service.
func NewService(d Deps) *Service {
	d.AutoBan.Count = orNop(d.AutoBan.Count)
	return &Service{
		db: d.DB, wx: d.WeChat, sealer: d.Sealer, tokens: d.Tokens, log: d.Log,
		sessions: d.Sessions, views: d.BanViews, bans: d.Bans, limits: d.Limits, autoBan: d.AutoBan, stats: d.Stats, profiles: d.Profiles,
		breakers: d.Breakers, quota: orNop(d.QuotaExceeded),
		rdb: d.Redis, redisPrefix: d.RedisPrefix, qrTTL: cmp.Or(d.QRLoginTTL, DefaultQRLoginTTL),
		wxTokens:  NewAccessTokens(d.Redis, d.RedisPrefix, d.WeChat, d.Breakers),
		exchanges: NewExchanges(d.Redis, d.RedisPrefix, d.Log),
	}
}

// wxFor is the WeChat API as the tenant's calls reach it: through its
// circuit breaker.
func (s *Service) wxFor(rt *tenant.Runtime) WeChat { return s.breakers.For(s.wx, rt) }

// BreakerState is the tenant's WeChat circuit state on this instance.
func (s *Service) BreakerState(tenantID int64) string { return s.breakers.State(tenantID) }

// Stats is where the transports count the outcomes of the requests they
// serve (nil when none is configured, which counts nothing).
func (s *Service) Stats() *Stats { return s.stats }

// Scope is what a mini-program request works in, resolved once at its
// start and carried to every step: the tenant and the bans in force there.
type Scope struct {
	Tenant *tenant.Runtime
	Bans   BanView
}

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

// Admit opens a request on a tenant: it refuses a disabled tenant and a
// banned address, and reads the bans in force once, before any
// transaction, so checks inside one never need a second connection.
func (s *Service) Admit(ctx context.Context, rt *tenant.Runtime, ip netip.Addr) (*Scope, error) {
	if rt.Status != tenant.StatusActive {
		return nil, ErrTenantDisabled
	}
	bans, err := s.views.View(ctx, rt.ID)
	if err != nil {
		return nil, err
	}
	if err := bans.Check("", "", ip); err != nil {
		return nil, err
	}
	return &Scope{Tenant: rt, Bans: bans}, nil
}

// Login exchanges a wx.login code for tokens, creating the user on first
// login. The code is sent to WeChat exactly once: it may be spent even when
// the answer is lost, so nothing here retries. Concurrent requests with
// one code (a double tap, a client retry, on any instance) share that one
// exchange through Exchanges, each getting its own session for the user.
// A banned IP was refused by Admit, before its code is spent at WeChat.
func (s *Service) Login(ctx context.Context, sc *Scope, code string, meta ClientMeta) (TokenResponse, error) {
	if code == "" || len(code) > 128 {
		return TokenResponse{}, tenant.Invalid("code", "must be a wx.login code")
	}
	c := s.exchanges.claim(ctx, sc.Tenant.ID, code)
	switch c.role {
	case roleSpent:
		// A replay, counted towards the IP's automatic ban like any
		// invalid code.
		s.noteAbuse(ctx, sc.Tenant, meta.IP, tenant.LimitAutoBanBadCode)
		return TokenResponse{}, ErrInvalidCode
	case roleFollower:
		acct, err := s.exchanges.wait(ctx, c)
		if err != nil {
			return TokenResponse{}, err
		}
		resp, err := s.loginAs(ctx, sc, acct, meta)
		if errors.Is(err, ErrUserNotFound) {
			// Erased between the exchange and now: the code is spent.
			err = ErrInvalidCode
		}
		return resp, err
	case roleLeader:
		// The followers wait for this exchange whatever becomes of the
		// leader's own caller; it is bounded as long as they wait.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), s.exchanges.pendingTTL)
		defer cancel()
	}
	resp, err := s.exchange(ctx, sc, code, meta)
	s.exchanges.finish(ctx, c, resp.account(), err)
	return resp, err
}

// account is the user a token response is for, as a follower needs it.
func (r TokenResponse) account() account {
	id, _ := uuid.Parse(r.User.ID)
	return account{UserID: id, OpenID: r.User.OpenID, UnionID: r.User.UnionID, IsNew: r.User.IsNew}
}

// exchange is a login's own exchange of its code: WeChat, then the user's
// upsert and a new session in one transaction.
func (s *Service) exchange(ctx context.Context, sc *Scope, code string, meta ClientMeta) (TokenResponse, error) {
	rt, bans := sc.Tenant, sc.Bans
	ws, err := s.wxFor(rt).Code2Session(ctx, rt.WeChatAppID, rt.Secret, code)
	if err != nil {
		err = s.wechatError(ctx, rt, err)
		if errors.Is(err, ErrInvalidCode) {
			s.noteAbuse(ctx, rt, meta.IP, tenant.LimitAutoBanBadCode)
		}
		return TokenResponse{}, err
	}
	if field := malformedSession(ws); field != "" {
		s.log.ErrorContext(ctx, "wechat answered a malformed jscode2session", "field", field, "tenant", rt.Slug)
		return TokenResponse{}, fmt.Errorf("%w: malformed %s", ErrWeChatUnavailable, field)
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
	var userID uuid.UUID
	var status string
	// Two round trips: the upsert, then the session. One statement decides
	// insert-or-update, so N simultaneous first logins of one openid make
	// one user; only an insert returns the id proposed here.
	err = pipelinedTx(ctx, s.db, func(b *pgx.Batch) {
		b.Queue(`
			INSERT INTO users (tenant_id, id, openid, unionid, session_key_sealed, last_login_at, last_login_ip)
			VALUES ($1, $2, $3, $4, $5, now(), $6)
			ON CONFLICT (tenant_id, openid) DO UPDATE SET
				unionid = COALESCE(EXCLUDED.unionid, users.unionid),
				session_key_sealed = EXCLUDED.session_key_sealed,
				last_login_at = now(), last_login_ip = EXCLUDED.last_login_ip, updated_at = now()
			RETURNING id, unionid, status`,
			rt.ID, newID, ws.OpenID, unionID, sealedKey, ipOrNil(meta.IP),
		).QueryRow(func(r pgx.Row) error { return r.Scan(&userID, &resp.User.UnionID, &status) })
	}, func(b *pgx.Batch) error {
		resp.User.IsNew = userID == newID
		// The upsert locked the row, so a concurrent Users.SetStatus either
		// ran first (and this reads its status) or waits and then revokes
		// the session made here.
		if status != UserActive {
			return ErrUserDisabled
		}
		if err := bans.Check(userID.String(), "", netip.Addr{}); err != nil {
			return err
		}
		sid, refresh, err := s.sessions.queueCreate(b, rt.ID, userID, rt.RefreshTTL, meta)
		if err != nil {
			return err
		}
		resp.User.ID, resp.User.OpenID = userID.String(), ws.OpenID
		return s.fillTokens(&resp, rt, userID, sid, refresh)
	})
	if err == nil && s.profiles != nil {
		// last_login_at and perhaps unionid changed: seen here at once,
		// elsewhere within the cache's age.
		s.profiles.Forget(rt.ID, userID)
	}
	if isUnionIDConflict(err) {
		s.log.ErrorContext(ctx, "wechat gave a second openid a unionid another user of the tenant has", "tenant", rt.Slug)
		return TokenResponse{}, fmt.Errorf("%w: %w", ErrWeChatUnavailable, ErrUnionIDTaken)
	}
	if err != nil {
		return TokenResponse{}, err
	}
	return resp, nil
}

// loginAs opens a session for the user a concurrent request's exchange
// found, with the same checks a login makes: the user active, no ban on
// the user or the openid.
func (s *Service) loginAs(ctx context.Context, sc *Scope, acct account, meta ClientMeta) (TokenResponse, error) {
	rt := sc.Tenant
	if err := sc.Bans.Check(acct.UserID.String(), acct.OpenID, netip.Addr{}); err != nil {
		return TokenResponse{}, err
	}
	resp := TokenResponse{User: TokenSubject{ID: acct.UserID.String(), OpenID: acct.OpenID, UnionID: acct.UnionID, IsNew: acct.IsNew}}
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// FOR SHARE orders this with Users.SetStatus as the login's
		// upsert does: a disable either is seen here or revokes after.
		var status string
		err := tx.QueryRow(ctx, `SELECT status FROM users WHERE tenant_id = $1 AND id = $2 FOR SHARE`,
			rt.ID, acct.UserID).Scan(&status)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrUserNotFound
		}
		if err != nil {
			return err
		}
		if status != UserActive {
			return ErrUserDisabled
		}
		sid, refresh, err := s.sessions.create(ctx, tx, rt.ID, acct.UserID, rt.RefreshTTL, meta)
		if err != nil {
			return err
		}
		return s.fillTokens(&resp, rt, acct.UserID, sid, refresh)
	})
	if err != nil {
		return TokenResponse{}, err
	}
	return resp, nil
}

// Refresh rotates a refresh token and issues a new access token.
func (s *Service) Refresh(ctx context.Context, sc *Scope, token string, meta ClientMeta) (TokenResponse, error) {
	if token == "" || len(token) > 256 {
		return TokenResponse{}, tenant.Invalid("refresh_token", "must be a refresh token")
	}
	rt, bans := sc.Tenant, sc.Bans
	var resp TokenResponse
	r, err := s.sessions.rotate(ctx, rt.ID, token, rt.RefreshTTL, func(u rotatingUser) error {
		if u.Status != UserActive {
			return ErrUserDisabled
		}
		return bans.Check(u.ID.String(), u.OpenID, netip.Addr{})
	})
	if errors.Is(err, ErrRefreshTokenReused) {
		s.noteAbuse(ctx, rt, meta.IP, tenant.LimitAutoBanReuse)
	}
	if err != nil {
		return TokenResponse{}, err
	}
	resp.User.ID, resp.User.OpenID, resp.User.UnionID = r.UserID.String(), r.OpenID, r.UnionID
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

// Authenticate verifies a bearer token for the scope's tenant and checks,
// through the shared revocation cache, that its session is still live.
func (s *Service) Authenticate(ctx context.Context, sc *Scope, bearer string) (*Principal, error) {
	rt := sc.Tenant
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
	if err := sc.Bans.Check(claims.Subject, "", netip.Addr{}); err != nil {
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
	return s.sessions.Revoke(ctx, p.Tenant.ID, p.UserID, p.SessionID, "logout")
}

// wechatError maps a WeChat failure to the login's errors; the cause is
// logged, never returned to the caller.
func (s *Service) wechatError(ctx context.Context, rt *tenant.Runtime, err error) error {
	if qerr, ok := s.quotaError(rt, err); ok {
		return qerr
	}
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
		s.logUnavailable(ctx, rt, "wechat call failed", err)
		return fmt.Errorf("%w: %w", ErrWeChatUnavailable, err)
	}
}

// logUnavailable logs a failed WeChat call; refusals of an open circuit
// are logged at debug level, once its opening was logged as a warning.
func (s *Service) logUnavailable(ctx context.Context, rt *tenant.Runtime, msg string, err error) {
	level := slog.LevelWarn
	if errors.Is(err, ErrCircuitOpen) {
		level = slog.LevelDebug
	}
	s.log.Log(ctx, level, msg, "tenant", rt.Slug, "err", err)
}

// quotaError recognises WeChat's daily quota (45009): counted, logged, and
// answered as ErrWeChatQuota.
func (s *Service) quotaError(rt *tenant.Runtime, err error) (error, bool) {
	if !wechat.IsCode(err, wechat.CodeDailyQuota) {
		return nil, false
	}
	s.quota.Inc(rt.Slug)
	s.log.Error("wechat daily quota exhausted", "tenant", rt.Slug, "err", err)
	return fmt.Errorf("%w: %w", ErrWeChatQuota, err), true
}

// noteAbuse counts a failure that suggests abuse (an invalid code, a
// reused refresh token) against the caller's IP; past the tenant's
// threshold the IP is banned from the tenant for a while. The IP passed
// Admit, so it was not banned when the request began; of racing requests
// past the threshold, UnlessBanned lets one ban it.
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
	s.autoBan.Count.Inc(rt.Slug, limit)
	s.log.WarnContext(ctx, "automatic IP ban", "tenant", rt.Slug, "ip", client.String(), "reason", limit, "until", until)
	if s.autoBan.OnBan != nil {
		s.autoBan.OnBan(ctx, rt.Slug, rt.ID, ban)
	}
}

func sessionKeyContext(tenantID int64, openID string) string {
	return fmt.Sprintf("session_key:%d:%s", tenantID, openID)
}
