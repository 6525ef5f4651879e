package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Metrics of the login statistics. A login refused with a problem code is
// counted as StatFailure(code); refusals with rate_limited or user_banned
// on any mini-program route are also counted as StatRateLimited and
// StatBanned.
const (
	StatLogin       = "login"
	StatNewUser     = "new_user"
	StatRateLimited = "rate_limited"
	StatBanned      = "banned"
	// StatFailurePrefix prefixes the problem code of a failed login.
	StatFailurePrefix = "failure:"
)

// StatFailure is the metric of a login failed with a problem code.
func StatFailure(code string) string { return StatFailurePrefix + code }

// maxPendingStats bounds the distinct (tenant, hour, metric) counts held
// in memory. A busy hour of 5,000 active tenants is ~25,000 of them (about
// 100 bytes each); while Postgres is down they pile up hour by hour, and
// past the bound counts for new keys are dropped (and the drop logged),
// so an outage costs at most ~10 MB rather than growing without limit.
// Counts of keys already held go on being added.
const maxPendingStats = 100_000

// statKey is one bucket's counter: tenant, hour (Unix seconds of its UTC
// start) and metric.
type statKey struct {
	tenant int64
	hour   int64
	metric string
}

// Stats counts login outcomes per tenant in memory and adds them to
// Postgres's hourly buckets (login_stats) in one batch per flush, so the
// login path does no I/O for them. Figures lag by up to one flush
// interval, and an instance that dies loses its unflushed counts.
// A nil *Stats counts nothing.
type Stats struct {
	db  *pgxpool.Pool
	log *slog.Logger
	now func() time.Time

	// One mutex over one map: Count is a clock read and a map increment
	// under it, ~190 ns on the 2-core development VM (half of it
	// time.Now) and ~280 ns/op with two cores counting the same tenant
	// (BenchmarkStatsCount -cpu 1,2), against milliseconds per login;
	// sharding would buy nothing measurable.
	mu      sync.Mutex
	pending map[statKey]int64
	dropped int64
	limit   int // maxPendingStats; lower in tests

	flushing sync.Mutex // one flush at a time: a batch must not be written twice
}

// NewStats returns an empty set of counts writing to db.
func NewStats(db *pgxpool.Pool, log *slog.Logger) *Stats {
	return &Stats{db: db, log: log, now: time.Now, pending: map[statKey]int64{}, limit: maxPendingStats}
}

// Count adds one to a tenant's metric in the current hour. It does no I/O
// and is safe for concurrent use.
func (s *Stats) Count(tenantID int64, metric string) {
	if s == nil {
		return
	}
	k := statKey{tenant: tenantID, hour: s.now().Unix() / 3600 * 3600, metric: metric}
	s.mu.Lock()
	if len(s.pending) < s.limit {
		s.pending[k]++ // one hash of the key, not two
	} else if _, ok := s.pending[k]; ok {
		s.pending[k]++
	} else {
		s.dropped++
	}
	s.mu.Unlock()
}

// Run flushes every interval until ctx ends, then flushes once more with a
// short deadline of its own, so a stopping instance keeps its last counts.
func (s *Stats) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := s.Flush(fctx); err != nil {
				s.log.Warn("final login stats flush failed; counts lost", "err", err)
			}
			return
		case <-t.C:
			if err := s.Flush(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("login stats flush failed; counts kept for the next one", "err", err)
			}
		}
	}
}

// Flush adds every count taken since the last flush to Postgres in one
// transaction. When it fails the counts are kept (up to maxPendingStats
// keys) and added by the next flush. Counts of a tenant deleted in the
// meantime are dropped.
func (s *Stats) Flush(ctx context.Context) error {
	s.flushing.Lock()
	defer s.flushing.Unlock()
	s.mu.Lock()
	batch, dropped := s.pending, s.dropped
	s.pending, s.dropped = make(map[statKey]int64, len(batch)), 0
	s.mu.Unlock()
	if dropped > 0 {
		s.log.Warn("login stats dropped: too many pending counts while Postgres was unavailable", "counts", dropped)
	}
	if len(batch) == 0 {
		return nil
	}
	if err := s.write(ctx, batch); err != nil {
		s.restore(batch)
		return err
	}
	return nil
}

// restore puts a batch that was not written back among the pending counts.
func (s *Stats) restore(batch map[statKey]int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, n := range batch {
		if _, ok := s.pending[k]; ok || len(s.pending) < s.limit {
			s.pending[k] += n
		} else {
			s.dropped += n
		}
	}
}

func (s *Stats) write(ctx context.Context, batch map[statKey]int64) error {
	// Keys in one order on every instance, so that two flushes touching
	// the same rows lock them in the same order and cannot deadlock.
	keys := make([]statKey, 0, len(batch))
	for k := range batch {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b statKey) int {
		if a.tenant != b.tenant {
			return cmpInt(a.tenant, b.tenant)
		}
		if a.hour != b.hour {
			return cmpInt(a.hour, b.hour)
		}
		return strings.Compare(a.metric, b.metric)
	})
	var (
		tenants, counts []int64
		hours           []time.Time
		metrics         []string
		platform        = map[statKey]int64{}
		newUsers        = map[int64]int64{}
	)
	for _, k := range keys {
		n := batch[k]
		tenants, hours, metrics, counts = append(tenants, k.tenant), append(hours, time.Unix(k.hour, 0)), append(metrics, k.metric), append(counts, n)
		platform[statKey{hour: k.hour, metric: k.metric}] += n
		if k.metric == StatNewUser {
			newUsers[k.tenant] += n
		}
	}
	var pHours []time.Time
	var pMetrics []string
	var pCounts []int64
	pKeys := make([]statKey, 0, len(platform))
	for k := range platform {
		pKeys = append(pKeys, k)
	}
	slices.SortFunc(pKeys, func(a, b statKey) int {
		if a.hour != b.hour {
			return cmpInt(a.hour, b.hour)
		}
		return strings.Compare(a.metric, b.metric)
	})
	for _, k := range pKeys {
		pHours, pMetrics, pCounts = append(pHours, time.Unix(k.hour, 0)), append(pMetrics, k.metric), append(pCounts, platform[k])
	}
	var ucTenants, ucCounts []int64
	for t, n := range newUsers {
		ucTenants, ucCounts = append(ucTenants, t), append(ucCounts, n)
	}

	return pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		// The join drops the counts of a tenant deleted since they were
		// taken; without it one such count would fail the whole batch on
		// the foreign key, every time.
		b.Queue(`
			INSERT INTO login_stats (tenant_id, hour, metric, n)
			SELECT c.tenant_id, c.hour, c.metric, c.n
			FROM unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::bigint[]) WITH ORDINALITY AS c(tenant_id, hour, metric, n, i)
			JOIN tenants t ON t.id = c.tenant_id
			ORDER BY c.i
			ON CONFLICT (tenant_id, hour, metric) DO UPDATE SET n = login_stats.n + EXCLUDED.n`,
			tenants, hours, metrics, counts)
		b.Queue(`
			INSERT INTO login_stats_platform (hour, metric, n)
			SELECT c.hour, c.metric, c.n
			FROM unnest($1::timestamptz[], $2::text[], $3::bigint[]) WITH ORDINALITY AS c(hour, metric, n, i)
			ORDER BY c.i
			ON CONFLICT (hour, metric) DO UPDATE SET n = login_stats_platform.n + EXCLUDED.n`,
			pHours, pMetrics, pCounts)
		if len(ucTenants) > 0 {
			b.Queue(`
				INSERT INTO user_counts (tenant_id, n)
				SELECT c.tenant_id, c.n
				FROM unnest($1::bigint[], $2::bigint[]) AS c(tenant_id, n)
				JOIN tenants t ON t.id = c.tenant_id
				ORDER BY c.tenant_id
				ON CONFLICT (tenant_id) DO UPDATE SET n = user_counts.n + EXCLUDED.n`,
				ucTenants, ucCounts)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// StatsRetention is how long hourly buckets are kept.
const StatsRetention = 90 * 24 * time.Hour

// recountAfter is how old an exact user count may grow before Recount
// replaces it.
const recountAfter = 24 * time.Hour

// recountBatch bounds the tenants one Recount counts: a tenant of 1M users
// is ~120 ms of index scan, so a run stays within seconds however many
// tenants are due, and the rest wait for the next run.
const recountBatch = 20

// Maintain is the statistics' housekeeping (hourly): it recounts the
// users of tenants whose count is older than a day and deletes buckets
// past StatsRetention. Every instance may run it: each recount locks its
// tenant's row and skips one another instance holds.
func (s *Stats) Maintain(ctx context.Context) (int64, error) {
	n, err := s.Recount(ctx)
	if err != nil {
		return n, err
	}
	cutoff := s.now().Add(-StatsRetention)
	for _, table := range []string{"login_stats", "login_stats_platform"} {
		tag, err := s.db.Exec(ctx, `DELETE FROM `+table+` WHERE hour < $1`, cutoff)
		if err != nil {
			return n, err
		}
		n += tag.RowsAffected()
	}
	return n, nil
}

// Recount replaces the user counts older than a day (and those of tenants
// without one) of up to recountBatch tenants with exact ones, and returns
// how many it recounted.
//
// The count is taken after the tenant's user_counts row is locked, so an
// erasure either committed before (and is not counted) or waits and then
// subtracts from the exact count: erasures are never lost. New users are
// added by the flush after their row commits, so those a recount sees
// before their instance flushes are counted twice, until the next
// recount: the figure runs a few seconds' new users high at worst.
func (s *Stats) Recount(ctx context.Context) (int64, error) {
	stale := s.now().Add(-recountAfter)
	rows, err := s.db.Query(ctx, `
		SELECT t.id FROM tenants t LEFT JOIN user_counts c ON c.tenant_id = t.id
		WHERE c.tenant_id IS NULL OR c.counted_at < $1
		ORDER BY c.counted_at NULLS FIRST, t.id LIMIT $2`, stale, recountBatch)
	if err != nil {
		return 0, err
	}
	due, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, err
	}
	var done int64
	for _, id := range due {
		counted, err := s.recount(ctx, id, stale)
		if err != nil {
			return done, fmt.Errorf("recount users of tenant %d: %w", id, err)
		}
		if counted {
			done++
		}
	}
	return done, nil
}

func (s *Stats) recount(ctx context.Context, tenantID int64, stale time.Time) (bool, error) {
	counted := false
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// A row to lock, due at once; the select leaves a tenant deleted
		// since the list was read alone.
		if _, err := tx.Exec(ctx, `INSERT INTO user_counts (tenant_id, n, counted_at)
			SELECT id, 0, '-infinity' FROM tenants WHERE id = $1
			ON CONFLICT (tenant_id) DO NOTHING`, tenantID); err != nil {
			return err
		}
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM user_counts WHERE tenant_id = $1 AND counted_at < $2
			FOR UPDATE SKIP LOCKED`, tenantID, stale).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // recounted by another instance, being recounted, or deleted
		}
		if err != nil {
			return err
		}
		var n int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM users WHERE tenant_id = $1`, tenantID).Scan(&n); err != nil {
			return err
		}
		counted = true
		_, err = tx.Exec(ctx, `UPDATE user_counts SET n = $2, counted_at = now() WHERE tenant_id = $1`, tenantID, n)
		return err
	})
	return counted, err
}

// Dashboard is what the console's dashboard shows, for one tenant or the
// whole platform.
type Dashboard struct {
	Tenants, Users             int64 // tenants (1 for a tenant's dashboard); users, see user_counts
	LoginsToday, NewUsersToday int64
	Failures                   map[string]int64 // failed logins by problem code, today
	RateLimited, Banned        int64            // refusals on any mini-program route, today
	Hourly                     []HourCount      // the last 24 hours, oldest first, the current one last
}

// HourCount is the logins of one hour; Hour is its start, in the
// dashboard's location.
type HourCount struct {
	Hour   time.Time
	Logins int64
}

// Dashboard reads the figures of one tenant, or of the platform when
// tenantID is nil. "Today" is since the last midnight in loc, as whole
// hourly buckets: in a zone whose offset is not whole hours the bucket
// that holds midnight counts for the day it began in. Counts not yet
// flushed by any instance are not included.
func (s *Stats) Dashboard(ctx context.Context, tenantID *int64, now time.Time, loc *time.Location) (Dashboard, error) {
	local := now.In(loc)
	y, m, d := local.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, loc)
	current := now.Truncate(time.Hour)
	first := current.Add(-23 * time.Hour)
	// Today's first bucket is the first that starts at or after midnight.
	todayFrom := midnight.Truncate(time.Hour)
	if todayFrom.Before(midnight) {
		todayFrom = todayFrom.Add(time.Hour)
	}
	// Both windows in one read; today reaches back further than the 24
	// hours only on a day a clock falls back.
	from := first
	if todayFrom.Before(from) {
		from = todayFrom
	}

	b := &pgx.Batch{}
	var dash Dashboard
	if tenantID == nil {
		b.Queue(`SELECT count(*) FROM tenants`).QueryRow(func(r pgx.Row) error { return r.Scan(&dash.Tenants) })
		b.Queue(`SELECT COALESCE(sum(n), 0)::bigint FROM user_counts`).QueryRow(func(r pgx.Row) error { return r.Scan(&dash.Users) })
	} else {
		b.Queue(`SELECT count(*) FROM tenants WHERE id = $1`, *tenantID).QueryRow(func(r pgx.Row) error { return r.Scan(&dash.Tenants) })
		b.Queue(`SELECT COALESCE(sum(n), 0)::bigint FROM user_counts WHERE tenant_id = $1`, *tenantID).
			QueryRow(func(r pgx.Row) error { return r.Scan(&dash.Users) })
	}
	type bucket struct {
		hour   time.Time
		metric string
		n      int64
	}
	var buckets []bucket
	collectBuckets := func(rows pgx.Rows) error {
		var bk bucket
		_, err := pgx.ForEachRow(rows, []any{&bk.hour, &bk.metric, &bk.n}, func() error {
			buckets = append(buckets, bk)
			return nil
		})
		return err
	}
	if tenantID == nil {
		b.Queue(`SELECT hour, metric, n FROM login_stats_platform WHERE hour >= $1 AND hour <= $2`, from, current).Query(collectBuckets)
	} else {
		b.Queue(`SELECT hour, metric, n FROM login_stats WHERE tenant_id = $1 AND hour >= $2 AND hour <= $3`,
			*tenantID, from, current).Query(collectBuckets)
	}
	if err := s.db.SendBatch(ctx, b).Close(); err != nil {
		return Dashboard{}, err
	}

	dash.Failures = map[string]int64{}
	dash.Hourly = make([]HourCount, 24)
	for i := range dash.Hourly {
		dash.Hourly[i].Hour = first.Add(time.Duration(i) * time.Hour).In(loc)
	}
	for _, bk := range buckets {
		if bk.metric == StatLogin && !bk.hour.Before(first) {
			dash.Hourly[int(bk.hour.Sub(first)/time.Hour)].Logins += bk.n
		}
		if bk.hour.Before(todayFrom) {
			continue
		}
		switch {
		case bk.metric == StatLogin:
			dash.LoginsToday += bk.n
		case bk.metric == StatNewUser:
			dash.NewUsersToday += bk.n
		case bk.metric == StatRateLimited:
			dash.RateLimited += bk.n
		case bk.metric == StatBanned:
			dash.Banned += bk.n
		case strings.HasPrefix(bk.metric, StatFailurePrefix):
			dash.Failures[strings.TrimPrefix(bk.metric, StatFailurePrefix)] += bk.n
		}
	}
	return dash, nil
}
