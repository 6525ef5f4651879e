package auth

import (
	"context"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
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

// likePrefix escapes LIKE metacharacters and appends the wildcard.
func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s) + "%"
}
