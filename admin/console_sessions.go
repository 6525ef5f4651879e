package admin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant/cache"
)

// Console session lifetimes: a session ends after ConsoleIdleTimeout
// without a request, and at ConsoleAbsoluteTimeout after sign-in however
// active it is (OWASP's guidance for high-value applications).
const (
	ConsoleIdleTimeout     = 30 * time.Minute
	ConsoleAbsoluteTimeout = 12 * time.Hour
)

// consoleTouchEvery is how stale last_seen_at may get: a busy console
// writes it at most once a minute per session, not on every request. The
// idle timeout is therefore honoured to within a minute.
const consoleTouchEvery = time.Minute

// TopicConsoleSessionsEnded is published when console sessions end (sign
// out, sign out everywhere, an account change or delete); the payload is
// the admin's id, and every instance drops that admin's cached sessions.
const TopicConsoleSessionsEnded = "console_sessions_ended"

// consoleTokenSecret is the random part of a console session token (256
// bits).
const consoleTokenSecret = 32

// ConsoleSession is a signed-in console admin.
type ConsoleSession struct {
	ID                               uuid.UUID
	Account                          Account // the signed-in admin, with Roles
	CreatedAt, LastSeenAt, ExpiresAt time.Time
	IP                               netip.Addr
	UserAgent                        string
}

// ConsoleSessions stores web console sessions and answers "who holds this
// cookie" from a cache that change notices evict on every instance.
//
// A token is base64url of the admin's id followed by 256 random bits; only
// its SHA-256 is stored. The id lets the cache key name the admin, so one
// notice drops every cached session of an admin, loads in flight included
// (tenant/cache groups). Holding the token already means being that admin,
// so the id reveals nothing to its holder.
type ConsoleSessions struct {
	db   *pgxpool.Pool
	pub  Publisher
	now  func() time.Time
	live *cache.Cache[consoleKey, *consoleEntry]
}

type consoleKey struct {
	admin uuid.UUID
	hash  [sha256.Size]byte
}

// consoleEntry is a loaded session. lastSeen (unix nanoseconds) moves
// forward when this instance touches the session, so hits between loads
// see their own touches and do not write again.
type consoleEntry struct {
	sess     ConsoleSession
	dead     bool // ended, or its account disabled
	lastSeen atomic.Int64
}

const maxCachedConsoleSessions = 10_000

var errUnknownConsoleSession = errors.New("unknown console session")

// NewConsoleSessions returns the store and subscribes its cache to the
// change feed.
func NewConsoleSessions(db *pgxpool.Pool, changes Changes) *ConsoleSessions {
	return newConsoleSessions(db, changes, time.Now)
}

// newConsoleSessions takes the clock that session times and timeouts are
// read from. The cache keeps the real clock: how long a cached answer may
// be trusted is about how fast notices travel, not about session time, and
// a test that moves session time by half an hour must not thereby expire
// every cached entry (that would hide whether an idle-looking entry is
// re-read before it is refused).
func newConsoleSessions(db *pgxpool.Pool, changes Changes, now func() time.Time) *ConsoleSessions {
	s := &ConsoleSessions{db: db, pub: changes, now: now}
	opt := cache.Notified[consoleKey](maxCachedConsoleSessions, changes.Healthy, nil)
	opt.Group = func(k consoleKey) any { return k.admin }
	s.live = cache.New(opt, s.load)
	changes.Subscribe(TopicConsoleSessionsEnded, func(payload string) {
		if id, err := uuid.Parse(payload); err == nil {
			s.live.InvalidateGroup(id)
		}
	})
	changes.OnReset(s.live.Flush)
	return s
}

// parseConsoleToken names the session a token claims to be; false for
// anything that is not the shape Create hands out.
func parseConsoleToken(token string) (consoleKey, bool) {
	if base64.RawURLEncoding.DecodedLen(len(token)) != 16+consoleTokenSecret {
		return consoleKey{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 16+consoleTokenSecret {
		return consoleKey{}, false
	}
	return consoleKey{admin: uuid.UUID(raw[:16]), hash: sha256.Sum256([]byte(token))}, true
}

// Create signs an admin in: it starts a session and returns its token,
// which only the caller (the browser's cookie) ever holds. A disabled or
// unknown account gets ErrUnauthorized.
func (s *ConsoleSessions) Create(ctx context.Context, accountID uuid.UUID, ip netip.Addr, userAgent string) (string, ConsoleSession, error) {
	raw := make([]byte, 16+consoleTokenSecret)
	copy(raw, accountID[:])
	if _, err := rand.Read(raw[16:]); err != nil {
		return "", ConsoleSession{}, err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	id, err := uuid.NewV7()
	if err != nil {
		return "", ConsoleSession{}, err
	}
	now := s.now()
	sess := ConsoleSession{ID: id, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(ConsoleAbsoluteTimeout),
		IP: ip.Unmap(), UserAgent: auth.CleanUserAgent(userAgent)}
	var ipv any
	if sess.IP.IsValid() {
		ipv = sess.IP
	}
	hash := sha256.Sum256([]byte(token))
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO admin_sessions (id, admin_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent)
			SELECT $1, a.id, $3, $4, $4, $5, $6, $7 FROM admins a WHERE a.id = $2 AND a.disabled_at IS NULL`,
			id, accountID, hash[:], now, sess.ExpiresAt, ipv, sess.UserAgent)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrUnauthorized
		}
		sess.Account, err = scanAccount(tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM admins a WHERE a.id = $1`, accountID))
		return err
	})
	if err != nil {
		return "", ConsoleSession{}, err
	}
	return token, sess, nil
}

// Authenticate returns the session a token names, or ErrUnauthorized when
// it is unknown, ended, idle for over ConsoleIdleTimeout, past its
// absolute end, or its account is disabled. It runs on every console
// request, so answers are cached; ending sessions evicts them on every
// instance.
func (s *ConsoleSessions) Authenticate(ctx context.Context, token string) (ConsoleSession, error) {
	k, ok := parseConsoleToken(token)
	if !ok {
		return ConsoleSession{}, ErrUnauthorized
	}
	e, err := s.get(ctx, k)
	if err != nil {
		return ConsoleSession{}, err
	}
	now := s.now()
	if !now.Before(e.sess.ExpiresAt) {
		return ConsoleSession{}, ErrUnauthorized
	}
	if idle(e, now) {
		// Other instances may have served the session since this entry
		// was loaded, and touched it in Postgres: only a fresh read may
		// call it idle.
		s.live.Invalidate(k)
		if e, err = s.get(ctx, k); err != nil {
			return ConsoleSession{}, err
		}
		if idle(e, now) {
			return ConsoleSession{}, ErrUnauthorized
		}
	}
	s.touch(ctx, k, e, now)
	out := e.sess
	out.LastSeenAt = time.Unix(0, e.lastSeen.Load())
	return out, nil
}

func (s *ConsoleSessions) get(ctx context.Context, k consoleKey) (*consoleEntry, error) {
	e, err := s.live.Get(ctx, k)
	switch {
	case errors.Is(err, errUnknownConsoleSession):
		return nil, ErrUnauthorized
	case err != nil:
		return nil, err
	case e.dead:
		return nil, ErrUnauthorized
	}
	return e, nil
}

func idle(e *consoleEntry, now time.Time) bool {
	return now.Sub(time.Unix(0, e.lastSeen.Load())) > ConsoleIdleTimeout
}

// touch moves last_seen_at forward when it is a minute old. Of the
// requests that find it due, one writes; the rest go on at once. The write
// also skips a row another instance touched within the minute, and never
// moves last_seen_at back.
func (s *ConsoleSessions) touch(ctx context.Context, k consoleKey, e *consoleEntry, now time.Time) {
	last := e.lastSeen.Load()
	if now.UnixNano()-last < int64(consoleTouchEvery) || !e.lastSeen.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	_, err := s.db.Exec(ctx, `UPDATE admin_sessions SET last_seen_at = $2
		WHERE token_hash = $1 AND ended_at IS NULL AND last_seen_at <= $3`, k.hash[:], now, now.Add(-consoleTouchEvery))
	if err != nil {
		// The request itself is fine; let the next one try the write.
		e.lastSeen.CompareAndSwap(now.UnixNano(), last)
	}
}

func (s *ConsoleSessions) load(ctx context.Context, k consoleKey) (*consoleEntry, error) {
	e := &consoleEntry{}
	var ip *netip.Prefix
	var lastSeen time.Time
	err := s.db.QueryRow(ctx, `SELECT s.id, s.created_at, s.last_seen_at, s.expires_at, s.ip, s.user_agent,
			s.ended_at IS NOT NULL OR a.disabled_at IS NOT NULL, `+accountColumns+`
		FROM admin_sessions s JOIN admins a ON a.id = s.admin_id
		WHERE s.token_hash = $1 AND s.admin_id = $2`, k.hash[:], k.admin).Scan(
		&e.sess.ID, &e.sess.CreatedAt, &lastSeen, &e.sess.ExpiresAt, &ip, &e.sess.UserAgent, &e.dead,
		&e.sess.Account.ID, &e.sess.Account.Email, &e.sess.Account.Disabled, &e.sess.Account.CreatedAt,
		&e.sess.Account.UpdatedAt, &e.sess.Account.LastLoginAt, &e.sess.Account.Roles)
	if errors.Is(err, pgx.ErrNoRows) {
		// Not cached: a stream of made-up tokens must not crowd real
		// sessions out of the cache.
		return nil, errUnknownConsoleSession
	}
	if err != nil {
		return nil, err
	}
	if ip != nil {
		e.sess.IP = ip.Addr()
	}
	e.sess.LastSeenAt = lastSeen
	e.lastSeen.Store(lastSeen.UnixNano())
	return e, nil
}

// End signs a session out. Ending an unknown or ended session is not an
// error.
func (s *ConsoleSessions) End(ctx context.Context, token string) error {
	k, ok := parseConsoleToken(token)
	if !ok {
		return nil
	}
	tag, err := s.db.Exec(ctx, `UPDATE admin_sessions SET ended_at = now()
		WHERE token_hash = $1 AND admin_id = $2 AND ended_at IS NULL`, k.hash[:], k.admin)
	if err != nil {
		return err
	}
	if tag.RowsAffected() > 0 {
		notifyConsoleSessionsEnded(ctx, s.pub, k.admin)
	}
	return nil
}

// EndAccount signs an admin out everywhere and returns how many sessions
// were live.
func (s *ConsoleSessions) EndAccount(ctx context.Context, accountID uuid.UUID) (int64, error) {
	n, err := endConsoleSessions(ctx, s.db, accountID)
	if err != nil {
		return 0, err
	}
	notifyConsoleSessionsEnded(ctx, s.pub, accountID)
	return n, nil
}

// List returns an admin's live sessions, newest first.
func (s *ConsoleSessions) List(ctx context.Context, accountID uuid.UUID) ([]ConsoleSession, error) {
	acct, err := scanAccount(s.db.QueryRow(ctx, `SELECT `+accountColumns+` FROM admins a WHERE a.id = $1`, accountID))
	if err != nil {
		return nil, err
	}
	out := []ConsoleSession{}
	if acct.Disabled {
		return out, nil
	}
	now := s.now()
	rows, err := s.db.Query(ctx, `SELECT id, created_at, last_seen_at, expires_at, ip, user_agent FROM admin_sessions
		WHERE admin_id = $1 AND ended_at IS NULL AND expires_at > $2 AND last_seen_at >= $3
		ORDER BY created_at DESC, id DESC`, accountID, now, now.Add(-ConsoleIdleTimeout))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		sess := ConsoleSession{Account: acct}
		var ip *netip.Prefix
		if err := rows.Scan(&sess.ID, &sess.CreatedAt, &sess.LastSeenAt, &sess.ExpiresAt, &ip, &sess.UserAgent); err != nil {
			return nil, err
		}
		if ip != nil {
			sess.IP = ip.Addr()
		}
		out = append(out, sess)
	}
	return out, rows.Err()
}

// Prune deletes sessions past their absolute end for more than a day
// (ended and idle ones reach it within ConsoleAbsoluteTimeout), and
// returns how many went. Every instance may run it.
func (s *ConsoleSessions) Prune(ctx context.Context) (int64, error) {
	var total int64
	for {
		tag, err := s.db.Exec(ctx, `DELETE FROM admin_sessions WHERE id IN (
			SELECT id FROM admin_sessions WHERE expires_at < now() - interval '1 day' LIMIT 5000)`)
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < 5000 {
			return total, nil
		}
	}
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// endConsoleSessions ends every live session of an admin, inside the
// caller's transaction when it has one (Accounts ends them together with
// the change that calls for it).
func endConsoleSessions(ctx context.Context, db execer, accountID uuid.UUID) (int64, error) {
	tag, err := db.Exec(ctx, `UPDATE admin_sessions SET ended_at = now() WHERE admin_id = $1 AND ended_at IS NULL`, accountID)
	return tag.RowsAffected(), err
}

// notifyConsoleSessionsEnded tells every instance to drop an admin's
// cached sessions. It reaches this instance before Publish returns.
func notifyConsoleSessionsEnded(ctx context.Context, pub Publisher, accountID uuid.UUID) {
	if pub != nil {
		_ = pub.Publish(context.WithoutCancel(ctx), TopicConsoleSessionsEnded, accountID.String())
	}
}

// csrfLabel separates the CSRF token from any other value that might one
// day be derived from a session token.
const csrfLabel = "miniauth console csrf v1"

// CSRFToken is the anti-forgery token of a console session: an HMAC of a
// fixed label keyed by the session token. It needs no storage, is the same
// on every instance, and reveals nothing of the session token.
func CSRFToken(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte(csrfLabel))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// CheckCSRF reports, in constant time, whether presented is the CSRF
// token of the session token.
func CheckCSRF(token, presented string) bool {
	if token == "" {
		return false
	}
	return hmac.Equal([]byte(CSRFToken(token)), []byte(presented))
}
