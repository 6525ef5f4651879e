package auth

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/migrations/dbtest"
)

func TestExchangesRoles(t *testing.T) {
	t.Parallel()
	rdb, prefix := dbtest.Redis(t)
	e := NewExchanges(rdb, prefix, slog.New(slog.DiscardHandler))
	ctx := t.Context()

	leader := e.claim(ctx, 1, "code-a")
	if leader.role != roleLeader {
		t.Fatalf("first claim: role %d, want leader", leader.role)
	}
	if c := e.claim(ctx, 2, "code-a"); c.role != roleLeader {
		t.Fatalf("the same code in another tenant: role %d, want its own leader", c.role)
	}
	follower := e.claim(ctx, 1, "code-a")
	if follower.role != roleFollower {
		t.Fatalf("second claim while pending: role %d, want follower", follower.role)
	}
	if strings.Contains(follower.key, "code-a") {
		t.Fatalf("claim key %q holds the code itself", follower.key)
	}

	union := "u-1"
	want := account{UserID: uuid.New(), OpenID: "o-1", UnionID: &union, IsNew: true}
	got := make(chan account, 1)
	go func() {
		a, err := e.wait(ctx, follower)
		if err != nil {
			t.Errorf("wait: %v", err)
		}
		got <- a
	}()
	time.Sleep(3 * e.poll)
	e.finish(ctx, leader, want, nil)
	a := <-got
	if a.UserID != want.UserID || a.OpenID != want.OpenID || a.UnionID == nil || *a.UnionID != union || !a.IsNew {
		t.Fatalf("follower got %+v, want %+v", a, want)
	}
	if c := e.claim(ctx, 1, "code-a"); c.role != roleSpent {
		t.Fatalf("claim after finish: role %d, want spent", c.role)
	}
	// What Redis holds names the user, never a session_key.
	v, err := rdb.Get(ctx, leader.key).Result()
	if err != nil || strings.Contains(v, "session") {
		t.Fatalf("stored outcome %q (%v)", v, err)
	}
}

func TestExchangesFailureAndDeadLeader(t *testing.T) {
	t.Parallel()
	rdb, prefix := dbtest.Redis(t)
	e := NewExchanges(rdb, prefix, slog.New(slog.DiscardHandler))
	ctx := t.Context()

	for _, tc := range []struct {
		err  error
		want func(error) bool
	}{
		{ErrInvalidCode, func(err error) bool { return errors.Is(err, ErrInvalidCode) }},
		{ErrRiskBlocked, func(err error) bool { return errors.Is(err, ErrRiskBlocked) }},
		{ErrWeChatQuota, func(err error) bool { return errors.Is(err, ErrWeChatQuota) }},
		{ErrUserDisabled, func(err error) bool { return errors.Is(err, ErrUserDisabled) }},
		{errors.New("boom"), func(err error) bool { return errors.Is(err, ErrWeChatUnavailable) }},
		{&BannedError{Until: time.Unix(2e9, 0).UTC()}, func(err error) bool {
			var b *BannedError
			return errors.As(err, &b) && b.Until.Equal(time.Unix(2e9, 0))
		}},
	} {
		code := "code-" + tc.err.Error()
		leader := e.claim(ctx, 1, code)
		follower := e.claim(ctx, 1, code)
		e.finish(ctx, leader, account{}, tc.err)
		if _, err := e.wait(ctx, follower); !tc.want(err) {
			t.Errorf("leader failed with %v; follower got %v", tc.err, err)
		}
	}

	// A leader that dies leaves a pending claim that expires: its
	// followers stop waiting then, with WeChat unavailable.
	short := NewExchanges(rdb, prefix, slog.New(slog.DiscardHandler))
	short.pendingTTL = 200 * time.Millisecond
	_ = short.claim(ctx, 1, "code-dead")
	follower := short.claim(ctx, 1, "code-dead")
	if _, err := short.wait(ctx, follower); !errors.Is(err, ErrWeChatUnavailable) {
		t.Fatalf("follower of a dead leader: %v, want ErrWeChatUnavailable", err)
	}
	// A follower whose caller gives up stops waiting.
	_ = short.claim(ctx, 1, "code-slow")
	follower = short.claim(ctx, 1, "code-slow")
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := short.wait(cctx, follower); !errors.Is(err, ErrWeChatUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("follower with a cancelled context: %v", err)
	}
}

// BenchmarkExchangeClaim is what coordinating a code costs a login: the
// claim (one SET NX GET) and the outcome (one SET), against real Redis.
func BenchmarkExchangeClaim(b *testing.B) {
	rdb, prefix := dbtest.Redis(b)
	e := NewExchanges(rdb, prefix, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	acct := account{UserID: uuid.New(), OpenID: "o-bench"}
	i := 0
	for b.Loop() {
		i++
		c := e.claim(ctx, 1, "bench-code-"+strconv.Itoa(i))
		if c.role != roleLeader {
			b.Fatalf("role %d", c.role)
		}
		e.finish(ctx, c, acct, nil)
	}
}
