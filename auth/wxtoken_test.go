package auth

import (
	"context"
	"net"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/miniauth/miniauth/auth/wechat"
	"github.com/miniauth/miniauth/auth/wechat/fake"
	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant"
)

const (
	wxAppID  = "wx1111111111111111"
	wxSecret = "s3cr3t-0f-app-one-00000000000000"
	// 40001 spelt out rather than wechat.CodeInvalidToken, so a wrong
	// constant cannot make the fake and the client agree by accident.
	wxRejectToken = 40001
)

// wxClock is a settable clock shared by the fake WeChat and AccessTokens.
type wxClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *wxClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *wxClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// forceCounter counts the forced stable_token calls that reach WeChat;
// the fake counts every call but does not tell forced ones apart.
type forceCounter struct {
	WeChat
	forced atomic.Int32
}

func (c *forceCounter) StableToken(ctx context.Context, appID, secret string, force bool) (wechat.AccessToken, error) {
	if force {
		c.forced.Add(1)
	}
	return c.WeChat.StableToken(ctx, appID, secret, force)
}

type wxBundle struct {
	fake   *fake.Server
	wx     *forceCounter
	clock  *wxClock
	rdb    redis.UniversalClient
	prefix string
	rt     *tenant.Runtime
}

func setupWX(t *testing.T) *wxBundle {
	t.Helper()
	// Late in a UTC day, so the daily-cap test crosses midnight with one step.
	clock := &wxClock{t: time.Date(2030, 1, 1, 20, 0, 0, 0, time.UTC)}
	f := fake.New(fake.WithClock(clock.Now))
	f.AddApp(wxAppID, wxSecret, "")
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	rdb, prefix := dbtest.Redis(t)
	return &wxBundle{
		fake: f, wx: &forceCounter{WeChat: wechat.New(srv.URL, srv.Client())}, clock: clock, rdb: rdb, prefix: prefix,
		rt: &tenant.Runtime{Tenant: tenant.Tenant{ID: 7, Slug: "wx", WeChatAppID: wxAppID}, Secret: wxSecret},
	}
}

// instance is one miniauth instance's AccessTokens on rdb.
func (b *wxBundle) instance(rdb redis.UniversalClient) *AccessTokens {
	a := NewAccessTokens(rdb, b.prefix, b.wx, nil)
	a.now = b.clock.Now
	return a
}

// reject makes WeChat refuse the next n access-token uses as "not the
// latest token", while stable_token without force keeps answering it:
// the case only a forced refresh gets out of. The fault names no app: the
// fake matches a token's app only while the token is valid, and an expired
// token must be refused by the fault too, not leave it for the retry.
func (b *wxBundle) reject(n int) {
	b.fake.Inject(fake.Fault{Endpoint: fake.EndpointPhoneNumber, Errcode: wxRejectToken, Times: n})
}

// phone is a getPhoneNumber call with token; it records the tokens it used
// and what WeChat answered each.
type phone struct {
	b      *wxBundle
	tokens []string
	errs   []error
}

func (p *phone) call(token string) error {
	_, err := p.b.wx.PhoneNumber(context.Background(), token, p.b.fake.MintPhoneCode(wxAppID, "13800000000"))
	p.tokens = append(p.tokens, token)
	p.errs = append(p.errs, err)
	return err
}

func (b *wxBundle) forced() int { return int(b.wx.forced.Load()) }

// refusedThenServed runs one call through a that WeChat refuses once, and
// fails the test unless the retry succeeded.
func (b *wxBundle) refusedThenServed(t *testing.T, a *AccessTokens) {
	t.Helper()
	b.reject(1)
	p := &phone{b: b}
	if err := a.withAccessToken(context.Background(), b.rt, p.call); err != nil {
		t.Fatalf("withAccessToken: %v (calls %v)", err, p.errs)
	}
	if len(p.errs) != 2 || !wechat.IsTokenInvalid(p.errs[0]) {
		t.Fatalf("calls answered %v, want a refusal then success", p.errs)
	}
}

func TestAccessTokensForcedRefresh(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("a rejected token is replaced once by a forced refresh", func(t *testing.T) {
		t.Parallel()
		b := setupWX(t)
		a := b.instance(b.rdb)
		first, err := a.Get(ctx, b.rt)
		if err != nil {
			t.Fatal(err)
		}

		b.reject(1)
		p := &phone{b: b}
		if err := a.withAccessToken(ctx, b.rt, p.call); err != nil {
			t.Fatalf("withAccessToken: %v", err)
		}
		if len(p.tokens) != 2 || p.tokens[0] != first || p.tokens[1] == first {
			t.Fatalf("calls used tokens %q, want %q then a new one", p.tokens, first)
		}
		if !wechat.IsTokenInvalid(p.errs[0]) || p.errs[1] != nil {
			t.Fatalf("calls answered %v, want a refusal then success", p.errs)
		}
		if n := b.forced(); n != 1 {
			t.Fatalf("%d forced stable_token calls, want 1", n)
		}
		if n := b.fake.Calls(fake.EndpointStableToken); n != 2 {
			t.Fatalf("%d stable_token calls, want 2 (the first fetch, the forced one)", n)
		}
		// The new token is what every instance now reads.
		if got, _ := b.rdb.Get(ctx, a.key(b.rt)).Result(); got != p.tokens[1] {
			t.Fatal("Redis does not hold the refreshed token")
		}
		if tok, err := a.Get(ctx, b.rt); err != nil || tok != p.tokens[1] || b.fake.Calls(fake.EndpointStableToken) != 2 {
			t.Fatalf("Get after refresh = %q, %v after %d stable_token calls; want %q from the cache",
				tok, err, b.fake.Calls(fake.EndpointStableToken), p.tokens[1])
		}
	})

	t.Run("two instances seeing the rejection force once within 30 s", func(t *testing.T) {
		t.Parallel()
		b := setupWX(t)
		// Two clients on one Redis: two instances, nothing shared in process.
		opt, err := redis.ParseURL(dbtest.RedisURL())
		if err != nil {
			t.Fatal(err)
		}
		rdb2 := redis.NewClient(opt)
		t.Cleanup(func() { _ = rdb2.Close() })
		one, two := b.instance(b.rdb), b.instance(rdb2)
		cached, err := one.Get(ctx, b.rt)
		if err != nil {
			t.Fatal(err)
		}
		if tok, err := two.Get(ctx, b.rt); err != nil || tok != cached {
			t.Fatalf("second instance did not read the shared token (err %v)", err)
		}

		// Each instance's first call is refused, and neither retries until
		// both have been refused.
		b.reject(2)
		var refused sync.WaitGroup
		refused.Add(2)
		run := func(a *AccessTokens, p *phone, done chan<- error) {
			call := func(tok string) error {
				err := p.call(tok)
				if len(p.errs) == 1 {
					refused.Done()
					refused.Wait()
				}
				return err
			}
			done <- a.withAccessToken(ctx, b.rt, call)
		}
		p1, p2 := &phone{b: b}, &phone{b: b}
		done := make(chan error, 2)
		go run(one, p1, done)
		go run(two, p2, done)
		for range 2 {
			if err := <-done; err != nil {
				t.Fatalf("withAccessToken: %v", err)
			}
		}
		for i, p := range []*phone{p1, p2} {
			if p.tokens[0] != cached || !wechat.IsTokenInvalid(p.errs[0]) {
				t.Fatalf("instance %d was not refused the cached token: %v", i+1, p.errs)
			}
		}
		if n := b.forced(); n != 1 {
			t.Fatalf("%d forced stable_token calls, want 1", n)
		}

		// 10 s later each instance, whichever of them forced, is refused
		// again: still within the spacing, so no second forced refresh, and
		// the calls still work.
		b.clock.Add(10 * time.Second)
		b.refusedThenServed(t, one)
		b.refusedThenServed(t, two)
		if n := b.forced(); n != 1 {
			t.Fatalf("%d forced stable_token calls 10 s after the first, want 1", n)
		}
		// Past 30 s a forced refresh is allowed again.
		b.clock.Add(25 * time.Second)
		b.refusedThenServed(t, two)
		if n := b.forced(); n != 2 {
			t.Fatalf("%d forced stable_token calls 35 s after the first, want 2", n)
		}
	})

	t.Run("the daily cap stops forcing after 20", func(t *testing.T) {
		t.Parallel()
		b := setupWX(t)
		a := b.instance(b.rdb)
		for range 25 {
			b.clock.Add(forceSpacing + time.Second)
			b.refusedThenServed(t, a)
		}
		if n := b.forced(); n != forceDailyCap {
			t.Fatalf("%d forced stable_token calls in one day, want %d", n, forceDailyCap)
		}
		// A new UTC day brings a new allowance.
		b.clock.Add(4 * time.Hour)
		b.refusedThenServed(t, a)
		if n := b.forced(); n != forceDailyCap+1 {
			t.Fatalf("%d forced stable_token calls after midnight UTC, want %d", n, forceDailyCap+1)
		}
	})

	t.Run("without Redis tokens still work, one forced refresh per 30 s", func(t *testing.T) {
		t.Parallel()
		b := setupWX(t)
		// An address nothing listens on: every Redis call fails at once.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		_ = l.Close()
		down := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: 100 * time.Millisecond})
		t.Cleanup(func() { _ = down.Close() })
		a := b.instance(down)

		if _, err := a.Get(ctx, b.rt); err != nil {
			t.Fatalf("Get without Redis: %v", err)
		}
		b.refusedThenServed(t, a)
		if n := b.forced(); n != 1 {
			t.Fatalf("%d forced stable_token calls, want 1", n)
		}
		b.clock.Add(10 * time.Second)
		b.refusedThenServed(t, a)
		if n := b.forced(); n != 1 {
			t.Fatalf("%d forced stable_token calls within 30 s, want 1", n)
		}
		b.clock.Add(25 * time.Second)
		b.refusedThenServed(t, a)
		if n := b.forced(); n != 2 {
			t.Fatalf("%d forced stable_token calls after 30 s, want 2", n)
		}
	})

	t.Run("a newer token another instance stored is not overwritten", func(t *testing.T) {
		t.Parallel()
		b := setupWX(t)
		a := b.instance(b.rdb)
		key := a.key(b.rt)
		for _, tc := range []struct{ held, want string }{
			{"", "mine"},                       // nothing cached
			{"rejected", "mine"},               // still the refused token
			{"someone-elses", "someone-elses"}, // a newer one: keep it
		} {
			b.rdb.Del(ctx, key)
			if tc.held != "" {
				b.rdb.Set(ctx, key, tc.held, time.Minute)
			}
			if err := a.store(ctx, key, "rejected", "mine", time.Minute); err != nil {
				t.Fatal(err)
			}
			if got, _ := b.rdb.Get(ctx, key).Result(); got != tc.want {
				t.Errorf("cache held %q: after store it holds %q, want %q", tc.held, got, tc.want)
			}
		}
	})
}
