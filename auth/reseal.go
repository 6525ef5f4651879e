package auth

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/tenant/seal"
)

// ResealSessionKeys re-encrypts, in batches, every stored WeChat session
// key not sealed under the current master key; it returns how many it
// rewrote. Values that no longer open (their master key is gone) are
// cleared: the next login stores a fresh one.
func ResealSessionKeys(ctx context.Context, db *pgxpool.Pool, sealer *seal.Sealer) (int, error) {
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
