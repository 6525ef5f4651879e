package api_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/auth/wechat/fake"
	"github.com/miniauth/miniauth/tenant"
)

func TestRouting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acme := b.tenant(t, "acme")

	t.Run("unknown tenant", func(t *testing.T) {
		tok := b.login(t, acme, "alice")
		for _, r := range []request{
			{method: http.MethodPost, path: path("nobody", "/login"), body: map[string]string{"code": b.wx.MintCode(acme.WeChatAppID, "alice")}},
			{method: http.MethodGet, path: path("nobody", "/me"), bearer: tok.AccessToken},
			{method: http.MethodGet, path: path("nobody", "/.well-known/jwks.json")},
		} {
			t.Run(r.method+" "+r.path, func(t *testing.T) {
				b.do(t, r).wantProblem(t, http.StatusNotFound, "tenant_not_found")
			})
		}
	})

	t.Run("invalid slug shape", func(t *testing.T) {
		for _, slug := range []string{"ab", "Acme", "acme-", "-acme", "ac_me", strings.Repeat("a", 41)} {
			t.Run(slug, func(t *testing.T) {
				b.do(t, request{method: http.MethodPost, path: path(slug, "/login"), body: map[string]string{"code": "x"}}).
					wantProblem(t, http.StatusNotFound, "tenant_not_found")
			})
		}
	})

	t.Run("disabled tenant", func(t *testing.T) {
		off := b.tenant(t, "switched-off")
		tok := b.login(t, off, "alice")
		disabled := tenant.StatusDisabled
		if _, err := b.store.Update(context.Background(), off.Slug, tenant.Patch{Status: &disabled}); err != nil {
			t.Fatal(err)
		}
		calls := b.wx.Calls(fake.EndpointJSCode2Session)
		for name, r := range map[string]request{
			"login":   {method: http.MethodPost, path: path(off.Slug, "/login"), body: map[string]string{"code": b.wx.MintCode(off.WeChatAppID, "alice")}},
			"refresh": {method: http.MethodPost, path: path(off.Slug, "/refresh"), body: map[string]string{"refresh_token": tok.RefreshToken}},
			"me":      {method: http.MethodGet, path: path(off.Slug, "/me"), bearer: tok.AccessToken},
		} {
			t.Run(name, func(t *testing.T) {
				b.do(t, r).wantProblem(t, http.StatusForbidden, "tenant_disabled")
			})
		}
		if got := b.wx.Calls(fake.EndpointJSCode2Session); got != calls {
			t.Errorf("jscode2session called %d times for a disabled tenant", got-calls)
		}
		t.Run("jwks.json", func(t *testing.T) {
			r := b.do(t, request{method: http.MethodGet, path: path(off.Slug, "/.well-known/jwks.json")})
			var jwks struct {
				Keys []map[string]any `json:"keys"`
			}
			r.decode(t, &jwks)
			if r.status != http.StatusOK || len(jwks.Keys) != 1 {
				t.Fatalf("got %d %s, want 200 with the tenant's key", r.status, r.body)
			}
		})
		t.Run("openid-configuration", func(t *testing.T) {
			r := b.do(t, request{method: http.MethodGet, path: path(off.Slug, "/.well-known/openid-configuration")})
			var doc struct {
				Issuer string `json:"issuer"`
			}
			r.decode(t, &doc)
			if r.status != http.StatusOK || doc.Issuer != "http://miniauth.test/v1/t/switched-off" {
				t.Fatalf("got %d %s, want 200 with the tenant's issuer", r.status, r.body)
			}
		})
	})

	t.Run("unknown path", func(t *testing.T) {
		for _, p := range []string{"/nope", path(acme.Slug, "/nope"), "/v1/t"} {
			b.do(t, request{method: http.MethodGet, path: p}).wantProblem(t, http.StatusNotFound, "not_found")
		}
	})

	t.Run("wrong method", func(t *testing.T) {
		for _, r := range []request{
			{method: http.MethodGet, path: path(acme.Slug, "/login")},
			{method: http.MethodDelete, path: path(acme.Slug, "/me")},
			{method: http.MethodPost, path: path(acme.Slug, "/.well-known/jwks.json")},
		} {
			b.do(t, r).wantProblem(t, http.StatusMethodNotAllowed, "method_not_allowed")
		}
	})
}

func TestLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acme := b.tenant(t, "acme")
	login := func(t *testing.T, body any) response {
		t.Helper()
		return b.do(t, request{method: http.MethodPost, path: path(acme.Slug, "/login"), body: body})
	}

	t.Run("success", func(t *testing.T) {
		r := login(t, map[string]string{"code": b.wx.MintCode(acme.WeChatAppID, "alice")})
		if r.status != http.StatusOK {
			t.Fatalf("status %d %s", r.status, r.body)
		}
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", cc)
		}
		var shape map[string]any
		r.decode(t, &shape)
		user, _ := shape["user"].(map[string]any)
		for _, k := range []string{"access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"} {
			if _, ok := shape[k]; !ok {
				t.Errorf("token response lacks %q: %s", k, r.body)
			}
		}
		if u, ok := user["unionid"]; !ok || u != nil {
			t.Errorf("user.unionid = %v (present %v), want null for an app without an open platform", u, ok)
		}

		var tok tokenResponse
		r.decode(t, &tok)
		if tok.TokenType != "Bearer" || tok.ExpiresIn != 900 || tok.RefreshExpiresIn != 2592000 {
			t.Errorf("token_type %q, expires_in %d, refresh_expires_in %d; want Bearer, 900, 2592000",
				tok.TokenType, tok.ExpiresIn, tok.RefreshExpiresIn)
		}
		// 256 bits in base64 or hex is at least 43 characters.
		if len(tok.RefreshToken) < 43 {
			t.Errorf("refresh_token %d characters, want >= 256 bits", len(tok.RefreshToken))
		}
		if tok.User.ID == "" || tok.User.OpenID != b.wx.OpenID(acme.WeChatAppID, "alice") || !tok.User.IsNew {
			t.Errorf("user = %+v, want a new user with alice's openid", tok.User)
		}

		claims := jwt.MapClaims{}
		at, _, err := jwt.NewParser().ParseUnverified(tok.AccessToken, claims)
		if err != nil {
			t.Fatalf("access_token is not a JWT: %v", err)
		}
		jwksResp := b.do(t, request{method: http.MethodGet, path: path(acme.Slug, "/.well-known/jwks.json")})
		var jwks struct {
			Keys []struct {
				KID string `json:"kid"`
			} `json:"keys"`
		}
		jwksResp.decode(t, &jwks)
		if at.Header["typ"] != "at+jwt" || at.Header["alg"] != "ES256" || len(jwks.Keys) != 1 || at.Header["kid"] != jwks.Keys[0].KID {
			t.Errorf("JWT header %v, want typ at+jwt, alg ES256 and the kid of the JWKS %s", at.Header, jwksResp.body)
		}
		aud, _ := claims.GetAudience()
		if claims["iss"] != "http://miniauth.test/v1/t/acme" || claims["sub"] != tok.User.ID || !slices.Equal(aud, []string{"acme"}) ||
			claims["sid"] == nil || claims["jti"] == nil || claims["iat"] == nil || claims["exp"] == nil {
			t.Errorf("claims %v", claims)
		}

		again := b.login(t, acme, "alice")
		if again.User.IsNew || again.User.ID != tok.User.ID {
			t.Errorf("second login user %+v, want the same, not new", again.User)
		}
	})

	t.Run("invalid code", func(t *testing.T) {
		for name, body := range map[string]any{
			"missing":  map[string]any{},
			"empty":    map[string]string{"code": ""},
			"too long": map[string]string{"code": strings.Repeat("a", 129)},
		} {
			t.Run(name, func(t *testing.T) {
				calls := b.wx.Calls(fake.EndpointJSCode2Session)
				r := login(t, body)
				r.wantProblem(t, http.StatusBadRequest, "invalid_request")
				if len(r.problem.Errors) != 1 || r.problem.Errors[0].Field != "code" {
					t.Errorf("errors = %+v, want one naming code", r.problem.Errors)
				}
				if got := b.wx.Calls(fake.EndpointJSCode2Session); got != calls {
					t.Errorf("an invalid code was sent to WeChat")
				}
			})
		}
	})

	t.Run("invalid body", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			body   string
			status int
			code   string
			field  string
		}{
			{"malformed JSON", `{"code":`, http.StatusBadRequest, "invalid_request", ""},
			{"not an object", `["code"]`, http.StatusBadRequest, "invalid_request", ""},
			{"empty body", ``, http.StatusBadRequest, "invalid_request", ""},
			{"unknown field", `{"code":"abc","cdoe":"abc"}`, http.StatusBadRequest, "invalid_request", "cdoe"},
			{"over 16 KiB", `{"code":"` + strings.Repeat("a", 16<<10) + `"}`, http.StatusRequestEntityTooLarge, "request_too_large", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := login(t, tc.body)
				r.wantProblem(t, tc.status, tc.code)
				if tc.field != "" && (len(r.problem.Errors) != 1 || r.problem.Errors[0].Field != tc.field) {
					t.Errorf("errors = %+v, want one naming %s", r.problem.Errors, tc.field)
				}
			})
		}
	})

	t.Run("wechat errors", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			fault  fake.Fault
			status int
			code   string
		}{
			{"40029 invalid code", fake.Fault{Errcode: 40029}, http.StatusUnauthorized, "invalid_code"},
			{"40163 code used", fake.Fault{Errcode: 40163}, http.StatusUnauthorized, "invalid_code"},
			{"40226 high risk", fake.Fault{Errcode: 40226}, http.StatusForbidden, "wechat_risk_blocked"},
			{"45011 frequency limit", fake.Fault{Errcode: 45011}, http.StatusTooManyRequests, "rate_limited"},
			{"-1 system busy", fake.Fault{Errcode: -1}, http.StatusBadGateway, "wechat_unavailable"},
			{"timeout", fake.Fault{Delay: 30 * time.Second}, http.StatusBadGateway, "wechat_unavailable"},
			{"HTTP 500", fake.Fault{HTTPStatus: 500}, http.StatusBadGateway, "wechat_unavailable"},
			{"no openid", fake.Fault{Body: `{"session_key":"a2V5a2V5a2V5a2V5a2V5aw=="}`}, http.StatusBadGateway, "wechat_unavailable"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tc.fault.Endpoint, tc.fault.AppID = fake.EndpointJSCode2Session, acme.WeChatAppID
				b.wx.Inject(tc.fault)
				calls := b.wx.Calls(fake.EndpointJSCode2Session)
				r := login(t, map[string]string{"code": b.wx.MintCode(acme.WeChatAppID, "bob")})
				r.wantProblem(t, tc.status, tc.code)
				if got := b.wx.Calls(fake.EndpointJSCode2Session) - calls; got != 1 {
					t.Errorf("jscode2session called %d times, want exactly once (never retried)", got)
				}
				if tc.status == http.StatusTooManyRequests {
					if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
						t.Errorf("Retry-After = %q, want a positive number of seconds", r.header.Get("Retry-After"))
					}
				}
			})
		}
	})
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acme := b.tenant(t, "acme")
	other := b.tenant(t, "other")
	refresh := func(t *testing.T, tt testTenant, token string) response {
		t.Helper()
		return b.do(t, request{method: http.MethodPost, path: path(tt.Slug, "/refresh"), body: map[string]string{"refresh_token": token}})
	}
	me := func(t *testing.T, tt testTenant, access string) response {
		t.Helper()
		return b.do(t, request{method: http.MethodGet, path: path(tt.Slug, "/me"), bearer: access})
	}

	t.Run("rotates", func(t *testing.T) {
		first := b.login(t, acme, "alice")
		r := refresh(t, acme, first.RefreshToken)
		if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("got %d (Cache-Control %q) %s, want 200 no-store", r.status, r.header.Get("Cache-Control"), r.body)
		}
		var next tokenResponse
		r.decode(t, &next)
		if next.RefreshToken == "" || next.RefreshToken == first.RefreshToken || next.AccessToken == "" ||
			next.User.ID != first.User.ID || next.User.OpenID != first.User.OpenID || next.User.IsNew {
			t.Fatalf("refresh answered %s, want new tokens for the same, existing user", r.body)
		}
		if r := me(t, acme, next.AccessToken); r.status != http.StatusOK {
			t.Fatalf("/me with the refreshed access token: %d %s", r.status, r.body)
		}
		if r := refresh(t, acme, next.RefreshToken); r.status != http.StatusOK {
			t.Fatalf("refresh with the rotated token: %d %s", r.status, r.body)
		}
	})

	t.Run("reused token", func(t *testing.T) {
		first := b.login(t, acme, "bob")
		var next tokenResponse
		refresh(t, acme, first.RefreshToken).decode(t, &next)
		if next.RefreshToken == "" {
			t.Fatal("first refresh failed")
		}
		refresh(t, acme, first.RefreshToken).wantProblem(t, http.StatusUnauthorized, "refresh_token_reused")
		// Reuse revokes the whole session: its newest tokens die with it.
		refresh(t, acme, next.RefreshToken).wantProblem(t, http.StatusUnauthorized, "invalid_refresh_token")
		me(t, acme, next.AccessToken).wantProblem(t, http.StatusUnauthorized, "invalid_token")
	})

	t.Run("unknown token", func(t *testing.T) {
		refresh(t, acme, randomHex(32)).wantProblem(t, http.StatusUnauthorized, "invalid_refresh_token")
	})

	t.Run("another tenant's token", func(t *testing.T) {
		first := b.login(t, other, "carol")
		var live tokenResponse
		refresh(t, other, first.RefreshToken).decode(t, &live)
		if live.RefreshToken == "" {
			t.Fatal("refresh on its own tenant failed")
		}
		// Neither a live nor an already-rotated token of another tenant is
		// known here: the rotated one must not count as reuse.
		refresh(t, acme, live.RefreshToken).wantProblem(t, http.StatusUnauthorized, "invalid_refresh_token")
		refresh(t, acme, first.RefreshToken).wantProblem(t, http.StatusUnauthorized, "invalid_refresh_token")
		// Refused and left untouched: it still works where it belongs.
		if r := refresh(t, other, live.RefreshToken); r.status != http.StatusOK {
			t.Fatalf("the token on its own tenant afterwards: %d %s", r.status, r.body)
		}
	})
}

func TestAuthenticated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acme := b.tenant(t, "acme")
	other := b.tenant(t, "other")
	me := func(t *testing.T, access string) response {
		t.Helper()
		return b.do(t, request{method: http.MethodGet, path: path(acme.Slug, "/me"), bearer: access})
	}
	wantInvalidToken := func(t *testing.T, r response) {
		t.Helper()
		r.wantProblem(t, http.StatusUnauthorized, "invalid_token")
		if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") || !strings.Contains(h, `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate = %q, want a Bearer invalid_token challenge", h)
		}
	}

	t.Run("rejected bearer", func(t *testing.T) {
		for name, access := range map[string]string{
			"none":           "",
			"garbage":        "not-a-jwt",
			"other tenant's": b.login(t, other, "alice").AccessToken,
		} {
			t.Run(name, func(t *testing.T) {
				wantInvalidToken(t, me(t, access))
			})
		}
	})

	t.Run("logout takes effect at once", func(t *testing.T) {
		tok := b.login(t, acme, "alice")
		r := me(t, tok.AccessToken)
		var u struct {
			ID     string `json:"id"`
			OpenID string `json:"openid"`
		}
		r.decode(t, &u)
		if r.status != http.StatusOK || u.ID != tok.User.ID || u.OpenID != tok.User.OpenID {
			t.Fatalf("/me before logout: %d %s", r.status, r.body)
		}
		if r := b.do(t, request{method: http.MethodPost, path: path(acme.Slug, "/logout"), bearer: tok.AccessToken}); r.status != http.StatusNoContent {
			t.Fatalf("logout: %d %s", r.status, r.body)
		}
		wantInvalidToken(t, me(t, tok.AccessToken))
	})
}

func TestBans(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acme := b.tenant(t, "acme")
	ctx := context.Background()

	t.Run("ip ban", func(t *testing.T) {
		const banned = "203.0.113.7"
		tok := b.login(t, acme, "dave")
		if _, err := b.bans.Create(ctx, acme.ID, auth.NewBan{IP: banned, Reason: "abuse", CreatedBy: "test"}); err != nil {
			t.Fatal(err)
		}
		code := b.wx.MintCode(acme.WeChatAppID, "alice")
		calls := b.wx.Calls(fake.EndpointJSCode2Session)
		r := b.do(t, request{method: http.MethodPost, path: path(acme.Slug, "/login"), body: map[string]string{"code": code}, ip: banned})
		r.wantProblem(t, http.StatusForbidden, "user_banned")
		if r.problem.BannedUntil != nil {
			t.Errorf("banned_until = %v for a permanent ban", r.problem.BannedUntil)
		}
		if got := b.wx.Calls(fake.EndpointJSCode2Session); got != calls {
			t.Fatalf("jscode2session called %d times for a banned address", got-calls)
		}
		b.do(t, request{method: http.MethodPost, path: path(acme.Slug, "/refresh"),
			body: map[string]string{"refresh_token": tok.RefreshToken}, ip: banned}).wantProblem(t, http.StatusForbidden, "user_banned")
		// The code was never spent: from another address it still logs in.
		if r := b.do(t, request{method: http.MethodPost, path: path(acme.Slug, "/login"), body: map[string]string{"code": code}}); r.status != http.StatusOK {
			t.Fatalf("the same code from an unbanned address: %d %s", r.status, r.body)
		}
	})

	t.Run("user ban", func(t *testing.T) {
		until := time.Now().Add(time.Hour).Truncate(time.Second)
		for _, tc := range []struct {
			name    string
			expires *time.Time
		}{
			{"temporary", &until},
			{"permanent", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tok := b.login(t, acme, "user-"+tc.name)
				if _, err := b.bans.Create(ctx, acme.ID, auth.NewBan{UserID: tok.User.ID, Reason: "abuse", ExpiresAt: tc.expires, CreatedBy: "test"}); err != nil {
					t.Fatal(err)
				}
				r := b.do(t, request{method: http.MethodGet, path: path(acme.Slug, "/me"), bearer: tok.AccessToken})
				r.wantProblem(t, http.StatusForbidden, "user_banned")
				switch got := r.problem.BannedUntil; {
				case tc.expires == nil && got != nil:
					t.Errorf("banned_until = %v for a permanent ban", got)
				case tc.expires != nil && (got == nil || !got.Equal(*tc.expires)):
					t.Errorf("banned_until = %v, want %v; body %s", got, tc.expires, r.body)
				}
			})
		}
	})
}

func TestLimits(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acme := b.tenant(t, "acme")
	rate := "2-M"
	if _, err := b.store.Update(context.Background(), acme.Slug, tenant.Patch{RateLimits: map[string]*string{tenant.LimitLoginPerIP: &rate}}); err != nil {
		t.Fatal(err)
	}
	login := func(t *testing.T, ip string) response {
		t.Helper()
		return b.do(t, request{method: http.MethodPost, path: path(acme.Slug, "/login"),
			body: map[string]string{"code": b.wx.MintCode(acme.WeChatAppID, "alice")}, ip: ip})
	}

	t.Run("login_per_ip", func(t *testing.T) {
		for i, remaining := range []string{"1", "0"} {
			r := login(t, "198.51.100.1")
			if r.status != http.StatusOK || r.header.Get("X-RateLimit-Limit") != "2" || r.header.Get("X-RateLimit-Remaining") != remaining {
				t.Fatalf("login %d: %d, X-RateLimit-Limit %q, Remaining %q; want 200, 2, %s", i+1, r.status,
					r.header.Get("X-RateLimit-Limit"), r.header.Get("X-RateLimit-Remaining"), remaining)
			}
		}
		calls := b.wx.Calls(fake.EndpointJSCode2Session)
		r := login(t, "198.51.100.1")
		r.wantProblem(t, http.StatusTooManyRequests, "rate_limited")
		if retry, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || retry < 1 || retry > 61 {
			t.Errorf("Retry-After = %q, want 1-61 seconds (the window, plus the second Reset was cut by)", r.header.Get("Retry-After"))
		}
		if l, rem := r.header.Get("X-RateLimit-Limit"), r.header.Get("X-RateLimit-Remaining"); l != "2" || rem != "0" {
			t.Errorf("X-RateLimit-Limit %q, Remaining %q; want 2, 0", l, rem)
		}
		now := time.Now().Unix()
		if reset, err := strconv.ParseInt(r.header.Get("X-RateLimit-Reset"), 10, 64); err != nil || reset < now || reset > now+61 {
			t.Errorf("X-RateLimit-Reset = %q, want a Unix time within the minute (now %d)", r.header.Get("X-RateLimit-Reset"), now)
		}
		if got := b.wx.Calls(fake.EndpointJSCode2Session); got != calls {
			t.Errorf("a refused login still called jscode2session")
		}
		// The limit is per address.
		if r := login(t, "198.51.100.2"); r.status != http.StatusOK {
			t.Fatalf("another address: %d %s", r.status, r.body)
		}
	})
}

// TestOneTenantLookup shows each request resolves its tenant once: one
// tenants query on a cold directory, none once it is warm.
func TestOneTenantLookup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	acme := b.tenant(t, "acme")
	tok := b.login(t, acme, "alice")
	// One refresh token per request of the refresh case.
	refreshes := []string{b.login(t, acme, "bob").RefreshToken, b.login(t, acme, "carol").RefreshToken}

	for _, tc := range []struct {
		name string
		req  func() request
		want int
		// warm is every statement a request makes once the caches hold the
		// tenant, its bans and the session, and trips the round trips to
		// Postgres they take: a login's transaction (begin, user upsert,
		// session, refresh token, commit) in two; a refresh's (begin, the
		// locked read of token, session and user, the token spent, the
		// session extended, the new token, commit) in two; /me none, its
		// user being cached too (the profile cache).
		warm, trips int64
	}{
		{"login", func() request {
			return request{method: http.MethodPost, path: path(acme.Slug, "/login"), body: map[string]string{"code": b.wx.MintCode(acme.WeChatAppID, "alice")}}
		}, http.StatusOK, 5, 2},
		{"refresh", func() request {
			token := refreshes[0]
			refreshes = refreshes[1:]
			return request{method: http.MethodPost, path: path(acme.Slug, "/refresh"), body: map[string]string{"refresh_token": token}}
		}, http.StatusOK, 6, 2},
		{"GET /me", func() request {
			return request{method: http.MethodGet, path: path(acme.Slug, "/me"), bearer: tok.AccessToken}
		}, http.StatusOK, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.dir.Flush()
			b.tenantQueries.reset()
			for _, want := range []int64{1, 0} {
				b.tenantQueries.resetAll()
				b.tenantQueries.resetTrips()
				if r := b.do(t, tc.req()); r.status != tc.want {
					t.Fatalf("status %d %s", r.status, r.body)
				}
				if got := b.tenantQueries.reset(); got != want {
					t.Fatalf("%d tenants queries, want %d (1 cold, 0 warm)", got, want)
				}
				if all := b.tenantQueries.resetAll(); want == 0 && all != tc.warm {
					t.Fatalf("%d statements with warm caches, want %d", all, tc.warm)
				}
				if trips := b.tenantQueries.resetTrips(); want == 0 && trips != tc.trips {
					t.Fatalf("%d round trips to Postgres with warm caches, want %d", trips, tc.trips)
				}
			}
		})
	}
}
