package tenant_test

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miniauth/miniauth/tenant"
)

func ptr[T any](v T) *T { return &v }

// validNew is a NewTenant that passes Normalize; cases change one thing.
func validNew() tenant.NewTenant {
	return tenant.NewTenant{
		Slug:         "acme",
		Name:         "Acme",
		WeChatAppID:  "wx1234567890abcdef",
		WeChatSecret: "0123456789abcdef0123456789abcdef",
	}
}

// invalidFields returns the fields a validation error names, failing the
// test when err is some other error.
func invalidFields(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var v *tenant.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("error %v (%T) is not a *tenant.ValidationError", err, err)
	}
	var out []string
	for _, f := range v.Fields {
		if f.Message == "" {
			t.Errorf("field %s has no message", f.Field)
		}
		// One field may carry several messages; callers compare field sets.
		if !slices.Contains(out, f.Field) {
			out = append(out, f.Field)
		}
	}
	return out
}

func TestNewTenantNormalizeSlug(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		slug  string
		valid bool
	}{
		{"abc", true},
		{"a1b", true},
		{"a-b", true},
		{"a--b", true},
		{"123", true},
		{strings.Repeat("a", 40), true},
		{"a" + strings.Repeat("-", 38) + "b", true},
		{"ab", false},
		{"a", false},
		{"", false},
		{strings.Repeat("a", 41), false},
		{"-abc", false},
		{"abc-", false},
		{"Abc", false},
		{"ACME", false},
		{"ab_c", false},
		{"ab.c", false},
		{"ab c", false},
		{"acmé", false},
	} {
		t.Run(tc.slug, func(t *testing.T) {
			t.Parallel()
			n := validNew()
			n.Slug = tc.slug
			fields := invalidFields(t, n.Normalize())
			if got := slices.Contains(fields, "slug"); got == tc.valid {
				t.Fatalf("slug %q: invalid fields %v, want valid=%v", tc.slug, fields, tc.valid)
			}
			if tenant.ValidSlug(tc.slug) != tc.valid {
				t.Fatalf("ValidSlug(%q) = %v, want %v", tc.slug, !tc.valid, tc.valid)
			}
		})
	}
	t.Run("surrounding spaces are trimmed", func(t *testing.T) {
		t.Parallel()
		n := validNew()
		n.Slug = "  acme \n"
		if err := n.Normalize(); err != nil {
			t.Fatalf("Normalize: %v", err)
		}
		if n.Slug != "acme" {
			t.Fatalf("Slug = %q, want acme", n.Slug)
		}
	})
}

func TestNewTenantNormalizeDefaults(t *testing.T) {
	t.Parallel()
	n := validNew()
	if err := n.Normalize(); err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	if n.SigningAlg != tenant.AlgES256 {
		t.Errorf("SigningAlg = %q, want ES256", n.SigningAlg)
	}
	if n.AccessTTL != 900*time.Second {
		t.Errorf("AccessTTL = %v, want 900s", n.AccessTTL)
	}
	if n.RefreshTTL != 30*24*time.Hour {
		t.Errorf("RefreshTTL = %v, want 30 days", n.RefreshTTL)
	}

	explicit := validNew()
	explicit.SigningAlg = tenant.AlgEdDSA
	explicit.AccessTTL = time.Hour
	explicit.RefreshTTL = 7 * 24 * time.Hour
	if err := explicit.Normalize(); err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	if explicit.SigningAlg != tenant.AlgEdDSA || explicit.AccessTTL != time.Hour || explicit.RefreshTTL != 7*24*time.Hour {
		t.Errorf("explicit values overwritten: %+v", explicit)
	}
}

func TestNewTenantNormalizeFields(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*tenant.NewTenant)
		field  string // "" = valid
	}{
		{"valid", func(*tenant.NewTenant) {}, ""},
		{"access ttl min", func(n *tenant.NewTenant) { n.AccessTTL = 60 * time.Second }, ""},
		{"access ttl max", func(n *tenant.NewTenant) { n.AccessTTL = 86400 * time.Second }, ""},
		{"access ttl below min", func(n *tenant.NewTenant) { n.AccessTTL = 59 * time.Second }, "access_ttl_seconds"},
		{"access ttl above max", func(n *tenant.NewTenant) { n.AccessTTL = 86401 * time.Second }, "access_ttl_seconds"},
		{"access ttl negative", func(n *tenant.NewTenant) { n.AccessTTL = -time.Hour }, "access_ttl_seconds"},
		{"access ttl fractional second", func(n *tenant.NewTenant) { n.AccessTTL = 90*time.Second + time.Millisecond }, "access_ttl_seconds"},
		{"refresh ttl min", func(n *tenant.NewTenant) { n.RefreshTTL = 300 * time.Second }, ""},
		{"refresh ttl max", func(n *tenant.NewTenant) { n.RefreshTTL = 365 * 24 * time.Hour }, ""},
		{"refresh ttl below min", func(n *tenant.NewTenant) { n.RefreshTTL = 299 * time.Second }, "refresh_ttl_seconds"},
		{"refresh ttl above max", func(n *tenant.NewTenant) { n.RefreshTTL = 365*24*time.Hour + time.Second }, "refresh_ttl_seconds"},
		{"alg EdDSA", func(n *tenant.NewTenant) { n.SigningAlg = "EdDSA" }, ""},
		{"alg RS256", func(n *tenant.NewTenant) { n.SigningAlg = "RS256" }, "signing_alg"},
		{"alg lowercase", func(n *tenant.NewTenant) { n.SigningAlg = "es256" }, "signing_alg"},
		{"alg none", func(n *tenant.NewTenant) { n.SigningAlg = "none" }, "signing_alg"},
		{"missing secret", func(n *tenant.NewTenant) { n.WeChatSecret = "" }, "wechat_secret"},
		{"short secret", func(n *tenant.NewTenant) { n.WeChatSecret = "1234567" }, "wechat_secret"},
		{"secret with spaces", func(n *tenant.NewTenant) { n.WeChatSecret = " 0123456789abcdef " }, "wechat_secret"},
		{"missing name", func(n *tenant.NewTenant) { n.Name = "" }, "name"},
		{"blank name", func(n *tenant.NewTenant) { n.Name = "   " }, "name"},
		{"long name", func(n *tenant.NewTenant) { n.Name = strings.Repeat("名", 101) }, "name"},
		{"name 100 runes", func(n *tenant.NewTenant) { n.Name = strings.Repeat("名", 100) }, ""},
		{"missing appid", func(n *tenant.NewTenant) { n.WeChatAppID = "" }, "wechat_appid"},
		{"appid without wx", func(n *tenant.NewTenant) { n.WeChatAppID = "ab1234567890" }, "wechat_appid"},
		{"rate limit ok", func(n *tenant.NewTenant) { n.RateLimits = map[string]*string{"login_per_ip": ptr("20-M")} }, ""},
		{"rate limit nil", func(n *tenant.NewTenant) { n.RateLimits = map[string]*string{"login_per_ip": nil} }, ""},
		{"rate limit bad", func(n *tenant.NewTenant) { n.RateLimits = map[string]*string{"api_per_user": ptr("20")} }, "rate_limits.api_per_user"},
		{"rate limit unknown key", func(n *tenant.NewTenant) { n.RateLimits = map[string]*string{"logins": ptr("20-M")} }, "rate_limits.logins"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := validNew()
			tc.change(&n)
			fields := invalidFields(t, n.Normalize())
			if tc.field == "" {
				if len(fields) != 0 {
					t.Fatalf("invalid fields %v, want none", fields)
				}
				return
			}
			if !slices.Equal(fields, []string{tc.field}) {
				t.Fatalf("invalid fields %v, want [%s]", fields, tc.field)
			}
		})
	}
}

func TestNewTenantNormalizeReportsEveryField(t *testing.T) {
	t.Parallel()
	n := tenant.NewTenant{Slug: "-", SigningAlg: "HS256", AccessTTL: time.Second}
	err := n.Normalize()
	fields := invalidFields(t, err)
	for _, want := range []string{"slug", "wechat_secret", "name", "wechat_appid", "signing_alg", "access_ttl_seconds"} {
		if !slices.Contains(fields, want) {
			t.Errorf("fields %v do not include %s", fields, want)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Error() %q does not name %s", err.Error(), want)
		}
	}
}

func TestPatchValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		patch tenant.Patch
		field string
	}{
		{"empty", tenant.Patch{}, ""},
		{"status active", tenant.Patch{Status: ptr(tenant.StatusActive)}, ""},
		{"status disabled", tenant.Patch{Status: ptr(tenant.StatusDisabled)}, ""},
		{"status unknown", tenant.Patch{Status: ptr(tenant.Status("paused"))}, "status"},
		{"name", tenant.Patch{Name: ptr("New name")}, ""},
		{"name blank", tenant.Patch{Name: ptr(" ")}, "name"},
		{"secret", tenant.Patch{WeChatSecret: ptr("abcdefgh")}, ""},
		{"secret empty", tenant.Patch{WeChatSecret: ptr("")}, "wechat_secret"},
		{"secret too long", tenant.Patch{WeChatSecret: ptr(strings.Repeat("s", 129))}, "wechat_secret"},
		{"alg EdDSA", tenant.Patch{SigningAlg: ptr("EdDSA")}, ""},
		{"alg HS256", tenant.Patch{SigningAlg: ptr("HS256")}, "signing_alg"},
		{"alg empty", tenant.Patch{SigningAlg: ptr("")}, "signing_alg"},
		{"access ttl zero", tenant.Patch{AccessTTL: ptr(time.Duration(0))}, "access_ttl_seconds"},
		{"refresh ttl zero", tenant.Patch{RefreshTTL: ptr(time.Duration(0))}, "refresh_ttl_seconds"},
		{"appid", tenant.Patch{WeChatAppID: ptr("wxabcdef12")}, ""},
		{"appid too short", tenant.Patch{WeChatAppID: ptr("wxabcdef1")}, "wechat_appid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fields := invalidFields(t, tc.patch.Validate())
			if tc.field == "" {
				if len(fields) != 0 {
					t.Fatalf("invalid fields %v, want none", fields)
				}
				return
			}
			if !slices.Equal(fields, []string{tc.field}) {
				t.Fatalf("invalid fields %v, want [%s]", fields, tc.field)
			}
		})
	}
}

func TestPatchValidateRateLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		key   string
		rate  *string
		valid bool
	}{
		{"20-M", "login_per_ip", ptr("20-M"), true},
		{"1-S", "login_per_tenant", ptr("1-S"), true},
		{"5-H", "refresh_per_ip", ptr("5-H"), true},
		{"100-D", "api_per_user", ptr("100-D"), true},
		{"nine digits", "api_per_user", ptr("999999999-D"), true},
		{"nil resets", "login_per_ip", nil, true},
		{"lowercase period", "login_per_ip", ptr("20-m"), false},
		{"zero count", "login_per_ip", ptr("0-M"), false},
		{"leading zero", "login_per_ip", ptr("020-M"), false},
		{"no period", "login_per_ip", ptr("20"), false},
		{"non-numeric count", "login_per_ip", ptr("x-M"), false},
		{"negative", "login_per_ip", ptr("-1-M"), false},
		{"unknown period", "login_per_ip", ptr("20-W"), false},
		{"ten digits", "login_per_ip", ptr("1000000000-M"), false},
		{"spaces", "login_per_ip", ptr(" 20-M"), false},
		{"empty", "login_per_ip", ptr(""), false},
		{"unknown key", "logins_per_ip", ptr("20-M"), false},
		{"unknown key nil", "logins_per_ip", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := tenant.Patch{RateLimits: map[string]*string{tc.key: tc.rate}}
			fields := invalidFields(t, p.Validate())
			if tc.valid && len(fields) != 0 {
				t.Fatalf("invalid fields %v, want none", fields)
			}
			if !tc.valid && !slices.Equal(fields, []string{"rate_limits." + tc.key}) {
				t.Fatalf("invalid fields %v, want [rate_limits.%s]", fields, tc.key)
			}
		})
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in     string
		limit  int64
		period time.Duration
		valid  bool
	}{
		{"20-M", 20, time.Minute, true},
		{"1-S", 1, time.Second, true},
		{"3-H", 3, time.Hour, true},
		{"7-D", 7, 24 * time.Hour, true},
		{"999999999-S", 999999999, time.Second, true},
		{"20-m", 0, 0, false},
		{"0-M", 0, 0, false},
		{"20", 0, 0, false},
		{"x-M", 0, 0, false},
		{"20-", 0, 0, false},
		{"-M", 0, 0, false},
		{"20-MM", 0, 0, false},
		{"20-M\n", 0, 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			limit, period, err := tenant.ParseRate(tc.in)
			if !tc.valid {
				if err == nil {
					t.Fatalf("ParseRate(%q) = %d, %v, nil; want an error", tc.in, limit, period)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRate(%q): %v", tc.in, err)
			}
			if limit != tc.limit || period != tc.period {
				t.Fatalf("ParseRate(%q) = %d, %v; want %d, %v", tc.in, limit, period, tc.limit, tc.period)
			}
		})
	}
}

func TestDefaultRateLimitsAreValid(t *testing.T) {
	t.Parallel()
	defaults := tenant.DefaultRateLimits()
	if got := slices.Sorted(maps.Keys(defaults)); !slices.Equal(got, slices.Sorted(slices.Values(tenant.RateLimitKeys))) {
		t.Fatalf("DefaultRateLimits keys %v, want exactly %v", got, tenant.RateLimitKeys)
	}
	for k, v := range defaults {
		if _, _, err := tenant.ParseRate(v); err != nil {
			t.Errorf("default %s = %q: %v", k, v, err)
		}
	}
	// Each call is a fresh map: a caller's change does not leak.
	defaults["login_per_ip"] = "1-D"
	if tenant.DefaultRateLimits()["login_per_ip"] == "1-D" {
		t.Fatal("DefaultRateLimits returns a shared map")
	}
}

func TestEffectiveRateLimits(t *testing.T) {
	t.Parallel()
	defaults := map[string]string{"login_per_ip": "30-M", "login_per_tenant": "3000-M", "refresh_per_ip": "60-M", "api_per_user": "300-M"}
	defaultsBefore := maps.Clone(defaults)
	for _, tc := range []struct {
		name string
		own  map[string]string
		want map[string]string
	}{
		{"nil own limits", nil, defaults},
		{"empty own limits", map[string]string{}, defaults},
		{"one override", map[string]string{"login_per_ip": "5-S"},
			map[string]string{"login_per_ip": "5-S", "login_per_tenant": "3000-M", "refresh_per_ip": "60-M", "api_per_user": "300-M"}},
		{"all overridden", map[string]string{"login_per_ip": "1-S", "login_per_tenant": "2-S", "refresh_per_ip": "3-S", "api_per_user": "4-S"},
			map[string]string{"login_per_ip": "1-S", "login_per_tenant": "2-S", "refresh_per_ip": "3-S", "api_per_user": "4-S"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ten := tenant.Tenant{Slug: "acme", RateLimits: tc.own}
			got := ten.EffectiveRateLimits(defaults)
			if !maps.Equal(got, tc.want) {
				t.Fatalf("EffectiveRateLimits = %v, want %v", got, tc.want)
			}
			got["login_per_ip"] = "mutated"
			if !maps.Equal(defaults, defaultsBefore) {
				t.Fatal("EffectiveRateLimits returned the defaults map itself")
			}
		})
	}
}
