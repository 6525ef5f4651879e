package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"strings"
	"time"
	"unicode"

	"github.com/dchest/captcha"
	"github.com/redis/go-redis/v9"

	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
)

// Limit names of failed console sign-ins, as metrics and errors show them.
const (
	LimitSignInAccount = "console_signin_account"
	LimitSignInIP      = "console_signin_ip"
)

// Default sign-in guard settings. Rates are in the limiter's notation,
// whose periods are whole seconds, minutes, hours or days, so the window
// is an hour.
const (
	// Ten wrong passwords for one account in an hour, from anywhere, stop
	// its sign-ins until the hour is over: guessing gets nowhere, and a
	// forgetful admin is held up for at most an hour.
	DefaultSignInAccountRate = "10-H"
	// Thirty from one client network: enough for an office of admins
	// behind one address to mistype, too few to try a password across
	// many accounts.
	DefaultSignInIPRate = "30-H"
	// From the fifth failure of an account or a network within the window
	// a CAPTCHA must be solved too, so a script pays for every guess long
	// before the limits refuse it.
	DefaultCaptchaAfter = 5
	// A CAPTCHA can be solved for ten minutes.
	DefaultCaptchaTTL = 10 * time.Minute
)

// captchaDigits is the length of a CAPTCHA's answer.
const captchaDigits = captcha.DefaultLen

// captchaCallTimeout bounds one Redis call of the CAPTCHA store, so a
// stalled Redis fails a sign-in page quickly rather than hanging it.
const captchaCallTimeout = time.Second

// SignInGuard slows password guessing against the console sign-in. Failed
// sign-ins are counted per account and per client network with the
// shared rate limiter (auth.Limits, in Redis), so every instance sees the
// same counts; past a few failures a CAPTCHA is required, past more the
// sign-in is refused for the rest of the window.
//
// Redis down: the counts follow the limiter's documented policy and fail
// open, so Check asks for nothing extra and refuses nothing; the password
// check (argon2, the same for unknown emails) still stands. A CAPTCHA
// cannot be stored then: NewCaptcha fails, and the caller shows a generic
// error.
type SignInGuard struct {
	// AccountRate bounds failed sign-ins per account (DefaultSignInAccountRate).
	AccountRate string
	// IPRate bounds failed sign-ins per client network, auth.ClientNet
	// (DefaultSignInIPRate).
	IPRate string
	// CaptchaAfter is the failures of an account or a network within its
	// window from which a CAPTCHA is required (DefaultCaptchaAfter); 0
	// requires one always.
	CaptchaAfter int64
	// CaptchaTTL is how long a new CAPTCHA can be solved (DefaultCaptchaTTL).
	CaptchaTTL time.Duration

	limits *auth.Limits
	rdb    redis.UniversalClient
	prefix string
}

// SignInState is what a sign-in attempt must bring besides the password.
type SignInState struct{ CaptchaRequired bool }

// NewSignInGuard returns a guard with the default settings, keeping
// CAPTCHAs in rdb under prefix.
func NewSignInGuard(limits *auth.Limits, rdb redis.UniversalClient, prefix string) *SignInGuard {
	return &SignInGuard{
		AccountRate: DefaultSignInAccountRate, IPRate: DefaultSignInIPRate,
		CaptchaAfter: DefaultCaptchaAfter, CaptchaTTL: DefaultCaptchaTTL,
		limits: limits, rdb: rdb, prefix: prefix,
	}
}

// signInAccountKey names an account by a hash of its normalised email,
// so Redis never holds the address itself.
func signInAccountKey(email string) string {
	sum := sha256.Sum256([]byte("miniauth console sign-in\x00" + strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(sum[:16])
}

func signInIPKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return "unknown"
	}
	return auth.ClientNet(ip).String()
}

// Check says whether a sign-in for email from ip may be tried now, and
// whether it needs a CAPTCHA. Over a limit it answers *auth.LimitedError,
// whose RetryAfter is when the longer of the two windows ends. Check
// counts nothing; Failed does.
func (g *SignInGuard) Check(ctx context.Context, ip netip.Addr, email string) (SignInState, error) {
	acct, aerr := g.limits.Peek(ctx, LimitSignInAccount, g.AccountRate, signInAccountKey(email))
	network, nerr := g.limits.Peek(ctx, LimitSignInIP, g.IPRate, signInIPKey(ip))
	if err := longerWait(aerr, nerr); err != nil {
		return SignInState{}, err
	}
	return SignInState{CaptchaRequired: failures(acct) >= g.CaptchaAfter || failures(network) >= g.CaptchaAfter}, nil
}

// failures is what a counter holds; nothing while the limiter fails open.
func failures(q auth.Quota) int64 {
	if q.Limit == 0 {
		return 0
	}
	return q.Limit - q.Remaining
}

func longerWait(a, b error) error {
	var la, lb *auth.LimitedError
	switch {
	case !errors.As(a, &la):
		return b
	case !errors.As(b, &lb):
		return a
	case lb.RetryAfter > la.RetryAfter:
		return b
	}
	return a
}

// Failed counts a failed sign-in against the account and the network.
func (g *SignInGuard) Failed(ctx context.Context, ip netip.Addr, email string) error {
	var le *auth.LimitedError
	// Over the limit is what Check reports next time; counting it is all
	// that is asked here.
	if _, err := g.limits.Take(ctx, LimitSignInAccount, g.AccountRate, signInAccountKey(email)); err != nil && !errors.As(err, &le) {
		return err
	}
	if _, err := g.limits.Take(ctx, LimitSignInIP, g.IPRate, signInIPKey(ip)); err != nil && !errors.As(err, &le) {
		return err
	}
	return nil
}

// Succeeded clears the account's failures. The network's stay: signing in
// to one's own account must not wipe out guesses made at others.
func (g *SignInGuard) Succeeded(ctx context.Context, ip netip.Addr, email string) error {
	g.limits.Reset(ctx, LimitSignInAccount, g.AccountRate, signInAccountKey(email))
	return nil
}

func (g *SignInGuard) captchaKey(id string) string { return g.prefix + "captcha:" + id }

// NewCaptcha makes a CAPTCHA and returns its id. Its answer is kept in
// Redis, not in this process, so any instance can show and check it.
func (g *SignInGuard) NewCaptcha(ctx context.Context) (string, error) {
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	id := base64.RawURLEncoding.EncodeToString(raw)
	digits := captcha.RandomDigits(captchaDigits)
	answer := make([]byte, len(digits))
	for i, d := range digits {
		answer[i] = '0' + d
	}
	ctx, cancel := context.WithTimeout(ctx, captchaCallTimeout)
	defer cancel()
	if err := g.rdb.Set(ctx, g.captchaKey(id), answer, g.CaptchaTTL).Err(); err != nil {
		return "", err
	}
	return id, nil
}

// CaptchaImage writes the CAPTCHA's PNG to w; tenant.ErrNotFound when the
// id is unknown, solved, failed or expired.
func (g *SignInGuard) CaptchaImage(ctx context.Context, id string, w io.Writer) error {
	if !validCaptchaID(id) {
		return tenant.ErrNotFound
	}
	cctx, cancel := context.WithTimeout(ctx, captchaCallTimeout)
	answer, err := g.rdb.Get(cctx, g.captchaKey(id)).Bytes()
	cancel()
	if errors.Is(err, redis.Nil) {
		return tenant.ErrNotFound
	}
	if err != nil {
		return err
	}
	digits := make([]byte, len(answer))
	for i, c := range answer {
		digits[i] = c - '0'
	}
	_, err = captcha.NewImage(id, digits, captcha.StdWidth, captcha.StdHeight).WriteTo(w)
	return err
}

// SolveCaptcha reports whether answer (the digits as typed; spaces are
// ignored) solves the CAPTCHA. An id is good for one try: right or wrong,
// it is gone afterwards, so guesses cannot be repeated against it.
func (g *SignInGuard) SolveCaptcha(ctx context.Context, id, answer string) bool {
	if !validCaptchaID(id) {
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, captchaCallTimeout)
	defer cancel()
	want, err := g.rdb.GetDel(cctx, g.captchaKey(id)).Bytes()
	if err != nil {
		return false
	}
	got := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, answer)
	return subtle.ConstantTimeCompare([]byte(got), want) == 1
}

// validCaptchaID accepts the ids NewCaptcha makes, so a made-up id never
// names some other Redis key.
func validCaptchaID(id string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil && len(raw) == 16
}
