package auth

import (
	"context"
	"errors"
	"strconv"
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
}

// refreshMargin: a cached token is replaced this long before WeChat's
// expiry, matching stable_token's own early rotation.
const refreshMargin = 5 * time.Minute

// key names a tenant's cached token. It includes the tenant id, not only
// the AppID, so a tenant that (mis)configures another tenant's AppID can
// neither read nor evict that tenant's token.
func (a *AccessTokens) key(rt *tenant.Runtime) string {
	return a.prefix + "wxtoken:" + strconv.FormatInt(rt.ID, 10) + ":" + rt.WeChatAppID
}

// Get returns a valid access token for the tenant's app.
func (a *AccessTokens) Get(ctx context.Context, rt *tenant.Runtime) (string, error) {
	rctx, cancel := context.WithTimeout(ctx, limiterCallTimeout)
	tok, err := a.rdb.Get(rctx, a.key(rt)).Result()
	cancel()
	if err == nil && tok != "" {
		return tok, nil
	}
	redisUp := err == nil || errors.Is(err, redis.Nil)
	if redisUp {
		lock := a.key(rt) + ":lock"
		got, lerr := a.rdb.SetNX(ctx, lock, "1", 10*time.Second).Result()
		if lerr == nil && !got {
			// Another instance is fetching: wait briefly for its result.
			for i := 0; i < 20; i++ {
				select {
				case <-ctx.Done():
					return "", ctx.Err()
				case <-time.After(100 * time.Millisecond):
				}
				if tok, err := a.rdb.Get(ctx, a.key(rt)).Result(); err == nil && tok != "" {
					return tok, nil
				}
			}
		}
		if lerr == nil && got {
			defer a.rdb.Del(context.WithoutCancel(ctx), lock)
		}
	}
	at, err := a.wx.StableToken(ctx, rt.WeChatAppID, rt.Secret, false)
	if err != nil {
		return "", err
	}
	if ttl := at.ExpiresIn - refreshMargin; redisUp && ttl > 0 {
		_ = a.rdb.Set(ctx, a.key(rt), at.Token, ttl).Err()
	}
	return at.Token, nil
}

// Forget drops a token WeChat rejected, so the next Get fetches anew.
func (a *AccessTokens) Forget(ctx context.Context, rt *tenant.Runtime) {
	_ = a.rdb.Del(ctx, a.key(rt)).Err()
}

// withAccessToken calls fn with the tenant's access token, and once more
// with a fresh one if WeChat says the token is no longer valid.
func (a *AccessTokens) withAccessToken(ctx context.Context, rt *tenant.Runtime, fn func(token string) error) error {
	for attempt := 0; ; attempt++ {
		tok, err := a.Get(ctx, rt)
		if err != nil {
			return err
		}
		err = fn(tok)
		if attempt == 0 && wechat.IsTokenInvalid(err) {
			a.Forget(ctx, rt)
			continue
		}
		return err
	}
}
