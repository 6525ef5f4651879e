package auth

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/miniauth/miniauth/auth/wechat"
	"github.com/miniauth/miniauth/tenant"
)

// ErrCircuitOpen means a tenant's WeChat calls are failing and this
// instance stopped sending them for a while. It is an
// wechat.ErrUnavailable, so every path answers it as WeChat being down;
// the login answers it at once instead of after a timeout.
var ErrCircuitOpen = errors.New("wechat circuit open")

type circuitOpenError struct{}

func (circuitOpenError) Error() string   { return ErrCircuitOpen.Error() }
func (circuitOpenError) Unwrap() []error { return []error{ErrCircuitOpen, wechat.ErrUnavailable} }

// Breaker states as the management API and /metrics show them.
const (
	BreakerClosed   = "closed"
	BreakerHalfOpen = "half-open"
	BreakerOpen     = "open"
)

// BreakerConfig tunes the per-tenant circuit breakers.
type BreakerConfig struct {
	// Failures in a row that open a tenant's circuit (default 5).
	Failures uint32
	// OpenFor is how long an open circuit refuses calls before it lets
	// probes through (default 10 s).
	OpenFor time.Duration
	// Probes is how many calls a half-open circuit lets through; that
	// many successes close it, one failure opens it again (default 1).
	Probes uint32
	// State is told every tenant's state as a number: 0 closed,
	// 1 half-open, 2 open (a metrics gauge).
	State Gauge
	// Transitions counts state changes by tenant and new state.
	Transitions Counter
	Log         *slog.Logger
}

// Gauge is a value for operators' metrics (web/metrics.Gauge).
type Gauge interface {
	Set(v int64, labelValues ...string)
}

// Breakers holds one circuit breaker per tenant around its WeChat calls
// (sony/gobreaker). Only answers that are no answer count as failures:
// transport errors, timeouts, non-200s, garbage and errcode -1
// (wechat.ErrUnavailable). An errcode such as 40029 is WeChat working and
// counts as a success; a call its own caller cancelled counts as neither.
// State is per instance: each instance learns of an outage from its own
// calls, which is enough to stop it piling up requests on timeouts.
type Breakers struct {
	cfg BreakerConfig
	mu  sync.Mutex
	m   map[int64]*gobreaker.CircuitBreaker[struct{}]
}

// NewBreakers returns the per-tenant breakers.
func NewBreakers(cfg BreakerConfig) *Breakers {
	if cfg.Failures == 0 {
		cfg.Failures = 5
	}
	if cfg.OpenFor <= 0 {
		cfg.OpenFor = 10 * time.Second
	}
	if cfg.Probes == 0 {
		cfg.Probes = 1
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.State == nil {
		cfg.State = nopGauge{}
	}
	cfg.Transitions = orNop(cfg.Transitions)
	return &Breakers{cfg: cfg, m: map[int64]*gobreaker.CircuitBreaker[struct{}]{}}
}

type nopGauge struct{}

func (nopGauge) Set(int64, ...string) {}

func (b *Breakers) of(rt *tenant.Runtime) *gobreaker.CircuitBreaker[struct{}] {
	b.mu.Lock()
	defer b.mu.Unlock()
	cb, ok := b.m[rt.ID]
	if ok {
		return cb
	}
	slug := rt.Slug
	cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        slug,
		MaxRequests: b.cfg.Probes,
		Timeout:     b.cfg.OpenFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= b.cfg.Failures },
		IsSuccessful: func(err error) bool {
			return err == nil || !errors.Is(err, wechat.ErrUnavailable)
		},
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			b.cfg.State.Set(int64(to), slug)
			b.cfg.Transitions.Inc(slug, stateName(to))
			b.cfg.Log.Warn("wechat circuit breaker", "tenant", slug, "from", stateName(from), "to", stateName(to))
		},
	})
	b.m[rt.ID] = cb
	b.cfg.State.Set(0, slug)
	return cb
}

func stateName(s gobreaker.State) string {
	switch s {
	case gobreaker.StateOpen:
		return BreakerOpen
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	}
	return BreakerClosed
}

// State is the tenant's breaker state on this instance; a tenant that
// made no WeChat call yet is closed.
func (b *Breakers) State(tenantID int64) string {
	if b == nil {
		return BreakerClosed
	}
	b.mu.Lock()
	cb, ok := b.m[tenantID]
	b.mu.Unlock()
	if !ok {
		return BreakerClosed
	}
	return stateName(cb.State())
}

// guard runs f through the tenant's breaker; nil Breakers guard nothing.
func guard[T any](b *Breakers, rt *tenant.Runtime, f func() (T, error)) (T, error) {
	if b == nil {
		return f()
	}
	var out T
	_, err := b.of(rt).Execute(func() (struct{}, error) {
		var err error
		out, err = f()
		return struct{}{}, err
	})
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return out, circuitOpenError{}
	}
	return out, err
}

// For is the tenant's view of wx: every call goes through its breaker.
func (b *Breakers) For(wx WeChat, rt *tenant.Runtime) WeChat {
	if b == nil {
		return wx
	}
	return guardedWeChat{wx: wx, b: b, rt: rt}
}

type guardedWeChat struct {
	wx WeChat
	b  *Breakers
	rt *tenant.Runtime
}

func (g guardedWeChat) Code2Session(ctx context.Context, appID, secret, code string) (wechat.Session, error) {
	return guard(g.b, g.rt, func() (wechat.Session, error) { return g.wx.Code2Session(ctx, appID, secret, code) })
}

func (g guardedWeChat) StableToken(ctx context.Context, appID, secret string, force bool) (wechat.AccessToken, error) {
	return guard(g.b, g.rt, func() (wechat.AccessToken, error) { return g.wx.StableToken(ctx, appID, secret, force) })
}

func (g guardedWeChat) PhoneNumber(ctx context.Context, accessToken, code string) (wechat.Phone, error) {
	return guard(g.b, g.rt, func() (wechat.Phone, error) { return g.wx.PhoneNumber(ctx, accessToken, code) })
}

func (g guardedWeChat) CheckSession(ctx context.Context, accessToken, openID, sessionKey string) error {
	_, err := guard(g.b, g.rt, func() (struct{}, error) {
		return struct{}{}, g.wx.CheckSession(ctx, accessToken, openID, sessionKey)
	})
	return err
}

func (g guardedWeChat) ResetSessionKey(ctx context.Context, accessToken, openID, sessionKey string) (wechat.Session, error) {
	return guard(g.b, g.rt, func() (wechat.Session, error) {
		return g.wx.ResetSessionKey(ctx, accessToken, openID, sessionKey)
	})
}

func (g guardedWeChat) WXACodeUnlimit(ctx context.Context, accessToken string, r wechat.WXACodeRequest) (wechat.Image, error) {
	return guard(g.b, g.rt, func() (wechat.Image, error) { return g.wx.WXACodeUnlimit(ctx, accessToken, r) })
}
