// Package admin is platform administration: management API keys, roles and
// (in its subpackages) the management REST API and the web console.
package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/tenant"
)

// Role of an admin account or API key.
type Role string

const (
	RolePlatformAdmin  Role = "platform_admin"
	RoleTenantAdmin    Role = "tenant_admin"
	RoleTenantOperator Role = "tenant_operator"
	RoleTenantViewer   Role = "tenant_viewer"
)

// Roles lists every role.
var Roles = []Role{RolePlatformAdmin, RoleTenantAdmin, RoleTenantOperator, RoleTenantViewer}

// ParseRole validates a role name.
func ParseRole(s string) (Role, bool) {
	for _, r := range Roles {
		if string(r) == s {
			return r, true
		}
	}
	return "", false
}

// TenantScoped reports whether the role belongs to exactly one tenant.
func (r Role) TenantScoped() bool { return r != RolePlatformAdmin }

// APIKeyPrefix starts every API key, so secret scanners can spot leaked ones.
const APIKeyPrefix = "mak_"

// ErrUnauthorized means no valid API key was presented.
var ErrUnauthorized = errors.New("unauthorized")

// APIKey is a management API key; the key itself is never stored, only its
// SHA-256 (it has 256 bits of entropy, so a slow hash adds nothing).
type APIKey struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Role       Role       `json:"role"`
	Tenant     *string    `json:"tenant"`
	TenantID   *int64     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

// APIKeys is the SQL store of API keys.
type APIKeys struct {
	db *pgxpool.Pool
}

// NewAPIKeys returns the store.
func NewAPIKeys(db *pgxpool.Pool) *APIKeys { return &APIKeys{db: db} }

func hashKey(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

// Create makes a key and returns it with its plaintext, shown only once.
func (s *APIKeys) Create(ctx context.Context, name string, role Role, tenantSlug string) (APIKey, string, error) {
	var v tenant.ValidationError
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 || !tenant.Storable(name) {
		v.Fields = append(v.Fields, tenant.FieldError{Field: "name", Message: "must be 1-100 characters"})
	}
	if _, ok := ParseRole(string(role)); !ok {
		v.Fields = append(v.Fields, tenant.FieldError{Field: "role", Message: "must be one of platform_admin, tenant_admin, tenant_operator, tenant_viewer"})
	} else if role.TenantScoped() != (tenantSlug != "") {
		v.Fields = append(v.Fields, tenant.FieldError{Field: "tenant", Message: "is required for tenant roles and not allowed for platform_admin"})
	}
	if len(v.Fields) > 0 {
		return APIKey{}, "", &v
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return APIKey{}, "", err
	}
	plain := APIKeyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	id, err := uuid.NewV7()
	if err != nil {
		return APIKey{}, "", err
	}
	k, err := scanAPIKey(s.db.QueryRow(ctx, `
		WITH t AS (SELECT id, slug FROM tenants WHERE slug = $4)
		INSERT INTO api_keys (id, name, role, tenant_id, key_hash)
		SELECT $1, $2, $3, (SELECT id FROM t), $5
		WHERE $4 = '' OR EXISTS (SELECT 1 FROM t)
		RETURNING `+apiKeyColumns, id, name, role, tenantSlug, hashKey(plain)))
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, "", &tenant.ValidationError{Fields: []tenant.FieldError{{Field: "tenant", Message: "no tenant has this slug"}}}
	}
	if err != nil {
		return APIKey{}, "", err
	}
	return k, plain, nil
}

const apiKeyColumns = `id, name, role, tenant_id,
	(SELECT slug FROM tenants WHERE tenants.id = api_keys.tenant_id), created_at, last_used_at`

func scanAPIKey(row pgx.Row) (APIKey, error) {
	var k APIKey
	err := row.Scan(&k.ID, &k.Name, &k.Role, &k.TenantID, &k.Tenant, &k.CreatedAt, &k.LastUsedAt)
	return k, err
}

// Authenticate finds the live key matching plain.
func (s *APIKeys) Authenticate(ctx context.Context, plain string) (APIKey, error) {
	if !strings.HasPrefix(plain, APIKeyPrefix) || len(plain) > 100 {
		return APIKey{}, ErrUnauthorized
	}
	// last_used_at is written at most once a minute per key, so a busy
	// integrator does not turn every read into a write.
	k, err := scanAPIKey(s.db.QueryRow(ctx, `
		WITH hit AS (SELECT id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL),
		touched AS (UPDATE api_keys SET last_used_at = now()
			WHERE id = (SELECT id FROM hit) AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute'))
		SELECT `+apiKeyColumns+` FROM api_keys WHERE id = (SELECT id FROM hit)`, hashKey(plain)))
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, ErrUnauthorized
	}
	return k, err
}

// List returns keys newest first, of one tenant when tenantID is set,
// before the cursor id.
func (s *APIKeys) List(ctx context.Context, tenantID *int64, limit int, before *uuid.UUID) ([]APIKey, error) {
	rows, err := s.db.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys
		WHERE revoked_at IS NULL AND ($1::bigint IS NULL OR tenant_id = $1) AND ($3::uuid IS NULL OR id < $3)
		ORDER BY id DESC LIMIT $2`, tenantID, limit, before)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []APIKey{}
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// Get returns a live key by id.
func (s *APIKeys) Get(ctx context.Context, id uuid.UUID) (APIKey, error) {
	k, err := scanAPIKey(s.db.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1 AND revoked_at IS NULL`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, tenant.ErrNotFound
	}
	return k, err
}

// Revoke disables a key at once; its hash stays for the audit trail.
func (s *APIKeys) Revoke(ctx context.Context, id uuid.UUID) error {
	tag, err := s.db.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return tenant.ErrNotFound
	}
	return nil
}

// APIKeyCreated is the audit entry of a new key; the key itself is never
// in it.
func APIKeyCreated(k APIKey) Event {
	return Event{Action: "apikey.create", TenantID: k.TenantID, TenantSlug: deref(k.Tenant), TargetType: "apikey",
		TargetID: k.ID.String(), Diff: Diff(nil, map[string]any{"name": k.Name, "role": k.Role, "tenant": k.Tenant})}
}

// APIKeyRevoked is the audit entry of a revoked key.
func APIKeyRevoked(k APIKey) Event {
	return Event{Action: "apikey.revoke", TenantID: k.TenantID, TenantSlug: deref(k.Tenant), TargetType: "apikey",
		TargetID: k.ID.String()}
}
