package auth

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/auth/wechat"
	"github.com/miniauth/miniauth/auth/wechat/fake"
	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant"
)

// serviceBundle is the mini-program surface on a fresh database, a
// private Redis key space and an in-process fake WeChat.
type serviceBundle struct {
	*testBundle
	wx     *fake.Server
	wxURL  string
	svc    *Service
	tokens *Tokens

	autoBans *countCounter
	mu       sync.Mutex
	onBan    []Ban
}

const autoBanFor = 10 * time.Minute

// setupService builds the service on a fresh fake WeChat; opts change its
// Deps first.
func setupService(t *testing.T, opts ...func(*Deps)) *serviceBundle {
	t.Helper()
	b := setup(t)
	wx := fake.New()
	srv := httptest.NewServer(wx)
	t.Cleanup(srv.Close)
	rdb, prefix := dbtest.Redis(t)
	sb := &serviceBundle{testBundle: b, wx: wx, wxURL: srv.URL, tokens: NewTokens("https://auth.example.com"), autoBans: &countCounter{}}
	limits := NewLimits(LimitsConfig{Redis: rdb, Prefix: prefix, Defaults: tenant.DefaultRateLimits(), Healthy: b.feed.Healthy, Log: b.log})
	deps := Deps{
		DB: b.db, WeChat: wechat.New(srv.URL, nil), Sealer: b.sealer, Tokens: sb.tokens,
		Sessions: b.sessions, BanViews: b.views, Bans: b.bans, Limits: limits, Redis: rdb, RedisPrefix: prefix,
		AutoBan: AutoBan{Duration: autoBanFor, Count: sb.autoBans, OnBan: func(_ context.Context, slug string, id int64, ban Ban) {
			sb.mu.Lock()
			defer sb.mu.Unlock()
			sb.onBan = append(sb.onBan, ban)
		}},
		Log: b.log,
	}
	for _, o := range opts {
		o(&deps)
	}
	sb.svc = NewService(deps)
	return sb
}

// miniProgram creates a tenant whose app the fake WeChat knows.
func (sb *serviceBundle) miniProgram(t *testing.T, change ...func(*tenant.NewTenant)) *tenant.Runtime {
	t.Helper()
	rt := sb.tenant(t, change...)
	sb.wx.AddApp(rt.WeChatAppID, rt.Secret, "")
	return rt
}

func (sb *serviceBundle) admit(t *testing.T, rt *tenant.Runtime, ip string) *Scope {
	t.Helper()
	sc, err := sb.svc.Admit(context.Background(), rt, netip.MustParseAddr(ip))
	if err != nil {
		t.Fatalf("Admit %s: %v", ip, err)
	}
	return sc
}

// login signs user in with a fresh code from ip.
func (sb *serviceBundle) login(t *testing.T, rt *tenant.Runtime, user, ip string) TokenResponse {
	t.Helper()
	resp, err := sb.svc.Login(context.Background(), sb.admit(t, rt, ip), sb.wx.MintCode(rt.WeChatAppID, user),
		ClientMeta{IP: netip.MustParseAddr(ip), UserAgent: "test"})
	if err != nil {
		t.Fatalf("Login %s: %v", user, err)
	}
	return resp
}

func (sb *serviceBundle) authenticate(rt *tenant.Runtime, ip, bearer string) (*Principal, error) {
	sc, err := sb.svc.Admit(context.Background(), rt, netip.MustParseAddr(ip))
	if err != nil {
		return nil, err
	}
	return sb.svc.Authenticate(context.Background(), sc, bearer)
}

func (sb *serviceBundle) onBans() []Ban {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	return append([]Ban{}, sb.onBan...)
}

func isBanned(err error) bool {
	var be *BannedError
	return errors.As(err, &be)
}

func TestServiceAdmit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sb := setupService(t)

	t.Run("an active tenant admits", func(t *testing.T) {
		t.Parallel()
		rt := sb.miniProgram(t)
		sc, err := sb.svc.Admit(ctx, rt, netip.MustParseAddr("198.51.100.1"))
		if err != nil || sc.Tenant != rt {
			t.Fatalf("Admit = %+v, %v", sc, err)
		}
		if _, err := sb.svc.Admit(ctx, rt, netip.Addr{}); err != nil {
			t.Fatalf("Admit without an address: %v", err)
		}
	})

	t.Run("a disabled tenant is refused", func(t *testing.T) {
		t.Parallel()
		rt := sb.miniProgram(t)
		disabled := tenant.StatusDisabled
		if _, err := sb.tenants.Update(ctx, rt.Slug, tenant.Patch{Status: &disabled}); err != nil {
			t.Fatal(err)
		}
		now, err := sb.dir.Lookup(ctx, rt.Slug)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sb.svc.Admit(ctx, now, netip.MustParseAddr("198.51.100.1")); !errors.Is(err, ErrTenantDisabled) {
			t.Fatalf("Admit = %v, want ErrTenantDisabled", err)
		}
	})

	t.Run("a banned IP is refused", func(t *testing.T) {
		t.Parallel()
		rt, other := sb.miniProgram(t), sb.miniProgram(t)
		expires := sb.clock.Now().Add(time.Hour).Truncate(time.Microsecond)
		if _, err := sb.bans.Create(ctx, rt.ID, NewBan{IP: "203.0.113.0/24", Reason: "abuse", ExpiresAt: &expires}); err != nil {
			t.Fatal(err)
		}
		for _, ip := range []string{"203.0.113.5", "::ffff:203.0.113.5"} {
			_, err := sb.svc.Admit(ctx, rt, netip.MustParseAddr(ip))
			var be *BannedError
			if !errors.As(err, &be) || !be.Until.Equal(expires) {
				t.Fatalf("Admit %s = %v, want banned until %v", ip, err, expires)
			}
		}
		sb.admit(t, rt, "203.0.114.5")
		sb.admit(t, other, "203.0.113.5")
	})

	t.Run("a platform-banned IP is refused in every tenant", func(t *testing.T) {
		t.Parallel()
		// Its own bundle: a platform ban would reach the other subtests.
		sb := setupService(t)
		r1, r2 := sb.miniProgram(t), sb.miniProgram(t)
		if _, err := sb.bans.Create(ctx, 0, NewBan{IP: "192.0.2.0/24", Reason: "botnet"}); err != nil {
			t.Fatal(err)
		}
		for _, rt := range []*tenant.Runtime{r1, r2} {
			if _, err := sb.svc.Admit(ctx, rt, netip.MustParseAddr("192.0.2.1")); !isBanned(err) {
				t.Fatalf("Admit in tenant %s = %v, want banned", rt.Slug, err)
			}
		}
	})
}

func TestServiceLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sb := setupService(t)
	const ip = "198.51.100.7"
	meta := ClientMeta{IP: netip.MustParseAddr(ip)}

	t.Run("first login creates the user, the next finds it", func(t *testing.T) {
		t.Parallel()
		rt := sb.miniProgram(t)
		first := sb.login(t, rt, "alice", ip)
		if !first.User.IsNew || first.User.OpenID != sb.wx.OpenID(rt.WeChatAppID, "alice") || first.User.ID == "" {
			t.Fatalf("first login's user = %+v", first.User)
		}
		if first.TokenType != "Bearer" || first.ExpiresIn != int(rt.AccessTTL.Seconds()) ||
			first.RefreshExpiresIn != int(rt.RefreshTTL.Seconds()) || first.RefreshToken == "" {
			t.Fatalf("token response = %+v", first)
		}
		claims, err := sb.tokens.Verify(rt, first.AccessToken)
		if err != nil || claims.Subject != first.User.ID {
			t.Fatalf("access token: %+v, %v", claims, err)
		}
		second := sb.login(t, rt, "alice", ip)
		if second.User.IsNew || second.User.ID != first.User.ID {
			t.Fatalf("second login's user = %+v, want the first one's id %s, not new", second.User, first.User.ID)
		}
	})

	t.Run("concurrent first logins of one openid make one user", func(t *testing.T) {
		t.Parallel()
		rt := sb.miniProgram(t)
		sc := sb.admit(t, rt, ip)
		const logins = 10
		codes := make([]string, logins)
		for i := range codes {
			codes[i] = sb.wx.MintCode(rt.WeChatAppID, "carol")
		}
		resps := make([]TokenResponse, logins)
		errs := make([]error, logins)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range logins {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				resps[i], errs[i] = sb.svc.Login(ctx, sc, codes[i], meta)
			}()
		}
		close(start)
		wg.Wait()
		isNew := 0
		for i, err := range errs {
			if err != nil {
				t.Fatalf("login %d: %v", i, err)
			}
			if resps[i].User.ID != resps[0].User.ID {
				t.Fatalf("logins answered users %s and %s", resps[0].User.ID, resps[i].User.ID)
			}
			if resps[i].User.IsNew {
				isNew++
			}
		}
		if isNew != 1 {
			t.Fatalf("%d logins said the user is new, want 1", isNew)
		}
		openid := sb.wx.OpenID(rt.WeChatAppID, "carol")
		if n := sb.count(t, `SELECT count(*) FROM users WHERE tenant_id = $1 AND openid = $2`, rt.ID, openid); n != 1 {
			t.Fatalf("%d user rows, want 1", n)
		}
		if n := sb.count(t, `SELECT count(*) FROM sessions WHERE tenant_id = $1`, rt.ID); n != logins {
			t.Fatalf("%d sessions, want %d", n, logins)
		}
	})

	t.Run("a pre-emptive openid ban refuses login and writes no user", func(t *testing.T) {
		t.Parallel()
		rt := sb.miniProgram(t)
		openid := sb.wx.OpenID(rt.WeChatAppID, "mallory")
		if _, err := sb.bans.Create(ctx, rt.ID, NewBan{OpenID: openid, Reason: "known abuser"}); err != nil {
			t.Fatal(err)
		}
		_, err := sb.svc.Login(ctx, sb.admit(t, rt, ip), sb.wx.MintCode(rt.WeChatAppID, "mallory"), meta)
		if !isBanned(err) {
			t.Fatalf("Login = %v, want banned", err)
		}
		if n := sb.count(t, `SELECT count(*) FROM users WHERE tenant_id = $1`, rt.ID); n != 0 {
			t.Fatalf("%d user rows written for a banned openid", n)
		}
	})

	t.Run("a disabled user is refused", func(t *testing.T) {
		t.Parallel()
		rt := sb.miniProgram(t)
		first := sb.login(t, rt, "dave", ip)
		if _, err := sb.db.Exec(ctx, `UPDATE users SET status = 'disabled' WHERE tenant_id = $1 AND id = $2`, rt.ID, first.User.ID); err != nil {
			t.Fatal(err)
		}
		_, err := sb.svc.Login(ctx, sb.admit(t, rt, ip), sb.wx.MintCode(rt.WeChatAppID, "dave"), meta)
		if !errors.Is(err, ErrUserDisabled) {
			t.Fatalf("Login = %v, want ErrUserDisabled", err)
		}
		if n := sb.count(t, `SELECT count(*) FROM sessions WHERE tenant_id = $1`, rt.ID); n != 1 {
			t.Fatalf("%d sessions, want only the one from before the user was disabled", n)
		}
	})

	t.Run("a banned user is refused", func(t *testing.T) {
		t.Parallel()
		rt := sb.miniProgram(t)
		first := sb.login(t, rt, "erin", ip)
		if _, err := sb.bans.Create(ctx, rt.ID, NewBan{UserID: first.User.ID, Reason: "spam"}); err != nil {
			t.Fatal(err)
		}
		_, err := sb.svc.Login(ctx, sb.admit(t, rt, ip), sb.wx.MintCode(rt.WeChatAppID, "erin"), meta)
		if !isBanned(err) {
			t.Fatalf("Login = %v, want banned", err)
		}
		if n := sb.count(t, `SELECT count(*) FROM sessions WHERE tenant_id = $1 AND revoked_at IS NULL`, rt.ID); n != 0 {
			t.Fatalf("%d live sessions for a banned user", n)
		}
	})

	t.Run("bad codes", func(t *testing.T) {
		t.Parallel()
		rt := sb.miniProgram(t)
		sc := sb.admit(t, rt, ip)
		if _, err := sb.svc.Login(ctx, sc, "not-a-code-wechat-issued", meta); !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("unknown code: %v, want ErrInvalidCode", err)
		}
		used := sb.wx.MintCode(rt.WeChatAppID, "frank")
		if _, err := sb.svc.Login(ctx, sc, used, meta); err != nil {
			t.Fatal(err)
		}
		if _, err := sb.svc.Login(ctx, sc, used, meta); !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("used code: %v, want ErrInvalidCode", err)
		}
		if _, err := sb.svc.Login(ctx, sc, "", meta); invalidField(err) != "code" {
			t.Fatalf("empty code: %v, want a validation error of code", err)
		}
	})
}

func TestServiceAutoBan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sb := setupService(t)
	threshold := "3-M"
	rt := sb.miniProgram(t, func(n *tenant.NewTenant) {
		n.RateLimits = map[string]*string{tenant.LimitAutoBanBadCode: &threshold}
	})
	other := sb.miniProgram(t, func(n *tenant.NewTenant) {
		n.RateLimits = map[string]*string{tenant.LimitAutoBanBadCode: &threshold}
	})
	const ip = "203.0.113.66"
	meta := ClientMeta{IP: netip.MustParseAddr(ip)}
	sc := sb.admit(t, rt, ip)
	bad := func() error {
		_, err := sb.svc.Login(ctx, sc, "bogus-"+uuid.NewString(), meta)
		return err
	}

	// Up to the threshold: refused codes, no ban.
	for i := range 3 {
		if err := bad(); !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("bad code %d: %v, want ErrInvalidCode", i+1, err)
		}
	}
	if n := sb.count(t, `SELECT count(*) FROM bans`); n != 0 {
		t.Fatalf("%d bans at the threshold, want none yet", n)
	}

	// Past it, from requests admitted before any ban, racing.
	const racers = 6
	errs := make([]error, racers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = bad()
		}()
	}
	before := time.Now()
	close(start)
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("bad code past the threshold %d: %v, want ErrInvalidCode", i+1, err)
		}
	}
	if n := sb.count(t, `SELECT count(*) FROM bans`); n != 1 {
		t.Fatalf("%d bans, want exactly one automatic ban", n)
	}
	var ban banRow
	var id uuid.UUID
	if err := sb.db.QueryRow(ctx, `SELECT id, tenant_id, kind, target, reason, expires_at, created_by FROM bans`).Scan(
		&id, &ban.tenantID, &ban.kind, &ban.target, &ban.reason, &ban.expiresAt, &ban.createdBy); err != nil {
		t.Fatal(err)
	}
	if ban.tenantID == nil || *ban.tenantID != rt.ID || ban.kind != BanIP || ban.target != ip+"/32" ||
		ban.createdBy != "system:"+tenant.LimitAutoBanBadCode || ban.expiresAt == nil {
		t.Fatalf("automatic ban = %+v", ban)
	}
	if until := ban.expiresAt.Sub(before); until < autoBanFor-time.Minute || until > autoBanFor+time.Minute {
		t.Fatalf("automatic ban lasts %v, want about %v", until, autoBanFor)
	}
	if got := sb.onBans(); len(got) != 1 || got[0].ID != id {
		t.Fatalf("OnBan was told of %v, want once of ban %s", got, id)
	}
	if got := sb.autoBans.calls(); len(got) != 1 || len(got[0]) != 2 || got[0][0] != rt.Slug || got[0][1] != tenant.LimitAutoBanBadCode {
		t.Fatalf("automatic bans counted %v, want once for %s %s", got, rt.Slug, tenant.LimitAutoBanBadCode)
	}

	// The ban holds from the next request on, in its tenant only.
	if _, err := sb.svc.Admit(ctx, rt, netip.MustParseAddr(ip)); !isBanned(err) {
		t.Fatalf("Admit after the automatic ban = %v, want banned", err)
	}
	sb.admit(t, rt, "203.0.113.67")
	sb.admit(t, other, ip)
}

func TestServiceAutoBanIPv6(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sb := setupService(t)
	threshold := "2-M"
	rt := sb.miniProgram(t, func(n *tenant.NewTenant) {
		n.RateLimits = map[string]*string{tenant.LimitAutoBanBadCode: &threshold}
	})
	// One host rotating through its /64 is one client.
	for _, ip := range []string{"2001:db8:1:2::5", "2001:db8:1:2::6", "2001:db8:1:2:ffff::7"} {
		_, err := sb.svc.Login(ctx, sb.admit(t, rt, ip), "bogus-"+uuid.NewString(), ClientMeta{IP: netip.MustParseAddr(ip)})
		if !errors.Is(err, ErrInvalidCode) {
			t.Fatalf("bad code from %s: %v", ip, err)
		}
	}
	if n := sb.count(t, `SELECT count(*) FROM bans WHERE target = '2001:db8:1:2::/64'`); n != 1 {
		t.Fatalf("%d bans of the /64, want 1", n)
	}
	if _, err := sb.svc.Admit(ctx, rt, netip.MustParseAddr("2001:db8:1:2::99")); !isBanned(err) {
		t.Fatalf("Admit from the banned /64 = %v, want banned", err)
	}
	sb.admit(t, rt, "2001:db8:1:3::5")
}

func TestServiceAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sb := setupService(t)
	const ip = "198.51.100.9"

	t.Run("a live session", func(t *testing.T) {
		t.Parallel()
		rt := sb.miniProgram(t)
		resp := sb.login(t, rt, "alice", ip)
		p, err := sb.authenticate(rt, ip, resp.AccessToken)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if p.UserID.String() != resp.User.ID || p.Tenant != rt || p.Claims.SID != p.SessionID.String() {
			t.Fatalf("Principal = %+v", p)
		}
	})

	t.Run("a revoked session is refused", func(t *testing.T) {
		t.Parallel()
		rt := sb.miniProgram(t)
		resp := sb.login(t, rt, "bob", ip)
		p, err := sb.authenticate(rt, ip, resp.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if err := sb.sessions.Revoke(ctx, rt.ID, p.UserID, p.SessionID, "admin"); err != nil {
			t.Fatal(err)
		}
		if _, err := sb.authenticate(rt, ip, resp.AccessToken); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("Authenticate = %v, want ErrInvalidToken", err)
		}
	})

	for _, tc := range []struct {
		name string
		ban  func(resp TokenResponse) NewBan
	}{
		{"a banned user is refused as banned", func(r TokenResponse) NewBan { return NewBan{UserID: r.User.ID, Reason: "spam"} }},
		{"a banned openid is refused as banned", func(r TokenResponse) NewBan { return NewBan{OpenID: r.User.OpenID, Reason: "spam"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rt := sb.miniProgram(t)
			resp := sb.login(t, rt, "carol", ip)
			if _, err := sb.authenticate(rt, ip, resp.AccessToken); err != nil {
				t.Fatal(err)
			}
			if _, err := sb.bans.Create(ctx, rt.ID, tc.ban(resp)); err != nil {
				t.Fatal(err)
			}
			// The ban revoked the session too, but the caller learns why.
			if _, err := sb.authenticate(rt, ip, resp.AccessToken); !isBanned(err) {
				t.Fatalf("Authenticate = %v, want banned", err)
			}
			if _, err := sb.svc.Refresh(ctx, sb.admit(t, rt, ip), resp.RefreshToken, ClientMeta{}); !isBanned(err) {
				t.Fatalf("Refresh = %v, want banned", err)
			}
		})
	}

	t.Run("tokens it never issued or of another tenant are refused", func(t *testing.T) {
		t.Parallel()
		rt, other := sb.miniProgram(t), sb.miniProgram(t)
		resp := sb.login(t, rt, "dave", ip)
		for name, bearer := range map[string]string{"empty": "", "garbage": "a.b.c"} {
			if _, err := sb.authenticate(rt, ip, bearer); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("%s bearer: %v, want ErrInvalidToken", name, err)
			}
		}
		if _, err := sb.authenticate(other, ip, resp.AccessToken); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("another tenant's token: %v, want ErrInvalidToken", err)
		}
	})
}

func TestServiceLogout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sb := setupService(t)
	const ip = "198.51.100.10"
	rt := sb.miniProgram(t)
	phone, tablet, third := sb.login(t, rt, "erin", ip), sb.login(t, rt, "erin", ip), sb.login(t, rt, "erin", ip)
	bystander := sb.login(t, rt, "frank", ip)
	principal := func(resp TokenResponse) *Principal {
		t.Helper()
		p, err := sb.authenticate(rt, ip, resp.AccessToken)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		return p
	}
	refresh := func(resp TokenResponse) error {
		_, err := sb.svc.Refresh(ctx, sb.admit(t, rt, ip), resp.RefreshToken, ClientMeta{})
		return err
	}

	t.Run("one session", func(t *testing.T) {
		if err := sb.svc.Logout(ctx, principal(third), false); err != nil {
			t.Fatal(err)
		}
		if _, err := sb.authenticate(rt, ip, third.AccessToken); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("the logged-out session: %v, want ErrInvalidToken", err)
		}
		if err := refresh(third); !errors.Is(err, ErrInvalidRefreshToken) {
			t.Fatalf("the logged-out session's refresh token: %v, want ErrInvalidRefreshToken", err)
		}
		principal(phone)
		principal(tablet)
	})

	t.Run("all sessions", func(t *testing.T) {
		if err := sb.svc.Logout(ctx, principal(phone), true); err != nil {
			t.Fatal(err)
		}
		for name, resp := range map[string]TokenResponse{"phone": phone, "tablet": tablet} {
			if _, err := sb.authenticate(rt, ip, resp.AccessToken); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("%s after logout of all: %v, want ErrInvalidToken", name, err)
			}
			if err := refresh(resp); !errors.Is(err, ErrInvalidRefreshToken) {
				t.Fatalf("%s's refresh token after logout of all: %v, want ErrInvalidRefreshToken", name, err)
			}
		}
		if n := sb.count(t, `SELECT count(*) FROM sessions WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL`, rt.ID, phone.User.ID); n != 0 {
			t.Fatalf("%d live sessions of the user", n)
		}
		principal(bystander)
		if err := refresh(bystander); err != nil {
			t.Fatalf("another user's refresh: %v", err)
		}
	})
}
