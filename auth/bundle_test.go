package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/changes/changestest"
	"github.com/miniauth/miniauth/tenant/seal"
)

// notice is one expected notice of a test.
type notice struct{ topic, payload string }

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countCounter is a Counter that remembers every Inc.
type countCounter struct {
	mu   sync.Mutex
	incs [][]string
}

func (c *countCounter) Inc(labels ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.incs = append(c.incs, labels)
}

func (c *countCounter) calls() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]string{}, c.incs...)
}

// testBundle is one test's auth domain on a fresh database: sessions,
// bans and ban views on one fake change feed, their caches on one fake
// clock that starts at the real time and moves only when a test moves it.
type testBundle struct {
	db       *pgxpool.Pool
	feed     *changestest.Feed
	clock    *fakeClock
	sealer   *seal.Sealer
	tenants  *tenant.Store
	dir      *tenant.Directory
	sessions *Sessions
	views    *BanViews
	bans     *Bans
	log      *slog.Logger
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	db := dbtest.Pool(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, err := seal.New(key)
	if err != nil {
		t.Fatal(err)
	}
	feed := changestest.New()
	clock := &fakeClock{t: time.Now()}
	log := slog.New(slog.DiscardHandler)
	store := tenant.NewStore(db, sealer, feed)
	sessions := newSessions(db, feed, clock.Now)
	bans := NewBans(db, feed, sessions, log)
	bans.now = clock.Now
	return &testBundle{
		db: db, feed: feed, clock: clock, sealer: sealer, tenants: store, dir: tenant.NewDirectory(store, feed),
		sessions: sessions, views: newBanViews(banStore{db: db}, feed, clock.Now), bans: bans, log: log,
	}
}

var tenantSeq atomic.Int64

// tenant creates a tenant and returns it as request paths see it.
func (b *testBundle) tenant(t *testing.T, change ...func(*tenant.NewTenant)) *tenant.Runtime {
	t.Helper()
	ctx := context.Background()
	seq := tenantSeq.Add(1)
	n := tenant.NewTenant{
		Slug:         fmt.Sprintf("tenant-%d", seq),
		Name:         "Test tenant",
		WeChatAppID:  fmt.Sprintf("wx%016d", seq),
		WeChatSecret: "app-secret-of-the-test-tenant",
	}
	for _, c := range change {
		c(&n)
	}
	ten, err := b.tenants.Create(ctx, n)
	if err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	rt, err := b.dir.Lookup(ctx, ten.Slug)
	if err != nil {
		t.Fatalf("look up tenant %s: %v", ten.Slug, err)
	}
	return rt
}

// user inserts a user of a tenant straight into SQL.
func (b *testBundle) user(t *testing.T, tenantID int64, openID string) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	if _, err := b.db.Exec(context.Background(), `INSERT INTO users (tenant_id, id, openid) VALUES ($1, $2, $3)`,
		tenantID, id, openID); err != nil {
		t.Fatalf("insert user: %v", err)
	}
	return id
}

// session starts a session for a user, logged in from ip ("" for none),
// and returns its id and first refresh token.
func (b *testBundle) session(t *testing.T, tenantID int64, userID uuid.UUID, ip string) (uuid.UUID, string) {
	t.Helper()
	var meta ClientMeta
	if ip != "" {
		meta.IP = netip.MustParseAddr(ip)
	}
	var sid uuid.UUID
	var token string
	err := pgx.BeginFunc(context.Background(), b.db, func(tx pgx.Tx) error {
		var err error
		sid, token, err = b.sessions.create(context.Background(), tx, tenantID, userID, time.Hour, meta)
		return err
	})
	if err != nil {
		t.Fatalf("create session: %v", err)
	}
	return sid, token
}

// count runs a SELECT count(*) ... query.
func (b *testBundle) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// revoked reports whether a session's row says it is revoked, and why.
func (b *testBundle) revoked(t *testing.T, sid uuid.UUID) (bool, string) {
	t.Helper()
	var reason *string
	var revoked bool
	if err := b.db.QueryRow(context.Background(), `SELECT revoked_at IS NOT NULL, revoke_reason FROM sessions WHERE id = $1`,
		sid).Scan(&revoked, &reason); err != nil {
		t.Fatalf("read session %s: %v", sid, err)
	}
	if reason == nil {
		return revoked, ""
	}
	return revoked, *reason
}

// active is Sessions.Active, failing the test on an error.
func (b *testBundle) active(t *testing.T, tenantID int64, sid, userID uuid.UUID) bool {
	t.Helper()
	ok, err := b.sessions.Active(context.Background(), tenantID, sid, userID)
	if err != nil {
		t.Fatalf("Active: %v", err)
	}
	return ok
}

// invalidField is the first field a validation error names, or "".
func invalidField(err error) string {
	var ve *tenant.ValidationError
	if !errors.As(err, &ve) || len(ve.Fields) == 0 {
		return ""
	}
	return ve.Fields[0].Field
}
