package auth_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/miniauth/miniauth/auth"
)

// BenchmarkStatsCount is the cost Stats adds to every mini-program
// request it counts; under -cpu 2 every goroutine counts the same tenant's
// logins, the worst case for the one mutex.
//
//	go test -run '^$' -bench StatsCount -cpu 1,2 ./auth/
func BenchmarkStatsCount(b *testing.B) {
	s := auth.NewStats(nil, slog.New(slog.DiscardHandler)) // Count never touches the database
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s.Count(42, auth.StatLogin)
		}
	})
}

// BenchmarkDashboard reads the console's dashboard figures of the tenant of
// 1,000,000 users (the fixture of BenchmarkUserList1M) and of the whole
// platform, with two days of hourly buckets and 5,000 further tenants, and
// reports the median and p95 of each. The page's budget is 50 ms p95 in
// all. It also logs what the query the dashboard avoids costs, count(*)
// over the big tenant's users, and an exact recount of the scale tenants
// (Stats.Recount).
//
//	go test -run '^$' -bench Dashboard -benchtime 2000x -timeout 30m ./auth/
//
// MINIAUTH_SCALE_DB reuses a seeded database, as for BenchmarkUserList1M.
func BenchmarkDashboard(b *testing.B) {
	ctx := context.Background()
	db := scaleOpen(b, &scaleTracer{})
	ids := scaleTenants(b, db, []scaleSpec{{"scale-1m", 1_000_000}, {"scale-100k", 100_000}})
	big := ids[0]

	// 5,000 more tenants with a user count each: the platform's sums.
	// Their sealed secret is never opened here.
	scaleExec(b, db, `
		INSERT INTO tenants (slug, name, wechat_appid, wechat_secret_sealed)
		SELECT 'scale-filler-' || i, 'filler', 'wx0123456789abcdef', '\x00'::bytea FROM generate_series(1, 5000) i
		ON CONFLICT (slug) DO NOTHING`)
	scaleExec(b, db, `
		INSERT INTO user_counts (tenant_id, n) SELECT id, 100 FROM tenants WHERE slug LIKE 'scale-filler-%'
		ON CONFLICT (tenant_id) DO NOTHING`)
	// Two days of buckets of every metric the dashboard reads, for the big
	// tenant and for the platform.
	now := time.Now()
	metrics := []string{auth.StatLogin, auth.StatNewUser, auth.StatRateLimited, auth.StatBanned,
		auth.StatFailure("invalid_code"), auth.StatFailure("wechat_unavailable"), auth.StatFailure("user_banned"),
		auth.StatFailure("rate_limited"), auth.StatFailure("tenant_disabled")}
	scaleExec(b, db, `
		INSERT INTO login_stats (tenant_id, hour, metric, n)
		SELECT $1, date_trunc('hour', $2::timestamptz, 'UTC') - h * interval '1 hour', m, 100
		FROM generate_series(0, 47) h, unnest($3::text[]) m
		ON CONFLICT DO NOTHING`, big, now, metrics)
	scaleExec(b, db, `
		INSERT INTO login_stats_platform (hour, metric, n)
		SELECT date_trunc('hour', $1::timestamptz, 'UTC') - h * interval '1 hour', m, 100000
		FROM generate_series(0, 47) h, unnest($2::text[]) m
		ON CONFLICT DO NOTHING`, now, metrics)

	stats := auth.NewStats(db, slog.New(slog.DiscardHandler))
	// The scale seed writes users without counting them: a recount sets
	// the two big tenants' counts, as it would after an instance's crash.
	scaleExec(b, db, `UPDATE user_counts SET counted_at = '-infinity' WHERE tenant_id = ANY($1)`, ids)
	start := time.Now()
	if _, err := stats.Recount(ctx); err != nil {
		b.Fatal(err)
	}
	scaleLogf(b, "Recount of the scale tenants (1,000,000 + 100,000 users): %s", time.Since(start).Round(time.Millisecond))

	// What the dashboard would pay for counting the users at each read.
	var direct []time.Duration
	for range 20 {
		var n int64
		t0 := time.Now()
		if err := db.QueryRow(ctx, `SELECT count(*) FROM users WHERE tenant_id = $1`, big).Scan(&n); err != nil {
			b.Fatal(err)
		}
		direct = append(direct, time.Since(t0))
	}
	slices.Sort(direct)
	scaleLogf(b, "SELECT count(*) FROM users WHERE tenant_id = $1 (1,000,000 users), %d runs: p50 %.1f ms, max %.1f ms",
		len(direct), scaleMS(scalePct(direct, 0.50)), scaleMS(direct[len(direct)-1]))

	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		b.Fatal(err)
	}
	for _, kind := range []struct {
		name   string
		tenant *int64
	}{{"tenant-1m", &big}, {"platform", nil}} {
		b.Run(kind.name, func(b *testing.B) {
			var lat []time.Duration
			var d auth.Dashboard
			read := func() {
				t0 := time.Now()
				var err error
				d, err = stats.Dashboard(ctx, kind.tenant, time.Now(), shanghai)
				lat = append(lat, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
			}
			read()
			if kind.tenant != nil && d.Users != 1_000_000 {
				b.Fatalf("users of the big tenant: %d, want 1,000,000", d.Users)
			}
			lat = lat[:0]
			for b.Loop() {
				read()
			}
			b.StopTimer()
			slices.Sort(lat)
			p50, p95 := scaleMS(scalePct(lat, 0.50)), scaleMS(scalePct(lat, 0.95))
			scaleLogf(b, "Dashboard %-9s %d runs: p50 %.3f ms, p95 %.3f ms, max %.3f ms (users %d, tenants %d, logins today %d)",
				kind.name, len(lat), p50, p95, scaleMS(lat[len(lat)-1]), d.Users, d.Tenants, d.LoginsToday)
			b.ReportMetric(p50, "p50-ms")
			b.ReportMetric(p95, "p95-ms")
		})
	}
}
