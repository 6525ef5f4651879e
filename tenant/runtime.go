package tenant

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"time"
)

// VerifyKey is a public key a token may be verified with, until NotAfter
// (zero for the active key).
type VerifyKey struct {
	Alg      string
	Public   crypto.PublicKey
	NotAfter time.Time
}

// Runtime is a tenant as request paths need it: its settings, its opened
// AppSecret and key ring. It is immutable once loaded; a change replaces it.
type Runtime struct {
	Tenant
	Secret  string
	Signing SigningKey
	Verify  map[string]VerifyKey
	JWKS    []byte
}

// VerifyKeyFor returns the key with this kid if it may verify tokens at now.
func (r *Runtime) VerifyKeyFor(kid string, now time.Time) (VerifyKey, bool) {
	k, ok := r.Verify[kid]
	if !ok || (!k.NotAfter.IsZero() && !now.Before(k.NotAfter)) {
		return VerifyKey{}, false
	}
	return k, true
}

// loadRuntime reads a tenant with its secret and usable keys, and opens them.
func (s *Store) loadRuntime(ctx context.Context, slug string) (*Runtime, error) {
	var rt Runtime
	var sealedSecret []byte
	row := s.db.QueryRow(ctx, `SELECT `+tenantColumns+`, wechat_secret_sealed FROM tenants WHERE slug = $1`, slug)
	var err error
	rt.Tenant, err = scanTenantWith(row, &sealedSecret)
	if err != nil {
		return nil, err
	}
	secret, err := s.sealer.Open(sealedSecret, secretContext(rt.ID))
	if err != nil {
		return nil, fmt.Errorf("tenant %s: wechat secret: %w", slug, err)
	}
	rt.Secret = string(secret)

	rows, err := s.db.Query(ctx, `SELECT kid, alg, status, public_key, private_key_sealed, retire_at
		FROM signing_keys WHERE tenant_id = $1 AND (status = 'active' OR (status = 'retiring' AND retire_at > now()))`, rt.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	rt.Verify = map[string]VerifyKey{}
	var jwks struct {
		Keys []JWK `json:"keys"`
	}
	for rows.Next() {
		var kid, alg string
		var status KeyStatus
		var pubDER, sealedPriv []byte
		var retireAt *time.Time
		if err := rows.Scan(&kid, &alg, &status, &pubDER, &sealedPriv, &retireAt); err != nil {
			return nil, err
		}
		pub, err := parsePublic(pubDER)
		if err != nil {
			return nil, fmt.Errorf("tenant %s key %s: %w", slug, kid, err)
		}
		vk := VerifyKey{Alg: alg, Public: pub}
		if retireAt != nil {
			vk.NotAfter = *retireAt
		}
		rt.Verify[kid] = vk
		jwks.Keys = append(jwks.Keys, PublicJWK(kid, alg, pub))
		if status == KeyActive {
			der, err := s.sealer.Open(sealedPriv, keyContext(rt.ID, kid))
			if err != nil {
				return nil, fmt.Errorf("tenant %s key %s: %w", slug, kid, err)
			}
			priv, err := parsePrivate(der)
			if err != nil {
				return nil, fmt.Errorf("tenant %s key %s: %w", slug, kid, err)
			}
			rt.Signing = SigningKey{KID: kid, Alg: alg, Private: priv}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if rt.Signing.Private == nil {
		return nil, fmt.Errorf("tenant %s has no active signing key", slug)
	}
	rt.JWKS, err = json.Marshal(jwks)
	if err != nil {
		return nil, err
	}
	return &rt, nil
}
