package auth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant"
)

type limitsBundle struct {
	rdb               redis.UniversalClient
	prefix            string
	failOpen, limited *countCounter
}

// newTestLimits is Limits on this test's own Redis key space; healthy nil
// means the feed is always healthy.
func newTestLimits(t *testing.T, rdb redis.UniversalClient, prefix string, healthy func() bool) (*Limits, *limitsBundle) {
	t.Helper()
	lb := &limitsBundle{rdb: rdb, prefix: prefix, failOpen: &countCounter{}, limited: &countCounter{}}
	l := NewLimits(LimitsConfig{
		Redis: rdb, Prefix: prefix, Healthy: healthy, Log: slog.New(slog.DiscardHandler),
		Defaults: map[string]string{tenant.LimitLoginPerIP: "5-M", tenant.LimitRefreshPerIP: "3-M"},
		FailOpen: lb.failOpen, Limited: lb.limited,
	})
	return l, lb
}

// keys are the Redis keys the limiter wrote.
func (lb *limitsBundle) keys(t *testing.T) []string {
	t.Helper()
	keys, err := lb.rdb.Keys(context.Background(), lb.prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestLimitsTake(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := dbtest.Redis(t)
	l, lb := newTestLimits(t, rdb, prefix, nil)

	for i := int64(1); i <= 3; i++ {
		q, err := l.Take(ctx, "test_limit", "3-M", "203.0.113.7")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if q.Limit != 3 || q.Remaining != 3-i {
			t.Fatalf("request %d: quota %+v, want limit 3, remaining %d", i, q, 3-i)
		}
		if until := time.Until(q.Reset); until <= 0 || until > time.Minute {
			t.Fatalf("request %d: reset in %v, want within the minute", i, until)
		}
	}
	q, err := l.Take(ctx, "test_limit", "3-M", "203.0.113.7")
	var le *LimitedError
	if !errors.As(err, &le) {
		t.Fatalf("request 4: %v, want a *LimitedError", err)
	}
	if le.Name != "test_limit" || le.Limit != 3 || le.Remaining != 0 {
		t.Fatalf("LimitedError = %+v, want name test_limit, limit 3, remaining 0", le)
	}
	if le.RetryAfter < time.Second || le.RetryAfter > time.Minute+time.Second {
		t.Fatalf("Retry-After %v, want between 1 s and the window", le.RetryAfter)
	}
	// A client that waits as told must find the window over: Retry-After
	// is never shorter than what the counter has left in Redis.
	for _, k := range lb.keys(t) {
		ttl, err := rdb.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl > le.RetryAfter {
			t.Fatalf("Retry-After %v, but counter %s lives %v more", le.RetryAfter, k, ttl)
		}
	}
	if q != le.Quota {
		t.Fatalf("returned quota %+v differs from the error's %+v", q, le.Quota)
	}
	if got := lb.limited.calls(); !slices.EqualFunc(got, [][]string{{"test_limit"}}, slices.Equal) {
		t.Fatalf("Limited counted %v, want one test_limit", got)
	}
	if got := lb.failOpen.calls(); len(got) != 0 {
		t.Fatalf("FailOpen counted %v with Redis up", got)
	}

	// Another key, and another limit name on the same key, count apart.
	if _, err := l.Take(ctx, "test_limit", "3-M", "203.0.113.8"); err != nil {
		t.Fatalf("another key: %v", err)
	}
	if _, err := l.Take(ctx, "other_limit", "3-M", "203.0.113.7"); err != nil {
		t.Fatalf("another limit: %v", err)
	}

	t.Run("an unparsable rate does not limit", func(t *testing.T) {
		for range 3 {
			if _, err := l.Take(ctx, "broken", "lots", "k"); err != nil {
				t.Fatalf("Take with rate %q: %v", "lots", err)
			}
		}
	})
}

func TestLimitsPeekReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := dbtest.Redis(t)
	l, lb := newTestLimits(t, rdb, prefix, nil)

	t.Run("peek does not count", func(t *testing.T) {
		for range 3 {
			q, err := l.Peek(ctx, "peek_limit", "2-M", "k")
			if err != nil || q.Limit != 2 || q.Remaining != 2 {
				t.Fatalf("Peek on a fresh key = %+v, %v; want limit 2, remaining 2", q, err)
			}
		}
	})
	t.Run("peek refuses once nothing remains", func(t *testing.T) {
		if _, err := l.Take(ctx, "peek_limit", "2-M", "k"); err != nil {
			t.Fatal(err)
		}
		if q, err := l.Peek(ctx, "peek_limit", "2-M", "k"); err != nil || q.Remaining != 1 {
			t.Fatalf("Peek after one Take = %+v, %v; want remaining 1", q, err)
		}
		if _, err := l.Take(ctx, "peek_limit", "2-M", "k"); err != nil {
			t.Fatal(err)
		}
		_, err := l.Peek(ctx, "peek_limit", "2-M", "k")
		var le *LimitedError
		if !errors.As(err, &le) || le.RetryAfter < time.Second || le.RetryAfter > time.Minute+time.Second {
			t.Fatalf("Peek with the limit used up = %v, want a *LimitedError with Retry-After within the window", err)
		}
		if got := lb.limited.calls(); len(got) != 0 {
			t.Fatalf("Limited counted %v: a peek refuses nothing by itself", got)
		}
	})
	t.Run("reset clears the count", func(t *testing.T) {
		l.Reset(ctx, "peek_limit", "2-M", "k")
		if q, err := l.Peek(ctx, "peek_limit", "2-M", "k"); err != nil || q.Remaining != 2 {
			t.Fatalf("Peek after Reset = %+v, %v; want remaining 2", q, err)
		}
	})
	t.Run("peek fails open", func(t *testing.T) {
		down, _ := newTestLimits(t, rdb, prefix, func() bool { return false })
		if q, err := down.Peek(ctx, "peek_limit", "2-M", "k"); err != nil || q != (Quota{}) {
			t.Fatalf("Peek with the feed down = %+v, %v; want an empty quota and no error", q, err)
		}
	})
}

func TestLimitsTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rdb, prefix := dbtest.Redis(t)
	l, _ := newTestLimits(t, rdb, prefix, nil)
	own := &tenant.Runtime{Tenant: tenant.Tenant{ID: 41, RateLimits: map[string]string{tenant.LimitLoginPerIP: "2-M"}}}
	same := &tenant.Runtime{Tenant: tenant.Tenant{ID: 42, RateLimits: map[string]string{tenant.LimitLoginPerIP: "2-M"}}}
	byDefault := &tenant.Runtime{Tenant: tenant.Tenant{ID: 43}}

	take := func(rt *tenant.Runtime) (Quota, error) {
		return l.Tenant(ctx, rt, tenant.LimitLoginPerIP, "203.0.113.7")
	}
	t.Run("the tenant's own rate over the default", func(t *testing.T) {
		for i := range 2 {
			if q, err := take(own); err != nil || q.Limit != 2 {
				t.Fatalf("request %d: %+v, %v; want allowed under limit 2", i+1, q, err)
			}
		}
		var le *LimitedError
		if _, err := take(own); !errors.As(err, &le) || le.Limit != 2 {
			t.Fatalf("request 3: %v, want limited at 2", err)
		}
	})
	t.Run("counters are the tenant's own", func(t *testing.T) {
		// Same limit, same key, same rate: another tenant starts afresh.
		if q, err := take(same); err != nil || q.Remaining != 1 {
			t.Fatalf("another tenant's first request: %+v, %v; want allowed with 1 remaining", q, err)
		}
	})
	t.Run("the default when the tenant sets none", func(t *testing.T) {
		q, err := take(byDefault)
		if err != nil || q.Limit != 5 || q.Remaining != 4 {
			t.Fatalf("%+v, %v; want the default limit 5 with 4 remaining", q, err)
		}
	})
	t.Run("a tenant-wide key", func(t *testing.T) {
		rt := &tenant.Runtime{Tenant: tenant.Tenant{ID: 44, RateLimits: map[string]string{tenant.LimitLoginPerTenant: "1-M"}}}
		if _, err := l.Tenant(ctx, rt, tenant.LimitLoginPerTenant, ""); err != nil {
			t.Fatal(err)
		}
		var le *LimitedError
		if _, err := l.Tenant(ctx, rt, tenant.LimitLoginPerTenant, ""); !errors.As(err, &le) {
			t.Fatalf("second tenant-wide request: %v, want limited", err)
		}
	})
}

func TestLimitsFailOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("while the feed is unhealthy", func(t *testing.T) {
		t.Parallel()
		rdb, prefix := dbtest.Redis(t)
		l, lb := newTestLimits(t, rdb, prefix, func() bool { return false })
		for i := range 3 {
			q, err := l.Take(ctx, "test_limit", "1-M", "203.0.113.7")
			if err != nil {
				t.Fatalf("request %d: %v, want allowed", i+1, err)
			}
			if q != (Quota{}) {
				t.Fatalf("request %d: quota %+v, want none", i+1, q)
			}
		}
		if got := lb.failOpen.calls(); !slices.EqualFunc(got, [][]string{{"test_limit"}, {"test_limit"}, {"test_limit"}}, slices.Equal) {
			t.Fatalf("FailOpen counted %v, want test_limit three times", got)
		}
		if got := lb.limited.calls(); len(got) != 0 {
			t.Fatalf("Limited counted %v", got)
		}
		if keys := lb.keys(t); len(keys) != 0 {
			t.Fatalf("counters written while failing open: %v", keys)
		}
	})

	t.Run("Redis unreachable", func(t *testing.T) {
		t.Parallel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		down := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: 100 * time.Millisecond, ContextTimeoutEnabled: true})
		t.Cleanup(func() { _ = down.Close() })
		limits, lb := newTestLimits(t, down, "unreachable:", nil)
		for i := range 3 {
			if _, err := limits.Take(ctx, "test_limit", "1-M", "203.0.113.7"); err != nil {
				t.Fatalf("request %d: %v, want allowed", i+1, err)
			}
		}
		if got := len(lb.failOpen.calls()); got != 3 {
			t.Fatalf("FailOpen counted %d, want 3", got)
		}
	})

	// Once the store is made, every request asks Redis under
	// limiterCallTimeout: Redis going away, or going silent, must fail open
	// the same way.
	for _, tc := range []struct {
		name    string
		breakIt func(*redisProxy)
	}{
		{"Redis goes away after the store was made", (*redisProxy).close},
		{"Redis stops answering after the store was made", (*redisProxy).stall},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, prefix := dbtest.Redis(t)
			p := newRedisProxy(t)
			// As cmd/miniauth makes it: deadlines come from the context.
			rdb := redis.NewClient(&redis.Options{Addr: p.addr(), MaxRetries: -1, DialerRetries: 1, DialTimeout: 100 * time.Millisecond, ContextTimeoutEnabled: true})
			t.Cleanup(func() { _ = rdb.Close() })
			l, lb := newTestLimits(t, rdb, prefix, nil)
			if q, err := l.Take(ctx, "test_limit", "1-M", "203.0.113.7"); err != nil || q.Limit != 1 {
				t.Fatalf("through the proxy: %+v, %v; want counted", q, err)
			}
			tc.breakIt(p)
			for i := range 2 {
				if _, err := l.Take(ctx, "test_limit", "1-M", "203.0.113.7"); err != nil {
					t.Fatalf("request %d after the break: %v, want allowed", i+2, err)
				}
			}
			if got := len(lb.failOpen.calls()); got != 2 {
				t.Fatalf("FailOpen counted %d, want 2", got)
			}
		})
	}
}

// redisProxy forwards TCP to the test Redis until it is closed (refusing
// and dropping every connection) or stalled (holding clients' connections
// open and answering nothing).
type redisProxy struct {
	l net.Listener

	mu      sync.Mutex
	stalled bool
	pairs   []proxied
}

type proxied struct{ client, upstream net.Conn }

func newRedisProxy(t *testing.T) *redisProxy {
	t.Helper()
	opt, err := redis.ParseURL(dbtest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &redisProxy{l: l}
	t.Cleanup(p.close)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", opt.Addr)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.pairs = append(p.pairs, proxied{c, up})
			if p.stalled {
				_ = up.Close()
			}
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c) }()
			go func() { _, _ = io.Copy(c, up) }()
		}
	}()
	return p
}

func (p *redisProxy) addr() string { return p.l.Addr().String() }

func (p *redisProxy) close() {
	_ = p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.pairs {
		_ = c.client.Close()
		_ = c.upstream.Close()
	}
	p.pairs = nil
}

// stall cuts every connection's way to Redis and leaves the client's end
// open, so what the client sends is never answered.
func (p *redisProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = true
	for _, c := range p.pairs {
		_ = c.upstream.Close()
	}
}
