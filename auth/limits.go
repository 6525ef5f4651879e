package auth

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	sredis "github.com/ulule/limiter/v3/drivers/store/redis"

	"github.com/miniauth/miniauth/tenant"
)

const (
	limiterCallTimeout     = 250 * time.Millisecond
	limiterStoreRetryAfter = 5 * time.Second
)

var errRedisDown = errors.New("redis is down")

// ClientNet is the network one client controls: its IPv4 address, or the
// /64 of its IPv6 address, since a single IPv6 host can rotate through its
// /64 at will. Per-IP limits and automatic bans count and ban by it.
func ClientNet(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.Prefix(64)
	return p
}

// Quota is the state of one limit after a request was counted.
type Quota struct {
	Limit     int64
	Remaining int64
	Reset     time.Time
}

// LimitedError refuses a request over a limit.
type LimitedError struct {
	Name string
	Quota
	RetryAfter time.Duration
}

func (e *LimitedError) Error() string { return "rate limit " + e.Name + " reached" }

// Limits counts requests against fixed-window limits in Redis (ulule/limiter),
// so every instance shares each counter. Windows are fixed, so a client can
// fit up to twice a limit into one window-length that straddles a boundary;
// the limits bound abuse rates, and sustained abuse is what the automatic
// bans catch, so the cheaper fixed window is kept.
//
// Limits fail open: when Redis cannot answer within limiterCallTimeout the
// request is allowed, counted in miniauth_ratelimit_fail_open_total and
// logged; an outage of Redis must not become an outage of logins.
type Limits struct {
	rdb      redis.UniversalClient
	prefix   string
	defaults map[string]string
	healthy  func() bool
	log      *slog.Logger

	failOpen Counter
	limited  Counter

	mu        sync.Mutex
	store     limiter.Store
	lastTry   time.Time
	rates     sync.Map // formatted -> limiter.Rate
	lastWarn  time.Time
	warnEvery time.Duration
}

// LimitsConfig configures Limits.
type LimitsConfig struct {
	Redis    redis.UniversalClient
	Prefix   string
	Defaults map[string]string
	Healthy  func() bool
	// FailOpen counts requests allowed because Redis could not count them,
	// Limited those refused; both by limit name.
	FailOpen, Limited Counter
	Log               *slog.Logger
}

// NewLimits returns the limiter; the Redis store is made on first use, so
// a server can start while Redis is down.
func NewLimits(c LimitsConfig) *Limits {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return &Limits{
		rdb: c.Redis, prefix: c.Prefix + "rl:", defaults: c.Defaults, healthy: c.Healthy, log: c.Log,
		failOpen:  orNop(c.FailOpen),
		limited:   orNop(c.Limited),
		warnEvery: 10 * time.Second,
	}
}

// Tenant counts one request against a tenant's limit name for key (an IP,
// a user id, or "" for tenant-wide).
func (l *Limits) Tenant(ctx context.Context, rt *tenant.Runtime, name, key string) (Quota, error) {
	return l.Take(ctx, name, rt.RateLimit(name, l.defaults), strconv.FormatInt(rt.ID, 10)+":"+key)
}

// Take counts one request for key under rate (a "20-M" string).
func (l *Limits) Take(ctx context.Context, name, rate, key string) (Quota, error) {
	return l.call(ctx, name, rate, key, false)
}

// Peek reports key's count under rate without counting this request, and
// a *LimitedError when a Take now would be refused (nothing remains). It
// is for decisions made before the thing counted happens, such as a sign-in
// that counts only when it fails. It fails open as Take does.
func (l *Limits) Peek(ctx context.Context, name, rate, key string) (Quota, error) {
	return l.call(ctx, name, rate, key, true)
}

func (l *Limits) call(ctx context.Context, name, rate, key string, peek bool) (Quota, error) {
	r, err := l.rate(rate)
	if err != nil {
		// Rates are validated on write; an unparsable one means no limit.
		return Quota{}, nil
	}
	lim, ok := l.limiter(ctx, name, r)
	if !ok {
		return Quota{}, nil
	}
	cctx, cancel := context.WithTimeout(ctx, limiterCallTimeout)
	defer cancel()
	get, reached := lim.Get, func(lc limiter.Context) bool { return lc.Reached }
	if peek {
		get, reached = lim.Peek, func(lc limiter.Context) bool { return lc.Remaining <= 0 }
	}
	lc, err := get(cctx, name+":"+key)
	if err != nil {
		l.open(ctx, name, err)
		return Quota{}, nil
	}
	q := Quota{Limit: lc.Limit, Remaining: lc.Remaining, Reset: time.Unix(lc.Reset, 0)}
	if reached(lc) {
		if !peek {
			l.limited.Inc(name)
		}
		// Reset is whole seconds, cut down: the window may last up to a
		// second longer, and a client that waits as told must not be
		// refused again.
		retry := time.Until(q.Reset.Add(time.Second))
		if retry < time.Second {
			retry = time.Second
		}
		return q, &LimitedError{Name: name, Quota: q, RetryAfter: retry}
	}
	return q, nil
}

// Reset forgets key's count under rate, e.g. the failed sign-ins of an
// account once it signs in. It fails open: a count Redis could not clear
// runs out with its window.
func (l *Limits) Reset(ctx context.Context, name, rate, key string) {
	r, err := l.rate(rate)
	if err != nil {
		return
	}
	lim, ok := l.limiter(ctx, name, r)
	if !ok {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, limiterCallTimeout)
	defer cancel()
	if _, err := lim.Reset(cctx, name+":"+key); err != nil {
		l.open(ctx, name, err)
	}
}

// limiter is rate on the Redis store, or false (counted as failing open)
// while Redis is known to be down.
func (l *Limits) limiter(ctx context.Context, name string, r limiter.Rate) (*limiter.Limiter, bool) {
	if l.healthy != nil && !l.healthy() {
		l.open(ctx, name, errRedisDown)
		return nil, false
	}
	store := l.getStore()
	if store == nil {
		l.open(ctx, name, nil)
		return nil, false
	}
	return limiter.New(store, r), true
}

func (l *Limits) rate(formatted string) (limiter.Rate, error) {
	if r, ok := l.rates.Load(formatted); ok {
		return r.(limiter.Rate), nil
	}
	if _, _, err := tenant.ParseRate(formatted); err != nil {
		return limiter.Rate{}, err
	}
	r, err := limiter.NewRateFromFormatted(formatted)
	if err != nil {
		return limiter.Rate{}, err
	}
	l.rates.Store(formatted, r)
	return r, nil
}

// getStore makes the Redis store on first use; making it loads Lua
// scripts, which fails while Redis is down, so failures are retried at
// most every few seconds.
func (l *Limits) getStore() limiter.Store {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.store != nil {
		return l.store
	}
	if time.Since(l.lastTry) < limiterStoreRetryAfter {
		return nil
	}
	l.lastTry = time.Now()
	s, err := sredis.NewStoreWithOptions(l.rdb, limiter.StoreOptions{Prefix: l.prefix})
	if err != nil {
		return nil
	}
	l.store = s
	return s
}

func (l *Limits) open(ctx context.Context, name string, err error) {
	l.failOpen.Inc(name)
	l.mu.Lock()
	warn := time.Since(l.lastWarn) > l.warnEvery
	if warn {
		l.lastWarn = time.Now()
	}
	l.mu.Unlock()
	if warn {
		l.log.WarnContext(ctx, "rate limits fail open: Redis is not answering", "limit", name, "err", err)
	}
}
