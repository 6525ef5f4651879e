package auth

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/tenant/cache"
)

// insertBan writes a ban straight into SQL, behind every cache's back
// (tenantID 0: a platform ban).
func (b *testBundle) insertBan(t *testing.T, tenantID int64, kind, target string, expires *time.Time) {
	t.Helper()
	if _, err := b.db.Exec(context.Background(), `INSERT INTO bans (id, tenant_id, kind, target, reason, expires_at, created_by)
		VALUES ($1, $2, $3, $4, 'test', $5, 'test')`, uuid.Must(uuid.NewV7()), nullTenant(tenantID), kind, target, expires); err != nil {
		t.Fatalf("insert ban: %v", err)
	}
}

// ipBanned reports whether the tenant's current view refuses ip.
func (b *testBundle) ipBanned(t *testing.T, tenantID int64, ip string) bool {
	t.Helper()
	view, err := b.views.View(context.Background(), tenantID)
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	err = view.Check("", "", netip.MustParseAddr(ip))
	var be *BannedError
	if err != nil && !errors.As(err, &be) {
		t.Fatalf("Check: %v", err)
	}
	return err != nil
}

func TestBanViewsNotices(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("a tenant's view is cached until its notice", func(t *testing.T) {
		t.Parallel()
		rt, other := b.tenant(t), b.tenant(t)
		if b.ipBanned(t, rt.ID, "203.0.113.7") {
			t.Fatal("banned before any ban")
		}
		b.insertBan(t, rt.ID, BanIP, "203.0.113.7/32", nil)
		if b.ipBanned(t, rt.ID, "203.0.113.7") {
			t.Fatal("a ban written behind the cache's back was seen without a notice")
		}
		// Notices naming someone else, or nothing readable, leave it cached.
		for _, payload := range []string{strconv.FormatInt(other.ID, 10), "", "x", strconv.FormatInt(rt.ID, 10) + " "} {
			_ = b.feed.Publish(context.Background(), TopicBans, payload)
			if b.ipBanned(t, rt.ID, "203.0.113.7") {
				t.Fatalf("the notice %q evicted tenant %d's view", payload, rt.ID)
			}
		}
		_ = b.feed.Publish(context.Background(), TopicBans, strconv.FormatInt(rt.ID, 10))
		if !b.ipBanned(t, rt.ID, "203.0.113.7") {
			t.Fatal("the ban is not seen after its tenant's notice")
		}
	})

	t.Run("the platform's view is cached until the notice 0", func(t *testing.T) {
		t.Parallel()
		// Its own bundle: the platform's view is shared by every tenant.
		b := setup(t)
		rt := b.tenant(t)
		if b.ipBanned(t, rt.ID, "198.51.100.7") {
			t.Fatal("banned before any ban")
		}
		b.insertBan(t, 0, BanIP, "198.51.100.0/24", nil)
		_ = b.feed.Publish(context.Background(), TopicBans, strconv.FormatInt(rt.ID, 10))
		if b.ipBanned(t, rt.ID, "198.51.100.7") {
			t.Fatal("a platform ban was seen after a tenant's notice alone")
		}
		_ = b.feed.Publish(context.Background(), TopicBans, "0")
		if !b.ipBanned(t, rt.ID, "198.51.100.7") {
			t.Fatal("the platform ban is not seen after the notice 0")
		}
		if !b.ipBanned(t, b.tenant(t).ID, "198.51.100.7") {
			t.Fatal("the platform ban does not apply in another tenant")
		}
	})

	t.Run("a reset flushes every view", func(t *testing.T) {
		t.Parallel()
		// Its own bundle: a reset would flush the other subtests' views.
		b := setup(t)
		rt := b.tenant(t)
		if b.ipBanned(t, rt.ID, "203.0.113.8") {
			t.Fatal("banned before any ban")
		}
		b.insertBan(t, rt.ID, BanIP, "203.0.113.8/32", nil)
		if b.ipBanned(t, rt.ID, "203.0.113.8") {
			t.Fatal("seen without a notice")
		}
		b.feed.Reset()
		if !b.ipBanned(t, rt.ID, "203.0.113.8") {
			t.Fatal("the ban is not seen after a reset")
		}
	})

	t.Run("Bans.Create is seen at once", func(t *testing.T) {
		t.Parallel()
		rt := b.tenant(t)
		if b.ipBanned(t, rt.ID, "203.0.113.9") {
			t.Fatal("banned before any ban")
		}
		if _, err := b.bans.Create(context.Background(), rt.ID, NewBan{IP: "203.0.113.9", Reason: "spam"}); err != nil {
			t.Fatal(err)
		}
		if !b.ipBanned(t, rt.ID, "203.0.113.9") {
			t.Fatal("a ban made through Bans is not seen by the views on the same feed")
		}
	})
}

func TestBanViewsUnhealthyFeed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rt := b.tenant(t)
	if b.ipBanned(t, rt.ID, "203.0.113.7") {
		t.Fatal("banned before any ban")
	}
	// Loaded now; the feed breaks and a ban lands unannounced.
	b.feed.SetHealthy(false)
	b.insertBan(t, rt.ID, BanIP, "203.0.113.7/32", nil)

	start := b.clock.Now()
	at := func(d time.Duration) { b.clock.Set(start.Add(d)) }
	for _, d := range []time.Duration{cache.Propagation/2 - time.Millisecond, cache.Propagation - time.Millisecond} {
		at(d)
		if b.ipBanned(t, rt.ID, "203.0.113.7") {
			t.Fatalf("%v after loading, with the feed down, the view was reloaded; want it served up to %v", d, cache.Propagation)
		}
	}
	at(cache.Propagation)
	if !b.ipBanned(t, rt.ID, "203.0.113.7") {
		t.Fatalf("%v after loading, with the feed down, the stale view is still served", cache.Propagation)
	}
}

func TestBanViewsLapse(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rt := b.tenant(t)
	user := b.user(t, rt.ID, "o-lapsing")
	expires := b.clock.Now().Add(10 * time.Second).Truncate(time.Microsecond) // as Postgres stores it
	b.insertBan(t, rt.ID, BanUser, user.String(), &expires)

	view, err := b.views.View(context.Background(), rt.ID)
	if err != nil {
		t.Fatal(err)
	}
	var be *BannedError
	if err := view.Check(user.String(), "", netip.Addr{}); !errors.As(err, &be) || !be.Until.Equal(expires) {
		t.Fatalf("Check before expiry = %v, want banned until %v", err, expires)
	}
	// Well within the cache's age: the same cached set answers, with no
	// notice, judged at the view's own now.
	b.clock.Add(11 * time.Second)
	view, err = b.views.View(context.Background(), rt.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := view.Check(user.String(), "", netip.Addr{}); err != nil {
		t.Fatalf("Check after expiry = %v, want nil", err)
	}
}
