package auth

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/tenant"
)

// listedUser is a user row to insert; nil fields stay NULL.
type listedUser struct {
	name     string // how the test refers to it
	openid   string
	unionid  *string
	nickname *string
	phone    *string
	status   string
}

func str(s string) *string { return &s }

func TestUsersList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	rt, other := b.tenant(t), b.tenant(t)
	users := NewUsers(b.db, b.sessions)

	// Oldest first; ids are UUIDv7, so the list shows them newest first.
	rows := []listedUser{
		{name: "ann", openid: "oAnn0001", unionid: str("uAnn"), nickname: str("Annie"), phone: str("13800000001"), status: "active"},
		{name: "ben", openid: "oBen0002", nickname: str("BENNY"), status: "active"},
		{name: "bea", openid: "oBea0003", unionid: str("uBea"), nickname: str("béatrice"), phone: str("13900000003"), status: "disabled"},
		{name: "cal", openid: "oCal0004", phone: str("13800000004"), status: "active"},
		{name: "dot", openid: "oDot0005", nickname: str("a_b%c"), status: "disabled"},
		{name: "eve", openid: "oEve0006", unionid: str("uAnnex"), nickname: str("Anna"), status: "active"},
		{name: "fay", openid: "oFay0007", nickname: str("axbc"), status: "active"},
	}
	ids := map[string]string{}
	byID := map[string]string{}
	for _, u := range rows {
		id := uuid.Must(uuid.NewV7())
		if _, err := b.db.Exec(ctx, `INSERT INTO users (tenant_id, id, openid, unionid, nickname, phone, status)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, rt.ID, id, u.openid, u.unionid, u.nickname, u.phone, u.status); err != nil {
			t.Fatal(err)
		}
		ids[u.name], byID[id.String()] = id.String(), u.name
	}
	// Another tenant's users match every query too, and must never show.
	for _, u := range rows {
		if _, err := b.db.Exec(ctx, `INSERT INTO users (tenant_id, id, openid, unionid, nickname, phone, status)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, other.ID, uuid.Must(uuid.NewV7()), u.openid, u.unionid, u.nickname, u.phone, u.status); err != nil {
			t.Fatal(err)
		}
	}
	names := func(us []User) []string {
		var out []string
		for _, u := range us {
			n, ok := byID[u.ID]
			if !ok {
				n = "stranger " + u.ID
			}
			out = append(out, n)
		}
		return out
	}

	for _, tc := range []struct {
		name   string
		filter UserFilter
		want   []string
	}{
		{"everyone, newest first", UserFilter{}, []string{"fay", "eve", "dot", "cal", "bea", "ben", "ann"}},
		{"openid prefix", UserFilter{Query: "oBe"}, []string{"bea", "ben"}},
		{"whole openid", UserFilter{Query: "oCal0004"}, []string{"cal"}},
		{"unionid prefix", UserFilter{Query: "uAnn"}, []string{"eve", "ann"}},
		{"phone prefix", UserFilter{Query: "138"}, []string{"cal", "ann"}},
		{"nickname prefix", UserFilter{Query: "Ann"}, []string{"eve", "ann"}},
		{"nickname prefix in another case", UserFilter{Query: "benN"}, []string{"ben"}},
		{"nickname prefix, non-ASCII, in another case", UserFilter{Query: "BÉA"}, []string{"bea"}},
		{"a prefix, not a substring", UserFilter{Query: "nnie"}, nil},
		{"LIKE wildcards are literal: _", UserFilter{Query: "a_b"}, []string{"dot"}},
		{"LIKE wildcards are literal: %", UserFilter{Query: "%"}, nil},
		{"no match", UserFilter{Query: "zzz"}, nil},
		{"status", UserFilter{Status: "disabled"}, []string{"dot", "bea"}},
		{"status and query", UserFilter{Status: "active", Query: "oBe"}, []string{"ben"}},
		{"status active", UserFilter{Status: "active"}, []string{"fay", "eve", "cal", "ben", "ann"}},
		{"limit", UserFilter{Limit: 2}, []string{"fay", "eve"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.filter
			if f.Limit == 0 {
				f.Limit = 50
			}
			got, err := users.List(ctx, rt.ID, f)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if !slices.Equal(names(got), tc.want) {
				t.Fatalf("List(%+v) = %v, want %v", tc.filter, names(got), tc.want)
			}
		})
	}

	t.Run("fields", func(t *testing.T) {
		got, err := users.List(ctx, rt.ID, UserFilter{Query: "oAnn0001", Limit: 1})
		if err != nil || len(got) != 1 {
			t.Fatalf("List = %v, %v", got, err)
		}
		u := got[0]
		if u.ID != ids["ann"] || u.OpenID != "oAnn0001" || u.UnionID == nil || *u.UnionID != "uAnn" || u.Nickname == nil ||
			*u.Nickname != "Annie" || u.Phone == nil || *u.Phone != "13800000001" || u.Status != "active" || u.CreatedAt.IsZero() {
			t.Fatalf("user = %+v", u)
		}
	})

	// Each page ends where the next begins, with and without a query.
	for _, tc := range []struct {
		name   string
		filter UserFilter
		want   []string
	}{
		{"the keyset cursor pages through everyone", UserFilter{}, []string{"fay", "eve", "dot", "cal", "bea", "ben", "ann"}},
		{"the keyset cursor pages through a query", UserFilter{Query: "oBe"}, []string{"bea", "ben"}},
		{"the keyset cursor pages through a nickname query", UserFilter{Query: "a"}, []string{"fay", "eve", "dot", "ann"}},
		{"the keyset cursor pages through a status", UserFilter{Status: "active"}, []string{"fay", "eve", "cal", "ben", "ann"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.filter
			f.Limit = 2
			var got []string
			for pages := 0; ; pages++ {
				if pages > len(rows) {
					t.Fatalf("paging did not end: %v", got)
				}
				page, err := users.List(ctx, rt.ID, f)
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				got = append(got, names(page)...)
				if len(page) < f.Limit {
					break
				}
				last := uuid.MustParse(page[len(page)-1].ID)
				f.Before = &last
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("pages = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestUsersGet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	rt, other := b.tenant(t), b.tenant(t)
	users := NewUsers(b.db, b.sessions)
	mine, theirs := b.user(t, rt.ID, "o-mine"), b.user(t, other.ID, "o-theirs")

	u, err := users.Get(ctx, rt.ID, mine)
	if err != nil || u.ID != mine.String() || u.OpenID != "o-mine" {
		t.Fatalf("Get own user = %+v, %v", u, err)
	}
	for name, id := range map[string]uuid.UUID{"another tenant's user": theirs, "no such user": uuid.Must(uuid.NewV7())} {
		if _, err := users.Get(ctx, rt.ID, id); !errors.Is(err, ErrUserNotFound) || !errors.Is(err, tenant.ErrNotFound) {
			t.Errorf("Get %s = %v, want ErrUserNotFound (a tenant.ErrNotFound)", name, err)
		}
	}
}

func TestUsersErase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	rt, other := b.tenant(t), b.tenant(t)
	users := NewUsers(b.db, b.sessions)
	gone, kept := b.user(t, rt.ID, "o-gone"), b.user(t, rt.ID, "o-kept")
	theirs := b.user(t, other.ID, "o-theirs")
	s1, _ := b.session(t, rt.ID, gone, "203.0.113.1")
	s2, tok := b.session(t, rt.ID, gone, "203.0.113.2")
	if _, err := b.rotate(rt.ID, tok); err != nil {
		t.Fatal(err)
	}
	sk, _ := b.session(t, rt.ID, kept, "203.0.113.3")
	st, _ := b.session(t, other.ID, theirs, "203.0.113.4")
	for _, s := range []struct{ sid, user uuid.UUID }{{s1, gone}, {s2, gone}, {sk, kept}} {
		if !b.active(t, rt.ID, s.sid, s.user) {
			t.Fatal("inactive before the erase")
		}
	}

	if err := users.Erase(ctx, rt.ID, gone); err != nil {
		t.Fatalf("Erase: %v", err)
	}
	if n := b.count(t, `SELECT count(*) FROM users WHERE tenant_id = $1 AND id = $2`, rt.ID, gone); n != 0 {
		t.Fatal("the user row is still there")
	}
	if n := b.count(t, `SELECT count(*) FROM sessions WHERE user_id = $1`, gone); n != 0 {
		t.Fatalf("%d sessions of the erased user left", n)
	}
	if n := b.count(t, `SELECT count(*) FROM refresh_tokens WHERE session_id = ANY($1)`, []uuid.UUID{s1, s2}); n != 0 {
		t.Fatalf("%d refresh tokens of the erased user left", n)
	}
	// Its cached answers are gone too, on this instance at once.
	for _, sid := range []uuid.UUID{s1, s2} {
		if b.active(t, rt.ID, sid, gone) {
			t.Fatalf("the erased user's session %s still answers active", sid)
		}
	}
	if !b.active(t, rt.ID, sk, kept) || !b.active(t, other.ID, st, theirs) {
		t.Fatal("another user's session answers inactive")
	}

	if err := users.Erase(ctx, rt.ID, gone); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("second Erase = %v, want ErrUserNotFound", err)
	}
	if err := users.Erase(ctx, rt.ID, theirs); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("Erase of another tenant's user = %v, want ErrUserNotFound", err)
	}
	if n := b.count(t, `SELECT count(*) FROM users WHERE tenant_id = $1 AND id = $2`, other.ID, theirs); n != 1 {
		t.Fatal("another tenant's user was erased")
	}
}

func TestUsersRevokeSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	rt, other := b.tenant(t), b.tenant(t)
	users := NewUsers(b.db, b.sessions)
	uid := b.user(t, rt.ID, "o-revoked")
	theirs := b.user(t, other.ID, "o-theirs")
	var sids []uuid.UUID
	for range 3 {
		sid, _ := b.session(t, rt.ID, uid, "")
		sids = append(sids, sid)
	}
	if err := b.sessions.Revoke(ctx, rt.ID, uid, sids[0], "logout"); err != nil {
		t.Fatal(err)
	}
	st, _ := b.session(t, other.ID, theirs, "")
	if !b.active(t, rt.ID, sids[1], uid) {
		t.Fatal("inactive before revocation")
	}

	n, err := users.RevokeSessions(ctx, rt.ID, uid)
	if err != nil || n != 2 {
		t.Fatalf("RevokeSessions = %d, %v; want 2 (the live ones)", n, err)
	}
	for _, sid := range sids[1:] {
		if revoked, reason := b.revoked(t, sid); !revoked || reason != "revoked_by_admin" {
			t.Fatalf("session %s: revoked %v (%q)", sid, revoked, reason)
		}
	}
	if b.active(t, rt.ID, sids[1], uid) {
		t.Fatal("a revoked session still answers active")
	}
	if n, err := users.RevokeSessions(ctx, rt.ID, uid); err != nil || n != 0 {
		t.Fatalf("second RevokeSessions = %d, %v; want 0", n, err)
	}
	if _, err := users.RevokeSessions(ctx, rt.ID, theirs); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("RevokeSessions of another tenant's user = %v, want ErrUserNotFound", err)
	}
	if revoked, _ := b.revoked(t, st); revoked {
		t.Fatal("another tenant's session was revoked")
	}
	if _, err := users.RevokeSessions(ctx, rt.ID, uuid.Must(uuid.NewV7())); !errors.Is(err, ErrUserNotFound) {
		t.Fatalf("RevokeSessions of no user = %v, want ErrUserNotFound", err)
	}
}

func TestUsersSessions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	rt, other := b.tenant(t), b.tenant(t)
	users := NewUsers(b.db, b.sessions)
	uid := b.user(t, rt.ID, "o-sessions")
	older, _ := b.session(t, rt.ID, uid, "203.0.113.9")
	newer, _ := b.session(t, rt.ID, uid, "")
	gone, _ := b.session(t, rt.ID, uid, "")
	lapsed, _ := b.session(t, rt.ID, uid, "")
	if err := b.sessions.Revoke(ctx, rt.ID, uid, gone, "logout"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.db.Exec(ctx, `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, lapsed); err != nil {
		t.Fatal(err)
	}
	// A refresh makes a session the most recently used.
	if _, err := b.db.Exec(ctx, `UPDATE sessions SET refreshed_at = now() + interval '1 minute' WHERE id = $1`, older); err != nil {
		t.Fatal(err)
	}
	theirs := b.user(t, other.ID, "o-theirs")
	b.session(t, other.ID, theirs, "")

	t.Run("live only, most recently used first", func(t *testing.T) {
		got, err := users.Sessions(ctx, rt.ID, uid, 50)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != older || got[1].ID != newer {
			t.Fatalf("Sessions = %+v, want %s then %s", got, older, newer)
		}
		if got[0].IP != "203.0.113.9" || got[1].IP != "" {
			t.Errorf("IPs %q, %q", got[0].IP, got[1].IP)
		}
		if !got[0].LastUsedAt.After(got[0].CreatedAt) || !got[1].LastUsedAt.Equal(got[1].CreatedAt) {
			t.Errorf("last used is not the refresh, else the login: %+v", got)
		}
		if got, _ := users.Sessions(ctx, rt.ID, uid, 1); len(got) != 1 {
			t.Errorf("limit 1 gave %d", len(got))
		}
	})
	t.Run("scoped by tenant", func(t *testing.T) {
		if got, err := users.Sessions(ctx, other.ID, uid, 50); err != nil || len(got) != 0 {
			t.Fatalf("another tenant sees %d sessions (%v)", len(got), err)
		}
	})
	t.Run("revoke one", func(t *testing.T) {
		if err := users.RevokeSession(ctx, other.ID, uid, newer); !errors.Is(err, ErrSessionNotFound) {
			t.Fatalf("revoke under another tenant = %v", err)
		}
		if err := users.RevokeSession(ctx, rt.ID, theirs, newer); !errors.Is(err, ErrSessionNotFound) {
			t.Fatalf("revoke under another user = %v", err)
		}
		if err := users.RevokeSession(ctx, rt.ID, uid, gone); !errors.Is(err, ErrSessionNotFound) {
			t.Fatalf("revoke of a revoked session = %v", err)
		}
		if !b.active(t, rt.ID, newer, uid) {
			t.Fatal("inactive before revocation")
		}
		if err := users.RevokeSession(ctx, rt.ID, uid, newer); err != nil {
			t.Fatal(err)
		}
		if revoked, reason := b.revoked(t, newer); !revoked || reason != "revoked_by_admin" {
			t.Fatalf("revoked %v (%q)", revoked, reason)
		}
		if b.active(t, rt.ID, newer, uid) {
			t.Fatal("a revoked session still answers active")
		}
		if revoked, _ := b.revoked(t, older); revoked {
			t.Fatal("the other session was revoked too")
		}
	})
}

func TestUsersSetStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sb := setupService(t)
	const ip = "198.51.100.20"
	rt, other := sb.miniProgram(t), sb.miniProgram(t)
	users := NewUsers(sb.db, sb.sessions)
	// Another instance's session cache, fed by the same change feed.
	elsewhere := newSessions(sb.db, sb.feed, sb.clock.Now)
	phone, tablet := sb.login(t, rt, "gina", ip), sb.login(t, rt, "gina", ip)
	bystander := sb.login(t, rt, "hank", ip)
	theirs := sb.login(t, other, "gina", ip)
	uid := uuid.MustParse(phone.User.ID)
	for _, r := range []TokenResponse{phone, tablet, bystander} {
		if _, err := sb.authenticate(rt, ip, r.AccessToken); err != nil {
			t.Fatalf("before: %v", err)
		}
	}
	sid := uuid.MustParse(mustClaims(t, sb, rt, phone.AccessToken).SID)
	if ok, err := elsewhere.Active(ctx, rt.ID, sid, uid); err != nil || !ok {
		t.Fatalf("the other instance: Active = %v, %v", ok, err)
	}

	t.Run("disabling ends every session and refuses login and refresh", func(t *testing.T) {
		before, after, err := users.SetStatus(ctx, rt.ID, uid, UserDisabled)
		if err != nil || before.Status != UserActive || after.Status != UserDisabled || after.ID != phone.User.ID {
			t.Fatalf("SetStatus = %+v, %+v, %v", before, after, err)
		}
		for _, r := range []TokenResponse{phone, tablet} {
			if _, err := sb.authenticate(rt, ip, r.AccessToken); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("a disabled user's access token: %v, want ErrInvalidToken", err)
			}
			if _, err := sb.svc.Refresh(ctx, sb.admit(t, rt, ip), r.RefreshToken, ClientMeta{}); !errors.Is(err, ErrUserDisabled) {
				t.Fatalf("a disabled user's refresh: %v, want ErrUserDisabled", err)
			}
		}
		if revoked, reason := sb.revoked(t, sid); !revoked || reason != "user_disabled" {
			t.Fatalf("session revoked %v (%q)", revoked, reason)
		}
		if ok, err := elsewhere.Active(ctx, rt.ID, sid, uid); err != nil || ok {
			t.Fatalf("the other instance still answers Active = %v, %v", ok, err)
		}
		if _, err := sb.svc.Login(ctx, sb.admit(t, rt, ip), sb.wx.MintCode(rt.WeChatAppID, "gina"), ClientMeta{}); !errors.Is(err, ErrUserDisabled) {
			t.Fatalf("Login = %v, want ErrUserDisabled", err)
		}
		if n := sb.count(t, `SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL`, uid); n != 0 {
			t.Fatalf("%d live sessions of a disabled user", n)
		}
		if _, err := sb.authenticate(rt, ip, bystander.AccessToken); err != nil {
			t.Fatalf("another user's token: %v", err)
		}
		if _, err := sb.authenticate(other, ip, theirs.AccessToken); err != nil {
			t.Fatalf("the same openid in another tenant: %v", err)
		}
	})

	t.Run("disabling again changes nothing", func(t *testing.T) {
		before, after, err := users.SetStatus(ctx, rt.ID, uid, UserDisabled)
		if err != nil || before.Status != UserDisabled || !reflect.DeepEqual(after, before) {
			t.Fatalf("SetStatus = %+v, %+v, %v", before, after, err)
		}
	})

	t.Run("enabling lets the user log in again; old tokens stay dead", func(t *testing.T) {
		before, after, err := users.SetStatus(ctx, rt.ID, uid, UserActive)
		if err != nil || before.Status != UserDisabled || after.Status != UserActive {
			t.Fatalf("SetStatus = %+v, %+v, %v", before, after, err)
		}
		if _, err := sb.authenticate(rt, ip, phone.AccessToken); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("an old access token: %v, want ErrInvalidToken", err)
		}
		again := sb.login(t, rt, "gina", ip)
		if _, err := sb.authenticate(rt, ip, again.AccessToken); err != nil {
			t.Fatalf("a new login's token: %v", err)
		}
	})

	t.Run("an invalid status is a validation error", func(t *testing.T) {
		for _, s := range []string{"", "banned", "Disabled"} {
			if _, _, err := users.SetStatus(ctx, rt.ID, uid, s); invalidField(err) != "status" {
				t.Errorf("SetStatus(%q) = %v, want invalid status", s, err)
			}
		}
	})

	t.Run("another tenant's user and no user are not found", func(t *testing.T) {
		for name, id := range map[string]string{"another tenant's user": theirs.User.ID, "no such user": uuid.Must(uuid.NewV7()).String()} {
			if _, _, err := users.SetStatus(ctx, rt.ID, uuid.MustParse(id), UserDisabled); !errors.Is(err, ErrUserNotFound) || !errors.Is(err, tenant.ErrNotFound) {
				t.Errorf("%s: %v, want ErrUserNotFound", name, err)
			}
		}
		if _, err := sb.authenticate(other, ip, theirs.AccessToken); err != nil {
			t.Fatalf("another tenant's user was touched: %v", err)
		}
	})
}

func mustClaims(t *testing.T, sb *serviceBundle, rt *tenant.Runtime, token string) *Claims {
	t.Helper()
	c, err := sb.tokens.Verify(rt, token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
