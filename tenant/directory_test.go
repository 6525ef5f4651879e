package tenant_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/cache"
	"github.com/miniauth/miniauth/tenant/changes"
	"github.com/miniauth/miniauth/tenant/changes/changestest"
)

type dirBundle struct {
	*storeBundle
	feed *changestest.Feed
	dir  *tenant.Directory
}

func setupDirectory(t *testing.T) *dirBundle {
	t.Helper()
	feed := changestest.New()
	sb := setupStore(t, feed)
	return &dirBundle{storeBundle: sb, feed: feed, dir: tenant.NewDirectory(sb.store, feed)}
}

func (b *dirBundle) lookup(t *testing.T, slug string) *tenant.Runtime {
	t.Helper()
	rt, err := b.dir.Lookup(context.Background(), slug)
	if err != nil {
		t.Fatalf("Lookup %s: %v", slug, err)
	}
	return rt
}

// renameInSQL changes a tenant behind the store's back, so nothing is
// published: only a cache miss can see the new name.
func (b *dirBundle) renameInSQL(t *testing.T, slug, name string) {
	t.Helper()
	if _, err := b.db.Exec(context.Background(), `UPDATE tenants SET name = $2 WHERE slug = $1`, slug, name); err != nil {
		t.Fatal(err)
	}
}

func TestDirectoryLookupRuntime(t *testing.T) {
	t.Parallel()
	b := setupDirectory(t)
	ten := b.create(t, "dir-runtime")
	rt := b.lookup(t, "dir-runtime")

	if rt.ID != ten.ID || rt.Slug != ten.Slug || rt.Name != ten.Name || rt.AccessTTL != ten.AccessTTL {
		t.Fatalf("runtime tenant %+v, want %+v", rt.Tenant, ten)
	}
	if rt.Secret != validNew().WeChatSecret {
		t.Fatalf("Secret = %q, want the opened AppSecret", rt.Secret)
	}
	keys := b.keys(t, "dir-runtime")
	if rt.Signing.KID != keys[0].KID || rt.Signing.Alg != tenant.AlgES256 || rt.Signing.Private == nil {
		t.Fatalf("Signing = %+v, want the active key %s", rt.Signing, keys[0].KID)
	}
	vk, ok := rt.VerifyKeyFor(keys[0].KID, time.Now().Add(100*365*24*time.Hour))
	if !ok || vk.Alg != tenant.AlgES256 || !vk.NotAfter.IsZero() {
		t.Fatalf("active key not usable for verification: %+v %v", vk, ok)
	}

	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(rt.JWKS, &jwks); err != nil {
		t.Fatalf("JWKS %s: %v", rt.JWKS, err)
	}
	if len(jwks.Keys) != 1 || jwks.Keys[0]["kid"] != keys[0].KID || jwks.Keys[0]["alg"] != "ES256" ||
		jwks.Keys[0]["kty"] != "EC" || jwks.Keys[0]["crv"] != "P-256" || jwks.Keys[0]["use"] != "sig" {
		t.Fatalf("JWKS = %s", rt.JWKS)
	}
	if _, private := jwks.Keys[0]["d"]; private {
		t.Fatal("JWKS carries the private member d")
	}
}

func TestDirectoryCaches(t *testing.T) {
	t.Parallel()

	t.Run("second lookup does not hit the database", func(t *testing.T) {
		t.Parallel()
		b := setupDirectory(t)
		b.create(t, "dir-cache")
		first := b.lookup(t, "dir-cache")
		b.renameInSQL(t, "dir-cache", "Renamed in SQL")
		second := b.lookup(t, "dir-cache")
		if second.Name != first.Name {
			t.Fatalf("second Lookup Name = %q, want the cached %q", second.Name, first.Name)
		}
		if second != first {
			t.Fatal("second Lookup returned a different Runtime; want the cached one")
		}
	})

	t.Run("Invalidate reloads one tenant", func(t *testing.T) {
		t.Parallel()
		b := setupDirectory(t)
		b.create(t, "dir-inv-a")
		b.create(t, "dir-inv-b")
		b.lookup(t, "dir-inv-a")
		b.lookup(t, "dir-inv-b")
		b.renameInSQL(t, "dir-inv-a", "A2")
		b.renameInSQL(t, "dir-inv-b", "B2")
		b.dir.Invalidate("dir-inv-a")
		if got := b.lookup(t, "dir-inv-a").Name; got != "A2" {
			t.Fatalf("after Invalidate Name = %q, want A2", got)
		}
		if got := b.lookup(t, "dir-inv-b").Name; got == "B2" {
			t.Fatal("Invalidate of a dropped another tenant's entry too")
		}
	})

	t.Run("Flush reloads every tenant", func(t *testing.T) {
		t.Parallel()
		b := setupDirectory(t)
		b.create(t, "dir-flush-a")
		b.create(t, "dir-flush-b")
		b.lookup(t, "dir-flush-a")
		b.lookup(t, "dir-flush-b")
		b.renameInSQL(t, "dir-flush-a", "A2")
		b.renameInSQL(t, "dir-flush-b", "B2")
		b.dir.Flush()
		if a, bb := b.lookup(t, "dir-flush-a").Name, b.lookup(t, "dir-flush-b").Name; a != "A2" || bb != "B2" {
			t.Fatalf("after Flush names %q, %q; want A2, B2", a, bb)
		}
	})

	t.Run("a feed reset flushes", func(t *testing.T) {
		t.Parallel()
		b := setupDirectory(t)
		b.create(t, "dir-reset")
		b.lookup(t, "dir-reset")
		b.renameInSQL(t, "dir-reset", "After reset")
		b.feed.Reset()
		if got := b.lookup(t, "dir-reset").Name; got != "After reset" {
			t.Fatalf("after reset Name = %q", got)
		}
	})

	t.Run("store changes invalidate through the feed", func(t *testing.T) {
		t.Parallel()
		b := setupDirectory(t)
		b.create(t, "dir-pub")
		if b.lookup(t, "dir-pub").Status != tenant.StatusActive {
			t.Fatal("new tenant not active")
		}
		if _, err := b.store.Update(context.Background(), "dir-pub", tenant.Patch{Status: ptr(tenant.StatusDisabled)}); err != nil {
			t.Fatal(err)
		}
		if got := b.lookup(t, "dir-pub").Status; got != tenant.StatusDisabled {
			t.Fatalf("after Update Status = %q, want disabled", got)
		}
		if err := b.store.Delete(context.Background(), "dir-pub"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.dir.Lookup(context.Background(), "dir-pub"); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("after Delete Lookup err = %v, want ErrNotFound", err)
		}
	})

	t.Run("unhealthy feed serves entries only up to the propagation bound", func(t *testing.T) {
		t.Parallel()
		feed := changestest.New()
		sb := setupStore(t, feed)
		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		b := &dirBundle{storeBundle: sb, feed: feed, dir: tenant.NewDirectoryWithClock(sb.store, feed, clock)}
		b.create(t, "dir-unhealthy")
		b.lookup(t, "dir-unhealthy")
		b.feed.SetHealthy(false)
		b.renameInSQL(t, "dir-unhealthy", "Fresh")
		// Young enough: served from the cache although notices may be lost.
		advance(cache.Propagation / 4)
		if got := b.lookup(t, "dir-unhealthy").Name; got == "Fresh" {
			t.Fatal("unhealthy feed: a young entry was reloaded; want it served")
		}
		// Past half the bound: still served, and refreshed in the background.
		advance(cache.Propagation / 2)
		if got := b.lookup(t, "dir-unhealthy").Name; got == "Fresh" {
			t.Fatal("unhealthy feed: an entry past half the bound was not served while it refreshed")
		}
		deadline := time.Now().Add(5 * time.Second)
		for b.lookup(t, "dir-unhealthy").Name != "Fresh" {
			if time.Now().After(deadline) {
				t.Fatal("the background refresh never replaced the entry")
			}
			time.Sleep(5 * time.Millisecond)
		}
		// Past the bound: never served; the lookup waits for Postgres.
		b.renameInSQL(t, "dir-unhealthy", "Fresher")
		advance(cache.Propagation)
		if got := b.lookup(t, "dir-unhealthy").Name; got != "Fresher" {
			t.Fatalf("unhealthy feed, entry past the bound: Name = %q, want Fresher", got)
		}
	})
}

func TestDirectoryNegativeCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("invalid slugs are not found", func(t *testing.T) {
		t.Parallel()
		b := setupDirectory(t)
		for _, slug := range []string{"", "A", "-x-", strings.Repeat("a", 41), "a/../b"} {
			if rt, err := b.dir.Lookup(ctx, slug); !errors.Is(err, tenant.ErrNotFound) || rt != nil {
				t.Errorf("Lookup(%q) = %v, %v; want nil, ErrNotFound", slug, rt, err)
			}
		}
	})

	t.Run("unknown slug is cached until invalidated", func(t *testing.T) {
		t.Parallel()
		b := setupDirectory(t)
		if rt, err := b.dir.Lookup(ctx, "dir-later"); !errors.Is(err, tenant.ErrNotFound) || rt != nil {
			t.Fatalf("Lookup = %v, %v; want nil, ErrNotFound", rt, err)
		}
		// Created behind the feed's back: the negative entry stands.
		quiet := tenant.NewStore(b.db, b.sealer, nil)
		n := validNew()
		n.Slug = "dir-later"
		if _, err := quiet.Create(ctx, n); err != nil {
			t.Fatal(err)
		}
		if _, err := b.dir.Lookup(ctx, "dir-later"); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("Lookup after an unpublished create: %v, want the cached ErrNotFound", err)
		}
		b.dir.Invalidate("dir-later")
		if rt, err := b.dir.Lookup(ctx, "dir-later"); err != nil || rt.Slug != "dir-later" {
			t.Fatalf("Lookup after Invalidate = %v, %v", rt, err)
		}
	})

	t.Run("create invalidates through the feed", func(t *testing.T) {
		t.Parallel()
		b := setupDirectory(t)
		if _, err := b.dir.Lookup(ctx, "dir-created"); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("Lookup err = %v, want ErrNotFound", err)
		}
		b.create(t, "dir-created")
		if rt, err := b.dir.Lookup(ctx, "dir-created"); err != nil || rt.Slug != "dir-created" {
			t.Fatalf("Lookup after Create = %v, %v", rt, err)
		}
	})
}

func TestDirectoryWithRedisBus(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rdb, prefix := dbtest.Redis(t)
	log := slog.New(slog.DiscardHandler)

	// Two instances: one changes tenants, the other only reads them.
	writerBus := changes.New(rdb, prefix, log)
	readerBus := changes.New(rdb, prefix, log)
	db := dbtest.Pool(t)
	sealer := newSealer(t)
	writer := tenant.NewStore(db, sealer, writerBus)
	reader := tenant.NewDirectory(tenant.NewStore(db, sealer, readerBus), readerBus)

	var wg sync.WaitGroup
	for _, bus := range []*changes.Bus{writerBus, readerBus} {
		wg.Add(1)
		go func() { defer wg.Done(); bus.Run(ctx) }()
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	waitFor(t, "both buses healthy", func() bool { return writerBus.Healthy() && readerBus.Healthy() })

	if _, err := reader.Lookup(ctx, "bus-tenant"); !errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("Lookup err = %v, want ErrNotFound", err)
	}
	n := validNew()
	n.Slug = "bus-tenant"
	if _, err := writer.Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "create to reach the other instance", func() bool {
		_, err := reader.Lookup(ctx, "bus-tenant")
		return err == nil
	})

	if _, err := writer.Update(ctx, "bus-tenant", tenant.Patch{Status: ptr(tenant.StatusDisabled)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "disable to reach the other instance", func() bool {
		rt, err := reader.Lookup(ctx, "bus-tenant")
		return err == nil && rt.Status == tenant.StatusDisabled
	})
}

// waitFor polls cond until it holds; the deadline only bounds a failing
// test, it asserts nothing about speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDirectoryRetiringKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupDirectory(t)
	ten := b.create(t, "dir-keys")
	old := b.lookup(t, "dir-keys").Signing.KID
	k, err := b.store.RotateKey(ctx, "dir-keys")
	if err != nil {
		t.Fatal(err)
	}

	rt := b.lookup(t, "dir-keys")
	if rt.Signing.KID != k.KID {
		t.Fatalf("after rotation signing kid %s, want the new %s", rt.Signing.KID, k.KID)
	}
	if len(rt.Verify) != 2 || !strings.Contains(string(rt.JWKS), old) || !strings.Contains(string(rt.JWKS), k.KID) {
		t.Fatalf("Verify %v / JWKS %s: want both keys", rt.Verify, rt.JWKS)
	}
	vk := rt.Verify[old]
	if vk.NotAfter.IsZero() {
		t.Fatal("retiring key has no NotAfter")
	}
	if _, ok := rt.VerifyKeyFor(old, time.Now()); !ok {
		t.Fatal("retiring key not usable before its retire_at")
	}
	if _, ok := rt.VerifyKeyFor(old, vk.NotAfter.Add(-time.Nanosecond)); !ok {
		t.Fatal("retiring key not usable just before its retire_at")
	}
	for _, at := range []time.Time{vk.NotAfter, vk.NotAfter.Add(time.Second)} {
		if _, ok := rt.VerifyKeyFor(old, at); ok {
			t.Fatalf("retiring key usable at %v, its retire_at is %v", at, vk.NotAfter)
		}
	}
	if _, ok := rt.VerifyKeyFor(k.KID, vk.NotAfter.Add(time.Hour)); !ok {
		t.Fatal("active key not usable")
	}
	if _, ok := rt.VerifyKeyFor("no-such-kid", time.Now()); ok {
		t.Fatal("unknown kid usable")
	}
	if _, ok := rt.VerifyKeyFor("", time.Now()); ok {
		t.Fatal("empty kid usable")
	}

	// Once retire_at has passed the key is neither loaded nor published.
	if _, err := b.db.Exec(ctx, `UPDATE signing_keys SET retire_at = now() - interval '1 second'
		WHERE tenant_id = $1 AND kid = $2`, ten.ID, old); err != nil {
		t.Fatal(err)
	}
	b.dir.Invalidate("dir-keys")
	rt = b.lookup(t, "dir-keys")
	if _, ok := rt.Verify[old]; ok || len(rt.Verify) != 1 {
		t.Fatalf("retired key still in Verify: %v", rt.Verify)
	}
	if strings.Contains(string(rt.JWKS), old) {
		t.Fatalf("retired key still in JWKS: %s", rt.JWKS)
	}
	if _, ok := rt.VerifyKeyFor(old, time.Now()); ok {
		t.Fatal("retired key usable")
	}
}

// TestDirectoryInvalidateDuringLoad: a change that lands while a load is
// in flight must not leave the pre-change Runtime cached. The load reads the
// tenant row, then waits on signing_keys (held by an exclusive lock here);
// meanwhile the tenant is disabled and the notice (or a feed reset) arrives.
// When the load finishes, the next Lookup must see the disabled tenant.
func TestDirectoryInvalidateDuringLoad(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		notify func(b *dirBundle, slug string)
	}{
		{"tenant notice", func(b *dirBundle, slug string) {
			if err := b.feed.Publish(context.Background(), tenant.TopicTenant, slug); err != nil {
				t.Error(err)
			}
		}},
		{"feed reset", func(b *dirBundle, _ string) { b.feed.Reset() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setupDirectory(t)
			b.create(t, "dir-race")

			lockTx, err := b.db.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer lockTx.Rollback(ctx) //nolint:errcheck
			if _, err := lockTx.Exec(ctx, `LOCK TABLE signing_keys IN ACCESS EXCLUSIVE MODE`); err != nil {
				t.Fatal(err)
			}

			type result struct {
				rt  *tenant.Runtime
				err error
			}
			loaded := make(chan result, 1)
			go func() {
				rt, err := b.dir.Lookup(ctx, "dir-race")
				loaded <- result{rt, err}
			}()
			// The load has read tenants and now waits for the lock on signing_keys.
			waitFor(t, "the load to block on signing_keys", func() bool {
				var waiting bool
				err := b.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FROM signing_keys%')`).Scan(&waiting)
				return err == nil && waiting
			})

			// The change: committed, then announced.
			if _, err := b.db.Exec(ctx, `UPDATE tenants SET status = 'disabled' WHERE slug = 'dir-race'`); err != nil {
				t.Fatal(err)
			}
			tc.notify(b, "dir-race")

			if err := lockTx.Rollback(ctx); err != nil {
				t.Fatal(err)
			}
			r := <-loaded
			if r.err != nil {
				t.Fatalf("in-flight Lookup: %v", r.err)
			}
			if r.rt.Status != tenant.StatusActive {
				t.Fatalf("in-flight Lookup saw %q: the load did not read the row before the change, so this test proves nothing", r.rt.Status)
			}
			// The in-flight answer is the old state; what is cached after
			// the notice must not be.
			if got := b.lookup(t, "dir-race").Status; got != tenant.StatusDisabled {
				t.Fatalf("after the change notice, Lookup Status = %q; the in-flight load cached the pre-change tenant", got)
			}
		})
	}
}
