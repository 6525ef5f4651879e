package auth

import (
	"context"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/tenant"
)

// UserFilter selects users of one tenant for the management API.
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

// ListUsers returns one page of a tenant's users, newest first.
func (s *Service) ListUsers(ctx context.Context, tenantID int64, f UserFilter) ([]User, error) {
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
	defer rows.Close()
	out := []User{}
	for rows.Next() {
		u, err := ScanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// GetUser returns one user of a tenant.
func (s *Service) GetUser(ctx context.Context, tenantID int64, id uuid.UUID) (User, error) {
	return ScanUser(s.db.QueryRow(ctx, `SELECT `+UserColumns+` FROM users WHERE tenant_id = $1 AND id = $2`, tenantID, id))
}

// EraseUser deletes a user with every session and refresh token,
// irreversibly, and cuts off their live access tokens on every instance.
func (s *Service) EraseUser(ctx context.Context, tenantID int64, id uuid.UUID) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM users WHERE tenant_id = $1 AND id = $2`, tenantID, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrUserNotFound
	}
	s.sessions.NotifyUser(ctx, tenantID, id)
	return nil
}

// RevokeUserSessions ends every session of a user; it returns how many
// were live.
func (s *Service) RevokeUserSessions(ctx context.Context, tenantID int64, id uuid.UUID) (int64, error) {
	if _, err := s.GetUser(ctx, tenantID, id); err != nil {
		return 0, err
	}
	return s.sessions.RevokeUser(ctx, tenantID, id, "revoked_by_admin")
}

// likePrefix escapes LIKE metacharacters and appends the wildcard.
func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s) + "%"
}

// ResealSessionKeys re-encrypts, in batches, every stored WeChat session
// key not sealed under the current master key; it returns how many it
// rewrote. Values that no longer open (their master key is gone) are
// cleared: the next login stores a fresh one.
func ResealSessionKeys(ctx context.Context, db *pgxpool.Pool, sealer *tenant.Sealer) (int, error) {
	n := 0
	var afterTenant int64
	var afterID uuid.UUID
	for {
		rows, err := db.Query(ctx, `SELECT tenant_id, id, openid, session_key_sealed FROM users
			WHERE session_key_sealed IS NOT NULL AND (tenant_id, id) > ($1, $2)
			ORDER BY tenant_id, id LIMIT 1000`, afterTenant, afterID)
		if err != nil {
			return n, err
		}
		type row struct {
			tenant int64
			id     uuid.UUID
			openid string
			value  []byte
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var v row
			return v, r.Scan(&v.tenant, &v.id, &v.openid, &v.value)
		})
		if err != nil {
			return n, err
		}
		if len(batch) == 0 {
			return n, nil
		}
		for _, v := range batch {
			afterTenant, afterID = v.tenant, v.id
			if sealer.IsCurrent(v.value) {
				continue
			}
			var out []byte
			if out, err = sealer.Reseal(v.value, sessionKeyContext(v.tenant, v.openid)); err != nil {
				out = nil
			}
			if _, err := db.Exec(ctx, `UPDATE users SET session_key_sealed = $3 WHERE tenant_id = $1 AND id = $2`,
				v.tenant, v.id, out); err != nil {
				return n, err
			}
			n++
		}
	}
}
