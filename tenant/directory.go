package tenant

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// Changes is the cross-instance change feed (tenant/changes.Bus).
type Changes interface {
	Subscribe(topic string, fn func(payload string))
	OnReset(fn func())
	Healthy() bool
}

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

// Directory serves Runtimes from a local cache. Every change to a tenant is
// published by the store and evicts the entry on every instance; while the
// change feed is down the cache is bypassed, and entries never outlive
// maxAge, so a missed notice cannot keep a disabled tenant alive for long.
type Directory struct {
	store   *Store
	changes Changes
	maxAge  time.Duration
	now     func() time.Time

	mu      sync.RWMutex
	gen     uint64 // bumped by every invalidation
	entries map[string]dirEntry
	loads   singleflight.Group
}

type dirEntry struct {
	rt  *Runtime
	err error
	at  time.Time
}

const maxDirectoryEntries = 50_000

// NewDirectory wires a directory to the store and the change feed.
func NewDirectory(store *Store, changes Changes) *Directory {
	d := &Directory{store: store, changes: changes, maxAge: 30 * time.Second, now: time.Now, entries: map[string]dirEntry{}}
	if changes != nil {
		changes.Subscribe(TopicTenant, d.Invalidate)
		changes.OnReset(d.Flush)
	}
	return d
}

// Lookup returns the runtime tenant for slug, or ErrNotFound. Unknown slugs
// are cached too, so a flood of bogus slugs does not reach Postgres.
func (d *Directory) Lookup(ctx context.Context, slug string) (*Runtime, error) {
	if !ValidSlug(slug) {
		return nil, ErrNotFound
	}
	trusted := d.changes == nil || d.changes.Healthy()
	if trusted {
		d.mu.RLock()
		e, ok := d.entries[slug]
		d.mu.RUnlock()
		if ok && d.now().Sub(e.at) < d.maxAge {
			return e.rt, e.err
		}
	}
	d.mu.RLock()
	gen := d.gen
	d.mu.RUnlock()
	// The generation is part of the key, so a lookup that starts after an
	// invalidation never joins a load that began before it.
	v, err, _ := d.loads.Do(slug+"\x00"+strconv.FormatUint(gen, 10), func() (any, error) {
		at := d.now()
		rt, err := d.store.loadRuntime(context.WithoutCancel(ctx), slug)
		if err != nil && err != ErrNotFound {
			return nil, err
		}
		// A load that raced an invalidation may have read the old row:
		// answer with it, but do not cache it.
		d.mu.Lock()
		if d.gen == gen {
			// Unknown slugs are cached too, so the map is bounded: a flood
			// of made-up slugs costs a reload of the real ones, not memory.
			if len(d.entries) >= maxDirectoryEntries {
				d.entries = map[string]dirEntry{}
			}
			d.entries[slug] = dirEntry{rt: rt, err: err, at: at}
		}
		d.mu.Unlock()
		return rt, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*Runtime), nil
}

// Invalidate drops one tenant's entry.
func (d *Directory) Invalidate(slug string) {
	d.mu.Lock()
	d.gen++
	delete(d.entries, slug)
	d.mu.Unlock()
}

// Flush drops every entry, e.g. after the change feed reconnects and
// notices may have been missed.
func (d *Directory) Flush() {
	d.mu.Lock()
	d.gen++
	d.entries = map[string]dirEntry{}
	d.mu.Unlock()
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
