package auth

// Which sessions a ban revokes, that they stay revoked once the ban is
// gone, and that a ban binds only its own tenant.

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"
)

// checkBan is BanViews.View(tenantID).Check, failing the test on a lookup
// error; it reports whether the view refuses the caller.
func (b *testBundle) checkBan(t *testing.T, tenantID int64, userID, openID, ip string) bool {
	t.Helper()
	view, err := b.views.View(context.Background(), tenantID)
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	var addr netip.Addr
	if ip != "" {
		addr = netip.MustParseAddr(ip)
	}
	err = view.Check(userID, openID, addr)
	var be *BannedError
	if err != nil && !errors.As(err, &be) {
		t.Fatalf("Check: %v", err)
	}
	return err != nil
}

// wantRevokedAsBanned fails unless every session is revoked as banned and
// answers inactive.
func (b *testBundle) wantRevokedAsBanned(t *testing.T, what string, tenantID int64, userID uuid.UUID, sids ...uuid.UUID) {
	t.Helper()
	for _, sid := range sids {
		if revoked, reason := b.revoked(t, sid); !revoked || reason != "banned" {
			t.Fatalf("%s: session %s revoked %v (%q), want revoked as banned", what, sid, revoked, reason)
		}
		if b.active(t, tenantID, sid, userID) {
			t.Fatalf("%s: session %s still answers active", what, sid)
		}
	}
}

func TestBansOpenIDRevokesEverySession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rt := b.tenant(t)
	banned, bystander := b.user(t, rt.ID, "o-many-sessions"), b.user(t, rt.ID, "o-bystander")
	s1, _ := b.session(t, rt.ID, banned, "203.0.113.1")
	s2, _ := b.session(t, rt.ID, banned, "198.51.100.1")
	s3, _ := b.session(t, rt.ID, banned, "")
	sb, _ := b.session(t, rt.ID, bystander, "203.0.113.1")
	for _, sid := range []uuid.UUID{s1, s2, s3} {
		if !b.active(t, rt.ID, sid, banned) {
			t.Fatalf("session %s not active before the ban", sid)
		}
	}

	if _, err := b.bans.Create(context.Background(), rt.ID, NewBan{OpenID: "o-many-sessions", Reason: "abuse"}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	b.wantRevokedAsBanned(t, "openid ban", rt.ID, banned, s1, s2, s3)
	if revoked, _ := b.revoked(t, sb); revoked || !b.active(t, rt.ID, sb, bystander) {
		t.Fatal("the bystander's session was revoked")
	}
	if !b.checkBan(t, rt.ID, banned.String(), "o-many-sessions", "203.0.113.1") {
		t.Fatal("the banned openid is not refused")
	}
	if b.checkBan(t, rt.ID, bystander.String(), "o-bystander", "203.0.113.1") {
		t.Fatal("the bystander is refused")
	}
}

func TestBansRevokedSessionsStayRevoked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)

	t.Run("after the ban lapses", func(t *testing.T) {
		rt := b.tenant(t)
		user := b.user(t, rt.ID, "o-cooling-off")
		sid, _ := b.session(t, rt.ID, user, "203.0.113.1")
		expires := b.clock.Now().Add(10 * time.Second).Truncate(time.Microsecond)
		if _, err := b.bans.Create(ctx, rt.ID, NewBan{UserID: user.String(), Reason: "cool off", ExpiresAt: &expires}); err != nil {
			t.Fatalf("Create: %v", err)
		}
		b.wantRevokedAsBanned(t, "during the ban", rt.ID, user, sid)
		b.clock.Add(11 * time.Second)
		if b.checkBan(t, rt.ID, user.String(), "o-cooling-off", "203.0.113.1") {
			t.Fatal("still refused after the ban lapsed")
		}
		b.wantRevokedAsBanned(t, "after the ban lapsed", rt.ID, user, sid)
	})

	t.Run("after the ban is lifted", func(t *testing.T) {
		rt := b.tenant(t)
		user := b.user(t, rt.ID, "o-forgiven")
		byUser, _ := b.session(t, rt.ID, user, "198.51.100.1")
		byIP, _ := b.session(t, rt.ID, b.user(t, rt.ID, "o-same-address"), "203.0.113.9")
		userBan, err := b.bans.Create(ctx, rt.ID, NewBan{UserID: user.String(), Reason: "spam"})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		ipBan, err := b.bans.Create(ctx, rt.ID, NewBan{IP: "203.0.113.0/24", Reason: "spam"})
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		for _, id := range []uuid.UUID{userBan.ID, ipBan.ID} {
			if _, err := b.bans.Delete(ctx, rt.ID, id); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		}
		if b.checkBan(t, rt.ID, user.String(), "o-forgiven", "203.0.113.9") {
			t.Fatal("still refused after both bans were lifted")
		}
		for _, sid := range []uuid.UUID{byUser, byIP} {
			if revoked, reason := b.revoked(t, sid); !revoked || reason != "banned" {
				t.Fatalf("session %s after the lift: revoked %v (%q), want still revoked as banned", sid, revoked, reason)
			}
		}
		if b.active(t, rt.ID, byUser, user) {
			t.Fatal("lifting the ban revived the session")
		}
	})
}

func TestBansTenantIsolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	ta, tb := b.tenant(t), b.tenant(t)
	// One person with the same openid in both tenants, and one only in B.
	ua, ub := b.user(t, ta.ID, "o-shared"), b.user(t, tb.ID, "o-shared")
	wb := b.user(t, tb.ID, "o-only-in-b")
	sa, _ := b.session(t, ta.ID, ua, "203.0.113.7")
	sb, _ := b.session(t, tb.ID, ub, "203.0.113.7")
	sw, _ := b.session(t, tb.ID, wb, "203.0.113.7")

	for _, n := range []NewBan{
		{UserID: ua.String(), Reason: "a only"},
		{OpenID: "o-shared", Reason: "a only"},
		// B's openid, banned in A, is a ban in A of an openid nobody there has.
		{OpenID: "o-only-in-b", Reason: "wrong tenant"},
		{IP: "203.0.113.7", Reason: "a only"},
	} {
		if _, err := b.bans.Create(ctx, ta.ID, n); err != nil {
			t.Fatalf("Create %+v: %v", n, err)
		}
	}
	b.wantRevokedAsBanned(t, "A's session", ta.ID, ua, sa)
	for name, s := range map[string]struct{ sid, user uuid.UUID }{"shared openid": {sb, ub}, "openid only in B": {sw, wb}} {
		if revoked, _ := b.revoked(t, s.sid); revoked || !b.active(t, tb.ID, s.sid, s.user) {
			t.Fatalf("A's bans revoked B's session of the %s", name)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM sessions WHERE tenant_id = $1 AND revoked_at IS NOT NULL`, tb.ID); n != 0 {
		t.Fatalf("A's bans revoked %d sessions of B", n)
	}
	if !b.checkBan(t, ta.ID, "", "o-only-in-b", "") || !b.checkBan(t, ta.ID, "", "", "203.0.113.7") {
		t.Fatal("A's bans do not bind A")
	}
	for _, c := range []struct{ user, openID string }{{ub.String(), "o-shared"}, {wb.String(), "o-only-in-b"}} {
		if b.checkBan(t, tb.ID, c.user, c.openID, "203.0.113.7") {
			t.Fatalf("A's bans refuse %s in B", c.openID)
		}
	}
}
