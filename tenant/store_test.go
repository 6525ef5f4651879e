package tenant_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/seal"
)

// storeBundle is one test's tenant store on a fresh database.
type storeBundle struct {
	db     *pgxpool.Pool
	sealer *seal.Sealer
	store  *tenant.Store
}

func setupStore(t *testing.T, pub tenant.Publisher) *storeBundle {
	t.Helper()
	db := dbtest.Pool(t)
	sealer := newSealer(t)
	return &storeBundle{db: db, sealer: sealer, store: tenant.NewStore(db, sealer, pub)}
}

func (b *storeBundle) create(t *testing.T, slug string, change ...func(*tenant.NewTenant)) tenant.Tenant {
	t.Helper()
	n := validNew()
	n.Slug = slug
	n.Name = "Tenant " + slug
	for _, c := range change {
		c(&n)
	}
	ten, err := b.store.Create(context.Background(), n)
	if err != nil {
		t.Fatalf("Create %s: %v", slug, err)
	}
	return ten
}

func (b *storeBundle) keys(t *testing.T, slug string) []tenant.Key {
	t.Helper()
	keys, err := b.store.Keys(context.Background(), slug)
	if err != nil {
		t.Fatalf("Keys %s: %v", slug, err)
	}
	return keys
}

func keysWithStatus(keys []tenant.Key, s tenant.KeyStatus) []tenant.Key {
	var out []tenant.Key
	for _, k := range keys {
		if k.Status == s {
			out = append(out, k)
		}
	}
	return out
}

func TestStoreCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupStore(t, nil)

	t.Run("defaults and key", func(t *testing.T) {
		t.Parallel()
		ten := b.create(t, "create-defaults")
		if ten.ID == 0 || ten.Slug != "create-defaults" || ten.Status != tenant.StatusActive {
			t.Fatalf("created %+v", ten)
		}
		if ten.SigningAlg != tenant.AlgES256 || ten.AccessTTL != 15*time.Minute || ten.RefreshTTL != 30*24*time.Hour {
			t.Fatalf("defaults not applied: %+v", ten)
		}
		if ten.RateLimits == nil || len(ten.RateLimits) != 0 {
			t.Fatalf("RateLimits = %#v, want an empty map", ten.RateLimits)
		}
		if ten.CreatedAt.IsZero() || ten.UpdatedAt.IsZero() {
			t.Fatalf("timestamps not set: %+v", ten)
		}
		keys := b.keys(t, ten.Slug)
		if len(keys) != 1 || keys[0].Status != tenant.KeyActive || keys[0].Alg != tenant.AlgES256 || keys[0].RetireAt != nil {
			t.Fatalf("keys = %+v, want one active ES256 key", keys)
		}
		if keys[0].KID != tenant.Thumbprint(keys[0].Public) {
			t.Fatalf("kid %s is not the key's thumbprint", keys[0].KID)
		}
		got, err := b.store.Get(ctx, ten.Slug)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != ten.ID || got.Name != ten.Name || got.WeChatAppID != ten.WeChatAppID {
			t.Fatalf("Get = %+v, want %+v", got, ten)
		}
	})

	t.Run("rate limits and EdDSA", func(t *testing.T) {
		t.Parallel()
		ten := b.create(t, "create-limits", func(n *tenant.NewTenant) {
			n.SigningAlg = tenant.AlgEdDSA
			n.RateLimits = map[string]*string{"login_per_ip": ptr("5-S"), "api_per_user": nil}
		})
		if want := map[string]string{"login_per_ip": "5-S"}; !maps.Equal(ten.RateLimits, want) {
			t.Fatalf("RateLimits = %v, want %v", ten.RateLimits, want)
		}
		keys := b.keys(t, ten.Slug)
		if len(keys) != 1 || keys[0].Alg != tenant.AlgEdDSA {
			t.Fatalf("keys = %+v, want one EdDSA key", keys)
		}
	})

	t.Run("duplicate slug is ErrConflict", func(t *testing.T) {
		t.Parallel()
		b.create(t, "create-dup")
		n := validNew()
		n.Slug = "create-dup"
		if _, err := b.store.Create(ctx, n); !errors.Is(err, tenant.ErrConflict) {
			t.Fatalf("second Create err = %v, want ErrConflict", err)
		}
		var count int
		if err := b.db.QueryRow(ctx, `SELECT count(*) FROM signing_keys k JOIN tenants t ON t.id = k.tenant_id WHERE t.slug = 'create-dup'`).Scan(&count); err != nil {
			t.Fatal(err)
		}
		if count != 1 {
			t.Fatalf("%d signing keys after a refused duplicate, want 1", count)
		}
	})

	t.Run("invalid input writes nothing", func(t *testing.T) {
		t.Parallel()
		n := validNew()
		n.Slug = "create-invalid"
		n.AccessTTL = time.Second
		_, err := b.store.Create(ctx, n)
		var v *tenant.ValidationError
		if !errors.As(err, &v) {
			t.Fatalf("err = %v, want a ValidationError", err)
		}
		if _, err := b.store.Get(ctx, "create-invalid"); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("Get after refused create: %v, want ErrNotFound", err)
		}
	})

	t.Run("secret is sealed at rest", func(t *testing.T) {
		t.Parallel()
		ten := b.create(t, "create-sealed")
		sealed := sealedSecret(t, b, ten.ID)
		assertSealedSecret(t, b, ten.ID, sealed, validNew().WeChatSecret)
	})
}

func sealedSecret(t *testing.T, b *storeBundle, id int64) []byte {
	t.Helper()
	var sealed []byte
	if err := b.db.QueryRow(context.Background(), `SELECT wechat_secret_sealed FROM tenants WHERE id = $1`, id).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	return sealed
}

func assertSealedSecret(t *testing.T, b *storeBundle, id int64, sealed []byte, plain string) {
	t.Helper()
	if bytes.Contains(sealed, []byte(plain)) {
		t.Fatalf("wechat_secret_sealed contains the plaintext secret")
	}
	if !b.sealer.IsCurrent(sealed) {
		t.Fatalf("secret not sealed under the current master key")
	}
	got, err := b.sealer.Open(sealed, fmt.Sprintf("tenant:%d:wechat_secret", id))
	if err != nil {
		t.Fatalf("open sealed secret: %v", err)
	}
	if string(got) != plain {
		t.Fatalf("sealed secret opens to %q, want %q", got, plain)
	}
	if _, err := b.sealer.Open(sealed, fmt.Sprintf("tenant:%d:wechat_secret", id+1)); err == nil {
		t.Fatal("sealed secret opens under another tenant's context")
	}
}

func TestStoreGetNotFound(t *testing.T) {
	t.Parallel()
	b := setupStore(t, nil)
	for _, slug := range []string{"nope", "", "UPPER"} {
		if _, err := b.store.Get(context.Background(), slug); !errors.Is(err, tenant.ErrNotFound) {
			t.Errorf("Get(%q) err = %v, want ErrNotFound", slug, err)
		}
	}
}

func TestStoreList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupStore(t, nil)
	slugs := []string{"delta", "alpha", "echo", "charlie", "bravo"}
	for _, s := range slugs {
		b.create(t, s)
	}
	slices.Sort(slugs)

	var got []string
	after := ""
	for page := 0; ; page++ {
		if page > len(slugs) {
			t.Fatalf("pagination does not end; got %v", got)
		}
		items, err := b.store.List(ctx, 2, after)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) > 2 {
			t.Fatalf("page %d has %d items, limit 2", page, len(items))
		}
		if len(items) == 0 {
			break
		}
		for _, it := range items {
			got = append(got, it.Slug)
		}
		after = items[len(items)-1].Slug
	}
	if !slices.Equal(got, slugs) {
		t.Fatalf("paged slugs %v, want %v", got, slugs)
	}

	all, err := b.store.List(ctx, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(slugs) {
		t.Fatalf("List(100) returned %d, want %d", len(all), len(slugs))
	}
	rest, err := b.store.List(ctx, 100, "charlie")
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 2 || rest[0].Slug != "delta" || rest[1].Slug != "echo" {
		t.Fatalf("List after charlie = %v", rest)
	}
}

func TestStoreSearch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupStore(t, nil)
	ids := map[string]int64{}
	for slug, name := range map[string]string{
		"shop-a": "Corner Shop", "shop-b": "Big Store", "cafe": "Shop Café", "bar-1": "100% Bar",
	} {
		ids[slug] = b.create(t, slug, func(n *tenant.NewTenant) { n.Name = name }).ID
	}
	slugsOf := func(ts []tenant.Tenant) []string {
		out := []string{}
		for _, t := range ts {
			out = append(out, t.Slug)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		filter tenant.Filter
		limit  int
		after  string
		want   []string
	}{
		{"no filter", tenant.Filter{}, 10, "", []string{"bar-1", "cafe", "shop-a", "shop-b"}},
		{"slug prefix", tenant.Filter{Prefix: "shop"}, 10, "", []string{"cafe", "shop-a", "shop-b"}},
		{"name prefix ignores case", tenant.Filter{Prefix: "BIG s"}, 10, "", []string{"shop-b"}},
		{"not a substring", tenant.Filter{Prefix: "store"}, 10, "", []string{}},
		{"percent is literal", tenant.Filter{Prefix: "100%"}, 10, "", []string{"bar-1"}},
		{"percent is no wildcard", tenant.Filter{Prefix: "%"}, 10, "", []string{}},
		{"underscore is no wildcard", tenant.Filter{Prefix: "bar_"}, 10, "", []string{}},
		{"paged", tenant.Filter{Prefix: "shop"}, 2, "cafe", []string{"shop-a", "shop-b"}},
		{"limit", tenant.Filter{Prefix: "shop"}, 1, "", []string{"cafe"}},
		{"ids", tenant.Filter{IDs: []int64{ids["cafe"], ids["shop-b"]}}, 10, "", []string{"cafe", "shop-b"}},
		{"ids and prefix", tenant.Filter{Prefix: "shop-", IDs: []int64{ids["cafe"], ids["shop-b"]}}, 10, "", []string{"shop-b"}},
		{"no ids", tenant.Filter{IDs: []int64{}}, 10, "", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := b.store.Search(ctx, tc.filter, tc.limit, tc.after)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(slugsOf(got), tc.want) {
				t.Fatalf("Search = %v, want %v", slugsOf(got), tc.want)
			}
		})
	}
}

func TestStoreUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupStore(t, nil)

	t.Run("merges rate limits key by key", func(t *testing.T) {
		t.Parallel()
		b.create(t, "upd-limits", func(n *tenant.NewTenant) {
			n.RateLimits = map[string]*string{"login_per_ip": ptr("10-M"), "refresh_per_ip": ptr("11-M")}
		})
		ten, err := b.store.Update(ctx, "upd-limits", tenant.Patch{RateLimits: map[string]*string{
			"login_per_ip": ptr("1-S"), "refresh_per_ip": nil, "api_per_user": ptr("7-H"),
		}})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"login_per_ip": "1-S", "api_per_user": "7-H"}
		if !maps.Equal(ten.RateLimits, want) {
			t.Fatalf("RateLimits = %v, want %v", ten.RateLimits, want)
		}
		// A patch without rate limits leaves them alone.
		ten, err = b.store.Update(ctx, "upd-limits", tenant.Patch{Name: ptr("Renamed")})
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(ten.RateLimits, want) || ten.Name != "Renamed" {
			t.Fatalf("after name-only patch: %+v", ten)
		}
		got, _ := b.store.Get(ctx, "upd-limits")
		if !maps.Equal(got.RateLimits, want) {
			t.Fatalf("stored RateLimits = %v, want %v", got.RateLimits, want)
		}
	})

	t.Run("status", func(t *testing.T) {
		t.Parallel()
		before := b.create(t, "upd-status")
		ten, err := b.store.Update(ctx, "upd-status", tenant.Patch{Status: ptr(tenant.StatusDisabled)})
		if err != nil {
			t.Fatal(err)
		}
		if ten.Status != tenant.StatusDisabled {
			t.Fatalf("Status = %q", ten.Status)
		}
		if ten.UpdatedAt.Before(before.UpdatedAt) || ten.Name != before.Name || ten.AccessTTL != before.AccessTTL {
			t.Fatalf("update changed more than status: before %+v after %+v", before, ten)
		}
		got, _ := b.store.Get(ctx, "upd-status")
		if got.Status != tenant.StatusDisabled {
			t.Fatalf("stored Status = %q", got.Status)
		}
	})

	t.Run("secret change stays sealed", func(t *testing.T) {
		t.Parallel()
		ten := b.create(t, "upd-secret")
		old := sealedSecret(t, b, ten.ID)
		if _, err := b.store.Update(ctx, "upd-secret", tenant.Patch{WeChatSecret: ptr("the-new-app-secret")}); err != nil {
			t.Fatal(err)
		}
		sealed := sealedSecret(t, b, ten.ID)
		if bytes.Equal(sealed, old) {
			t.Fatal("sealed secret unchanged after a secret change")
		}
		assertSealedSecret(t, b, ten.ID, sealed, "the-new-app-secret")
	})

	t.Run("same alg does not rotate", func(t *testing.T) {
		t.Parallel()
		b.create(t, "upd-same-alg")
		if _, err := b.store.Update(ctx, "upd-same-alg", tenant.Patch{SigningAlg: ptr(tenant.AlgES256)}); err != nil {
			t.Fatal(err)
		}
		if keys := b.keys(t, "upd-same-alg"); len(keys) != 1 {
			t.Fatalf("keys = %+v, want still one", keys)
		}
	})

	t.Run("alg change to EdDSA rotates the key", func(t *testing.T) {
		t.Parallel()
		b.create(t, "upd-alg")
		before := b.keys(t, "upd-alg")
		ten, err := b.store.Update(ctx, "upd-alg", tenant.Patch{SigningAlg: ptr(tenant.AlgEdDSA)})
		if err != nil {
			t.Fatal(err)
		}
		if ten.SigningAlg != tenant.AlgEdDSA {
			t.Fatalf("SigningAlg = %q", ten.SigningAlg)
		}
		keys := b.keys(t, "upd-alg")
		active, retiring := keysWithStatus(keys, tenant.KeyActive), keysWithStatus(keys, tenant.KeyRetiring)
		if len(keys) != 2 || len(active) != 1 || len(retiring) != 1 {
			t.Fatalf("keys = %+v, want one active and one retiring", keys)
		}
		if active[0].Alg != tenant.AlgEdDSA || retiring[0].Alg != tenant.AlgES256 {
			t.Fatalf("active %s retiring %s, want EdDSA and ES256", active[0].Alg, retiring[0].Alg)
		}
		if retiring[0].KID != before[0].KID || active[0].KID == before[0].KID {
			t.Fatalf("old key %s, now active %s retiring %s", before[0].KID, active[0].KID, retiring[0].KID)
		}
	})

	t.Run("invalid patch is refused", func(t *testing.T) {
		t.Parallel()
		b.create(t, "upd-invalid")
		_, err := b.store.Update(ctx, "upd-invalid", tenant.Patch{Status: ptr(tenant.Status("gone")), AccessTTL: ptr(time.Duration(0))})
		if fields := invalidFields(t, err); len(fields) != 2 {
			t.Fatalf("invalid fields %v, want status and access_ttl_seconds", fields)
		}
	})

	t.Run("unknown slug", func(t *testing.T) {
		t.Parallel()
		if _, err := b.store.Update(ctx, "upd-nobody", tenant.Patch{Name: ptr("x")}); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

// retireAt reads a key's retire_at and the created_at of the tenant's active
// key; a rotation sets both with the same transaction's now().
func retireTimes(t *testing.T, b *storeBundle, tenantID int64, oldKID string) (retireAt, activeCreated time.Time) {
	t.Helper()
	ctx := context.Background()
	if err := b.db.QueryRow(ctx, `SELECT retire_at FROM signing_keys WHERE tenant_id = $1 AND kid = $2`, tenantID, oldKID).Scan(&retireAt); err != nil {
		t.Fatal(err)
	}
	if err := b.db.QueryRow(ctx, `SELECT created_at FROM signing_keys WHERE tenant_id = $1 AND status = 'active'`, tenantID).Scan(&activeCreated); err != nil {
		t.Fatal(err)
	}
	return retireAt, activeCreated
}

func TestStoreRotateKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupStore(t, nil)

	t.Run("one active, old one retiring", func(t *testing.T) {
		t.Parallel()
		ten := b.create(t, "rot-basic", func(n *tenant.NewTenant) { n.AccessTTL = 10 * time.Minute })
		first := b.keys(t, ten.Slug)[0]
		started := time.Now()
		k, err := b.store.RotateKey(ctx, ten.Slug)
		if err != nil {
			t.Fatal(err)
		}
		if k.Status != tenant.KeyActive || k.KID == first.KID || k.Alg != tenant.AlgES256 || k.CreatedAt.IsZero() {
			t.Fatalf("rotated key %+v", k)
		}
		keys := b.keys(t, ten.Slug)
		active, retiring := keysWithStatus(keys, tenant.KeyActive), keysWithStatus(keys, tenant.KeyRetiring)
		if len(keys) != 2 || len(active) != 1 || len(retiring) != 1 {
			t.Fatalf("keys = %+v", keys)
		}
		if active[0].KID != k.KID || retiring[0].KID != first.KID {
			t.Fatalf("active %s retiring %s; want %s and %s", active[0].KID, retiring[0].KID, k.KID, first.KID)
		}
		if keys[0].KID != k.KID {
			t.Fatalf("Keys not newest first: %+v", keys)
		}
		if retiring[0].RetireAt == nil {
			t.Fatal("retiring key has no retire_at")
		}
		retireAt, rotatedAt := retireTimes(t, b, ten.ID, first.KID)
		if want := rotatedAt.Add(10*time.Minute + 60*time.Second); !retireAt.Equal(want) {
			t.Fatalf("retire_at = %v, want rotation time + access TTL + 60 s = %v", retireAt, want)
		}
		// Sanity against the wall clock, loosely: the database and this
		// process share a host.
		if d := retireAt.Sub(started); d < 10*time.Minute || d > 12*time.Minute {
			t.Fatalf("retire_at is %v after the rotation began, want ≈ 11m", d)
		}
	})

	t.Run("rotating again keeps exactly one active", func(t *testing.T) {
		t.Parallel()
		ten := b.create(t, "rot-twice")
		for range 3 {
			if _, err := b.store.RotateKey(ctx, ten.Slug); err != nil {
				t.Fatal(err)
			}
		}
		keys := b.keys(t, ten.Slug)
		if len(keys) != 4 || len(keysWithStatus(keys, tenant.KeyActive)) != 1 || len(keysWithStatus(keys, tenant.KeyRetiring)) != 3 {
			t.Fatalf("keys = %+v, want 1 active + 3 retiring", keys)
		}
	})

	t.Run("retire_at covers the longest TTL the key had", func(t *testing.T) {
		t.Parallel()
		ten := b.create(t, "rot-ttl")
		first := b.keys(t, ten.Slug)[0]
		// Tokens signed while the TTL was an hour may still be live after
		// it is lowered again.
		if _, err := b.store.Update(ctx, ten.Slug, tenant.Patch{AccessTTL: ptr(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.Update(ctx, ten.Slug, tenant.Patch{AccessTTL: ptr(2 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.RotateKey(ctx, ten.Slug); err != nil {
			t.Fatal(err)
		}
		retireAt, rotatedAt := retireTimes(t, b, ten.ID, first.KID)
		if want := rotatedAt.Add(time.Hour + time.Minute); !retireAt.Equal(want) {
			t.Fatalf("retire_at = %v, want rotation + 1h + 60s = %v", retireAt, want)
		}
	})

	t.Run("retired once retire_at has passed", func(t *testing.T) {
		t.Parallel()
		ten := b.create(t, "rot-retired")
		first := b.keys(t, ten.Slug)[0]
		if _, err := b.store.RotateKey(ctx, ten.Slug); err != nil {
			t.Fatal(err)
		}
		if _, err := b.db.Exec(ctx, `UPDATE signing_keys SET retire_at = now() - interval '1 second'
			WHERE tenant_id = $1 AND kid = $2`, ten.ID, first.KID); err != nil {
			t.Fatal(err)
		}
		keys := b.keys(t, ten.Slug)
		if retired := keysWithStatus(keys, tenant.KeyRetired); len(retired) != 1 || retired[0].KID != first.KID {
			t.Fatalf("keys = %+v, want %s retired", keys, first.KID)
		}
		if len(keysWithStatus(keys, tenant.KeyActive)) != 1 || len(keysWithStatus(keys, tenant.KeyRetiring)) != 0 {
			t.Fatalf("keys = %+v", keys)
		}
	})

	t.Run("unknown slug", func(t *testing.T) {
		t.Parallel()
		if _, err := b.store.RotateKey(ctx, "rot-nobody"); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("RotateKey err = %v, want ErrNotFound", err)
		}
		if _, err := b.store.Keys(ctx, "rot-nobody"); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("Keys err = %v, want ErrNotFound", err)
		}
	})
}

// storedKey is a signing key's row as stored, not as keyColumns derives it.
type storedKey struct {
	status string
	sealed []byte
}

func readKey(t *testing.T, b *storeBundle, tenantID int64, kid string) storedKey {
	t.Helper()
	var k storedKey
	if err := b.db.QueryRow(context.Background(), `SELECT status, private_key_sealed FROM signing_keys
		WHERE tenant_id = $1 AND kid = $2`, tenantID, kid).Scan(&k.status, &k.sealed); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestStoreRetireKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupDirectory(t)
	var mu sync.Mutex
	var published []string
	b.feed.Subscribe(tenant.TopicTenant, func(slug string) {
		mu.Lock()
		defer mu.Unlock()
		published = append(published, slug)
	})
	takePublished := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := published
		published = nil
		return out
	}
	rotate := func(slug string) tenant.Key {
		t.Helper()
		k, err := b.store.RotateKey(ctx, slug)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}

	// retire-due: due (retiring, retire_at passed), notDue (retiring), active.
	ten := b.create(t, "retire-due")
	due := b.keys(t, ten.Slug)[0].KID
	notDue := rotate(ten.Slug).KID
	active := rotate(ten.Slug).KID
	// retire-later: only a retiring key not yet due.
	later := b.create(t, "retire-later")
	laterKID := b.keys(t, later.Slug)[0].KID
	rotate(later.Slug)

	// An instance caches the tenant while the key is still published...
	if rt := b.lookup(t, ten.Slug); !strings.Contains(string(rt.JWKS), due) {
		t.Fatalf("JWKS before retire_at lacks the retiring key: %s", rt.JWKS)
	}
	// ...then retire_at passes.
	if _, err := b.db.Exec(ctx, `UPDATE signing_keys SET retire_at = now() - interval '1 second'
		WHERE tenant_id = $1 AND kid = $2`, ten.ID, due); err != nil {
		t.Fatal(err)
	}
	before := map[string]storedKey{
		notDue: readKey(t, b.storeBundle, ten.ID, notDue), active: readKey(t, b.storeBundle, ten.ID, active),
		laterKID: readKey(t, b.storeBundle, later.ID, laterKID),
	}
	takePublished()

	n, err := b.store.RetireKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("RetireKeys retired %d keys, want 1", n)
	}

	t.Run("the due key is retired and its private half wiped", func(t *testing.T) {
		k := readKey(t, b.storeBundle, ten.ID, due)
		if k.status != string(tenant.KeyRetired) || len(k.sealed) != 0 {
			t.Fatalf("due key stored as %s with %d sealed bytes, want retired with none", k.status, len(k.sealed))
		}
		keys := b.keys(t, ten.Slug)
		for kid, want := range map[string]tenant.KeyStatus{due: tenant.KeyRetired, notDue: tenant.KeyRetiring, active: tenant.KeyActive} {
			i := slices.IndexFunc(keys, func(k tenant.Key) bool { return k.KID == kid })
			if i < 0 || keys[i].Status != want {
				t.Errorf("Keys lists %s as %+v, want %s", kid, keys, want)
			}
		}
	})

	t.Run("other keys are untouched", func(t *testing.T) {
		for kid, tenantID := range map[string]int64{notDue: ten.ID, active: ten.ID, laterKID: later.ID} {
			got := readKey(t, b.storeBundle, tenantID, kid)
			if got.status != before[kid].status || !bytes.Equal(got.sealed, before[kid].sealed) {
				t.Errorf("key %s changed: %s -> %s, sealed equal %v", kid, before[kid].status, got.status,
					bytes.Equal(got.sealed, before[kid].sealed))
			}
		}
	})

	t.Run("the tenant's notice drops the key from cached JWKS", func(t *testing.T) {
		if got := takePublished(); !slices.Equal(got, []string{ten.Slug}) {
			t.Fatalf("published %q, want only %q", got, ten.Slug)
		}
		rt := b.lookup(t, ten.Slug)
		if strings.Contains(string(rt.JWKS), due) {
			t.Fatalf("retired key still in JWKS: %s", rt.JWKS)
		}
		if rt.Signing.KID != active || !strings.Contains(string(rt.JWKS), notDue) {
			t.Fatalf("signing %s / JWKS %s: want %s signing and %s still published", rt.Signing.KID, rt.JWKS, active, notDue)
		}
	})

	t.Run("running again changes and publishes nothing", func(t *testing.T) {
		n, err := b.store.RetireKeys(ctx)
		if err != nil || n != 0 {
			t.Fatalf("second RetireKeys = %d, %v; want 0", n, err)
		}
		if got := takePublished(); len(got) != 0 {
			t.Fatalf("second RetireKeys published %q", got)
		}
	})
}

func TestStoreDeleteCascades(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupStore(t, nil)
	ten := b.create(t, "del-me")
	keep := b.create(t, "del-keep")

	for _, id := range []int64{ten.ID, keep.ID} {
		var uid string
		if err := b.db.QueryRow(ctx, `INSERT INTO users (tenant_id, id, openid) VALUES ($1, gen_random_uuid(), 'openid-1')
			RETURNING id`, id).Scan(&uid); err != nil {
			t.Fatal(err)
		}
		var sid string
		if err := b.db.QueryRow(ctx, `INSERT INTO sessions (id, tenant_id, user_id, expires_at)
			VALUES (gen_random_uuid(), $1, $2, now() + interval '1 day') RETURNING id`, id, uid).Scan(&sid); err != nil {
			t.Fatal(err)
		}
		if _, err := b.db.Exec(ctx, `INSERT INTO refresh_tokens (token_hash, tenant_id, session_id, expires_at)
			VALUES (gen_random_uuid()::text::bytea, $1, $2, now() + interval '1 day')`, id, sid); err != nil {
			t.Fatal(err)
		}
	}

	if err := b.store.Delete(ctx, "del-me"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.Get(ctx, "del-me"); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	for _, table := range []string{"users", "sessions", "refresh_tokens", "signing_keys"} {
		var gone, kept int
		if err := b.db.QueryRow(ctx, `SELECT count(*) FILTER (WHERE tenant_id = $1), count(*) FILTER (WHERE tenant_id = $2) FROM `+table,
			ten.ID, keep.ID).Scan(&gone, &kept); err != nil {
			t.Fatal(err)
		}
		if gone != 0 {
			t.Errorf("%s: %d rows of the deleted tenant remain", table, gone)
		}
		if kept == 0 {
			t.Errorf("%s: the other tenant's rows were deleted too", table)
		}
	}
	if err := b.store.Delete(ctx, "del-me"); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("second Delete err = %v, want ErrNotFound", err)
	}
}

// recordingPublisher remembers what the store published.
type recordingPublisher struct {
	ch chan string
}

func (p *recordingPublisher) Publish(_ context.Context, topic, payload string) error {
	p.ch <- topic + "/" + payload
	return nil
}

func TestStorePublishesEveryChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pub := &recordingPublisher{ch: make(chan string, 10)}
	b := setupStore(t, pub)
	expect := func(step string) {
		t.Helper()
		select {
		case got := <-pub.ch:
			if got != tenant.TopicTenant+"/pub-me" {
				t.Fatalf("%s published %q", step, got)
			}
		default:
			t.Fatalf("%s published nothing", step)
		}
	}
	b.create(t, "pub-me")
	expect("Create")
	if _, err := b.store.Update(ctx, "pub-me", tenant.Patch{Status: ptr(tenant.StatusDisabled)}); err != nil {
		t.Fatal(err)
	}
	expect("Update")
	if _, err := b.store.RotateKey(ctx, "pub-me"); err != nil {
		t.Fatal(err)
	}
	expect("RotateKey")
	if err := b.store.Delete(ctx, "pub-me"); err != nil {
		t.Fatal(err)
	}
	expect("Delete")
	// A refused change publishes nothing.
	if _, err := b.store.Update(ctx, "pub-me", tenant.Patch{Name: ptr("x")}); err == nil {
		t.Fatal("Update of a deleted tenant succeeded")
	}
	select {
	case got := <-pub.ch:
		t.Fatalf("failed Update published %q", got)
	default:
	}
}

// newSealer seals under a fresh random master key.
func newSealer(t testing.TB) *seal.Sealer {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	s, err := seal.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
