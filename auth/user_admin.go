package auth

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/tenant"
)

// Users is the operators' side of a tenant's users, as the management API
// and the console use it: search, look up, erase, and end their sessions.
type Users struct {
	db       *pgxpool.Pool
	sessions *Sessions
}

// NewUsers returns the operators' user operations.
func NewUsers(db *pgxpool.Pool, sessions *Sessions) *Users { return &Users{db: db, sessions: sessions} }

// UserFilter selects users of one tenant.
type UserFilter struct {
	// Query matches a prefix of the openid, unionid, phone or nickname
	// (case-insensitive for the nickname).
	Query  string
	Status string
	// Before is the keyset cursor: only users with a smaller id. Ids are
	// UUIDv7, so this is newest first, and stable under concurrent inserts.
	Before *uuid.UUID
	Limit  int
}

// List returns one page of a tenant's users, newest first.
func (s *Users) List(ctx context.Context, tenantID int64, f UserFilter) ([]User, error) {
	args := []any{tenantID, f.Limit}
	and := ""
	if f.Status != "" {
		args = append(args, f.Status)
		and += " AND status = $" + strconv.Itoa(len(args))
	}
	if f.Before != nil {
		args = append(args, *f.Before)
		and += " AND id < $" + strconv.Itoa(len(args))
	}
	sql := `SELECT ` + UserColumns + ` FROM users WHERE tenant_id = $1` + and + ` ORDER BY id DESC LIMIT $2`
	if f.Query != "" {
		args = append(args, likePrefix(f.Query), likePrefix(strings.ToLower(f.Query)))
		q, lq := "$"+strconv.Itoa(len(args)-1), "$"+strconv.Itoa(len(args))
		// One branch per field, each that field's newest matches: the
		// planner chooses per field between walking the id index (a common
		// prefix) and reading the prefix index alone and sorting the ids
		// (a rare one). For an OR of four fields it must pick one plan for
		// all, and near the crossover both are slow.
		branch := func(cond string) string {
			return `(SELECT id FROM users WHERE tenant_id = $1 AND ` + cond + and + ` ORDER BY id DESC LIMIT $2)`
		}
		sql = `SELECT ` + UserColumns + ` FROM users WHERE tenant_id = $1 AND id IN (` +
			branch("openid LIKE "+q) + ` UNION ALL ` + branch("unionid LIKE "+q) + ` UNION ALL ` +
			branch("phone LIKE "+q) + ` UNION ALL ` + branch("lower(nickname) LIKE "+lq) +
			`) ORDER BY id DESC LIMIT $2`
	}
	rows, err := s.db.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, ScanUser)
}

// Get returns one user of a tenant.
func (s *Users) Get(ctx context.Context, tenantID int64, id uuid.UUID) (User, error) {
	return ScanUser(s.db.QueryRow(ctx, `SELECT `+UserColumns+` FROM users WHERE tenant_id = $1 AND id = $2`, tenantID, id))
}

// Erase deletes a user with every session and refresh token,
// irreversibly, and cuts off their live access tokens on every instance.
func (s *Users) Erase(ctx context.Context, tenantID int64, id uuid.UUID) error {
	// The tenant's user count (user_counts, see Stats) loses the user in
	// the same statement, so an erasure is never lost from it.
	tag, err := s.db.Exec(ctx, `
		WITH gone AS (DELETE FROM users WHERE tenant_id = $1 AND id = $2 RETURNING tenant_id)
		INSERT INTO user_counts (tenant_id, n) SELECT tenant_id, -1 FROM gone
		ON CONFLICT (tenant_id) DO UPDATE SET n = user_counts.n - 1`, tenantID, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrUserNotFound
	}
	s.sessions.NotifyUser(ctx, tenantID, id)
	return nil
}

// RevokeSessions ends every session of a user; it returns how many
// were live.
func (s *Users) RevokeSessions(ctx context.Context, tenantID int64, id uuid.UUID) (int64, error) {
	if _, err := s.Get(ctx, tenantID, id); err != nil {
		return 0, err
	}
	return s.sessions.RevokeUser(ctx, tenantID, id, "revoked_by_admin")
}

// User statuses. A disabled user cannot log in or refresh
// (ErrUserDisabled) until enabled again.
const (
	UserActive   = "active"
	UserDisabled = "disabled"
)

// SetStatus enables or disables a user and returns it before and after
// the change. Disabling also ends every session of the user, so access
// tokens already issued stop working on every instance; enabling leaves
// them ended, and the user logs in again. Setting the status a user
// already has changes nothing, except that disabling still ends any
// session left live.
func (s *Users) SetStatus(ctx context.Context, tenantID int64, id uuid.UUID, status string) (before, after User, err error) {
	if status != UserActive && status != UserDisabled {
		return User{}, User{}, tenant.Invalid("status", "must be active or disabled")
	}
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// The row lock orders this against a login of the same user, whose
		// upsert locks the row too: the login either sees the new status
		// or has committed its session before the revocation below.
		before, err = ScanUser(tx.QueryRow(ctx, `SELECT `+UserColumns+` FROM users
			WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenantID, id))
		if err != nil {
			return err
		}
		after = before
		if before.Status != status {
			after, err = ScanUser(tx.QueryRow(ctx, `UPDATE users SET status = $3, updated_at = now()
				WHERE tenant_id = $1 AND id = $2 RETURNING `+UserColumns, tenantID, id, status))
			if err != nil {
				return err
			}
		}
		if status == UserDisabled {
			_, err = revokeUserSessions(ctx, tx, tenantID, id, "user_disabled")
		}
		return err
	})
	if err != nil {
		return User{}, User{}, err
	}
	if status == UserDisabled {
		s.sessions.NotifyUser(ctx, tenantID, id)
	}
	return before, after, nil
}

// likePrefix escapes LIKE metacharacters and appends the wildcard.
func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s) + "%"
}

// SessionInfo is one live session of a user, as operators see it.
type SessionInfo struct {
	ID        uuid.UUID
	CreatedAt time.Time
	// LastUsedAt is the last refresh, or the login for a session never
	// refreshed.
	LastUsedAt time.Time
	ExpiresAt  time.Time
	IP         string // "" when unknown
	UserAgent  string
	// Client is SessionMiniProgram, or SessionWeb for a session that scan
	// to sign in on the web opened.
	Client string
}

// Clients a session is issued to (sessions.client).
const (
	SessionMiniProgram = "miniprogram"
	SessionWeb         = "web"
)

// ErrSessionNotFound means the user has no live session with that id.
var ErrSessionNotFound = fmt.Errorf("session %w", tenant.ErrNotFound)

// Sessions returns a user's live sessions (not revoked, not expired),
// most recently used first, at most limit of them.
func (s *Users) Sessions(ctx context.Context, tenantID int64, userID uuid.UUID, limit int) ([]SessionInfo, error) {
	rows, err := s.db.Query(ctx, `SELECT id, created_at, COALESCE(refreshed_at, created_at), expires_at, COALESCE(host(ip), ''), COALESCE(user_agent, ''), client
		FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now()
		ORDER BY COALESCE(refreshed_at, created_at) DESC, id DESC LIMIT $3`, tenantID, userID, limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(row pgx.Row) (SessionInfo, error) {
		var si SessionInfo
		err := row.Scan(&si.ID, &si.CreatedAt, &si.LastUsedAt, &si.ExpiresAt, &si.IP, &si.UserAgent, &si.Client)
		return si, err
	})
}

// RevokeSession ends one live session of a user, on every instance.
func (s *Users) RevokeSession(ctx context.Context, tenantID int64, userID, sid uuid.UUID) error {
	var live bool
	err := s.db.QueryRow(ctx, `SELECT revoked_at IS NULL AND expires_at > now() FROM sessions
		WHERE id = $1 AND tenant_id = $2 AND user_id = $3`, sid, tenantID, userID).Scan(&live)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !live) {
		return ErrSessionNotFound
	}
	if err != nil {
		return err
	}
	return s.sessions.Revoke(ctx, tenantID, userID, sid, "revoked_by_admin")
}
