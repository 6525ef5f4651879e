// Package tenant is the tenant domain: a tenant is one WeChat mini-program
// with its own AppID/AppSecret, signing keys, token lifetimes and limits.
// It holds the types and their validation, the SQL store, secret sealing,
// the signing key ring and the shared, invalidated-on-change directory that
// request paths read tenants from.
package tenant

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Status of a tenant. A disabled tenant refuses every login, refresh and
// token.
type Status string

const (
	StatusActive   Status = "active"
	StatusDisabled Status = "disabled"
)

// Signing algorithms a tenant may choose.
const (
	AlgES256 = "ES256"
	AlgEdDSA = "EdDSA"
)

// Defaults and bounds of the token lifetimes.
const (
	DefaultAccessTTL  = 15 * time.Minute
	DefaultRefreshTTL = 30 * 24 * time.Hour
	MinAccessTTL      = time.Minute
	MaxAccessTTL      = 24 * time.Hour
	MinRefreshTTL     = 5 * time.Minute
	MaxRefreshTTL     = 365 * 24 * time.Hour
)

// Names of a tenant's limits: the keys of its rate_limits object. The
// autoban_* entries are thresholds: that many invalid codes or reused
// refresh tokens from one IP in the window ban the IP for a while.
const (
	LimitLoginPerIP     = "login_per_ip"
	LimitLoginPerTenant = "login_per_tenant"
	LimitRefreshPerIP   = "refresh_per_ip"
	LimitAPIPerUser     = "api_per_user"
	LimitAutoBanBadCode = "autoban_invalid_code"
	LimitAutoBanReuse   = "autoban_refresh_reuse"
)

// RateLimitKeys are the keys of a tenant's rate_limits object.
var RateLimitKeys = []string{LimitLoginPerIP, LimitLoginPerTenant, LimitRefreshPerIP, LimitAPIPerUser,
	LimitAutoBanBadCode, LimitAutoBanReuse}

// The domain's error vocabulary: every package's "not found" and
// "conflict" wraps these, so each surface maps them once.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
)

// Tenant is one mini-program. The AppSecret is never a field: it lives sealed
// in the store and only the directory opens it, for the WeChat client.
type Tenant struct {
	ID          int64
	Slug        string
	Name        string
	Status      Status
	WeChatAppID string
	SigningAlg  string
	AccessTTL   time.Duration
	RefreshTTL  time.Duration
	RateLimits  map[string]string
	// UnionIDGroup names the WeChat Open Platform account the tenant's
	// mini-program is bound to; tenants of one group share unionids. ""
	// is no group. Only a platform admin sets it.
	UnionIDGroup string
	// ShowLinkedTenants lets /me list the user's accounts in the other
	// tenants of the group.
	ShowLinkedTenants bool
	// QRLoginPage is the mini-program page a scan-to-sign-in code opens
	// ("" is the home page).
	QRLoginPage string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Invalid is a ValidationError of one field.
func Invalid(field, message string) error {
	return &ValidationError{Fields: []FieldError{{Field: field, Message: message}}}
}

// ValidationError lists invalid fields; transports turn it into a 400. It
// is the one field-error type of the domain packages.
type ValidationError struct {
	Fields []FieldError
}

// FieldError is one invalid field.
type FieldError struct {
	Field   string
	Message string
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid: " + strings.Join(parts, "; ")
}

// EachField calls fn for every invalid field, in order.
func (e *ValidationError) EachField(fn func(field, message string)) {
	for _, f := range e.Fields {
		fn(f.Field, f.Message)
	}
}

func (e *ValidationError) add(field, msg string) { e.Fields = append(e.Fields, FieldError{field, msg}) }

func (e *ValidationError) orNil() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}

var (
	slugRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$`)
	appIDRe = regexp.MustCompile(`^wx[0-9A-Za-z]{8,30}$`)
	groupRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	// A mini-program page path as getwxacodeunlimit takes it: no leading
	// "/", no query.
	pageRe = regexp.MustCompile(`^[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+)*$`)
	rateRe = regexp.MustCompile(`^([1-9][0-9]{0,8})-([SMHD])$`)
)

// ValidSlug reports whether s can name a tenant.
func ValidSlug(s string) bool { return slugRe.MatchString(s) }

// NewTenant is what creating a tenant takes.
type NewTenant struct {
	Slug              string
	Name              string
	WeChatAppID       string
	WeChatSecret      string
	SigningAlg        string
	AccessTTL         time.Duration
	RefreshTTL        time.Duration
	RateLimits        map[string]*string
	UnionIDGroup      string
	ShowLinkedTenants bool
	QRLoginPage       string
}

// Normalize fills defaults and validates.
func (n *NewTenant) Normalize() error {
	var v ValidationError
	n.Slug = strings.TrimSpace(n.Slug)
	if !ValidSlug(n.Slug) {
		v.add("slug", "must be 3-40 lowercase letters, digits or '-', not starting or ending with '-'")
	}
	if n.SigningAlg == "" {
		n.SigningAlg = AlgES256
	}
	if n.AccessTTL == 0 {
		n.AccessTTL = DefaultAccessTTL
	}
	if n.RefreshTTL == 0 {
		n.RefreshTTL = DefaultRefreshTTL
	}
	p := Patch{
		Name: &n.Name, WeChatAppID: &n.WeChatAppID, WeChatSecret: &n.WeChatSecret,
		SigningAlg: &n.SigningAlg, AccessTTL: &n.AccessTTL, RefreshTTL: &n.RefreshTTL,
		RateLimits: n.RateLimits, UnionIDGroup: &n.UnionIDGroup, QRLoginPage: &n.QRLoginPage,
	}
	p.validate(&v)
	return v.orNil()
}

// Patch changes some fields of a tenant; nil leaves a field alone. In
// RateLimits, a nil value resets that key to the server's default.
type Patch struct {
	Name         *string
	Status       *Status
	WeChatAppID  *string
	WeChatSecret *string
	SigningAlg   *string
	AccessTTL    *time.Duration
	RefreshTTL   *time.Duration
	RateLimits   map[string]*string
	// UnionIDGroup "" removes the tenant from its group.
	UnionIDGroup      *string
	ShowLinkedTenants *bool
	// QRLoginPage "" is the mini-program's home page.
	QRLoginPage *string
}

// Storable reports whether s can be stored as Postgres text: valid UTF-8
// without NUL. JSON bodies are checked for this on decoding; the console's
// form values are not, so text fields check it themselves.
func Storable(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// Validate checks every field that is set.
func (p *Patch) Validate() error {
	var v ValidationError
	p.validate(&v)
	return v.orNil()
}

func (p *Patch) validate(v *ValidationError) {
	if p.Name != nil {
		*p.Name = strings.TrimSpace(*p.Name)
		if n := utf8.RuneCountInString(*p.Name); n < 1 || n > 100 || !Storable(*p.Name) {
			v.add("name", "must be 1-100 characters")
		}
	}
	if p.Status != nil && *p.Status != StatusActive && *p.Status != StatusDisabled {
		v.add("status", "must be active or disabled")
	}
	if p.WeChatAppID != nil && !appIDRe.MatchString(*p.WeChatAppID) {
		v.add("wechat_appid", "must look like a WeChat AppID (wx followed by letters and digits)")
	}
	if p.WeChatSecret != nil {
		if s := *p.WeChatSecret; len(s) < 8 || len(s) > 128 || strings.TrimSpace(s) != s {
			v.add("wechat_secret", "must be 8-128 characters without surrounding spaces")
		}
	}
	if p.SigningAlg != nil && *p.SigningAlg != AlgES256 && *p.SigningAlg != AlgEdDSA {
		v.add("signing_alg", "must be ES256 or EdDSA")
	}
	if p.AccessTTL != nil && (*p.AccessTTL < MinAccessTTL || *p.AccessTTL > MaxAccessTTL || *p.AccessTTL%time.Second != 0) {
		v.add("access_ttl_seconds", fmt.Sprintf("must be %d-%d", int(MinAccessTTL.Seconds()), int(MaxAccessTTL.Seconds())))
	}
	if p.RefreshTTL != nil && (*p.RefreshTTL < MinRefreshTTL || *p.RefreshTTL > MaxRefreshTTL || *p.RefreshTTL%time.Second != 0) {
		v.add("refresh_ttl_seconds", fmt.Sprintf("must be %d-%d", int(MinRefreshTTL.Seconds()), int(MaxRefreshTTL.Seconds())))
	}
	if p.UnionIDGroup != nil {
		*p.UnionIDGroup = strings.TrimSpace(*p.UnionIDGroup)
		if g := *p.UnionIDGroup; g != "" && !groupRe.MatchString(g) {
			v.add("unionid_group", "must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit")
		}
	}
	if p.QRLoginPage != nil {
		*p.QRLoginPage = strings.TrimSpace(*p.QRLoginPage)
		if pg := *p.QRLoginPage; pg != "" && (len(pg) > 128 || !pageRe.MatchString(pg)) {
			v.add("qr_login_page", `must be a mini-program page path such as "pages/qr-login/index": no leading "/", no query, at most 128 characters`)
		}
	}
	for k, rate := range p.RateLimits {
		if !isRateLimitKey(k) {
			v.add("rate_limits."+k, "unknown limit; known: "+strings.Join(RateLimitKeys, ", "))
			continue
		}
		if rate != nil {
			if _, _, err := ParseRate(*rate); err != nil {
				v.add("rate_limits."+k, err.Error())
			}
		}
	}
}

func isRateLimitKey(k string) bool {
	for _, known := range RateLimitKeys {
		if k == known {
			return true
		}
	}
	return false
}

// ParseRate reads a limiter-formatted rate such as "20-M" (20 a minute);
// periods are S, M, H and D.
func ParseRate(s string) (limit int64, period time.Duration, err error) {
	m := rateRe.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, errors.New(`must look like "20-M": a count, '-', and S, M, H or D`)
	}
	limit, _ = strconv.ParseInt(m[1], 10, 64)
	period = map[string]time.Duration{"S": time.Second, "M": time.Minute, "H": time.Hour, "D": 24 * time.Hour}[m[2]]
	return limit, period, nil
}

// mergeRateLimits applies a patch of rate limits: a value sets a key, nil
// removes it so the server default applies again.
func mergeRateLimits(cur map[string]string, patch map[string]*string) map[string]string {
	out := make(map[string]string, len(cur)+len(patch))
	for k, v := range cur {
		out[k] = v
	}
	for k, v := range patch {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = *v
		}
	}
	return out
}

// DefaultRateLimits apply to every rate_limits key a tenant leaves unset,
// unless the server configuration (MINIAUTH_RATE_LIMITS) says otherwise.
// Per-IP limits are generous because mobile carriers put many users
// behind one address.
func DefaultRateLimits() map[string]string {
	return map[string]string{
		LimitLoginPerIP:     "60-M",
		LimitLoginPerTenant: "6000-M",
		LimitRefreshPerIP:   "120-M",
		LimitAPIPerUser:     "300-M",
		LimitAutoBanBadCode: "30-M",
		LimitAutoBanReuse:   "10-M",
	}
}

// RateLimit is the rate of one limit: the tenant's own, else the default.
func (t Tenant) RateLimit(name string, defaults map[string]string) string {
	if r, ok := t.RateLimits[name]; ok {
		return r
	}
	return defaults[name]
}

// EffectiveRateLimits is the tenant's own limits over the defaults.
func (t Tenant) EffectiveRateLimits(defaults map[string]string) map[string]string {
	out := make(map[string]string, len(defaults))
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range t.RateLimits {
		out[k] = v
	}
	return out
}
