package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Exchanges makes a wx.login code's exchange happen once across every
// instance. WeChat spends a code on first use and answers 40163 to any
// repeat, so a double tap or a client retry would otherwise fail with a
// confusing invalid_code although the first request succeeds.
//
// The first request to claim a code in Redis (SET NX) is its leader and
// exchanges it; requests that find the claim pending are followers and
// wait for its outcome, then open their own session for the same user.
// The outcome stored is the user's id, openid and unionid, or the kind of
// error: never the session_key, which exists only sealed in Postgres.
// Once the exchange has finished the code is spent: a request that first
// sees a finished claim gets ErrInvalidCode, as WeChat would answer.
//
// Without Redis every request exchanges its code itself, which is the
// behaviour without coordination: the first succeeds, repeats get 40163.
type Exchanges struct {
	rdb    redis.UniversalClient
	prefix string
	log    *slog.Logger
	// pendingTTL bounds how long followers wait for a leader that died.
	pendingTTL time.Duration
	// poll is how often a follower re-reads the claim.
	poll time.Duration
}

const (
	// A claim lives as long as WeChat keeps a code (5 min), so a replay
	// is refused as long as WeChat would still know the code.
	spentTTL = 5 * time.Minute
	// A leader that neither finishes nor fails within this much has
	// died; its followers give up. It exceeds the longest exchange: one
	// WeChat call (at most a minute by configuration) and a transaction.
	defaultPendingTTL = 70 * time.Second
)

// NewExchanges returns the coordinator; rdb nil coordinates nothing.
func NewExchanges(rdb redis.UniversalClient, prefix string, log *slog.Logger) *Exchanges {
	return &Exchanges{rdb: rdb, prefix: prefix, log: log, pendingTTL: defaultPendingTTL, poll: 20 * time.Millisecond}
}

// claimRole is what a request is to a code's exchange.
type claimRole int

const (
	roleLeader   claimRole = iota // exchange the code, then finish the claim
	roleFollower                  // wait for the leader's outcome
	roleSpent                     // the exchange finished before this request came
	roleAlone                     // Redis could not answer: exchange without coordination
)

// claim is one request's hold on a code's exchange.
type claim struct {
	role claimRole
	key  string
}

// account is what an exchange leaves for its followers.
type account struct {
	UserID  uuid.UUID `json:"u"`
	OpenID  string    `json:"o"`
	UnionID *string   `json:"n,omitempty"`
	IsNew   bool      `json:"new,omitempty"`
}

// outcome is a finished claim: an account, or the kind of error.
type outcome struct {
	account
	Err   string    `json:"err,omitempty"`
	Until time.Time `json:"until,omitzero"`
}

const pendingValue = "pending"

func (e *Exchanges) key(tenantID int64, code string) string {
	sum := sha256.Sum256([]byte(code))
	return e.prefix + "code:" + strconv.FormatInt(tenantID, 10) + ":" + hex.EncodeToString(sum[:16])
}

// claim decides the request's role for code.
func (e *Exchanges) claim(ctx context.Context, tenantID int64, code string) claim {
	if e == nil || e.rdb == nil {
		return claim{role: roleAlone}
	}
	c := claim{key: e.key(tenantID, code)}
	rctx, cancel := context.WithTimeout(ctx, limiterCallTimeout)
	defer cancel()
	// SET NX GET: one round trip that claims, or tells what was there.
	prev, err := e.rdb.SetArgs(rctx, c.key, pendingValue, redis.SetArgs{Mode: "NX", Get: true, TTL: e.pendingTTL}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		c.role = roleLeader
	case err != nil:
		e.log.WarnContext(ctx, "login code not coordinated: redis unavailable", "err", err)
		c.role = roleAlone
	case prev == pendingValue:
		c.role = roleFollower
	default:
		c.role = roleSpent
	}
	return c
}

// finish records the leader's outcome, which its followers read. It runs
// even when the leader's own caller went away.
func (e *Exchanges) finish(ctx context.Context, c claim, acct account, err error) {
	if c.role != roleLeader {
		return
	}
	o := outcome{account: acct}
	if err != nil {
		o = outcome{Err: errorKind(err)}
		var banned *BannedError
		if errors.As(err, &banned) {
			o.Until = banned.Until
		}
	}
	b, _ := json.Marshal(o)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), limiterCallTimeout)
	defer cancel()
	if err := e.rdb.Set(rctx, c.key, b, spentTTL).Err(); err != nil {
		e.log.WarnContext(ctx, "login code outcome not stored: redis unavailable", "err", err)
	}
}

// wait returns the leader's outcome for a follower: its account, or the
// error the leader met.
func (e *Exchanges) wait(ctx context.Context, c claim) (account, error) {
	t := time.NewTicker(e.poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return account{}, fmt.Errorf("%w: waiting for a concurrent exchange of the code: %w", ErrWeChatUnavailable, ctx.Err())
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, limiterCallTimeout)
		v, err := e.rdb.Get(rctx, c.key).Result()
		cancel()
		switch {
		case errors.Is(err, redis.Nil):
			// The leader died and its claim expired: nothing to wait for.
			return account{}, fmt.Errorf("%w: the concurrent exchange of the code was abandoned", ErrWeChatUnavailable)
		case err != nil:
			// Redis hiccup: keep waiting; the context bounds it.
			continue
		case v == pendingValue:
			continue
		}
		var o outcome
		if err := json.Unmarshal([]byte(v), &o); err != nil {
			return account{}, fmt.Errorf("%w: unreadable outcome of a concurrent exchange", ErrWeChatUnavailable)
		}
		if o.Err != "" {
			return account{}, kindError(o.Err, o.Until)
		}
		return o.account, nil
	}
}

// The errors a leader can pass on, by a stable name.
var exchangeErrors = map[string]error{
	"invalid_code":  ErrInvalidCode,
	"risk_blocked":  ErrRiskBlocked,
	"rate_limited":  ErrWeChatRateLimited,
	"misconfigured": ErrWeChatMisconfigured,
	"quota":         ErrWeChatQuota,
	"user_disabled": ErrUserDisabled,
}

func errorKind(err error) string {
	var banned *BannedError
	if errors.As(err, &banned) {
		return "banned"
	}
	for kind, e := range exchangeErrors {
		if errors.Is(err, e) {
			return kind
		}
	}
	return "unavailable"
}

func kindError(kind string, until time.Time) error {
	if kind == "banned" {
		return &BannedError{Until: until}
	}
	if err, ok := exchangeErrors[kind]; ok {
		return err
	}
	return fmt.Errorf("%w: the concurrent exchange of the code failed", ErrWeChatUnavailable)
}
