package admin_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant"
)

// signInBundle is two instances' sign-in guards on one Redis key space.
type signInBundle struct {
	rdb      redis.UniversalClient
	prefix   string
	one, two *admin.SignInGuard
}

func setupSignIn(t *testing.T) *signInBundle {
	t.Helper()
	rdb, prefix := dbtest.Redis(t)
	guard := func() *admin.SignInGuard {
		return admin.NewSignInGuard(auth.NewLimits(auth.LimitsConfig{Redis: rdb, Prefix: prefix}), rdb, prefix)
	}
	return &signInBundle{rdb: rdb, prefix: prefix, one: guard(), two: guard()}
}

func ipN(n int) netip.Addr { return netip.AddrFrom4([4]byte{203, 0, 113, byte(n)}) }

func check(t *testing.T, g *admin.SignInGuard, ip netip.Addr, email string) admin.SignInState {
	t.Helper()
	st, err := g.Check(context.Background(), ip, email)
	if err != nil {
		t.Fatalf("Check(%v, %s) = %v", ip, email, err)
	}
	return st
}

func failed(t *testing.T, g *admin.SignInGuard, ip netip.Addr, email string) {
	t.Helper()
	if err := g.Failed(context.Background(), ip, email); err != nil {
		t.Fatalf("Failed(%v, %s) = %v", ip, email, err)
	}
}

func limited(t *testing.T, g *admin.SignInGuard, ip netip.Addr, email, name string) {
	t.Helper()
	_, err := g.Check(context.Background(), ip, email)
	var le *auth.LimitedError
	if !errors.As(err, &le) {
		t.Fatalf("Check(%v, %s) = %v, want a *auth.LimitedError", ip, email, err)
	}
	if le.Name != name || le.RetryAfter < time.Second || le.RetryAfter > time.Hour+time.Second {
		t.Fatalf("LimitedError %+v, want %s with Retry-After within the hour", le, name)
	}
}

func TestSignInGuardCaptcha(t *testing.T) {
	t.Parallel()
	sb := setupSignIn(t)

	t.Run("after five failures of an account", func(t *testing.T) {
		for i := range admin.DefaultCaptchaAfter {
			if check(t, sb.two, ipN(1), "five@example.com").CaptchaRequired {
				t.Fatalf("CAPTCHA required after %d failures", i)
			}
			failed(t, sb.one, ipN(i+10), "five@example.com") // each from another address
		}
		if !check(t, sb.two, ipN(1), "five@example.com").CaptchaRequired {
			t.Fatal("no CAPTCHA after five failures")
		}
		if !check(t, sb.one, ipN(2), "FIVE@Example.com ").CaptchaRequired {
			t.Fatal("the email's case or spacing escapes the count")
		}
		if check(t, sb.one, ipN(1), "other@example.com").CaptchaRequired {
			t.Fatal("another account needs a CAPTCHA")
		}
	})
	t.Run("after five failures from a network", func(t *testing.T) {
		for i := range admin.DefaultCaptchaAfter {
			failed(t, sb.one, ipN(100), fmt.Sprintf("spray%d@example.com", i))
		}
		if !check(t, sb.two, ipN(100), "fresh@example.com").CaptchaRequired {
			t.Fatal("no CAPTCHA for an address that failed five times")
		}
		if check(t, sb.two, ipN(101), "fresh@example.com").CaptchaRequired {
			t.Fatal("another address needs a CAPTCHA")
		}
	})
	t.Run("success clears the account, not the network", func(t *testing.T) {
		for range admin.DefaultCaptchaAfter {
			failed(t, sb.one, ipN(200), "forgetful@example.com")
		}
		if err := sb.two.Succeeded(context.Background(), ipN(200), "Forgetful@example.com"); err != nil {
			t.Fatal(err)
		}
		if check(t, sb.one, ipN(201), "forgetful@example.com").CaptchaRequired {
			t.Fatal("the account still needs a CAPTCHA after signing in")
		}
		if !check(t, sb.one, ipN(200), "forgetful@example.com").CaptchaRequired {
			t.Fatal("signing in wiped the network's failures")
		}
	})
	t.Run("no email in Redis", func(t *testing.T) {
		keys, err := sb.rdb.Keys(context.Background(), sb.prefix+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			t.Fatal("nothing counted in Redis")
		}
		for _, k := range keys {
			if strings.Contains(strings.ToLower(k), "example") {
				t.Fatalf("Redis key %q holds an email", k)
			}
		}
	})
}

func TestSignInGuardThrottle(t *testing.T) {
	t.Parallel()
	sb := setupSignIn(t)

	t.Run("per account", func(t *testing.T) {
		for i := range 10 {
			failed(t, sb.one, ipN(i+1), "target@example.com")
		}
		limited(t, sb.two, ipN(50), "target@example.com", admin.LimitSignInAccount)
		limited(t, sb.one, ipN(1), "Target@Example.com", admin.LimitSignInAccount)
		check(t, sb.two, ipN(50), "bystander@example.com")
	})
	t.Run("per network", func(t *testing.T) {
		for i := range 30 {
			failed(t, sb.one, ipN(60), fmt.Sprintf("spray%d@example.com", i))
		}
		limited(t, sb.two, ipN(60), "untouched@example.com", admin.LimitSignInIP)
		check(t, sb.two, ipN(61), "untouched@example.com")
	})
	t.Run("an IPv6 host counts with its /64", func(t *testing.T) {
		sb.one.IPRate = "2-H"
		sb.two.IPRate = "2-H"
		failed(t, sb.one, netip.MustParseAddr("2001:db8:1:2::1"), "v6a@example.com")
		failed(t, sb.one, netip.MustParseAddr("2001:db8:1:2::ffff"), "v6b@example.com")
		limited(t, sb.two, netip.MustParseAddr("2001:db8:1:2:abcd::1"), "v6c@example.com", admin.LimitSignInIP)
		check(t, sb.two, netip.MustParseAddr("2001:db8:1:3::1"), "v6c@example.com")
	})
	t.Run("success lifts the account's", func(t *testing.T) {
		if err := sb.one.Succeeded(context.Background(), ipN(1), "target@example.com"); err != nil {
			t.Fatal(err)
		}
		if st := check(t, sb.two, ipN(70), "target@example.com"); st.CaptchaRequired {
			t.Fatal("CAPTCHA still required after the account signed in")
		}
	})
}

func TestSignInCaptchaImage(t *testing.T) {
	t.Parallel()
	sb := setupSignIn(t)
	ctx := context.Background()
	id, err := sb.one.NewCaptcha(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var img bytes.Buffer
	if err := sb.two.CaptchaImage(ctx, id, &img); err != nil {
		t.Fatalf("the other instance cannot draw it: %v", err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img.Bytes()))
	if err != nil || cfg.Width < 100 || cfg.Height < 40 {
		t.Fatalf("not a CAPTCHA-sized PNG: %+v, %v", cfg, err)
	}
	ttl, err := sb.rdb.PTTL(ctx, sb.prefix+"captcha:"+id).Result()
	if err != nil || ttl <= 9*time.Minute || ttl > admin.DefaultCaptchaTTL {
		t.Fatalf("kept for %v (%v), want about ten minutes", ttl, err)
	}
	for _, bad := range []string{"", "nope", id + "x", strings.Repeat("A", 22)} {
		if err := sb.one.CaptchaImage(ctx, bad, &bytes.Buffer{}); !errors.Is(err, tenant.ErrNotFound) {
			t.Errorf("CaptchaImage(%q) = %v, want ErrNotFound", bad, err)
		}
	}
}

func TestSignInCaptchaSolve(t *testing.T) {
	t.Parallel()
	sb := setupSignIn(t)
	ctx := context.Background()
	// answerOf reads the digits as the person looking at the image would.
	answerOf := func(t *testing.T, id string) string {
		t.Helper()
		a, err := sb.rdb.Get(ctx, sb.prefix+"captcha:"+id).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(a) != 6 || strings.Trim(a, "0123456789") != "" {
			t.Fatalf("stored answer %q is not six ASCII digits", a)
		}
		return a
	}
	newCaptcha := func(t *testing.T) (string, string) {
		t.Helper()
		id, err := sb.one.NewCaptcha(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return id, answerOf(t, id)
	}

	t.Run("once only, on any instance", func(t *testing.T) {
		id, answer := newCaptcha(t)
		spaced := " " + answer[:3] + " " + answer[3:] + " "
		if !sb.two.SolveCaptcha(ctx, id, spaced) {
			t.Fatalf("answer %q refused", spaced)
		}
		if sb.one.SolveCaptcha(ctx, id, answer) {
			t.Fatal("a solved CAPTCHA was accepted again")
		}
		if err := sb.one.CaptchaImage(ctx, id, &bytes.Buffer{}); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("image of a solved CAPTCHA: %v, want ErrNotFound", err)
		}
	})
	for name, wrong := range map[string]func(answer string) string{
		"a wrong digit":  func(a string) string { return a[:5] + string('0'+(a[5]-'0'+1)%10) },
		"too short":      func(a string) string { return a[:5] },
		"a letter":       func(a string) string { return a[:5] + "x" },
		"an extra digit": func(a string) string { return a + "0" },
		"empty":          func(string) string { return "" },
		"full-width":     func(a string) string { return strings.Map(func(r rune) rune { return r - '0' + '０' }, a) },
	} {
		t.Run(name+" fails and burns the id", func(t *testing.T) {
			id, answer := newCaptcha(t)
			if sb.two.SolveCaptcha(ctx, id, wrong(answer)) {
				t.Fatalf("%q accepted for %q", wrong(answer), answer)
			}
			if sb.one.SolveCaptcha(ctx, id, answer) {
				t.Fatal("the right answer was accepted after a wrong one")
			}
		})
	}
	t.Run("unknown id", func(t *testing.T) {
		if sb.one.SolveCaptcha(ctx, "AAAAAAAAAAAAAAAAAAAAAA", "123456") {
			t.Fatal("an unknown id was solved")
		}
	})
}

// TestSignInGuardRedisDown: counts fail open as the limiter's policy says;
// a CAPTCHA cannot be made.
func TestSignInGuardRedisDown(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 50 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	g := admin.NewSignInGuard(auth.NewLimits(auth.LimitsConfig{Redis: rdb, Prefix: "down:"}), rdb, "down:")
	g.CaptchaAfter = 1
	ctx := context.Background()
	failed(t, g, ipN(1), "down@example.com")
	if st := check(t, g, ipN(1), "down@example.com"); st.CaptchaRequired {
		t.Fatal("CAPTCHA required from counts that could not be read")
	}
	if id, err := g.NewCaptcha(ctx); err == nil {
		t.Fatalf("NewCaptcha = %q with Redis down, want an error", id)
	}
	if err := g.CaptchaImage(ctx, "AAAAAAAAAAAAAAAAAAAAAA", &bytes.Buffer{}); err == nil || errors.Is(err, tenant.ErrNotFound) {
		t.Fatalf("CaptchaImage with Redis down = %v, want an error that is not ErrNotFound", err)
	}
	if g.SolveCaptcha(ctx, "AAAAAAAAAAAAAAAAAAAAAA", "123456") {
		t.Fatal("solved with Redis down")
	}
}
