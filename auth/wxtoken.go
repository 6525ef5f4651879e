package auth

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/miniauth/miniauth/auth/wechat"
	"github.com/miniauth/miniauth/tenant"
)

// AccessTokens hands out each tenant's WeChat access token from one place
// shared by every instance: Redis. Instances that each fetched their own
// token would not invalidate one another (stable_token returns the current
// token while it is valid), but they would spend WeChat's daily quota for
// nothing; so one instance fetches under a short Redis lock and the others
// read what it stored. Without Redis every instance asks stable_token
// itself, which stays correct.
type AccessTokens struct {
	rdb    redis.UniversalClient
	prefix string
	wx     WeChat
	guard  *Breakers
	now    func() time.Time

	mu         sync.Mutex
	lastForced map[string]time.Time // by key(): this process's own forced refreshes
}

// NewAccessTokens returns the shared token cache; rdb's keys start with
// prefix. Fetches go through the tenants' breakers (nil guards nothing).
func NewAccessTokens(rdb redis.UniversalClient, prefix string, wx WeChat, guard *Breakers) *AccessTokens {
	return &AccessTokens{rdb: rdb, prefix: prefix, wx: wx, guard: guard, now: time.Now, lastForced: map[string]time.Time{}}
}

const (
	// refreshMargin: a cached token is replaced this long before WeChat's
	// expiry, matching stable_token's own early rotation.
	refreshMargin = 5 * time.Minute
	// WeChat allows an app 20 forced refreshes a day, at least 30 s apart.
	forceSpacing  = 30 * time.Second
	forceDailyCap = 20
)

// key names a tenant's cached token. It includes the tenant id, not only
// the AppID, so a tenant that (mis)configures another tenant's AppID can
// neither read nor evict that tenant's token.
func (a *AccessTokens) key(rt *tenant.Runtime) string {
	return a.prefix + "wxtoken:" + strconv.FormatInt(rt.ID, 10) + ":" + rt.WeChatAppID
}

// Get returns a valid access token for the tenant's app.
func (a *AccessTokens) Get(ctx context.Context, rt *tenant.Runtime) (string, error) {
	return a.get(ctx, rt, "")
}

// get returns the tenant's token, avoiding rejected (one WeChat refused, or
// ""): stable_token keeps answering a refused token until a forced refresh
// replaces it, so after a refusal the fetch is forced if the limits allow.
func (a *AccessTokens) get(ctx context.Context, rt *tenant.Runtime, rejected string) (string, error) {
	key := a.key(rt)
	usable := func(tok string, err error) bool { return err == nil && tok != "" && tok != rejected }
	rctx, cancel := context.WithTimeout(ctx, limiterCallTimeout)
	tok, err := a.rdb.Get(rctx, key).Result()
	cancel()
	if usable(tok, err) {
		return tok, nil
	}
	redisUp := err == nil || errors.Is(err, redis.Nil)
	if redisUp {
		lock := key + ":lock"
		got, lerr := a.rdb.SetNX(ctx, lock, "1", 10*time.Second).Result()
		if lerr == nil && !got {
			// Another instance is fetching: wait briefly for its result.
			for i := 0; i < 20; i++ {
				select {
				case <-ctx.Done():
					return "", ctx.Err()
				case <-time.After(100 * time.Millisecond):
				}
				if tok, err := a.rdb.Get(ctx, key).Result(); usable(tok, err) {
					return tok, nil
				}
			}
		}
		if lerr == nil && got {
			defer a.rdb.Del(context.WithoutCancel(ctx), lock)
		}
	}
	force := rejected != "" && a.mayForce(ctx, key, redisUp)
	if rejected != "" && !force && redisUp {
		// Most likely another instance forced a refresh moments ago, and
		// stored what it got.
		if tok, err := a.rdb.Get(ctx, key).Result(); usable(tok, err) {
			return tok, nil
		}
	}
	at, err := a.guard.For(a.wx, rt).StableToken(ctx, rt.WeChatAppID, rt.Secret, force)
	if err != nil {
		return "", err
	}
	if ttl := at.ExpiresIn - refreshMargin; redisUp && ttl > 0 {
		_ = a.store(ctx, key, rejected, at.Token, ttl)
	}
	return at.Token, nil
}

// storeScript sets the cached token unless another instance has meanwhile
// stored a different one, which is at least as new as ours.
var storeScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false or cur == ARGV[1] then
	redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
	return 1
end
return 0`)

// store caches tok in place of rejected (or of nothing).
func (a *AccessTokens) store(ctx context.Context, key, rejected, tok string, ttl time.Duration) error {
	return storeScript.Run(ctx, a.rdb, []string{key}, rejected, tok, ttl.Milliseconds()).Err()
}

// forceScript claims one forced refresh if WeChat's limits allow it. Both
// limits live in one hash so the check is atomic (a refusal for spacing
// spends no daily slot) and works on a Redis Cluster. Times come from the
// caller, so an injected clock drives it in tests; the UTC date names the
// day. KEYS[1] = {at = last forced refresh (unix ms), day, n = count that
// day}; ARGV = now (unix ms), spacing (ms), today, daily cap.
var forceScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'at', 'day', 'n')
if tonumber(ARGV[1]) - (tonumber(v[1]) or 0) < tonumber(ARGV[2]) then
	return 0
end
local n = 0
if v[2] == ARGV[3] then
	n = tonumber(v[3]) or 0
end
if n >= tonumber(ARGV[4]) then
	return 0
end
redis.call('HSET', KEYS[1], 'at', ARGV[1], 'day', ARGV[3], 'n', n + 1)
redis.call('EXPIRE', KEYS[1], 86400)
return 1`)

// mayForce reports whether a forced refresh may be spent now, and claims it.
// Redis makes WeChat's limits hold across every instance; without Redis
// only this process's own spacing can be kept, and WeChat's refusal of any
// excess is the backstop.
func (a *AccessTokens) mayForce(ctx context.Context, key string, redisUp bool) bool {
	now := a.now()
	allowed, shared := false, false
	if redisUp {
		n, err := forceScript.Run(ctx, a.rdb, []string{key + ":forced"}, now.UnixMilli(),
			forceSpacing.Milliseconds(), now.UTC().Format(time.DateOnly), forceDailyCap).Int()
		allowed, shared = n == 1, err == nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !shared {
		last, ok := a.lastForced[key]
		allowed = !ok || now.Sub(last) >= forceSpacing
	}
	// Noted even when Redis granted it, so an outage right after does not
	// allow a second one within the spacing.
	if allowed {
		a.lastForced[key] = now
	}
	return allowed
}

// withAccessToken calls fn with the tenant's access token, and once more
// with a fresh one if WeChat says the token is no longer valid.
func (a *AccessTokens) withAccessToken(ctx context.Context, rt *tenant.Runtime, fn func(token string) error) error {
	tok, err := a.Get(ctx, rt)
	if err != nil {
		return err
	}
	if err = fn(tok); !wechat.IsTokenInvalid(err) {
		return err
	}
	if tok, err = a.get(ctx, rt, tok); err != nil {
		return err
	}
	return fn(tok)
}
