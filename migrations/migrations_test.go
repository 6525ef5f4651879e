package migrations_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/migrations"
	"github.com/miniauth/miniauth/migrations/dbtest"
)

func TestAllOrderedAndUnique(t *testing.T) {
	t.Parallel()
	all, err := migrations.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 {
		t.Fatal("no migrations embedded")
	}
	nameRe := regexp.MustCompile(`^(\d{4})_[a-z0-9_]+\.sql$`)
	seen := map[int]bool{}
	for i, m := range all {
		if i > 0 && m.Version <= all[i-1].Version {
			t.Errorf("%s (v%d) follows %s (v%d): not strictly ascending", m.Name, m.Version, all[i-1].Name, all[i-1].Version)
		}
		if seen[m.Version] {
			t.Errorf("version %d appears twice", m.Version)
		}
		seen[m.Version] = true
		match := nameRe.FindStringSubmatch(m.Name)
		if match == nil {
			t.Errorf("migration %q is not named NNNN_description.sql", m.Name)
		} else if want := fmt.Sprintf("%04d", m.Version); match[1] != want {
			t.Errorf("migration %s has version %d", m.Name, m.Version)
		}
		if m.Version < 1 {
			t.Errorf("migration %s has version %d, want >= 1", m.Name, m.Version)
		}
		if strings.TrimSpace(m.SQL) == "" {
			t.Errorf("migration %s is empty", m.Name)
		}
	}
	again, err := migrations.All()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(all, again, func(a, b migrations.Migration) bool { return a == b }) {
		t.Fatal("All is not deterministic")
	}
}

// emptyDatabase creates a database with no schema at all (dbtest.Database
// is already migrated) and drops it when the test ends. It returns a config
// each caller can open its own pool from, like a separate replica.
func emptyDatabase(t *testing.T) *pgxpool.Config {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, dbtest.AdminURL())
	if err != nil {
		t.Fatalf("connect to Postgres: %v", err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "miniauth_migtest_" + hex.EncodeToString(b)
	// template0: nothing a local template1 may carry.
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dbtest.AdminURL())
		if err != nil {
			t.Errorf("drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	cfg, err := pgxpool.ParseConfig(dbtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Database = name
	return cfg
}

func openPool(t *testing.T, cfg *pgxpool.Config) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func names(t *testing.T) []string {
	t.Helper()
	all, err := migrations.All()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(all))
	for i, m := range all {
		out[i] = m.Name
	}
	return out
}

type appliedRow struct {
	Version int
	Name    string
}

func appliedRows(t *testing.T, pool *pgxpool.Pool) []appliedRow {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[appliedRow])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func assertFullyMigrated(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	all, _ := migrations.All()
	rows := appliedRows(t, pool)
	if len(rows) != len(all) {
		t.Fatalf("schema_migrations has %d rows, want %d: %v", len(rows), len(all), rows)
	}
	for i, m := range all {
		if rows[i].Version != m.Version || rows[i].Name != m.Name {
			t.Fatalf("schema_migrations row %d = %+v, want %d %s", i, rows[i], m.Version, m.Name)
		}
	}
	for _, table := range []string{"tenants", "signing_keys", "users", "sessions", "refresh_tokens",
		"api_keys", "admins", "admin_roles", "casbin_rule", "audit_log", "bans"} {
		var exists bool
		if err := pool.QueryRow(context.Background(), `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&exists); err != nil {
			t.Fatal(err)
		}
		if !exists {
			t.Errorf("table %s missing after Apply", table)
		}
	}
}

func TestApplyFreshDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := openPool(t, emptyDatabase(t))

	done, err := migrations.Apply(ctx, pool)
	if err != nil {
		t.Fatalf("first Apply: %v", err)
	}
	if want := names(t); !slices.Equal(done, want) {
		t.Fatalf("first Apply applied %v, want %v", done, want)
	}
	assertFullyMigrated(t, pool)

	again, err := migrations.Apply(ctx, pool)
	if err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if len(again) != 0 {
		t.Fatalf("second Apply applied %v, want nothing", again)
	}
	assertFullyMigrated(t, pool)

	// The runner leaves no advisory lock behind on the connection it
	// returns to the pool, or the next replica would wait forever.
	var held int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&held); err != nil {
		t.Fatal(err)
	}
	if held != 0 {
		t.Fatalf("%d advisory locks still held after Apply returned", held)
	}
}

func TestApplyConcurrent(t *testing.T) {
	t.Parallel()
	cfg := emptyDatabase(t)
	const replicas = 5
	pools := make([]*pgxpool.Pool, replicas)
	for i := range pools {
		pools[i] = openPool(t, cfg)
	}

	var wg sync.WaitGroup
	start := make(chan struct{})
	done := make([][]string, replicas)
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			done[i], errs[i] = migrations.Apply(ctx, pools[i])
		}()
	}
	close(start)
	wg.Wait()

	counts := map[string]int{}
	for i := range replicas {
		if errs[i] != nil {
			t.Errorf("replica %d: Apply: %v", i, errs[i])
		}
		for _, n := range done[i] {
			counts[n]++
		}
	}
	for _, n := range names(t) {
		if counts[n] != 1 {
			t.Errorf("migration %s applied %d times across replicas, want exactly once", n, counts[n])
		}
	}
	assertFullyMigrated(t, pools[0])
}

func TestDBTestPoolIsMigratedAndPrivate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := dbtest.Pool(t), dbtest.Pool(t)
	assertFullyMigrated(t, a)
	if _, err := a.Exec(ctx, `INSERT INTO tenants (slug, name, wechat_appid, wechat_secret_sealed) VALUES ('only-in-a', 'A', 'wx12345678', '\x00')`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(ctx, `SELECT count(*) FROM tenants`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("second test database sees %d tenants of the first", n)
	}
	// Applying on a template-cloned database finds nothing to do.
	if again, err := migrations.Apply(ctx, b); err != nil || len(again) != 0 {
		t.Fatalf("Apply on a dbtest database = %v, %v; want nothing applied", again, err)
	}
}

// A database migrated by another migration set (a development build from
// before the migrations were consolidated) is refused, not patched up.
func TestApplyRefusesForeignHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := openPool(t, emptyDatabase(t))
	if _, err := pool.Exec(ctx, `CREATE TABLE schema_migrations (
		version integer PRIMARY KEY,
		name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now());
		INSERT INTO schema_migrations (version, name) VALUES (1, '0001_another_set.sql')`); err != nil {
		t.Fatal(err)
	}
	done, err := migrations.Apply(ctx, pool)
	if !errors.Is(err, migrations.ErrForeignHistory) {
		t.Fatalf("Apply = %v, %v; want ErrForeignHistory", done, err)
	}
	if len(done) != 0 {
		t.Fatalf("Apply applied %v on a foreign history", done)
	}
	if rows := appliedRows(t, pool); len(rows) != 1 {
		t.Fatalf("schema_migrations = %v, want only the foreign row", rows)
	}
}

// The per-partition objects are made in loops; each of the 16 users
// partitions must have them.
func TestUsersPartitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	var parts, stats, columns int
	if err := pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM pg_inherits WHERE inhparent = 'users'::regclass),
		(SELECT count(*) FROM pg_statistic_ext s JOIN pg_inherits i ON i.inhrelid = s.stxrelid
			WHERE i.inhparent = 'users'::regclass AND s.stxstattarget = 1000),
		(SELECT count(*) FROM pg_attribute a JOIN pg_inherits i ON i.inhrelid = a.attrelid
			WHERE i.inhparent = 'users'::regclass AND a.attname IN ('openid', 'unionid', 'phone')
			AND a.attstattarget = 1000)`).Scan(&parts, &stats, &columns); err != nil {
		t.Fatal(err)
	}
	if parts != 16 || stats != 16 || columns != 3*16 {
		t.Fatalf("users: %d partitions, %d with nickname statistics, %d columns with 1000 statistics; want 16, 16, 48",
			parts, stats, columns)
	}
}
