package tenant

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/tenant/seal"
)

// TopicTenant is the change topic a tenant's slug is published on after any
// change to it, its keys or its limits.
const TopicTenant = "tenant"

// Publisher tells every instance that something changed (see tenant/changes).
type Publisher interface {
	Publish(ctx context.Context, topic, payload string) error
}

// Store is the SQL store of tenants and their signing keys.
type Store struct {
	db     *pgxpool.Pool
	sealer *seal.Sealer
	pub    Publisher
}

// NewStore returns a store; pub may be nil when nothing caches tenants.
func NewStore(db *pgxpool.Pool, sealer *seal.Sealer, pub Publisher) *Store {
	return &Store{db: db, sealer: sealer, pub: pub}
}

const tenantColumns = `id, slug, name, status, wechat_appid, signing_alg,
	access_ttl_seconds, refresh_ttl_seconds, rate_limits, coalesce(unionid_group, ''), show_linked_tenants,
	qr_login_page, created_at, updated_at`

func scanTenant(row pgx.Row) (Tenant, error) { return scanTenantWith(row) }

// scanTenantWith scans tenantColumns followed by extra columns.
func scanTenantWith(row pgx.Row, extra ...any) (Tenant, error) {
	var t Tenant
	var access, refresh int
	var limits []byte
	dest := append([]any{&t.ID, &t.Slug, &t.Name, &t.Status, &t.WeChatAppID, &t.SigningAlg,
		&access, &refresh, &limits, &t.UnionIDGroup, &t.ShowLinkedTenants, &t.QRLoginPage,
		&t.CreatedAt, &t.UpdatedAt}, extra...)
	err := row.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	if err != nil {
		return t, err
	}
	t.AccessTTL = time.Duration(access) * time.Second
	t.RefreshTTL = time.Duration(refresh) * time.Second
	if err := json.Unmarshal(limits, &t.RateLimits); err != nil {
		return t, fmt.Errorf("tenant %s: rate_limits: %w", t.Slug, err)
	}
	if t.RateLimits == nil {
		t.RateLimits = map[string]string{}
	}
	return t, nil
}

// Create inserts a tenant and its first signing key in one transaction.
func (s *Store) Create(ctx context.Context, n NewTenant) (Tenant, error) {
	if err := n.Normalize(); err != nil {
		return Tenant{}, err
	}
	limits, _ := json.Marshal(mergeRateLimits(nil, n.RateLimits))
	var t Tenant
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var err error
		t, err = scanTenant(tx.QueryRow(ctx, `
			INSERT INTO tenants (slug, name, wechat_appid, wechat_secret_sealed, signing_alg,
				access_ttl_seconds, refresh_ttl_seconds, rate_limits, unionid_group, show_linked_tenants, qr_login_page)
			VALUES ($1, $2, $3, '\x'::bytea, $4, $5, $6, $7, NULLIF($8, ''), $9, $10)
			RETURNING `+tenantColumns,
			n.Slug, n.Name, n.WeChatAppID, n.SigningAlg,
			int(n.AccessTTL.Seconds()), int(n.RefreshTTL.Seconds()), limits,
			n.UnionIDGroup, n.ShowLinkedTenants, n.QRLoginPage))
		if err != nil {
			return err
		}
		// The sealed secret is bound to the tenant id, known only now.
		if err := s.setSecret(ctx, tx, t.ID, n.WeChatSecret); err != nil {
			return err
		}
		_, err = s.insertKey(ctx, tx, t)
		return err
	})
	if err != nil {
		return Tenant{}, translate(err)
	}
	s.publish(ctx, t.Slug)
	return t, nil
}

func (s *Store) setSecret(ctx context.Context, tx pgx.Tx, tenantID int64, secret string) error {
	sealed, err := s.sealer.Seal([]byte(secret), secretContext(tenantID))
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE tenants SET wechat_secret_sealed = $2 WHERE id = $1`, tenantID, sealed)
	return err
}

// Get returns the tenant with this slug.
func (s *Store) Get(ctx context.Context, slug string) (Tenant, error) {
	return scanTenant(s.db.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE slug = $1`, slug))
}

// List returns up to limit tenants ordered by slug, after the cursor slug.
func (s *Store) List(ctx context.Context, limit int, after string) ([]Tenant, error) {
	return s.Search(ctx, Filter{}, limit, after)
}

// Filter narrows a list of tenants.
type Filter struct {
	// Prefix matches the start of the slug or of the name, ignoring case.
	Prefix string
	// IDs, when not nil, keeps only these tenants (an empty slice keeps none).
	IDs []int64
}

// Search returns up to limit tenants that pass f, ordered by slug, after
// the cursor slug.
func (s *Store) Search(ctx context.Context, f Filter, limit int, after string) ([]Tenant, error) {
	if f.IDs != nil && len(f.IDs) == 0 {
		return nil, nil
	}
	rows, err := s.db.Query(ctx, `SELECT `+tenantColumns+` FROM tenants
		WHERE slug > $1
			AND ($3 = '' OR lower(slug) LIKE $3 || '%' ESCAPE '\' OR lower(name) LIKE $3 || '%' ESCAPE '\')
			AND ($4::bigint[] IS NULL OR id = ANY($4))
		ORDER BY slug LIMIT $2`, after, limit, likePrefix(f.Prefix), f.IDs)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// likePrefix lower-cases a search prefix and escapes LIKE's wildcards.
func likePrefix(p string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(strings.TrimSpace(p)))
}

// Update applies a patch. Changing the signing algorithm rotates the key,
// since a key has exactly one algorithm.
func (s *Store) Update(ctx context.Context, slug string, p Patch) (Tenant, error) {
	if err := p.Validate(); err != nil {
		return Tenant{}, err
	}
	var t Tenant
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		cur, err := scanTenant(tx.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE slug = $1 FOR UPDATE`, slug))
		if err != nil {
			return err
		}
		next := cur
		if p.Name != nil {
			next.Name = *p.Name
		}
		if p.Status != nil {
			next.Status = *p.Status
		}
		if p.WeChatAppID != nil {
			next.WeChatAppID = *p.WeChatAppID
		}
		if p.SigningAlg != nil {
			next.SigningAlg = *p.SigningAlg
		}
		if p.AccessTTL != nil {
			next.AccessTTL = *p.AccessTTL
		}
		if p.RefreshTTL != nil {
			next.RefreshTTL = *p.RefreshTTL
		}
		if p.UnionIDGroup != nil {
			next.UnionIDGroup = *p.UnionIDGroup
		}
		if p.ShowLinkedTenants != nil {
			next.ShowLinkedTenants = *p.ShowLinkedTenants
		}
		if p.QRLoginPage != nil {
			next.QRLoginPage = *p.QRLoginPage
		}
		next.RateLimits = mergeRateLimits(cur.RateLimits, p.RateLimits)
		limits, _ := json.Marshal(next.RateLimits)
		t, err = scanTenant(tx.QueryRow(ctx, `
			UPDATE tenants SET name = $2, status = $3, wechat_appid = $4, signing_alg = $5,
				access_ttl_seconds = $6, refresh_ttl_seconds = $7, rate_limits = $8,
				unionid_group = NULLIF($9, ''), show_linked_tenants = $10, qr_login_page = $11, updated_at = now()
			WHERE id = $1 RETURNING `+tenantColumns,
			cur.ID, next.Name, next.Status, next.WeChatAppID, next.SigningAlg,
			int(next.AccessTTL.Seconds()), int(next.RefreshTTL.Seconds()), limits,
			next.UnionIDGroup, next.ShowLinkedTenants, next.QRLoginPage))
		if err != nil {
			return err
		}
		if p.WeChatSecret != nil {
			if err := s.setSecret(ctx, tx, t.ID, *p.WeChatSecret); err != nil {
				return err
			}
		}
		// Tokens signed by the active key may now live longer; the key must
		// stay published at least that long once it retires.
		if _, err := tx.Exec(ctx, `UPDATE signing_keys
			SET max_access_ttl_seconds = greatest(max_access_ttl_seconds, $2)
			WHERE tenant_id = $1 AND status = 'active'`, t.ID, int(t.AccessTTL.Seconds())); err != nil {
			return err
		}
		if t.SigningAlg != cur.SigningAlg {
			if _, err := s.rotate(ctx, tx, t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Tenant{}, translate(err)
	}
	s.publish(ctx, slug)
	return t, nil
}

// Delete removes a tenant with its users, sessions and keys.
func (s *Store) Delete(ctx context.Context, slug string) error {
	tag, err := s.db.Exec(ctx, `DELETE FROM tenants WHERE slug = $1`, slug)
	if err != nil {
		return translate(err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	s.publish(ctx, slug)
	return nil
}

// keyColumns derives "retired" from retire_at, so a key past it shows as
// retired before RetireKeys has run.
const keyColumns = `kid, alg,
	CASE WHEN status = 'retiring' AND retire_at <= now() THEN 'retired' ELSE status END,
	public_key, created_at, retire_at`

// Keys lists a tenant's signing keys, newest first.
func (s *Store) Keys(ctx context.Context, slug string) ([]Key, error) {
	rows, err := s.db.Query(ctx, `SELECT `+keyColumns+` FROM signing_keys
		WHERE tenant_id = (SELECT id FROM tenants WHERE slug = $1)
		ORDER BY created_at DESC, kid`, slug)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		var k Key
		var der []byte
		if err := rows.Scan(&k.KID, &k.Alg, &k.Status, &der, &k.CreatedAt, &k.RetireAt); err != nil {
			return nil, err
		}
		if k.Public, err = parsePublic(der); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		if _, err := s.Get(ctx, slug); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RetireKeys retires the retiring keys whose retire_at has passed, and
// wipes their sealed private halves: a retired key never signs or verifies
// again, so it should not stay at rest. Listings already call such a key
// retired (keyColumns covers the time until this runs); the notice makes
// every instance drop it from its cached JWKS now rather than when its
// cache ages out. Every instance runs it; a key is retired, and announced,
// by whichever update takes its row first. It returns how many keys it
// retired.
func (s *Store) RetireKeys(ctx context.Context) (int64, error) {
	rows, err := s.db.Query(ctx, `UPDATE signing_keys k SET status = 'retired', private_key_sealed = '\x'::bytea
		FROM tenants t
		WHERE t.id = k.tenant_id AND k.status = 'retiring' AND k.retire_at <= now()
		RETURNING t.slug`)
	if err != nil {
		return 0, err
	}
	slugs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, err
	}
	n := int64(len(slugs))
	slices.Sort(slugs)
	for _, slug := range slices.Compact(slugs) {
		s.publish(ctx, slug)
	}
	return n, nil
}

// RotateKey makes a new active key; the previous one retires once every
// token it can have signed has expired.
func (s *Store) RotateKey(ctx context.Context, slug string) (Key, error) {
	var k Key
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		t, err := scanTenant(tx.QueryRow(ctx, `SELECT `+tenantColumns+` FROM tenants WHERE slug = $1 FOR UPDATE`, slug))
		if err != nil {
			return err
		}
		k, err = s.rotate(ctx, tx, t)
		return err
	})
	if err != nil {
		return Key{}, translate(err)
	}
	s.publish(ctx, slug)
	return k, nil
}

func (s *Store) rotate(ctx context.Context, tx pgx.Tx, t Tenant) (Key, error) {
	// A minute of slack covers clock skew between instances and verifiers.
	if _, err := tx.Exec(ctx, `UPDATE signing_keys SET status = 'retiring',
		retire_at = now() + make_interval(secs => max_access_ttl_seconds + 60)
		WHERE tenant_id = $1 AND status = 'active'`, t.ID); err != nil {
		return Key{}, err
	}
	return s.insertKey(ctx, tx, t)
}

func (s *Store) insertKey(ctx context.Context, tx pgx.Tx, t Tenant) (Key, error) {
	kid, priv, err := generateKey(t.SigningAlg)
	if err != nil {
		return Key{}, err
	}
	pub, err := marshalPublic(priv.Public())
	if err != nil {
		return Key{}, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Key{}, err
	}
	sealed, err := s.sealer.Seal(der, keyContext(t.ID, kid))
	if err != nil {
		return Key{}, err
	}
	k := Key{KID: kid, Alg: t.SigningAlg, Status: KeyActive, Public: priv.Public()}
	err = tx.QueryRow(ctx, `INSERT INTO signing_keys
		(tenant_id, kid, alg, status, public_key, private_key_sealed, max_access_ttl_seconds)
		VALUES ($1, $2, $3, 'active', $4, $5, $6) RETURNING created_at`,
		t.ID, kid, t.SigningAlg, pub, sealed, int(t.AccessTTL.Seconds())).Scan(&k.CreatedAt)
	return k, err
}

func (s *Store) publish(ctx context.Context, slug string) {
	if s.pub != nil {
		// A lost notice is covered by the directory's bounded cache age.
		_ = s.pub.Publish(context.WithoutCancel(ctx), TopicTenant, slug)
	}
}

// translate maps driver errors to the domain's.
func translate(err error) error {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23505" {
		return ErrConflict
	}
	return err
}

// Reseal re-encrypts every tenant secret and signing key not sealed under
// the current master key, so an old master key can be retired once this
// (and auth's session-key reseal) has run. It returns how many values it
// rewrote.
func (s *Store) Reseal(ctx context.Context) (int, error) {
	n := 0
	rows, err := s.db.Query(ctx, `SELECT id, wechat_secret_sealed FROM tenants`)
	if err != nil {
		return 0, err
	}
	type sealed struct {
		id    int64
		kid   string
		value []byte
	}
	secrets, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sealed, error) {
		var v sealed
		return v, r.Scan(&v.id, &v.value)
	})
	if err != nil {
		return 0, err
	}
	for _, v := range secrets {
		if s.sealer.IsCurrent(v.value) {
			continue
		}
		out, err := s.sealer.Reseal(v.value, secretContext(v.id))
		if err != nil {
			return n, fmt.Errorf("tenant %d secret: %w", v.id, err)
		}
		if _, err := s.db.Exec(ctx, `UPDATE tenants SET wechat_secret_sealed = $2 WHERE id = $1`, v.id, out); err != nil {
			return n, err
		}
		n++
	}
	rows, err = s.db.Query(ctx, `SELECT tenant_id, kid, private_key_sealed FROM signing_keys WHERE status <> 'retired'`)
	if err != nil {
		return n, err
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sealed, error) {
		var v sealed
		return v, r.Scan(&v.id, &v.kid, &v.value)
	})
	if err != nil {
		return n, err
	}
	for _, v := range keys {
		if s.sealer.IsCurrent(v.value) {
			continue
		}
		out, err := s.sealer.Reseal(v.value, keyContext(v.id, v.kid))
		if err != nil {
			return n, fmt.Errorf("tenant %d key %s: %w", v.id, v.kid, err)
		}
		// A key RetireKeys wiped meanwhile must stay wiped.
		if _, err := s.db.Exec(ctx, `UPDATE signing_keys SET private_key_sealed = $3
			WHERE tenant_id = $1 AND kid = $2 AND status <> 'retired'`, v.id, v.kid, out); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
