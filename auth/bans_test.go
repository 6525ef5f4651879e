package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/tenant"
)

// banRow is a ban as its row in Postgres holds it.
type banRow struct {
	tenantID  *int64
	kind      string
	target    string
	reason    string
	expiresAt *time.Time
	createdBy string
}

func (b *testBundle) banRow(t *testing.T, id uuid.UUID) banRow {
	t.Helper()
	var r banRow
	if err := b.db.QueryRow(context.Background(), `SELECT tenant_id, kind, target, reason, expires_at, created_by
		FROM bans WHERE id = $1`, id).Scan(&r.tenantID, &r.kind, &r.target, &r.reason, &r.expiresAt, &r.createdBy); err != nil {
		t.Fatalf("read ban %s: %v", id, err)
	}
	return r
}

func TestBansCreate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)

	t.Run("user", func(t *testing.T) {
		t.Parallel()
		rt := b.tenant(t)
		tid := strconv.FormatInt(rt.ID, 10)
		banned, bystander := b.user(t, rt.ID, "o-banned-user"), b.user(t, rt.ID, "o-bystander")
		s1, _ := b.session(t, rt.ID, banned, "203.0.113.1")
		s2, _ := b.session(t, rt.ID, banned, "198.51.100.1")
		s3, _ := b.session(t, rt.ID, bystander, "203.0.113.1")
		if !b.active(t, rt.ID, s1, banned) {
			t.Fatal("session not active before the ban")
		}
		expires := b.clock.Now().Add(time.Hour).Truncate(time.Microsecond)

		ban, err := b.bans.Create(ctx, rt.ID, NewBan{UserID: banned.String(), Reason: " spam ", ExpiresAt: &expires, CreatedBy: "apikey:1"})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if ban.Kind != BanUser || ban.Target != banned.String() || ban.Reason != "spam" || ban.CreatedBy != "apikey:1" ||
			ban.TenantID == nil || *ban.TenantID != rt.ID || ban.CreatedAt.IsZero() || ban.ID == uuid.Nil {
			t.Fatalf("Create = %+v", ban)
		}
		row := b.banRow(t, ban.ID)
		if row.tenantID == nil || *row.tenantID != rt.ID || row.kind != BanUser || row.target != banned.String() ||
			row.reason != "spam" || row.createdBy != "apikey:1" || row.expiresAt == nil || !row.expiresAt.Equal(expires) {
			t.Fatalf("row = %+v", row)
		}
		if got := b.feed.Payloads(TopicBans); !slices.Contains(got, tid) {
			t.Fatalf("%s notices %q, want one for tenant %s", TopicBans, got, tid)
		}
		for _, sid := range []uuid.UUID{s1, s2} {
			if revoked, reason := b.revoked(t, sid); !revoked || reason != "banned" {
				t.Fatalf("banned user's session %s: revoked %v (%q), want revoked as banned", sid, revoked, reason)
			}
		}
		if revoked, _ := b.revoked(t, s3); revoked {
			t.Fatal("another user's session was revoked")
		}
		// Revoked on this instance at once, not when the cache ages out.
		if b.active(t, rt.ID, s1, banned) {
			t.Fatal("banned user's session still answers active")
		}
		if !b.active(t, rt.ID, s3, bystander) {
			t.Fatal("bystander's session answers inactive")
		}
	})

	t.Run("openid of a user", func(t *testing.T) {
		t.Parallel()
		rt := b.tenant(t)
		banned, bystander := b.user(t, rt.ID, "o-banned-openid"), b.user(t, rt.ID, "o-bystander")
		s1, _ := b.session(t, rt.ID, banned, "203.0.113.1")
		s2, _ := b.session(t, rt.ID, bystander, "203.0.113.1")

		ban, err := b.bans.Create(ctx, rt.ID, NewBan{OpenID: "o-banned-openid", Reason: "spam", CreatedBy: "admin:1"})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if row := b.banRow(t, ban.ID); row.kind != BanOpenID || row.target != "o-banned-openid" || row.expiresAt != nil {
			t.Fatalf("row = %+v", row)
		}
		if got := b.feed.Payloads(TopicBans); !slices.Contains(got, strconv.FormatInt(rt.ID, 10)) {
			t.Fatalf("%s notices %q, want one for tenant %d", TopicBans, got, rt.ID)
		}
		if revoked, reason := b.revoked(t, s1); !revoked || reason != "banned" {
			t.Fatalf("session of the banned openid: revoked %v (%q)", revoked, reason)
		}
		if revoked, _ := b.revoked(t, s2); revoked {
			t.Fatal("another user's session was revoked")
		}
	})

	t.Run("openid never seen", func(t *testing.T) {
		t.Parallel()
		rt := b.tenant(t)
		other := b.user(t, rt.ID, "o-someone")
		sid, _ := b.session(t, rt.ID, other, "203.0.113.1")
		ban, err := b.bans.Create(ctx, rt.ID, NewBan{OpenID: "o-not-yet-logged-in", Reason: "pre-emptive"})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if row := b.banRow(t, ban.ID); row.kind != BanOpenID || row.target != "o-not-yet-logged-in" {
			t.Fatalf("row = %+v", row)
		}
		if revoked, _ := b.revoked(t, sid); revoked {
			t.Fatal("a session of another user was revoked")
		}
	})

	t.Run("IP range", func(t *testing.T) {
		t.Parallel()
		// Its own bundle: its notices are counted.
		b := setup(t)
		rt, other := b.tenant(t), b.tenant(t)
		u1, u2 := b.user(t, rt.ID, "o-one"), b.user(t, rt.ID, "o-two")
		uo := b.user(t, other.ID, "o-one")
		inside, _ := b.session(t, rt.ID, u1, "203.0.113.9")
		insideToo, _ := b.session(t, rt.ID, u2, "203.0.113.200")
		outside, _ := b.session(t, rt.ID, u1, "203.0.114.9")
		noIP, _ := b.session(t, rt.ID, u2, "")
		otherTenant, _ := b.session(t, other.ID, uo, "203.0.113.9")
		// Cached answers, to see that the flush notice drops them.
		if !b.active(t, rt.ID, inside, u1) || !b.active(t, rt.ID, insideToo, u2) {
			t.Fatal("sessions not active before the ban")
		}
		b.feed.Forget()

		ban, err := b.bans.Create(ctx, rt.ID, NewBan{IP: "203.0.113.77/24", Reason: "abuse"})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if row := b.banRow(t, ban.ID); row.kind != BanIP || row.target != "203.0.113.0/24" {
			t.Fatalf("row = %+v", row)
		}
		if got := b.feed.Payloads(TopicBans); !slices.Equal(got, []string{strconv.FormatInt(rt.ID, 10)}) {
			t.Fatalf("%s notices %q, want exactly one for tenant %d", TopicBans, got, rt.ID)
		}
		if got := b.feed.Payloads(TopicSessionsFlush); len(got) != 1 {
			t.Fatalf("%d %s notices, want 1", len(got), TopicSessionsFlush)
		}
		for name, sid := range map[string]uuid.UUID{"inside": inside, "inside too": insideToo} {
			if revoked, reason := b.revoked(t, sid); !revoked || reason != "banned" {
				t.Fatalf("session %s the range: revoked %v (%q)", name, revoked, reason)
			}
		}
		for name, sid := range map[string]uuid.UUID{"outside the range": outside, "without an IP": noIP, "of another tenant": otherTenant} {
			if revoked, _ := b.revoked(t, sid); revoked {
				t.Fatalf("session %s was revoked", name)
			}
		}
		if b.active(t, rt.ID, inside, u1) || b.active(t, rt.ID, insideToo, u2) {
			t.Fatal("a revoked session still answers active from the cache")
		}
	})

	t.Run("IP range covering no session sends no flush", func(t *testing.T) {
		t.Parallel()
		// Its own bundle: other subtests' flush notices would be counted.
		b := setup(t)
		rt := b.tenant(t)
		u := b.user(t, rt.ID, "o-one")
		b.session(t, rt.ID, u, "198.51.100.1")
		if _, err := b.bans.Create(ctx, rt.ID, NewBan{IP: "203.0.113.0/24", Reason: "abuse"}); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if got := b.feed.Payloads(TopicSessionsFlush); len(got) != 0 {
			t.Fatalf("%d %s notices, want none", len(got), TopicSessionsFlush)
		}
		if got := b.feed.Payloads(TopicBans); len(got) != 1 {
			t.Fatalf("%s notices %q, want one", TopicBans, got)
		}
	})

	t.Run("platform IP", func(t *testing.T) {
		t.Parallel()
		// Its own bundle: a platform ban covers every tenant's sessions.
		b := setup(t)
		r1, r2 := b.tenant(t), b.tenant(t)
		u1, u2 := b.user(t, r1.ID, "o-one"), b.user(t, r2.ID, "o-two")
		s1, _ := b.session(t, r1.ID, u1, "203.0.113.9")
		s2, _ := b.session(t, r2.ID, u2, "203.0.113.10")
		s3, _ := b.session(t, r2.ID, u2, "198.51.100.1")

		ban, err := b.bans.Create(ctx, 0, NewBan{IP: "203.0.113.0/24", Reason: "botnet"})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if ban.TenantID != nil {
			t.Fatalf("platform ban has tenant %d", *ban.TenantID)
		}
		if row := b.banRow(t, ban.ID); row.tenantID != nil || row.target != "203.0.113.0/24" {
			t.Fatalf("row = %+v", row)
		}
		if got := b.feed.Payloads(TopicBans); !slices.Equal(got, []string{"0"}) {
			t.Fatalf("%s notices %q, want [\"0\"]", TopicBans, got)
		}
		for _, sid := range []uuid.UUID{s1, s2} {
			if revoked, _ := b.revoked(t, sid); !revoked {
				t.Fatalf("session %s in the range not revoked", sid)
			}
		}
		if revoked, _ := b.revoked(t, s3); revoked {
			t.Fatal("session outside the range revoked")
		}
	})

	t.Run("user id of another tenant is refused", func(t *testing.T) {
		t.Parallel()
		rt, other := b.tenant(t), b.tenant(t)
		stranger := b.user(t, other.ID, "o-stranger")
		sid, _ := b.session(t, other.ID, stranger, "203.0.113.1")
		before := b.count(t, `SELECT count(*) FROM bans`)
		_, err := b.bans.Create(ctx, rt.ID, NewBan{UserID: stranger.String(), Reason: "spam"})
		if got := invalidField(err); got != "user_id" {
			t.Fatalf("Create = %v, want a validation error of user_id", err)
		}
		if n := b.count(t, `SELECT count(*) FROM bans`); n != before {
			t.Fatalf("%d bans after a refused create, want %d", n, before)
		}
		if revoked, _ := b.revoked(t, sid); revoked {
			t.Fatal("the other tenant's user lost a session")
		}
	})

	t.Run("a user id of no user is refused", func(t *testing.T) {
		t.Parallel()
		rt := b.tenant(t)
		_, err := b.bans.Create(ctx, rt.ID, NewBan{UserID: uuid.Must(uuid.NewV7()).String(), Reason: "spam"})
		if got := invalidField(err); got != "user_id" {
			t.Fatalf("Create = %v, want a validation error of user_id", err)
		}
	})

	t.Run("an invalid ban writes nothing and tells no one", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rt := b.tenant(t)
		_, err := b.bans.Create(ctx, rt.ID, NewBan{IP: "203.0.113.1", OpenID: "o-x", Reason: "spam"})
		if invalidField(err) == "" {
			t.Fatalf("Create = %v, want a validation error", err)
		}
		if n := b.count(t, `SELECT count(*) FROM bans`); n != 0 {
			t.Fatalf("%d bans", n)
		}
		if got := b.feed.Payloads(TopicBans); len(got) != 0 {
			t.Fatalf("%s notices %q", TopicBans, got)
		}
	})
}

func TestBansUnlessBanned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	rt := b.tenant(t)
	expires := b.clock.Now().Add(time.Hour)

	const racers = 8
	// A connection for every racer, so all of them are in flight at once.
	cfg := b.db.Config()
	cfg.MaxConns, cfg.MinConns = racers, racers
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := pool.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	racing := NewBans(pool, b.feed, b.sessions, b.log)

	// Several rounds, each on its own target: one round can happen to
	// serialise by luck.
	for round := 1; round <= 5; round++ {
		ip := fmt.Sprintf("203.0.113.%d", round)
		var wg sync.WaitGroup
		errs := make([]error, racers)
		start := make(chan struct{})
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = racing.Create(ctx, rt.ID, NewBan{IP: ip, Reason: "auto", ExpiresAt: &expires,
					CreatedBy: "system:test", UnlessBanned: true})
			}()
		}
		close(start)
		wg.Wait()
		created := 0
		for _, err := range errs {
			switch {
			case err == nil:
				created++
			case !errors.Is(err, errAlreadyBanned):
				t.Fatalf("round %d: Create: %v, want nil or errAlreadyBanned", round, err)
			}
		}
		if created != 1 {
			t.Fatalf("round %d: %d of %d racing creates succeeded, want 1", round, created, racers)
		}
		if n := b.count(t, `SELECT count(*) FROM bans WHERE tenant_id = $1 AND kind = 'ip' AND target = $2`, rt.ID, ip+"/32"); n != 1 {
			t.Fatalf("round %d: %d bans of the target, want 1", round, n)
		}
	}

	t.Run("a lapsed ban of the target does not count", func(t *testing.T) {
		if _, err := b.db.Exec(ctx, `UPDATE bans SET expires_at = now() - interval '1 second' WHERE tenant_id = $1 AND target = '203.0.113.1/32'`, rt.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := b.bans.Create(ctx, rt.ID, NewBan{IP: "203.0.113.1", Reason: "auto", ExpiresAt: &expires, UnlessBanned: true}); err != nil {
			t.Fatalf("Create after the ban lapsed: %v", err)
		}
	})
	t.Run("without UnlessBanned a second ban is stored", func(t *testing.T) {
		if _, err := b.bans.Create(ctx, rt.ID, NewBan{IP: "203.0.113.1", Reason: "by hand"}); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if n := b.count(t, `SELECT count(*) FROM bans WHERE tenant_id = $1 AND target = '203.0.113.1/32'`, rt.ID); n != 3 {
			t.Fatalf("%d bans of the target, want 3", n)
		}
	})
}

func TestBansDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	rt, other := b.tenant(t), b.tenant(t)
	ban, err := b.bans.Create(ctx, rt.ID, NewBan{IP: "203.0.113.7", Reason: "spam"})
	if err != nil {
		t.Fatal(err)
	}
	platform, err := b.bans.Create(ctx, 0, NewBan{IP: "198.51.100.0/24", Reason: "botnet"})
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		tenant int64
		id     uuid.UUID
	}{
		{"another tenant's ban", other.ID, ban.ID},
		{"a tenant ban as platform", 0, ban.ID},
		{"a platform ban as a tenant", rt.ID, platform.ID},
		{"an id of no ban", rt.ID, uuid.Must(uuid.NewV7())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.feed.Forget()
			_, err := b.bans.Delete(ctx, tc.tenant, tc.id)
			if !errors.Is(err, ErrBanNotFound) || !errors.Is(err, tenant.ErrNotFound) {
				t.Fatalf("Delete = %v, want ErrBanNotFound (a tenant.ErrNotFound)", err)
			}
			if n := b.count(t, `SELECT count(*) FROM bans WHERE id = ANY($1)`, []uuid.UUID{ban.ID, platform.ID}); n != 2 {
				t.Fatalf("%d of the 2 bans left", n)
			}
			if got := b.feed.Payloads(TopicBans); len(got) != 0 {
				t.Fatalf("a refused delete published %q", got)
			}
		})
	}

	t.Run("own ban", func(t *testing.T) {
		b.feed.Forget()
		got, err := b.bans.Delete(ctx, rt.ID, ban.ID)
		if err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if got.ID != ban.ID || got.Target != "203.0.113.7/32" {
			t.Fatalf("Delete = %+v", got)
		}
		if n := b.count(t, `SELECT count(*) FROM bans WHERE id = $1`, ban.ID); n != 0 {
			t.Fatal("the ban is still stored")
		}
		if p := b.feed.Payloads(TopicBans); !slices.Equal(p, []string{strconv.FormatInt(rt.ID, 10)}) {
			t.Fatalf("%s notices %q, want one for tenant %d", TopicBans, p, rt.ID)
		}
		if _, err := b.bans.Delete(ctx, rt.ID, ban.ID); !errors.Is(err, ErrBanNotFound) {
			t.Fatalf("second Delete = %v, want ErrBanNotFound", err)
		}
	})

	t.Run("platform ban", func(t *testing.T) {
		b.feed.Forget()
		if _, err := b.bans.Delete(ctx, 0, platform.ID); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if p := b.feed.Payloads(TopicBans); !slices.Equal(p, []string{"0"}) {
			t.Fatalf("%s notices %q, want [\"0\"]", TopicBans, p)
		}
	})
}

func TestBansList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	rt, other := b.tenant(t), b.tenant(t)
	u := b.user(t, rt.ID, "o-listed")
	var made []uuid.UUID // oldest first
	for _, n := range []NewBan{
		{IP: "203.0.113.1", Reason: "one"},
		{OpenID: "o-two", Reason: "two"},
		{UserID: u.String(), Reason: "three"},
		{IP: "203.0.113.0/24", Reason: "four"},
		{IP: "2001:db8::/64", Reason: "five"},
	} {
		ban, err := b.bans.Create(ctx, rt.ID, n)
		if err != nil {
			t.Fatal(err)
		}
		made = append(made, ban.ID)
	}
	// Lapsed bans are listed too, until pruned.
	if _, err := b.db.Exec(ctx, `UPDATE bans SET expires_at = now() - interval '1 hour' WHERE id = $1`, made[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := b.bans.Create(ctx, other.ID, NewBan{IP: "203.0.113.1", Reason: "other tenant"}); err != nil {
		t.Fatal(err)
	}
	plat, err := b.bans.Create(ctx, 0, NewBan{IP: "198.51.100.1", Reason: "platform"})
	if err != nil {
		t.Fatal(err)
	}
	newestFirst := slices.Clone(made)
	slices.Reverse(newestFirst)

	t.Run("pages newest first", func(t *testing.T) {
		var got []uuid.UUID
		var cursor *uuid.UUID
		pages := 0
		for {
			page, err := b.bans.List(ctx, rt.ID, 2, cursor)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			pages++
			for _, ban := range page {
				got = append(got, ban.ID)
			}
			if len(page) < 2 {
				break
			}
			cursor = &page[len(page)-1].ID
		}
		if !slices.Equal(got, newestFirst) {
			t.Fatalf("listed %v, want %v", got, newestFirst)
		}
		if pages != 3 {
			t.Fatalf("%d pages of 2 for 5 bans, want 3", pages)
		}
	})

	t.Run("the page carries the fields", func(t *testing.T) {
		page, err := b.bans.List(ctx, rt.ID, 1, nil)
		if err != nil || len(page) != 1 {
			t.Fatalf("List = %v, %v", page, err)
		}
		if got := page[0]; got.Kind != BanIP || got.Target != "2001:db8::/64" || got.Reason != "five" || got.TenantID == nil || *got.TenantID != rt.ID {
			t.Fatalf("newest ban = %+v", got)
		}
	})

	t.Run("platform bans are listed apart", func(t *testing.T) {
		page, err := b.bans.List(ctx, 0, 50, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) != 1 || page[0].ID != plat.ID || page[0].TenantID != nil {
			t.Fatalf("platform list = %+v, want only the platform ban", page)
		}
	})

	t.Run("a tenant without bans lists none", func(t *testing.T) {
		page, err := b.bans.List(ctx, b.tenant(t).ID, 50, nil)
		if err != nil {
			t.Fatal(err)
		}
		if page == nil || len(page) != 0 {
			t.Fatalf("List = %#v, want an empty slice", page)
		}
	})
}

func TestBansListKind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	rt := b.tenant(t)
	u := b.user(t, rt.ID, "o-kind")
	var ips []uuid.UUID
	for _, n := range []NewBan{{IP: "203.0.113.1", Reason: "a"}, {OpenID: "o-x", Reason: "b"},
		{UserID: u.String(), Reason: "c"}, {IP: "203.0.113.2", Reason: "d"}} {
		ban, err := b.bans.Create(ctx, rt.ID, n)
		if err != nil {
			t.Fatal(err)
		}
		if ban.Kind == BanIP {
			ips = append([]uuid.UUID{ban.ID}, ips...)
		}
	}
	got, err := b.bans.ListKind(ctx, rt.ID, BanIP, 1, nil)
	if err != nil || len(got) != 1 || got[0].ID != ips[0] {
		t.Fatalf("first ip page = %v, %v", got, err)
	}
	got, err = b.bans.ListKind(ctx, rt.ID, BanIP, 10, &got[0].ID)
	if err != nil || len(got) != 1 || got[0].ID != ips[1] {
		t.Fatalf("second ip page = %v, %v", got, err)
	}
	if got, _ := b.bans.ListKind(ctx, rt.ID, BanOpenID, 10, nil); len(got) != 1 || got[0].Target != "o-x" {
		t.Fatalf("openid bans = %v", got)
	}
	var invalid *tenant.ValidationError
	if _, err := b.bans.ListKind(ctx, rt.ID, "nope", 10, nil); !errors.As(err, &invalid) {
		t.Fatalf("unknown kind = %v", err)
	}
}

func TestBansOfUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	rt, other := b.tenant(t), b.tenant(t)
	u := b.user(t, rt.ID, "o-banned")
	byID, err := b.bans.Create(ctx, rt.ID, NewBan{UserID: u.String(), Reason: "by id"})
	if err != nil {
		t.Fatal(err)
	}
	byOpenID, err := b.bans.Create(ctx, rt.ID, NewBan{OpenID: "o-banned", Reason: "by openid"})
	if err != nil {
		t.Fatal(err)
	}
	lapsed, err := b.bans.Create(ctx, rt.ID, NewBan{OpenID: "o-banned", Reason: "lapsed"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Exec(ctx, `UPDATE bans SET expires_at = now() - interval '1 second' WHERE id = $1`, lapsed.ID); err != nil {
		t.Fatal(err)
	}
	theirs, err := b.bans.Create(ctx, other.ID, NewBan{OpenID: "o-banned", Reason: "other tenant"})
	if err != nil {
		t.Fatal(err)
	}
	ip, err := b.bans.Create(ctx, rt.ID, NewBan{IP: "203.0.113.5", Reason: "ip"})
	if err != nil {
		t.Fatal(err)
	}
	view := func(t *testing.T) BanView {
		v, err := b.views.View(ctx, rt.ID)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	got, err := b.bans.OfUser(ctx, rt.ID, u, "o-banned")
	if err != nil || len(got) != 2 || got[0].ID != byOpenID.ID || got[1].ID != byID.ID {
		t.Fatalf("OfUser = %v, %v; want the two live ones of this tenant", got, err)
	}
	if err := view(t).Check(u.String(), "", netip.Addr{}); err == nil {
		t.Fatal("not banned before lifting")
	}
	lifted, err := b.bans.LiftUser(ctx, rt.ID, u, "o-banned")
	if err != nil || len(lifted) != 2 {
		t.Fatalf("LiftUser = %v, %v", lifted, err)
	}
	if got, _ := b.bans.OfUser(ctx, rt.ID, u, "o-banned"); len(got) != 0 {
		t.Fatalf("still banned: %v", got)
	}
	if err := view(t).Check(u.String(), "o-banned", netip.Addr{}); err != nil {
		t.Fatalf("after lifting: %v", err)
	}
	for _, id := range []uuid.UUID{theirs.ID, ip.ID, lapsed.ID} {
		if n := b.count(t, `SELECT count(*) FROM bans WHERE id = $1`, id); n != 1 {
			t.Errorf("ban %s went too", id)
		}
	}
	if _, err := b.bans.LiftUser(ctx, rt.ID, u, "o-banned"); !errors.Is(err, ErrBanNotFound) {
		t.Fatalf("lifting again = %v, want ErrBanNotFound", err)
	}
}
