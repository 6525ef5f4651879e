package auth

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/tenant/cache"
)

// Change topics for revocations; payloads are "tenantID:userID:sessionID"
// and "tenantID:userID".
const (
	TopicSessionRevoked = "session_revoked"
	TopicUserRevoked    = "user_revoked"
	// TopicSessionsFlush asks every instance to forget all cached session
	// answers, after a revocation too wide to name session by session.
	TopicSessionsFlush = "sessions_flush"
)

// Publisher tells every instance about a change (tenant/changes.Bus).
type Publisher interface {
	Publish(ctx context.Context, topic, payload string) error
}

// Changes is the cross-instance change feed (tenant/changes.Bus).
type Changes interface {
	Publisher
	Subscribe(topic string, fn func(payload string))
	OnReset(fn func())
	Healthy() bool
}

// Sessions stores login sessions and their single-use refresh tokens, and
// answers "is this session live" from a cache that revocation notices
// evict on every instance.
type Sessions struct {
	db   *pgxpool.Pool
	pub  Publisher
	live *cache.Cache[sessionKey, bool]
}

// sessionKey names one session; its group is its user's userKey, so one
// notice drops every session of a user.
type sessionKey struct {
	tenant    int64
	user, sid uuid.UUID
}

type userKey struct {
	tenant int64
	user   uuid.UUID
}

const maxCachedSessions = 200_000

// NewSessions returns the session store and subscribes its cache to the
// change feed.
func NewSessions(db *pgxpool.Pool, changes Changes) *Sessions {
	return newSessions(db, changes, time.Now)
}

func newSessions(db *pgxpool.Pool, changes Changes, now func() time.Time) *Sessions {
	s := &Sessions{db: db, pub: changes}
	opt := cache.Notified[sessionKey](maxCachedSessions, changes.Healthy, now)
	opt.Group = func(k sessionKey) any { return userKey{k.tenant, k.user} }
	s.live = cache.New(opt, s.load)
	changes.Subscribe(TopicSessionRevoked, func(payload string) {
		if k, ok := parseSessionKey(payload); ok {
			s.live.Invalidate(k)
		}
	})
	changes.Subscribe(TopicUserRevoked, func(payload string) {
		if k, ok := parseUserKey(payload); ok {
			s.live.InvalidateGroup(k)
		}
	})
	changes.Subscribe(TopicSessionsFlush, func(string) { s.live.Flush() })
	changes.OnReset(s.live.Flush)
	return s
}

func (k userKey) String() string { return strconv.FormatInt(k.tenant, 10) + ":" + k.user.String() }

func (k sessionKey) String() string { return userKey{k.tenant, k.user}.String() + ":" + k.sid.String() }

// parseUserKey reads "tenantID:userID".
func parseUserKey(payload string) (userKey, bool) {
	t, id, ok := strings.Cut(payload, ":")
	if !ok {
		return userKey{}, false
	}
	tenant, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return userKey{}, false
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return userKey{}, false
	}
	return userKey{tenant, u}, true
}

// parseSessionKey reads "tenantID:userID:sessionID".
func parseSessionKey(payload string) (sessionKey, bool) {
	i := strings.LastIndexByte(payload, ':')
	if i < 0 {
		return sessionKey{}, false
	}
	u, ok := parseUserKey(payload[:i])
	sid, err := uuid.Parse(payload[i+1:])
	if !ok || err != nil {
		return sessionKey{}, false
	}
	return sessionKey{u.tenant, u.user, sid}, true
}

// ClientMeta is what the server knows of the caller.
type ClientMeta struct {
	IP        netip.Addr
	UserAgent string
	// Client is the kind of client a new session is for: SessionWeb, or
	// "" (the mini-program).
	Client string
}

// RefreshTokenBytes of randomness in a refresh token (256 bits).
const RefreshTokenBytes = 32

func hashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// create starts a session for a user inside tx and returns its id and first
// refresh token.
func (s *Sessions) create(ctx context.Context, tx pgx.Tx, tenantID int64, userID uuid.UUID, refreshTTL time.Duration, meta ClientMeta) (uuid.UUID, string, error) {
	b := &pgx.Batch{}
	sid, token, err := s.queueCreate(b, tenantID, userID, refreshTTL, meta)
	if err != nil {
		return uuid.Nil, "", err
	}
	return sid, token, tx.SendBatch(ctx, b).Close()
}

// queueCreate queues the statements that store a new session and its
// first refresh token, and returns both.
func (s *Sessions) queueCreate(b *pgx.Batch, tenantID int64, userID uuid.UUID, refreshTTL time.Duration, meta ClientMeta) (uuid.UUID, string, error) {
	sid, err := uuid.NewV7()
	if err != nil {
		return uuid.Nil, "", err
	}
	expires := time.Now().Add(refreshTTL)
	b.Queue(`INSERT INTO sessions (id, tenant_id, user_id, expires_at, ip, user_agent, client)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, sid, tenantID, userID, expires, ipOrNil(meta.IP), CleanUserAgent(meta.UserAgent),
		cmp.Or(meta.Client, SessionMiniProgram))
	return sid, queueRefresh(b, tenantID, sid, expires), nil
}

// queueRefresh queues the statement that stores a new refresh token of a
// session, and returns the token.
func queueRefresh(b *pgx.Batch, tenantID int64, sid uuid.UUID, expires time.Time) string {
	token := randomToken(RefreshTokenBytes)
	b.Queue(`INSERT INTO refresh_tokens (token_hash, tenant_id, session_id, expires_at)
		VALUES ($1, $2, $3, $4)`, hashToken(token), tenantID, sid, expires)
	return token
}

func (s *Sessions) issueRefresh(ctx context.Context, tx pgx.Tx, tenantID int64, sid uuid.UUID, expires time.Time) (string, error) {
	b := &pgx.Batch{}
	token := queueRefresh(b, tenantID, sid, expires)
	return token, tx.SendBatch(ctx, b).Close()
}

// rotated is the outcome of a successful refresh.
type rotated struct {
	SessionID uuid.UUID
	UserID    uuid.UUID
	Token     string
	// The session's user, as the refresh read it.
	OpenID  string
	UnionID *string
}

// rotatingUser is the user of a session being refreshed, for the check.
type rotatingUser struct {
	ID     uuid.UUID
	OpenID string
	Status string
}

// rotate spends a refresh token and issues its successor. The token's row
// is locked first, so of N concurrent presentations exactly one finds it
// unspent; the others find it spent, which is indistinguishable from theft
// and revokes the session (RFC 9700 reuse detection) with
// ErrRefreshTokenReused. check vets the user (status, bans); a banned user
// is told so even though the ban already revoked the session. A token of
// another tenant is not found and left untouched. It takes two round trips
// to Postgres: the locked read (with the session and the user), then the
// writes.
func (s *Sessions) rotate(ctx context.Context, tenantID int64, token string, refreshTTL time.Duration, check func(rotatingUser) error) (rotated, error) {
	var out rotated
	var reused, found, spent, dead bool
	var status string
	h := hashToken(token)
	err := pipelinedTx(ctx, s.db, func(b *pgx.Batch) {
		b.Queue(`SELECT r.session_id, r.rotated_at IS NOT NULL, s.user_id,
				s.revoked_at IS NOT NULL OR s.expires_at <= now(), u.openid, u.unionid, u.status
			FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id
				JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id
			WHERE r.token_hash = $1 AND r.tenant_id = $2 AND r.expires_at > now()
			FOR UPDATE OF r`, h, tenantID).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				found = true
				if err := rows.Scan(&out.SessionID, &spent, &out.UserID, &dead, &out.OpenID, &out.UnionID, &status); err != nil {
					return err
				}
			}
			return rows.Err()
		})
	}, func(b *pgx.Batch) error {
		switch {
		case !found:
			return ErrInvalidRefreshToken
		case spent:
			reused = true
			b.Queue(`UPDATE sessions SET revoked_at = now(), revoke_reason = 'refresh_token_reused'
				WHERE id = $1 AND revoked_at IS NULL`, out.SessionID)
			return nil
		}
		if err := check(rotatingUser{ID: out.UserID, OpenID: out.OpenID, Status: status}); err != nil {
			return err
		}
		if dead {
			return ErrInvalidRefreshToken
		}
		expires := time.Now().Add(refreshTTL)
		b.Queue(`UPDATE refresh_tokens SET rotated_at = now() WHERE token_hash = $1`, h)
		b.Queue(`UPDATE sessions SET refreshed_at = now(), expires_at = $2 WHERE id = $1`, out.SessionID, expires)
		out.Token = queueRefresh(b, tenantID, out.SessionID, expires)
		return nil
	})
	if reused && err == nil {
		s.notifySession(ctx, tenantID, out.UserID, out.SessionID)
		return rotated{}, ErrRefreshTokenReused
	}
	if err != nil {
		return rotated{}, err
	}
	return out, nil
}

// Revoke ends one session of a user.
func (s *Sessions) Revoke(ctx context.Context, tenantID int64, userID, sid uuid.UUID, reason string) error {
	if _, err := s.db.Exec(ctx, `UPDATE sessions SET revoked_at = now(), revoke_reason = $4
		WHERE id = $1 AND tenant_id = $2 AND user_id = $3 AND revoked_at IS NULL`, sid, tenantID, userID, reason); err != nil {
		return err
	}
	s.notifySession(ctx, tenantID, userID, sid)
	return nil
}

// RevokeUser ends every session of a user and returns how many were live.
func (s *Sessions) RevokeUser(ctx context.Context, tenantID int64, userID uuid.UUID, reason string) (int64, error) {
	n, err := revokeUserSessions(ctx, s.db, tenantID, userID, reason)
	if err != nil {
		return 0, err
	}
	s.NotifyUser(ctx, tenantID, userID)
	return n, nil
}

// execer is a pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// revokeUserSessions ends every session of a user in db, which may be a
// transaction; the caller tells the instances (NotifyUser) once it holds.
func revokeUserSessions(ctx context.Context, db execer, tenantID int64, userID uuid.UUID, reason string) (int64, error) {
	tag, err := db.Exec(ctx, `UPDATE sessions SET revoked_at = now(), revoke_reason = $3
		WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL`, tenantID, userID, reason)
	return tag.RowsAffected(), err
}

// Active reports whether a session still accepts its access tokens. It is
// on every authenticated request, so answers are cached; revocations evict
// them on every instance through the change feed.
func (s *Sessions) Active(ctx context.Context, tenantID int64, sid, userID uuid.UUID) (bool, error) {
	return s.live.Get(ctx, sessionKey{tenantID, userID, sid})
}

func (s *Sessions) load(ctx context.Context, k sessionKey) (bool, error) {
	var active bool
	err := s.db.QueryRow(ctx, `SELECT revoked_at IS NULL AND expires_at > now() FROM sessions
		WHERE id = $1 AND tenant_id = $2 AND user_id = $3`, k.sid, k.tenant, k.user).Scan(&active)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return active, err
}

// The notices below reach this instance's cache before Publish returns, so
// a revocation holds here as soon as the call that made it returns.

func (s *Sessions) notifySession(ctx context.Context, tenantID int64, userID, sid uuid.UUID) {
	_ = s.pub.Publish(context.WithoutCancel(ctx), TopicSessionRevoked, sessionKey{tenantID, userID, sid}.String())
}

func (s *Sessions) notifyFlush(ctx context.Context) {
	_ = s.pub.Publish(context.WithoutCancel(ctx), TopicSessionsFlush, "")
}

// NotifyUser tells every instance that a user's sessions changed (revoked,
// user disabled or erased).
func (s *Sessions) NotifyUser(ctx context.Context, tenantID int64, userID uuid.UUID) {
	_ = s.pub.Publish(context.WithoutCancel(ctx), TopicUserRevoked, userKey{tenantID, userID}.String())
}

func ipOrNil(ip netip.Addr) any {
	if !ip.IsValid() {
		return nil
	}
	return ip.Unmap().String()
}

// CleanUserAgent makes a client-supplied User-Agent storable: valid
// UTF-8, no NUL, at most 512 bytes cut on a character boundary.
func CleanUserAgent(ua string) string {
	ua = strings.ReplaceAll(strings.ToValidUTF8(ua, "\uFFFD"), "\x00", "")
	if len(ua) <= 512 {
		return ua
	}
	cut := 512
	for cut > 0 && !utf8.RuneStart(ua[cut]) {
		cut--
	}
	return ua[:cut]
}

// Prune deletes refresh tokens, sessions and bans that can never apply
// again: expired or revoked more than a day ago (kept that long so reuse
// of a just-rotated token is still recognised, and a lapsed ban can still
// be seen). It deletes in small batches so it never holds long locks, and
// returns how many rows went.
func (s *Sessions) Prune(ctx context.Context) (int64, error) {
	var total int64
	for _, q := range []string{
		`DELETE FROM refresh_tokens WHERE token_hash IN (
			SELECT token_hash FROM refresh_tokens WHERE expires_at < now() - interval '1 day' LIMIT 5000)`,
		`DELETE FROM sessions WHERE id IN (
			SELECT id FROM sessions WHERE expires_at < now() - interval '1 day'
				OR revoked_at < now() - interval '1 day' LIMIT 5000)`,
		`DELETE FROM bans WHERE id IN (
			SELECT id FROM bans WHERE expires_at < now() - interval '1 day' LIMIT 5000)`,
	} {
		for {
			tag, err := s.db.Exec(ctx, q)
			if err != nil {
				return total, err
			}
			total += tag.RowsAffected()
			if tag.RowsAffected() < 5000 {
				break
			}
		}
	}
	return total, nil
}
