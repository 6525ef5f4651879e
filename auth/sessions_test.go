package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

func allow(rotatingUser) error { return nil }

// rotate is Sessions.rotate with a check that lets every user through.
func (b *testBundle) rotate(tenantID int64, token string) (rotated, error) {
	return b.sessions.rotate(context.Background(), tenantID, token, time.Hour, allow)
}

// tokenSpent reports whether a refresh token's row is marked rotated.
func (b *testBundle) tokenSpent(t *testing.T, token string) bool {
	t.Helper()
	var spent bool
	if err := b.db.QueryRow(context.Background(), `SELECT rotated_at IS NOT NULL FROM refresh_tokens WHERE token_hash = $1`,
		hashToken(token)).Scan(&spent); err != nil {
		t.Fatalf("read refresh token: %v", err)
	}
	return spent
}

// revokeInSQL revokes sessions behind every cache's back.
func (b *testBundle) revokeInSQL(t *testing.T, sids ...uuid.UUID) {
	t.Helper()
	if _, err := b.db.Exec(context.Background(), `UPDATE sessions SET revoked_at = now() WHERE id = ANY($1)`, sids); err != nil {
		t.Fatal(err)
	}
}

func TestSessionsRotate(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("rotation issues a new token and spends the old", func(t *testing.T) {
		t.Parallel()
		rt := b.tenant(t)
		uid := b.user(t, rt.ID, "o-rotating")
		sid, first := b.session(t, rt.ID, uid, "203.0.113.1")
		if len(first) < 43 { // 32 bytes, base64url
			t.Fatalf("refresh token %d characters, want at least 43", len(first))
		}
		r, err := b.rotate(rt.ID, first)
		if err != nil {
			t.Fatalf("rotate: %v", err)
		}
		if r.SessionID != sid || r.UserID != uid || r.Token == "" || r.Token == first {
			t.Fatalf("rotate = session %s user %s new token %v; want session %s user %s and a new token",
				r.SessionID, r.UserID, r.Token != first, sid, uid)
		}
		if !b.tokenSpent(t, first) || b.tokenSpent(t, r.Token) {
			t.Fatal("after rotation the old token is not spent, or the new one is")
		}
		// The successor rotates in turn.
		r2, err := b.rotate(rt.ID, r.Token)
		if err != nil || r2.Token == r.Token || r2.SessionID != sid {
			t.Fatalf("rotating the successor = %+v, %v", r2.SessionID, err)
		}
		if !b.active(t, rt.ID, sid, uid) {
			t.Fatal("session inactive after rotations")
		}
		b.feed.Forget()

		if _, err := b.rotate(rt.ID, first); !errors.Is(err, ErrRefreshTokenReused) {
			t.Fatalf("presenting the spent token: %v, want ErrRefreshTokenReused", err)
		}
		if revoked, reason := b.revoked(t, sid); !revoked || reason != "refresh_token_reused" {
			t.Fatalf("after reuse the session is revoked %v (%q), want revoked as refresh_token_reused", revoked, reason)
		}
		want := fmt.Sprintf("%d:%s:%s", rt.ID, uid, sid)
		if got := b.feed.Payloads(TopicSessionRevoked); !slices.Contains(got, want) {
			t.Fatalf("%s notices %q, want %q", TopicSessionRevoked, got, want)
		}
		if b.active(t, rt.ID, sid, uid) {
			t.Fatal("the session answers active after reuse revoked it")
		}
		// The thief's or the owner's unspent successor dies with the session.
		if _, err := b.rotate(rt.ID, r2.Token); !errors.Is(err, ErrInvalidRefreshToken) {
			t.Fatalf("the live successor after reuse: %v, want ErrInvalidRefreshToken", err)
		}
	})

	t.Run("concurrent rotations of one token: one wins, the rest are reuse", func(t *testing.T) {
		t.Parallel()
		rt := b.tenant(t)
		uid := b.user(t, rt.ID, "o-racing")
		sid, token := b.session(t, rt.ID, uid, "203.0.113.1")
		const racers = 10
		errs := make([]error, racers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = b.rotate(rt.ID, token)
			}()
		}
		close(start)
		wg.Wait()
		won, reused := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, ErrRefreshTokenReused):
				reused++
			default:
				t.Fatalf("rotate: %v", err)
			}
		}
		if won != 1 || reused != racers-1 {
			t.Fatalf("%d succeeded and %d were reuse, want 1 and %d", won, reused, racers-1)
		}
		if revoked, _ := b.revoked(t, sid); !revoked {
			t.Fatal("the session survived the reuse")
		}
		if n := b.count(t, `SELECT count(*) FROM refresh_tokens WHERE session_id = $1`, sid); n != 2 {
			t.Fatalf("%d refresh tokens for the session, want 2 (the spent one and one successor)", n)
		}
	})

	t.Run("a token of another tenant is refused and untouched", func(t *testing.T) {
		t.Parallel()
		rt, other := b.tenant(t), b.tenant(t)
		uid := b.user(t, rt.ID, "o-owner")
		sid, token := b.session(t, rt.ID, uid, "203.0.113.1")
		if _, err := b.rotate(other.ID, token); !errors.Is(err, ErrInvalidRefreshToken) {
			t.Fatalf("rotate on another tenant: %v, want ErrInvalidRefreshToken", err)
		}
		if b.tokenSpent(t, token) {
			t.Fatal("the token was spent by another tenant")
		}
		if revoked, _ := b.revoked(t, sid); revoked {
			t.Fatal("the session was revoked by another tenant")
		}
		if _, err := b.rotate(rt.ID, token); err != nil {
			t.Fatalf("the token no longer rotates on its own tenant: %v", err)
		}
	})

	t.Run("refused tokens", func(t *testing.T) {
		t.Parallel()
		rt := b.tenant(t)
		uid := b.user(t, rt.ID, "o-refused")
		_, expired := b.session(t, rt.ID, uid, "")
		if _, err := b.db.Exec(context.Background(), `UPDATE refresh_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1`,
			hashToken(expired)); err != nil {
			t.Fatal(err)
		}
		revokedSID, ofRevoked := b.session(t, rt.ID, uid, "")
		if err := b.sessions.Revoke(context.Background(), rt.ID, uid, revokedSID, "logout"); err != nil {
			t.Fatal(err)
		}
		expiredSID, ofExpired := b.session(t, rt.ID, uid, "")
		if _, err := b.db.Exec(context.Background(), `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, expiredSID); err != nil {
			t.Fatal(err)
		}
		for name, token := range map[string]string{
			"unknown":                           randomToken(RefreshTokenBytes),
			"expired":                           expired,
			"of a revoked (logged out) session": ofRevoked,
			"of an expired session":             ofExpired,
		} {
			if _, err := b.rotate(rt.ID, token); !errors.Is(err, ErrInvalidRefreshToken) {
				t.Errorf("%s token: %v, want ErrInvalidRefreshToken", name, err)
			}
		}
	})

	t.Run("a refused check leaves the token unspent", func(t *testing.T) {
		t.Parallel()
		rt := b.tenant(t)
		uid := b.user(t, rt.ID, "o-checked")
		_, token := b.session(t, rt.ID, uid, "")
		var checked uuid.UUID
		_, err := b.sessions.rotate(context.Background(), rt.ID, token, time.Hour, func(u rotatingUser) error {
			checked = u.ID
			return &BannedError{}
		})
		var be *BannedError
		if !errors.As(err, &be) {
			t.Fatalf("rotate = %v, want the check's *BannedError", err)
		}
		if checked != uid {
			t.Fatalf("check saw user %s, want %s", checked, uid)
		}
		if b.tokenSpent(t, token) {
			t.Fatal("a refused rotation spent the token")
		}
	})
}

func TestSessionsActive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)

	t.Run("answers", func(t *testing.T) {
		t.Parallel()
		rt, other := b.tenant(t), b.tenant(t)
		uid := b.user(t, rt.ID, "o-answers")
		sid, _ := b.session(t, rt.ID, uid, "")
		expired, _ := b.session(t, rt.ID, uid, "")
		if _, err := b.db.Exec(ctx, `UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, expired); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name   string
			tenant int64
			sid    uuid.UUID
			user   uuid.UUID
			want   bool
		}{
			{"live", rt.ID, sid, uid, true},
			{"expired", rt.ID, expired, uid, false},
			{"unknown session", rt.ID, uuid.Must(uuid.NewV7()), uid, false},
			{"another user's claim", rt.ID, sid, uuid.Must(uuid.NewV7()), false},
			{"another tenant's claim", other.ID, sid, uid, false},
		} {
			if got := b.active(t, tc.tenant, tc.sid, tc.user); got != tc.want {
				t.Errorf("%s: Active = %v, want %v", tc.name, got, tc.want)
			}
		}
	})

	t.Run("cached until notices evict it", func(t *testing.T) {
		t.Parallel()
		// Its own bundle: another subtest's flush would evict its entries.
		b := setup(t)
		rt, other := b.tenant(t), b.tenant(t)
		u1, u2 := b.user(t, rt.ID, "o-one"), b.user(t, rt.ID, "o-two")
		a, _ := b.session(t, rt.ID, u1, "")
		a2, _ := b.session(t, rt.ID, u1, "")
		c, _ := b.session(t, rt.ID, u2, "")
		// The same user id in another tenant: a notice names a tenant too.
		if _, err := b.db.Exec(ctx, `INSERT INTO users (tenant_id, id, openid) VALUES ($1, $2, 'o-one')`, other.ID, u1); err != nil {
			t.Fatal(err)
		}
		d, _ := b.session(t, other.ID, u1, "")
		all := []struct {
			tenant    int64
			sid, user uuid.UUID
		}{{rt.ID, a, u1}, {rt.ID, a2, u1}, {rt.ID, c, u2}, {other.ID, d, u1}}
		state := func() []bool {
			var out []bool
			for _, s := range all {
				out = append(out, b.active(t, s.tenant, s.sid, s.user))
			}
			return out
		}
		if got := state(); !slices.Equal(got, []bool{true, true, true, true}) {
			t.Fatalf("before revocation: %v", got)
		}
		b.revokeInSQL(t, a, a2, c, d)
		if got := state(); !slices.Equal(got, []bool{true, true, true, true}) {
			t.Fatalf("a revocation written straight to SQL was seen without a notice: %v", got)
		}

		for _, step := range []struct {
			topic, payload string
			want           []bool
		}{
			{TopicSessionRevoked, fmt.Sprintf("%d:%s:%s", rt.ID, u1, a), []bool{false, true, true, true}},
			{TopicUserRevoked, fmt.Sprintf("%d:%s", rt.ID, u1), []bool{false, false, true, true}},
			{TopicSessionsFlush, "", []bool{false, false, false, false}},
		} {
			_ = b.feed.Publish(ctx, step.topic, step.payload)
			if got := state(); !slices.Equal(got, step.want) {
				t.Fatalf("after %s %q: %v, want %v", step.topic, step.payload, got, step.want)
			}
		}
	})

	t.Run("malformed notices are ignored", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rt := b.tenant(t)
		uid := b.user(t, rt.ID, "o-malformed")
		sid, _ := b.session(t, rt.ID, uid, "")
		if !b.active(t, rt.ID, sid, uid) {
			t.Fatal("inactive before revocation")
		}
		b.revokeInSQL(t, sid)
		good := fmt.Sprintf("%d:%s:%s", rt.ID, uid, sid)
		for _, n := range []notice{
			{TopicSessionRevoked, ""},
			{TopicSessionRevoked, "garbage"},
			{TopicSessionRevoked, fmt.Sprintf("%d:%s", rt.ID, uid)},
			{TopicSessionRevoked, fmt.Sprintf("x:%s:%s", uid, sid)},
			{TopicSessionRevoked, fmt.Sprintf("%d:%s:not-a-uuid", rt.ID, uid)},
			{TopicSessionRevoked, fmt.Sprintf("%d:not-a-uuid:%s", rt.ID, sid)},
			{TopicSessionRevoked, good + ":"},
			{TopicUserRevoked, ""},
			{TopicUserRevoked, fmt.Sprint(rt.ID)},
			{TopicUserRevoked, fmt.Sprintf("%d:", rt.ID)},
			{TopicUserRevoked, fmt.Sprintf("x:%s", uid)},
			{TopicUserRevoked, good},
		} {
			_ = b.feed.Publish(ctx, n.topic, n.payload)
			if !b.active(t, rt.ID, sid, uid) {
				t.Fatalf("%s %q evicted the session's answer", n.topic, n.payload)
			}
		}
		_ = b.feed.Publish(ctx, TopicSessionRevoked, good)
		if b.active(t, rt.ID, sid, uid) {
			t.Fatal("control: the well-formed notice did not evict it")
		}
	})

	t.Run("a reset flushes", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		rt := b.tenant(t)
		uid := b.user(t, rt.ID, "o-reset")
		sid, _ := b.session(t, rt.ID, uid, "")
		if !b.active(t, rt.ID, sid, uid) {
			t.Fatal("inactive before revocation")
		}
		b.revokeInSQL(t, sid)
		b.feed.Reset()
		if b.active(t, rt.ID, sid, uid) {
			t.Fatal("the revocation is not seen after a reset")
		}
	})

	t.Run("Revoke is read-your-writes", func(t *testing.T) {
		t.Parallel()
		rt := b.tenant(t)
		uid := b.user(t, rt.ID, "o-revoke")
		s1, _ := b.session(t, rt.ID, uid, "")
		s2, _ := b.session(t, rt.ID, uid, "")
		if !b.active(t, rt.ID, s1, uid) || !b.active(t, rt.ID, s2, uid) {
			t.Fatal("inactive before revocation")
		}
		if err := b.sessions.Revoke(ctx, rt.ID, uid, s1, "logout"); err != nil {
			t.Fatal(err)
		}
		if b.active(t, rt.ID, s1, uid) {
			t.Fatal("the revoked session answers active")
		}
		if !b.active(t, rt.ID, s2, uid) {
			t.Fatal("the user's other session answers inactive")
		}
		if revoked, reason := b.revoked(t, s1); !revoked || reason != "logout" {
			t.Fatalf("row: revoked %v (%q)", revoked, reason)
		}
	})

	t.Run("RevokeUser is read-your-writes", func(t *testing.T) {
		t.Parallel()
		rt := b.tenant(t)
		uid, other := b.user(t, rt.ID, "o-revoke-user"), b.user(t, rt.ID, "o-other")
		s1, _ := b.session(t, rt.ID, uid, "")
		s2, _ := b.session(t, rt.ID, uid, "")
		s3, _ := b.session(t, rt.ID, uid, "")
		so, _ := b.session(t, rt.ID, other, "")
		if err := b.sessions.Revoke(ctx, rt.ID, uid, s3, "logout"); err != nil {
			t.Fatal(err)
		}
		for _, s := range []uuid.UUID{s1, s2} {
			if !b.active(t, rt.ID, s, uid) {
				t.Fatal("inactive before revocation")
			}
		}
		if !b.active(t, rt.ID, so, other) {
			t.Fatal("inactive before revocation")
		}
		n, err := b.sessions.RevokeUser(ctx, rt.ID, uid, "logout_all")
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Fatalf("RevokeUser = %d, want 2 (the live sessions)", n)
		}
		for _, s := range []uuid.UUID{s1, s2} {
			if b.active(t, rt.ID, s, uid) {
				t.Fatalf("session %s answers active after RevokeUser", s)
			}
		}
		if !b.active(t, rt.ID, so, other) {
			t.Fatal("another user's session answers inactive")
		}
		if _, reason := b.revoked(t, s3); reason != "logout" {
			t.Fatalf("an already revoked session's reason became %q", reason)
		}
	})
}

func TestSessionsPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	rt := b.tenant(t)
	uid := b.user(t, rt.ID, "o-prune")
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := b.db.Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}

	live, oldToken := b.session(t, rt.ID, uid, "")
	r, err := b.rotate(rt.ID, oldToken)
	if err != nil {
		t.Fatal(err)
	}
	exec(`UPDATE refresh_tokens SET expires_at = now() - interval '2 days' WHERE token_hash = $1`, hashToken(oldToken))
	expiredLong, expiredLongToken := b.session(t, rt.ID, uid, "")
	exec(`UPDATE sessions SET expires_at = now() - interval '2 days' WHERE id = $1`, expiredLong)
	exec(`UPDATE refresh_tokens SET expires_at = now() - interval '2 days' WHERE token_hash = $1`, hashToken(expiredLongToken))
	expiredRecent, _ := b.session(t, rt.ID, uid, "")
	exec(`UPDATE sessions SET expires_at = now() - interval '1 hour' WHERE id = $1`, expiredRecent)
	revokedLong, revokedLongToken := b.session(t, rt.ID, uid, "")
	exec(`UPDATE sessions SET revoked_at = now() - interval '2 days' WHERE id = $1`, revokedLong)
	revokedRecent, _ := b.session(t, rt.ID, uid, "")
	exec(`UPDATE sessions SET revoked_at = now() - interval '1 hour' WHERE id = $1`, revokedRecent)

	ago := func(d time.Duration) *time.Time { t := time.Now().Add(-d); return &t }
	soon := time.Now().Add(time.Hour)
	b.insertBan(t, rt.ID, BanIP, "203.0.113.1/32", ago(48*time.Hour))
	b.insertBan(t, rt.ID, BanIP, "203.0.113.2/32", ago(time.Hour))
	b.insertBan(t, rt.ID, BanIP, "203.0.113.3/32", nil)
	b.insertBan(t, rt.ID, BanIP, "203.0.113.4/32", &soon)

	n, err := b.sessions.Prune(ctx)
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	// Two refresh tokens expired a day ago, two sessions dead a day ago
	// (their tokens go with them, uncounted), one ban lapsed a day ago.
	if n != 5 {
		t.Errorf("Prune = %d, want 5", n)
	}
	rows, err := b.db.Query(ctx, `SELECT id FROM sessions ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		t.Fatal(err)
	}
	if want := []uuid.UUID{live, expiredRecent, revokedRecent}; !slices.Equal(sessions, want) {
		t.Errorf("sessions left %v, want live %v, recently expired %v, recently revoked %v", sessions, want[0], want[1], want[2])
	}
	for name, c := range map[string]struct {
		token string
		want  int
	}{
		"the live session's current token": {r.Token, 1},
		"the live session's expired token": {oldToken, 0},
		"a long-revoked session's token":   {revokedLongToken, 0},
	} {
		if got := b.count(t, `SELECT count(*) FROM refresh_tokens WHERE token_hash = $1`, hashToken(c.token)); got != c.want {
			t.Errorf("%s: %d rows, want %d", name, got, c.want)
		}
	}
	if got := b.count(t, `SELECT count(*) FROM bans`); got != 3 {
		t.Errorf("%d bans left, want 3 (lapsed an hour ago, permanent, still live)", got)
	}
	if got := b.count(t, `SELECT count(*) FROM bans WHERE target = '203.0.113.1/32'`); got != 0 {
		t.Error("the ban lapsed two days ago is still stored")
	}

	if again, err := b.sessions.Prune(ctx); err != nil || again != 0 {
		t.Errorf("second Prune = %d, %v; want 0", again, err)
	}
}
