package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// banStore is the SQL of bans. Tenant 0 is the platform: its bans have a
// NULL tenant_id.
type banStore struct {
	db *pgxpool.Pool
}

var errAlreadyBanned = errors.New("already banned")

const banColumns = `id, tenant_id, kind, target, reason, expires_at, created_at, created_by`

func scanBan(row pgx.Row) (Ban, error) {
	var b Ban
	err := row.Scan(&b.ID, &b.TenantID, &b.Kind, &b.Target, &b.Reason, &b.ExpiresAt, &b.CreatedAt, &b.CreatedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, ErrBanNotFound
	}
	return b, err
}

// inScope is the SQL condition "col belongs to this tenant's bans" (tenant
// 0: the platform's), written so an index on col can serve it; param is
// the placeholder bound to nullTenant(tenantID).
func inScope(col, param string, tenantID int64) string {
	if tenantID == 0 {
		return col + " IS NULL AND " + param + "::bigint IS NULL"
	}
	return col + " = " + param
}

func nullTenant(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// live reads the bans in force in one tenant (0: the platform's), with the
// user each openid ban resolves to.
func (s banStore) live(ctx context.Context, tenantID int64) (*banSet, error) {
	set := newBanSet()
	rows, err := s.db.Query(ctx, `
		SELECT b.kind, b.target, b.expires_at, u.id
		FROM bans b LEFT JOIN users u ON b.kind = 'openid' AND u.tenant_id = b.tenant_id AND u.openid = b.target
		WHERE `+inScope("b.tenant_id", "$1", tenantID)+` AND (b.expires_at IS NULL OR b.expires_at > now())`, nullTenant(tenantID))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var kind, target string
		var expires *time.Time
		var uid *uuid.UUID
		if err := rows.Scan(&kind, &target, &expires, &uid); err != nil {
			return nil, err
		}
		set.add(kind, target, expires, uid)
	}
	return set, rows.Err()
}

func (s banStore) userExists(ctx context.Context, tenantID int64, id string) (bool, error) {
	var exists bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2::uuid)`, tenantID, id).Scan(&exists)
	return exists, err
}

// insert stores b. With unlessBanned it first serialises on the target, so
// of racing automatic bans the first inserts and the rest get
// errAlreadyBanned.
func (s banStore) insert(ctx context.Context, b *Ban, unlessBanned bool) error {
	var tenantID int64
	if b.TenantID != nil {
		tenantID = *b.TenantID
	}
	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if unlessBanned {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
				fmt.Sprintf("ban:%d:%s:%s", tenantID, b.Kind, b.Target)); err != nil {
				return err
			}
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bans WHERE `+inScope("tenant_id", "$1", tenantID)+`
				AND kind = $2 AND target = $3 AND (expires_at IS NULL OR expires_at > now()))`,
				b.TenantID, b.Kind, b.Target).Scan(&exists); err != nil {
				return err
			}
			if exists {
				return errAlreadyBanned
			}
		}
		return tx.QueryRow(ctx, `INSERT INTO bans (id, tenant_id, kind, target, reason, expires_at, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at`,
			b.ID, b.TenantID, b.Kind, b.Target, b.Reason, b.ExpiresAt, b.CreatedBy).Scan(&b.CreatedAt)
	})
}

// coveredUser is the user a user or openid ban covers, if it exists.
func (s banStore) coveredUser(ctx context.Context, tenantID int64, kind, target string) (uuid.UUID, bool, error) {
	q := `SELECT id FROM users WHERE tenant_id = $1 AND id = $2::uuid`
	if kind == BanOpenID {
		q = `SELECT id FROM users WHERE tenant_id = $1 AND openid = $2`
	}
	var uid uuid.UUID
	err := s.db.QueryRow(ctx, q, tenantID, target).Scan(&uid)
	if errors.Is(err, pgx.ErrNoRows) {
		return uuid.Nil, false, nil
	}
	return uid, err == nil, err
}

// revokeInRange ends the live sessions that logged in from an address in
// the CIDR, in one tenant (0: every tenant), and reports how many.
func (s banStore) revokeInRange(ctx context.Context, tenantID int64, cidr string) (int64, error) {
	tag, err := s.db.Exec(ctx, `UPDATE sessions SET revoked_at = now(), revoke_reason = 'banned'
		WHERE ($1::bigint IS NULL OR tenant_id = $1) AND ip <<= $2::cidr AND revoked_at IS NULL`,
		nullTenant(tenantID), cidr)
	return tag.RowsAffected(), err
}

func (s banStore) delete(ctx context.Context, tenantID int64, id uuid.UUID) (Ban, error) {
	return scanBan(s.db.QueryRow(ctx, `DELETE FROM bans WHERE id = $1 AND `+inScope("tenant_id", "$2", tenantID)+`
		RETURNING `+banColumns, id, nullTenant(tenantID)))
}

// list reads a page of bans, of one kind unless kind is "".
func (s banStore) list(ctx context.Context, tenantID int64, kind string, limit int, before *uuid.UUID) ([]Ban, error) {
	rows, err := s.db.Query(ctx, `SELECT `+banColumns+` FROM bans
		WHERE `+inScope("tenant_id", "$1", tenantID)+` AND ($3::uuid IS NULL OR id < $3) AND ($4 = '' OR kind = $4)
		ORDER BY id DESC LIMIT $2`, nullTenant(tenantID), limit, before, kind)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanBan)
}

// userBans is the condition "a ban in force on user $2 with openid $3 in
// tenant $1".
const userBans = `tenant_id = $1 AND ((kind = 'user' AND target = $2) OR (kind = 'openid' AND target = $3))
	AND (expires_at IS NULL OR expires_at > now())`

func (s banStore) ofUser(ctx context.Context, tenantID int64, userID uuid.UUID, openID string) ([]Ban, error) {
	rows, err := s.db.Query(ctx, `SELECT `+banColumns+` FROM bans WHERE `+userBans+` ORDER BY id DESC LIMIT 50`,
		tenantID, userID.String(), openID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanBan)
}

func (s banStore) deleteOfUser(ctx context.Context, tenantID int64, userID uuid.UUID, openID string) ([]Ban, error) {
	rows, err := s.db.Query(ctx, `DELETE FROM bans WHERE `+userBans+` RETURNING `+banColumns,
		tenantID, userID.String(), openID)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanBan)
}
