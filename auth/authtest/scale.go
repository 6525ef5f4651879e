// Package authtest seeds the scale fixture the benchmarks of several
// packages measure against: tenants of up to millions of users with
// realistic openids, unionids, nicknames, phones and statuses, in a
// database of your choosing (MINIAUTH_SCALE_DB) or a fresh one.
//
// Only tests and benchmarks import it, so none of it reaches the miniauth
// binary (`go list -deps ./cmd/miniauth | grep authtest` is empty).
package authtest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/migrations"
	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/seal"
)

// ScaleDB returns the database to measure: MINIAUTH_SCALE_DB (migrated
// here, and possibly already seeded) or a fresh dbtest database. tracer,
// when not nil, sees every query of the pool, which is closed when the
// test ends.
//
// A database of your own keeps the seed across runs, and lets you run
// EXPLAIN by hand against it:
//
//	createdb -h 127.0.0.1 -U postgres miniauth_scale
//	MINIAUTH_SCALE_DB='postgres://postgres@127.0.0.1:5432/miniauth_scale?sslmode=disable' go test ...
func ScaleDB(tb testing.TB, tracer pgx.QueryTracer) *pgxpool.Pool {
	tb.Helper()
	url := os.Getenv("MINIAUTH_SCALE_DB")
	if url == "" {
		url = dbtest.Database(tb)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatal(err)
	}
	if tracer != nil {
		cfg.ConnConfig.Tracer = tracer
	}
	db, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(db.Close)
	if _, err := migrations.Apply(context.Background(), db); err != nil {
		tb.Fatal(err)
	}
	return db
}

// ScaleSpec is one tenant of the fixture: its slug and how many users it
// has.
type ScaleSpec struct {
	Slug  string
	Users int
}

// doneName is the tenant's name once its seed is complete.
func (s ScaleSpec) doneName() string { return fmt.Sprintf("scale benchmark, %d users", s.Users) }

// ScaleWords are the nickname stems the seed uses (nickname = stem +
// number, or rarely 'Zephyr' + number), for searches that hit.
var ScaleWords = []string{"Lucky", "sunny", "小明", "小红", "Tiger", "panda", "Coco", "momo", "kiki", "阿杰",
	"Summer", "winter", "Leo", "amy", "Jack", "rose", "天天", "lily", "Max", "nina"}

// ScaleTenants returns the ids of tenants with these slugs and user counts,
// creating and seeding those without a completed seed. A tenant's name marks
// its seed complete, so an interrupted one is redone. Indexes the
// migrations define are recreated if missing; what was added by hand (an
// index, statistics) stays, so a fix can be measured before it becomes a
// migration.
//
// Every user has an openid; 30% a unionid, 40% a nickname and avatar, 20%
// a phone starting 138, 2% are disabled. Ids are UUIDv7-shaped, spread
// over the last two years in row order. Seeding 1,000,000 + 100,000 users
// takes 30-40 s on two cores.
func ScaleTenants(tb testing.TB, db *pgxpool.Pool, specs []ScaleSpec) []int64 {
	tb.Helper()
	ctx := context.Background()
	ids := make([]int64, len(specs))
	var todo []int
	for i, sp := range specs {
		var name string
		err := db.QueryRow(ctx, `SELECT id, name FROM tenants WHERE slug = $1`, sp.Slug).Scan(&ids[i], &name)
		switch {
		case err == nil && name == sp.doneName():
			continue
		case err == nil:
			Logf(tb, "%s: incomplete seed, redoing it", sp.Slug)
			Exec(tb, db, `DELETE FROM users WHERE tenant_id = $1`, ids[i])
			Exec(tb, db, `DELETE FROM tenants WHERE id = $1`, ids[i])
		case !errors.Is(err, pgx.ErrNoRows):
			tb.Fatal(err)
		}
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		ensureIndexes(tb, db)
		return ids
	}

	sealer, err := seal.New(make([]byte, 32))
	if err != nil {
		tb.Fatal(err)
	}
	store := tenant.NewStore(db, sealer, nil)
	for _, i := range todo {
		t, err := store.Create(ctx, tenant.NewTenant{
			Slug: specs[i].Slug, Name: "scale benchmark (seeding)",
			WeChatAppID: "wx0123456789abcdef", WeChatSecret: "scale-secret-0123",
		})
		if err != nil {
			tb.Fatal(err)
		}
		ids[i] = t.ID
	}

	start := time.Now()
	// Maintaining the four search indexes row by row costs more than the
	// rest of the insert; building them afterwards is several times faster.
	// (Built at once, they are denser than indexes grown by random inserts.)
	defs := searchIndexes(tb, db)
	for _, d := range defs {
		Exec(tb, db, `DROP INDEX IF EXISTS `+pgx.Identifier{d.name}.Sanitize())
	}
	// Ids are UUIDv7-shaped and ascend with i (one every span/n ms over the
	// last two years), so the heap is in id order as after years of
	// logins. Everything else derives from md5 of the row number or from
	// random(). generate_series yields i in order, so no ORDER BY (and no
	// sort of a million wide rows) is needed.
	const seed = `
INSERT INTO users (tenant_id, id, openid, unionid, nickname, avatar_url, phone, status,
                   session_key_sealed, created_at, updated_at, last_login_at, last_login_ip)
SELECT $1::bigint,
       (lpad(to_hex(ts), 12, '0') || '7' || substr(h, 1, 3) || '8' || substr(h, 4, 15))::uuid,
       'o' || translate(substr(encode(decode(h || substr(h, 1, 10), 'hex'), 'base64'), 1, 27), '+/', '-_'),
       CASE WHEN u < 0.30 THEN
           'o' || translate(substr(encode(decode(md5(h) || substr(h, 11, 10), 'hex'), 'base64'), 1, 27), '+/', '-_') END,
       CASE WHEN n < 0.40 THEN
           CASE WHEN w < 0.0002 THEN 'Zephyr' || (i % 1000)
                ELSE ($5::text[])[1 + floor(w * cardinality($5::text[]))::int] || floor(m * 10000)::int
           END END,
       CASE WHEN n < 0.40 THEN 'https://thirdwx.qlogo.cn/mmopen/vi_32/' || h || '/132' END,
       CASE WHEN p < 0.20 THEN '138' || lpad(floor(e * 100000000)::int::text, 8, '0') END,
       CASE WHEN d < 0.02 THEN 'disabled' ELSE 'active' END,
       decode(h || h || substr(h, 1, 18), 'hex'),
       at, at, at + interval '1 hour',
       '10.0.0.0'::inet + floor(e * 16777216)::int
FROM (
    SELECT i, ts, to_timestamp(ts / 1000.0) AS at, md5($1::bigint || ':' || i) AS h,
           random() AS u, random() AS n, random() AS w, random() AS m, random() AS p, random() AS d, random() AS e
    FROM generate_series(1, $2::int) AS i, LATERAL (SELECT $3::bigint + i * $4::bigint AS ts) t
) s`
	span := int64(2 * 365 * 24 * time.Hour / time.Millisecond)
	base := time.Now().UnixMilli() - span
	// One statement per tenant, so ids arrive in order and the id index
	// grows at its right edge as under real logins (two interleaved
	// streams leave its pages half empty); the tenants load side by side.
	var stmts []func(context.Context) error
	for _, i := range todo {
		n := specs[i].Users
		stmts = append(stmts, func(ctx context.Context) error {
			_, err := db.Exec(ctx, seed, ids[i], n, base, span/int64(n), ScaleWords)
			return err
		})
	}
	parallel(tb, stmts)
	inserted := time.Since(start)
	ensureIndexes(tb, db, defs...)
	indexed := time.Since(start)
	Exec(tb, db, `VACUUM (ANALYZE) users`)
	for _, i := range todo {
		Exec(tb, db, `UPDATE tenants SET name = $2 WHERE id = $1`, ids[i], specs[i].doneName())
	}
	Logf(tb, "seeded %d tenants in %s (insert %s, search indexes %s, vacuum analyze %s)", len(todo),
		time.Since(start).Round(time.Millisecond), inserted.Round(time.Millisecond),
		(indexed - inserted).Round(time.Millisecond), (time.Since(start) - indexed).Round(time.Millisecond))
	return ids
}

type index struct{ name, def string }

// searchIndexes lists the indexes on users that back no constraint (the
// search indexes), as the migrations define them.
func searchIndexes(tb testing.TB, db *pgxpool.Pool) []index {
	tb.Helper()
	rows, err := db.Query(context.Background(), `
		SELECT c.relname, pg_get_indexdef(i.indexrelid)
		FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'users'::regclass
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
		ORDER BY c.relname`)
	if err != nil {
		tb.Fatal(err)
	}
	defs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (index, error) {
		var x index
		err := row.Scan(&x.name, &x.def)
		return x, err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return defs
}

// ensureIndexes (re)creates the search indexes: defs, or when none are
// given those of a freshly migrated database, so a reused database whose
// seeding was interrupted gets them back.
func ensureIndexes(tb testing.TB, db *pgxpool.Pool, defs ...index) {
	tb.Helper()
	if len(defs) == 0 {
		ref, err := pgxpool.New(context.Background(), dbtest.Database(tb))
		if err != nil {
			tb.Fatal(err)
		}
		defs = searchIndexes(tb, ref)
		ref.Close()
	}
	var stmts []func(context.Context) error
	for _, d := range defs {
		// A partitioned index is shown as ON ONLY, which would not build
		// the partitions' indexes.
		def := strings.Replace(d.def, "CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)
		def = strings.Replace(def, " ON ONLY ", " ON ", 1)
		stmts = append(stmts, func(ctx context.Context) error {
			return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SET LOCAL maintenance_work_mem = '256MB'`); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, def)
				return err
			})
		})
	}
	parallel(tb, stmts)
}

// parallel runs fns two at a time (the machine has two cores).
func parallel(tb testing.TB, fns []func(context.Context) error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(fns))
	sem := make(chan struct{}, 2)
	for i, fn := range fns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = fn(ctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
}

// Exec runs one statement of fixture setup, failing the test on error;
// it may take up to 15 minutes (a VACUUM of millions of rows).
func Exec(tb testing.TB, db *pgxpool.Pool, sql string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if _, err := db.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

// Logf logs through tb.Logf under -v, which streams benchmark logs whole;
// otherwise to stdout, since go test cuts a benchmark's log to ten lines
// and a report table is longer.
func Logf(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if testing.Verbose() {
		tb.Logf(format, args...)
		return
	}
	fmt.Printf(format+"\n", args...)
}

// Percentile is the nearest-rank percentile q (0..1] of sorted durations.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// Millis is d in (fractional) milliseconds, the unit the reports use.
func Millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
