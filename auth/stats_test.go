package auth

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"
)

// stats is a Stats on the bundle's database and clock.
func (b *testBundle) stats() *Stats {
	s := NewStats(b.db, b.log)
	s.now = b.clock.Now
	return s
}

func (b *testBundle) flush(t *testing.T, s *Stats) {
	t.Helper()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// bucket is one stored count: a tenant's (tenant > 0) or the platform's.
func (b *testBundle) bucket(t *testing.T, tenantID int64, hour time.Time, metric string) int64 {
	t.Helper()
	var n int64
	var err error
	if tenantID == 0 {
		err = b.db.QueryRow(context.Background(), `SELECT COALESCE(sum(n), 0)::bigint FROM login_stats_platform
			WHERE hour = $1 AND metric = $2`, hour, metric).Scan(&n)
	} else {
		err = b.db.QueryRow(context.Background(), `SELECT COALESCE(sum(n), 0)::bigint FROM login_stats
			WHERE tenant_id = $1 AND hour = $2 AND metric = $3`, tenantID, hour, metric).Scan(&n)
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (b *testBundle) dashboard(t *testing.T, s *Stats, tenantID *int64, loc *time.Location) Dashboard {
	t.Helper()
	d, err := s.Dashboard(context.Background(), tenantID, b.clock.Now(), loc)
	if err != nil {
		t.Fatalf("Dashboard: %v", err)
	}
	return d
}

func TestStatsCountsReachPostgresOnlyOnFlush(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rt := b.tenant(t)
	hour := b.clock.Now().Truncate(time.Hour)
	s := b.stats()

	for range 3 {
		s.Count(rt.ID, StatLogin)
	}
	s.Count(rt.ID, StatFailure("invalid_code"))
	if n := b.count(t, `SELECT count(*) FROM login_stats`); n != 0 {
		t.Fatalf("%d rows before any flush; Count must not write", n)
	}
	b.flush(t, s)
	if n := b.bucket(t, rt.ID, hour, StatLogin); n != 3 {
		t.Fatalf("logins: %d, want 3", n)
	}
	if n := b.bucket(t, 0, hour, StatLogin); n != 3 {
		t.Fatalf("platform logins: %d, want 3", n)
	}
	if n := b.bucket(t, rt.ID, hour, "failure:invalid_code"); n != 1 {
		t.Fatalf("invalid_code failures: %d, want 1", n)
	}

	t.Run("a flush adds to what is stored and writes nothing twice", func(t *testing.T) {
		s.Count(rt.ID, StatLogin)
		b.flush(t, s)
		b.flush(t, s)
		if n := b.bucket(t, rt.ID, hour, StatLogin); n != 4 {
			t.Fatalf("logins: %d, want 4", n)
		}
	})

	t.Run("another instance's counts add up in the same rows", func(t *testing.T) {
		other := b.stats()
		other.Count(rt.ID, StatLogin)
		b.flush(t, other)
		if n := b.bucket(t, rt.ID, hour, StatLogin); n != 5 {
			t.Fatalf("logins: %d, want 5", n)
		}
	})

	t.Run("counts go to the hour they were taken in", func(t *testing.T) {
		b.clock.Add(time.Hour)
		s.Count(rt.ID, StatLogin)
		b.flush(t, s)
		if n := b.bucket(t, rt.ID, hour.Add(time.Hour), StatLogin); n != 1 {
			t.Fatalf("next hour's logins: %d, want 1", n)
		}
		if n := b.bucket(t, rt.ID, hour, StatLogin); n != 5 {
			t.Fatalf("this hour's logins: %d, want still 5", n)
		}
	})
}

func TestStatsConcurrentCountsSumExactly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rt1, rt2 := b.tenant(t), b.tenant(t)
	hour := b.clock.Now().Truncate(time.Hour)
	s := b.stats()

	const goroutines, each = 64, 500
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				s.Count(rt1.ID, StatLogin)
				if g%2 == 0 {
					s.Count(rt2.ID, StatRateLimited)
				}
			}
		})
	}
	// Flushes racing the counts: each count lands in exactly one of them.
	flushed := make(chan error, 1)
	go func() {
		var err error
		for range 5 {
			if e := s.Flush(context.Background()); e != nil {
				err = e
			}
		}
		flushed <- err
	}()
	wg.Wait()
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	b.flush(t, s)
	if n := b.bucket(t, rt1.ID, hour, StatLogin); n != goroutines*each {
		t.Fatalf("logins: %d, want %d", n, goroutines*each)
	}
	if n := b.bucket(t, rt2.ID, hour, StatRateLimited); n != goroutines/2*each {
		t.Fatalf("rate limited: %d, want %d", n, goroutines/2*each)
	}
}

func TestStatsFlushFailureKeepsCounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rt := b.tenant(t)
	hour := b.clock.Now().Truncate(time.Hour)
	s := b.stats()
	ctx := context.Background()

	s.Count(rt.ID, StatLogin)
	s.Count(rt.ID, StatNewUser)
	// Postgres refuses the batch: its table is gone.
	if _, err := b.db.Exec(ctx, `ALTER TABLE login_stats RENAME TO login_stats_away`); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err == nil {
		t.Fatal("Flush succeeded without its table")
	}
	s.Count(rt.ID, StatLogin)
	if _, err := b.db.Exec(ctx, `ALTER TABLE login_stats_away RENAME TO login_stats`); err != nil {
		t.Fatal(err)
	}
	b.flush(t, s)
	if n := b.bucket(t, rt.ID, hour, StatLogin); n != 2 {
		t.Fatalf("logins: %d, want 2 (one kept from the failed flush)", n)
	}
	// Nothing of the failed transaction was left behind, in any table.
	if n := b.bucket(t, 0, hour, StatLogin); n != 2 {
		t.Fatalf("platform logins: %d, want 2", n)
	}
	if d := b.dashboard(t, s, &rt.ID, time.UTC); d.Users != 1 {
		t.Fatalf("users: %d, want 1", d.Users)
	}

	t.Run("an outage cannot hold more than the bound", func(t *testing.T) {
		s := b.stats()
		s.limit = 2
		s.Count(rt.ID, "a")
		s.Count(rt.ID, "b")
		s.Count(rt.ID, "c") // a third key: dropped
		s.Count(rt.ID, "a") // a key already held still counts
		s.mu.Lock()
		got, dropped := maps.Clone(s.pending), s.dropped
		s.mu.Unlock()
		if len(got) != 2 || got[statKey{rt.ID, hour.Unix(), "a"}] != 2 || dropped != 1 {
			t.Fatalf("pending %v, dropped %d; want a=2, b=1 and one dropped", got, dropped)
		}
	})

	t.Run("a deleted tenant's counts are dropped, not the batch", func(t *testing.T) {
		gone := b.tenant(t)
		s.Count(gone.ID, StatLogin)
		s.Count(gone.ID, StatNewUser)
		s.Count(rt.ID, StatLogin)
		if _, err := b.db.Exec(ctx, `DELETE FROM tenants WHERE id = $1`, gone.ID); err != nil {
			t.Fatal(err)
		}
		b.flush(t, s)
		if n := b.bucket(t, rt.ID, hour, StatLogin); n != 3 {
			t.Fatalf("logins: %d, want 3", n)
		}
	})
}

func TestDashboardTodayInLocalZone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rt := b.tenant(t)
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	s := b.stats()
	at := func(local string, metrics ...string) {
		t.Helper()
		tm, err := time.ParseInLocation(time.DateTime, local, shanghai)
		if err != nil {
			t.Fatal(err)
		}
		b.clock.Set(tm)
		for _, m := range metrics {
			s.Count(rt.ID, m)
		}
	}
	// Local midnight of 10 March is 16:00 UTC on the 9th.
	at("2026-03-09 00:30:00", StatLogin)                                          // 25.5 h before "now": in neither window
	at("2026-03-09 02:10:00", StatLogin, StatLogin)                               // yesterday, the hour before the 24 shown
	at("2026-03-09 23:59:59", StatLogin, StatFailure("invalid_code"), StatBanned) // yesterday's last second
	at("2026-03-10 00:00:00", StatLogin, StatNewUser, StatFailure("invalid_code"))
	at("2026-03-10 01:45:00", StatLogin, StatRateLimited, StatFailure("rate_limited"), StatFailure("wechat_unavailable"))
	b.flush(t, s)
	at("2026-03-10 02:05:00") // now

	d := b.dashboard(t, s, &rt.ID, shanghai)
	if d.LoginsToday != 2 || d.NewUsersToday != 1 || d.RateLimited != 1 || d.Banned != 0 {
		t.Errorf("today: logins %d, new %d, rate limited %d, banned %d; want 2, 1, 1, 0",
			d.LoginsToday, d.NewUsersToday, d.RateLimited, d.Banned)
	}
	want := map[string]int64{"invalid_code": 1, "rate_limited": 1, "wechat_unavailable": 1}
	if !maps.Equal(d.Failures, want) {
		t.Errorf("failures %v, want %v", d.Failures, want)
	}

	if len(d.Hourly) != 24 {
		t.Fatalf("%d hourly buckets, want 24", len(d.Hourly))
	}
	logins := map[string]int64{}
	for i, h := range d.Hourly {
		wantHour := time.Date(2026, 3, 9, 3, 0, 0, 0, shanghai).Add(time.Duration(i) * time.Hour)
		if !h.Hour.Equal(wantHour) || h.Hour.Location() != shanghai {
			t.Fatalf("bucket %d starts %s, want %s", i, h.Hour, wantHour)
		}
		if h.Logins != 0 {
			logins[h.Hour.Format("01-02 15h")] = h.Logins
		}
	}
	// The current hour (02h) is last; 02:10 yesterday is just outside.
	wantLogins := map[string]int64{"03-09 23h": 1, "03-10 00h": 1, "03-10 01h": 1}
	if !maps.Equal(logins, wantLogins) {
		t.Errorf("hourly logins %v, want %v (every other bucket zero)", logins, wantLogins)
	}

	t.Run("in UTC the same buckets make another day", func(t *testing.T) {
		// 18:05 UTC on the 9th: the UTC day began at 08:00 Shanghai time.
		d := b.dashboard(t, s, &rt.ID, time.UTC)
		if d.LoginsToday != 3 || d.Banned != 1 || d.Failures["invalid_code"] != 2 {
			t.Fatalf("today in UTC: %d logins, %d banned, failures %v; want 3, 1, invalid_code 2", d.LoginsToday, d.Banned, d.Failures)
		}
		if d.Hourly[23].Hour.Location() != time.UTC || d.Hourly[23].Logins != 0 || d.Hourly[22].Logins != 1 {
			t.Fatalf("last buckets %+v", d.Hourly[22:])
		}
	})

	t.Run("a day without counts is all zeroes", func(t *testing.T) {
		b.clock.Add(72 * time.Hour)
		d := b.dashboard(t, s, &rt.ID, shanghai)
		if d.LoginsToday != 0 || len(d.Failures) != 0 || len(d.Hourly) != 24 {
			t.Fatalf("%+v", d)
		}
		for _, h := range d.Hourly {
			if h.Logins != 0 {
				t.Fatalf("bucket %s: %d logins", h.Hour, h.Logins)
			}
		}
	})
}

func TestDashboardTenantAndPlatform(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a, c := b.tenant(t), b.tenant(t)
	s := b.stats()
	count := func(tenantID int64, metric string, n int) {
		for range n {
			s.Count(tenantID, metric)
		}
	}
	count(a.ID, StatLogin, 5)
	count(a.ID, StatNewUser, 3)
	count(a.ID, StatFailure("invalid_code"), 2)
	count(a.ID, StatBanned, 1)
	count(c.ID, StatLogin, 7)
	count(c.ID, StatNewUser, 4)
	count(c.ID, StatFailure("tenant_disabled"), 1)
	count(c.ID, StatRateLimited, 6)
	b.flush(t, s)

	for _, tc := range []struct {
		name   string
		tenant *int64
		want   Dashboard
	}{
		{"tenant a", &a.ID, Dashboard{Tenants: 1, Users: 3, LoginsToday: 5, NewUsersToday: 3,
			Failures: map[string]int64{"invalid_code": 2}, Banned: 1}},
		{"tenant c", &c.ID, Dashboard{Tenants: 1, Users: 4, LoginsToday: 7, NewUsersToday: 4,
			Failures: map[string]int64{"tenant_disabled": 1}, RateLimited: 6}},
		{"platform", nil, Dashboard{Tenants: 2, Users: 7, LoginsToday: 12, NewUsersToday: 7,
			Failures: map[string]int64{"invalid_code": 2, "tenant_disabled": 1}, RateLimited: 6, Banned: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := b.dashboard(t, s, tc.tenant, time.UTC)
			if d.Tenants != tc.want.Tenants || d.Users != tc.want.Users || d.LoginsToday != tc.want.LoginsToday ||
				d.NewUsersToday != tc.want.NewUsersToday || d.RateLimited != tc.want.RateLimited || d.Banned != tc.want.Banned ||
				!maps.Equal(d.Failures, tc.want.Failures) {
				t.Fatalf("got %+v\nwant %+v", d, tc.want)
			}
			if d.Hourly[23].Logins != tc.want.LoginsToday {
				t.Fatalf("this hour's logins %d, want %d", d.Hourly[23].Logins, tc.want.LoginsToday)
			}
		})
	}
}

func TestUserCounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rt := b.tenant(t)
	ctx := context.Background()
	s := b.stats()
	users := func() int64 {
		t.Helper()
		return b.dashboard(t, s, &rt.ID, time.UTC).Users
	}

	// Three users whose logins counted them, one whose count was lost
	// with its instance.
	var ids []string
	for i := range 4 {
		ids = append(ids, b.user(t, rt.ID, "openid-"+string(rune('a'+i))).String())
		if i < 3 {
			s.Count(rt.ID, StatNewUser)
		}
	}
	b.flush(t, s)
	if n := users(); n != 3 {
		t.Fatalf("users: %d, want 3 from the flush", n)
	}

	t.Run("erasing a user subtracts it at once", func(t *testing.T) {
		id := b.user(t, rt.ID, "openid-erased")
		s.Count(rt.ID, StatNewUser)
		b.flush(t, s)
		if err := NewUsers(b.db, b.sessions).Erase(ctx, rt.ID, id); err != nil {
			t.Fatal(err)
		}
		if n := users(); n != 3 {
			t.Fatalf("users: %d, want 3", n)
		}
	})

	t.Run("a recount repairs a lost count, once a day", func(t *testing.T) {
		// A fresh tenant has no count yet and is counted first.
		if n, err := s.Recount(ctx); err != nil || n != 0 {
			t.Fatalf("Recount: %d, %v; want nothing due yet", n, err)
		}
		if _, err := b.db.Exec(ctx, `UPDATE user_counts SET counted_at = now() - interval '25 hours'`); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Recount(ctx); err != nil || n != 1 {
			t.Fatalf("Recount: %d, %v; want 1 tenant", n, err)
		}
		if n := users(); n != 4 {
			t.Fatalf("users: %d, want 4 after a recount (ids %v)", n, ids)
		}
		if n, err := s.Recount(ctx); err != nil || n != 0 {
			t.Fatalf("second Recount: %d, %v; want nothing due", n, err)
		}
	})

	t.Run("a tenant never counted is counted first", func(t *testing.T) {
		other := b.tenant(t)
		b.user(t, other.ID, "openid-x")
		if n, err := s.Recount(ctx); err != nil || n != 1 {
			t.Fatalf("Recount: %d, %v; want 1 tenant", n, err)
		}
		if d := b.dashboard(t, s, &other.ID, time.UTC); d.Users != 1 {
			t.Fatalf("users: %d, want 1", d.Users)
		}
	})

	t.Run("maintenance drops buckets past retention", func(t *testing.T) {
		old := b.clock.Now()
		s.Count(rt.ID, StatLogin)
		b.flush(t, s)
		b.clock.Add(StatsRetention + time.Hour)
		if _, err := s.Maintain(ctx); err != nil {
			t.Fatal(err)
		}
		if n := b.bucket(t, rt.ID, old.Truncate(time.Hour), StatLogin); n != 0 {
			t.Fatalf("%d logins kept past retention", n)
		}
		if n := b.bucket(t, 0, old.Truncate(time.Hour), StatLogin); n != 0 {
			t.Fatalf("%d platform logins kept past retention", n)
		}
	})
}

func TestStatsRunFlushesUntilStopped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rt := b.tenant(t)
	hour := b.clock.Now().Truncate(time.Hour)
	s := b.stats()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, time.Hour) }()
	s.Count(rt.ID, StatLogin)
	stop()
	<-done
	if n := b.bucket(t, rt.ID, hour, StatLogin); n != 1 {
		t.Fatalf("logins after Run ended: %d, want 1 (the final flush)", n)
	}
}
