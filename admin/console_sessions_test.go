package admin_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/migrations/dbtest"
)

// fakeClock is session time that tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// touchCounter counts the statements that write last_seen_at, and the
// rows they wrote.
type touchCounter struct{ statements, rows atomic.Int64 }

type touchQuery struct{}

func (c *touchCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if strings.Contains(data.SQL, "SET last_seen_at") {
		c.statements.Add(1)
		return context.WithValue(ctx, touchQuery{}, true)
	}
	return ctx
}

func (c *touchCounter) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	if ctx.Value(touchQuery{}) != nil {
		c.rows.Add(data.CommandTag.RowsAffected())
	}
}

// consoleBundle is two instances' console sessions on one database and
// one change feed, on one session clock.
type consoleBundle struct {
	*testBundle
	clock   *fakeClock
	one     *admin.ConsoleSessions
	two     *admin.ConsoleSessions
	touches *touchCounter
}

func setupConsole(t *testing.T) *consoleBundle {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dbtest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	touches := &touchCounter{}
	cfg.ConnConfig.Tracer = touches
	db, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	cb := &consoleBundle{testBundle: setupOn(t, db), touches: touches,
		clock: &fakeClock{now: time.Now().Truncate(time.Millisecond)}}
	cb.one = admin.NewConsoleSessionsAt(db, cb.feed, cb.clock.Now)
	cb.two = admin.NewConsoleSessionsAt(db, cb.feed, cb.clock.Now)
	return cb
}

func (cb *consoleBundle) signIn(t *testing.T, on *admin.ConsoleSessions, id uuid.UUID) (string, admin.ConsoleSession) {
	t.Helper()
	token, sess, err := on.Create(context.Background(), id, netip.MustParseAddr("198.51.100.7"), "test-browser/1.0")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return token, sess
}

// live fails the test unless token authenticates on each instance.
func live(t *testing.T, token string, on ...*admin.ConsoleSessions) admin.ConsoleSession {
	t.Helper()
	var sess admin.ConsoleSession
	for i, s := range on {
		got, err := s.Authenticate(context.Background(), token)
		if err != nil {
			t.Fatalf("instance %d: Authenticate = %v, want the session", i+1, err)
		}
		sess = got
	}
	return sess
}

// refused fails the test unless token gets exactly ErrUnauthorized on each
// instance.
func refused(t *testing.T, token string, on ...*admin.ConsoleSessions) {
	t.Helper()
	for i, s := range on {
		got, err := s.Authenticate(context.Background(), token)
		if err != admin.ErrUnauthorized {
			t.Fatalf("instance %d: Authenticate = %+v, %v; want ErrUnauthorized itself", i+1, got, err)
		}
	}
}

func (cb *consoleBundle) lastSeen(t *testing.T, token string) time.Time {
	t.Helper()
	h := sha256.Sum256([]byte(token))
	var at time.Time
	if err := cb.db.QueryRow(context.Background(), `SELECT last_seen_at FROM admin_sessions WHERE token_hash = $1`, h[:]).Scan(&at); err != nil {
		t.Fatal(err)
	}
	return at
}

func TestConsoleSessionCreateAuthenticate(t *testing.T) {
	t.Parallel()
	cb := setupConsole(t)
	ctx := context.Background()
	cb.createTenant(t, "cs-create")
	acct := cb.createAccount(t, "console@example.com", bind(admin.RoleTenantOperator, "cs-create"))

	token, sess, err := cb.one.Create(ctx, acct.ID, netip.MustParseAddr("::ffff:198.51.100.7"), "ua\x00"+strings.Repeat("é", 400))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("token", func(t *testing.T) {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(raw) < 48 {
			t.Fatalf("token %q is not base64url of 16 + 32 bytes: %v", token, err)
		}
		other, _, err := cb.one.Create(ctx, acct.ID, netip.Addr{}, "")
		if err != nil || other == token {
			t.Fatalf("a second sign-in got %q, %v", other, err)
		}
	})
	t.Run("session", func(t *testing.T) {
		if sess.ID == uuid.Nil || sess.Account.ID != acct.ID || sess.Account.Email != "console@example.com" {
			t.Fatalf("session %+v", sess)
		}
		if r := bindingsOf(sess.Account.Roles); !slices.Equal(r, []string{"tenant_operator@cs-create"}) {
			t.Fatalf("roles %v", r)
		}
		now := cb.clock.Now()
		if !sess.CreatedAt.Equal(now) || !sess.LastSeenAt.Equal(now) || !sess.ExpiresAt.Equal(now.Add(admin.ConsoleAbsoluteTimeout)) {
			t.Fatalf("times %v %v %v, want created and seen now, expiring in %v", sess.CreatedAt, sess.LastSeenAt, sess.ExpiresAt, admin.ConsoleAbsoluteTimeout)
		}
		if sess.IP != netip.MustParseAddr("198.51.100.7") {
			t.Errorf("IP %v, want the IPv4 address unmapped", sess.IP)
		}
		if len(sess.UserAgent) > 512 || strings.Contains(sess.UserAgent, "\x00") {
			t.Errorf("user agent of %d bytes kept as %q...", len(sess.UserAgent), sess.UserAgent[:10])
		}
	})
	t.Run("authenticates on every instance", func(t *testing.T) {
		for i, s := range []*admin.ConsoleSessions{cb.one, cb.two, cb.two} {
			got, err := s.Authenticate(ctx, token)
			if err != nil {
				t.Fatalf("instance %d: %v", i+1, err)
			}
			if got.ID != sess.ID || got.Account.ID != acct.ID || got.IP != sess.IP || got.UserAgent != sess.UserAgent ||
				!got.ExpiresAt.Equal(sess.ExpiresAt) || !slices.Equal(bindingsOf(got.Account.Roles), bindingsOf(sess.Account.Roles)) {
				t.Fatalf("instance %d: %+v, want %+v", i+1, got, sess)
			}
		}
	})
	t.Run("only the hash is stored", func(t *testing.T) {
		h := sha256.Sum256([]byte(token))
		var row string
		if err := cb.db.QueryRow(ctx, `SELECT row_to_json(s)::text FROM admin_sessions s WHERE token_hash = $1`, h[:]).Scan(&row); err != nil {
			t.Fatalf("no row under the token's SHA-256: %v", err)
		}
		raw, _ := base64.RawURLEncoding.DecodeString(token)
		if strings.Contains(row, token) || strings.Contains(row, base64.StdEncoding.EncodeToString(raw[16:])) {
			t.Fatalf("the token is stored: %s", row)
		}
	})
	t.Run("refused for a disabled or unknown account", func(t *testing.T) {
		d := cb.createAccount(t, "console-disabled@example.com", bind(admin.RoleTenantViewer, "cs-create"))
		if _, err := cb.accounts.Update(ctx, d.ID, admin.AccountPatch{Disabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []uuid.UUID{d.ID, uuid.Must(uuid.NewV7())} {
			if token, _, err := cb.one.Create(ctx, id, netip.Addr{}, ""); !errors.Is(err, admin.ErrUnauthorized) || token != "" {
				t.Errorf("Create(%s) = %q, %v; want ErrUnauthorized", id, token, err)
			}
		}
	})
}

func TestConsoleSessionIdleTimeout(t *testing.T) {
	t.Parallel()
	cb := setupConsole(t)
	acct := cb.createAccount(t, "idle@example.com", bind(admin.RolePlatformAdmin, ""))

	t.Run("use on another instance keeps it alive", func(t *testing.T) {
		token, _ := cb.signIn(t, cb.one, acct.ID)
		live(t, token, cb.two) // instance two caches last_seen as of sign-in
		cb.clock.Advance(20 * time.Minute)
		live(t, token, cb.one)
		cb.clock.Advance(20 * time.Minute)
		// Forty minutes after what instance two last read: it must ask
		// Postgres, which has instance one's use twenty minutes ago.
		got := live(t, token, cb.two)
		if !got.LastSeenAt.Equal(cb.clock.Now()) {
			t.Fatalf("last seen %v, want now (%v)", got.LastSeenAt, cb.clock.Now())
		}
	})
	t.Run("idle everywhere ends it", func(t *testing.T) {
		token, _ := cb.signIn(t, cb.one, acct.ID)
		live(t, token, cb.one, cb.two)
		cb.clock.Advance(admin.ConsoleIdleTimeout)
		live(t, token, cb.one) // exactly the timeout is not over it
		cb.clock.Advance(admin.ConsoleIdleTimeout + time.Second)
		refused(t, token, cb.one, cb.two)
	})
	t.Run("List leaves idle sessions out", func(t *testing.T) {
		other := cb.createAccount(t, "idle-list@example.com", bind(admin.RolePlatformAdmin, ""))
		old, _ := cb.signIn(t, cb.one, other.ID)
		cb.clock.Advance(admin.ConsoleIdleTimeout - time.Minute)
		_, fresh := cb.signIn(t, cb.one, other.ID)
		cb.clock.Advance(2 * time.Minute)
		list, err := cb.two.List(context.Background(), other.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].ID != fresh.ID {
			t.Fatalf("List = %+v, want only the fresh session", list)
		}
		refused(t, old, cb.one, cb.two)
	})
}

func TestConsoleSessionAbsoluteTimeout(t *testing.T) {
	t.Parallel()
	cb := setupConsole(t)
	acct := cb.createAccount(t, "absolute@example.com", bind(admin.RolePlatformAdmin, ""))
	token, sess := cb.signIn(t, cb.one, acct.ID)
	for cb.clock.Now().Add(10 * time.Minute).Before(sess.ExpiresAt) {
		cb.clock.Advance(10 * time.Minute)
		live(t, token, cb.one, cb.two)
	}
	cb.clock.Advance(sess.ExpiresAt.Sub(cb.clock.Now()) - time.Second)
	live(t, token, cb.two)
	cb.clock.Advance(time.Second)
	refused(t, token, cb.one, cb.two)
}

func TestConsoleSessionTouch(t *testing.T) {
	t.Parallel()
	cb := setupConsole(t)
	ctx := context.Background()
	acct := cb.createAccount(t, "touch@example.com", bind(admin.RolePlatformAdmin, ""))
	token, sess := cb.signIn(t, cb.one, acct.ID)
	t0 := sess.CreatedAt

	cb.clock.Advance(30 * time.Second)
	for range 10 {
		live(t, token, cb.one, cb.two)
	}
	if n := cb.touches.statements.Load(); n != 0 {
		t.Fatalf("%d last-seen writes within the first minute, want none", n)
	}
	if at := cb.lastSeen(t, token); !at.Equal(t0) {
		t.Fatalf("last_seen_at %v, want the sign-in's %v", at, t0)
	}

	cb.clock.Advance(31 * time.Second)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if _, err := cb.one.Authenticate(ctx, token); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := cb.touches.statements.Load(); n != 1 {
		t.Fatalf("%d last-seen writes for 20 concurrent requests a minute on, want 1", n)
	}
	if at := cb.lastSeen(t, token); !at.Equal(cb.clock.Now()) {
		t.Fatalf("last_seen_at %v, want %v", at, cb.clock.Now())
	}

	// Instance two's entry is older than a minute: it tries, but the row
	// was touched within the minute and is left alone.
	live(t, token, cb.two)
	if n := cb.touches.rows.Load(); n != 1 {
		t.Fatalf("%d rows written, want still 1", n)
	}
	touched := cb.lastSeen(t, token)
	for range 5 {
		live(t, token, cb.one, cb.two)
	}
	if n := cb.touches.rows.Load(); n != 1 {
		t.Fatalf("%d rows written, want still 1", n)
	}

	// An instance whose clock lags never moves last_seen_at back.
	lagging := admin.NewConsoleSessionsAt(cb.db, cb.feed, func() time.Time { return cb.clock.Now().Add(-30 * time.Second) })
	live(t, token, lagging)
	cb.clock.Advance(2 * time.Minute)
	live(t, token, cb.one)
	touched = cb.lastSeen(t, token)
	if !touched.Equal(cb.clock.Now()) || cb.touches.rows.Load() != 2 {
		t.Fatalf("last_seen_at %v after %d row writes, want %v after 2", touched, cb.touches.rows.Load(), cb.clock.Now())
	}
	live(t, token, lagging)
	if at := cb.lastSeen(t, token); !at.Equal(touched) {
		t.Fatalf("a lagging clock moved last_seen_at from %v to %v", touched, at)
	}
}

func TestConsoleSessionEnd(t *testing.T) {
	t.Parallel()
	cb := setupConsole(t)
	ctx := context.Background()
	acct := cb.createAccount(t, "end@example.com", bind(admin.RolePlatformAdmin, ""))
	token, _ := cb.signIn(t, cb.one, acct.ID)
	other, _ := cb.signIn(t, cb.two, acct.ID)
	live(t, token, cb.one, cb.two)
	live(t, other, cb.one, cb.two)

	if err := cb.one.End(ctx, token); err != nil {
		t.Fatal(err)
	}
	refused(t, token, cb.one, cb.two)
	live(t, other, cb.one, cb.two)
	if p := cb.feed.Payloads(admin.TopicConsoleSessionsEnded); !slices.Equal(p, []string{acct.ID.String()}) {
		t.Fatalf("notices %v, want one naming the admin", p)
	}
	t.Run("idempotent", func(t *testing.T) {
		cb.feed.Forget()
		for _, tok := range []string{token, "", "not a token", strings.Repeat("A", 64)} {
			if err := cb.two.End(ctx, tok); err != nil {
				t.Fatalf("End(%q) = %v", tok, err)
			}
		}
		if p := cb.feed.Payloads(admin.TopicConsoleSessionsEnded); len(p) != 0 {
			t.Fatalf("ending nothing published %v", p)
		}
		refused(t, token, cb.one, cb.two)
	})
}

func TestConsoleSessionEndAccount(t *testing.T) {
	t.Parallel()
	cb := setupConsole(t)
	ctx := context.Background()
	x := cb.createAccount(t, "end-x@example.com", bind(admin.RolePlatformAdmin, ""))
	y := cb.createAccount(t, "end-y@example.com", bind(admin.RolePlatformAdmin, ""))
	x1, _ := cb.signIn(t, cb.one, x.ID)
	cb.clock.Advance(time.Second)
	x2, s2 := cb.signIn(t, cb.two, x.ID)
	y1, _ := cb.signIn(t, cb.one, y.ID)
	live(t, x1, cb.one, cb.two)
	live(t, x2, cb.one, cb.two)
	live(t, y1, cb.one, cb.two)

	list, err := cb.one.List(ctx, x.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != s2.ID || list[0].Account.ID != x.ID {
		t.Fatalf("List = %+v, want two sessions, newest first", list)
	}

	n, err := cb.two.EndAccount(ctx, x.ID)
	if err != nil || n != 2 {
		t.Fatalf("EndAccount = %d, %v; want 2", n, err)
	}
	refused(t, x1, cb.one, cb.two)
	refused(t, x2, cb.one, cb.two)
	live(t, y1, cb.one, cb.two)
	if list, err := cb.one.List(ctx, x.ID); err != nil || len(list) != 0 {
		t.Fatalf("List after EndAccount = %+v, %v", list, err)
	}
	if n, err := cb.two.EndAccount(ctx, x.ID); err != nil || n != 0 {
		t.Fatalf("EndAccount again = %d, %v; want 0", n, err)
	}
}

// TestConsoleSessionsEndOnAccountChange: the account store ends an admin's
// console sessions on changes that call for it, whichever surface made
// them; instance two had the sessions cached.
func TestConsoleSessionsEndOnAccountChange(t *testing.T) {
	t.Parallel()
	cb := setupConsole(t)
	ctx := context.Background()
	cb.createTenant(t, "cs-roles-a")
	cb.createTenant(t, "cs-roles-b")
	both := []*admin.ConsoleSessions{cb.one, cb.two}

	for name, change := range map[string]func(t *testing.T, id uuid.UUID){
		"password change": func(t *testing.T, id uuid.UUID) {
			if _, err := cb.accounts.Update(ctx, id, admin.AccountPatch{Password: ptr("a brand new battery staple")}); err != nil {
				t.Fatal(err)
			}
		},
		"disable": func(t *testing.T, id uuid.UUID) {
			if _, err := cb.accounts.Update(ctx, id, admin.AccountPatch{Disabled: ptr(true)}); err != nil {
				t.Fatal(err)
			}
			// Enabling the account again does not revive its sessions.
			if _, err := cb.accounts.Update(ctx, id, admin.AccountPatch{Disabled: ptr(false)}); err != nil {
				t.Fatal(err)
			}
		},
		"role change": func(t *testing.T, id uuid.UUID) {
			if _, err := cb.accounts.Update(ctx, id, admin.AccountPatch{Roles: []admin.Binding{bind(admin.RoleTenantViewer, "cs-roles-a")}}); err != nil {
				t.Fatal(err)
			}
		},
		"delete": func(t *testing.T, id uuid.UUID) {
			if err := cb.accounts.Delete(ctx, id); err != nil {
				t.Fatal(err)
			}
		},
		"disabled in SQL": func(t *testing.T, id uuid.UUID) {
			if _, err := cb.db.Exec(ctx, `UPDATE admins SET disabled_at = now() WHERE id = $1`, id); err != nil {
				t.Fatal(err)
			}
			cb.feed.Reset() // as the feed does when a notice may be lost
		},
	} {
		t.Run(name, func(t *testing.T) {
			acct := cb.createAccount(t, strings.ReplaceAll(name, " ", "-")+"@example.com",
				bind(admin.RoleTenantAdmin, "cs-roles-a"), bind(admin.RoleTenantOperator, "cs-roles-b"))
			first, _ := cb.signIn(t, cb.one, acct.ID)
			second, _ := cb.signIn(t, cb.two, acct.ID)
			bystander := cb.createAccount(t, "by-"+strings.ReplaceAll(name, " ", "-")+"@example.com", bind(admin.RolePlatformAdmin, ""))
			third, _ := cb.signIn(t, cb.one, bystander.ID)
			live(t, first, both...)
			live(t, second, both...)
			live(t, third, both...)

			change(t, acct.ID)
			refused(t, first, both...)
			refused(t, second, both...)
			live(t, third, both...)
		})
	}

	t.Run("a patch that changes nothing keeps them", func(t *testing.T) {
		acct := cb.createAccount(t, "unchanged@example.com", bind(admin.RoleTenantAdmin, "cs-roles-a"), bind(admin.RoleTenantOperator, "cs-roles-b"))
		token, _ := cb.signIn(t, cb.one, acct.ID)
		live(t, token, both...)
		cb.feed.Forget()
		for _, p := range []admin.AccountPatch{
			{},
			{Disabled: ptr(false)},
			{Roles: []admin.Binding{bind(admin.RoleTenantOperator, "cs-roles-b"), bind(admin.RoleTenantAdmin, "cs-roles-a")}},
		} {
			if _, err := cb.accounts.Update(ctx, acct.ID, p); err != nil {
				t.Fatalf("Update(%+v): %v", p, err)
			}
			live(t, token, both...)
		}
		if p := cb.feed.Payloads(admin.TopicConsoleSessionsEnded); len(p) != 0 {
			t.Fatalf("unchanged account published %v", p)
		}
		got := live(t, token, cb.two)
		if r := bindingsOf(got.Account.Roles); !slices.Equal(r, []string{"tenant_admin@cs-roles-a", "tenant_operator@cs-roles-b"}) {
			t.Fatalf("roles %v", r)
		}
	})
	t.Run("a refused patch keeps them", func(t *testing.T) {
		acct := cb.createAccount(t, "refused-patch@example.com", bind(admin.RoleTenantAdmin, "cs-roles-a"))
		token, _ := cb.signIn(t, cb.one, acct.ID)
		_, err := cb.accounts.Update(ctx, acct.ID, admin.AccountPatch{Password: ptr("another long password"),
			Roles: []admin.Binding{bind(admin.RoleTenantAdmin, "no-such-tenant")}})
		if err == nil {
			t.Fatal("a role in an unknown tenant was accepted")
		}
		live(t, token, both...)
	})
}

func TestConsoleSessionForgedTokens(t *testing.T) {
	t.Parallel()
	cb := setupConsole(t)
	x := cb.createAccount(t, "forged-x@example.com", bind(admin.RolePlatformAdmin, ""))
	y := cb.createAccount(t, "forged-y@example.com", bind(admin.RolePlatformAdmin, ""))
	token, _ := cb.signIn(t, cb.one, x.ID)
	live(t, token, cb.one)
	raw, _ := base64.RawURLEncoding.DecodeString(token)

	swapped := append(append([]byte{}, y.ID[:]...), raw[16:]...) // x's secret under y's id
	flipped := []byte(token)
	flipped[len(flipped)-5] ^= 1
	random := append(append([]byte{}, x.ID[:]...), make([]byte, 32)...)
	for name, forged := range map[string]string{
		"empty":                           "",
		"garbage":                         "not-a-token",
		"a character flipped":             string(flipped),
		"secret under another admin's id": base64.RawURLEncoding.EncodeToString(swapped),
		"a made-up secret":                base64.RawURLEncoding.EncodeToString(random),
		"padded":                          token + "=",
		"with a trailing byte":            base64.RawURLEncoding.EncodeToString(append(raw, 0)),
		"the CSRF token":                  admin.CSRFToken(token),
		"its SHA-256":                     base64.RawURLEncoding.EncodeToString(func() []byte { h := sha256.Sum256([]byte(token)); return h[:] }()),
	} {
		t.Run(name, func(t *testing.T) {
			refused(t, forged, cb.one, cb.two)
		})
	}
	if std := base64.RawStdEncoding.EncodeToString(raw); std != token {
		t.Run("standard base64", func(t *testing.T) {
			refused(t, std, cb.one, cb.two)
		})
	}
	live(t, token, cb.one, cb.two)
}

func TestConsoleCSRF(t *testing.T) {
	t.Parallel()
	token := base64.RawURLEncoding.EncodeToString(make([]byte, 48))
	other := base64.RawURLEncoding.EncodeToString(append(make([]byte, 47), 1))
	csrf := admin.CSRFToken(token)
	if csrf != admin.CSRFToken(token) {
		t.Fatal("CSRFToken is not deterministic")
	}
	if _, err := base64.RawURLEncoding.DecodeString(csrf); err != nil || len(csrf) < 43 {
		t.Fatalf("CSRF token %q is not base64url of 256 bits", csrf)
	}
	if csrf == admin.CSRFToken(other) || strings.Contains(token, csrf) || strings.Contains(csrf, token) {
		t.Fatal("CSRF tokens of two sessions agree, or one shows the session token")
	}
	if !admin.CheckCSRF(token, csrf) {
		t.Fatal("CheckCSRF refused the session's own CSRF token")
	}
	for name, c := range map[string]struct{ token, presented string }{
		"another session's": {token, admin.CSRFToken(other)},
		"empty":             {token, ""},
		"truncated":         {token, csrf[:len(csrf)-1]},
		"the session token": {token, token},
		"no session":        {"", admin.CSRFToken("")},
		"padded":            {token, csrf + "="},
		"case changed":      {token, strings.ToUpper(csrf)},
	} {
		if admin.CheckCSRF(c.token, c.presented) {
			t.Errorf("%s: CheckCSRF accepted %q", name, c.presented)
		}
	}
}
