package tenant_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/ulule/limiter/v3"

	"github.com/miniauth/miniauth/tenant"
)

// FuzzParseRate: a rate ParseRate accepts is canonical (formatting what it
// read gives the input back), has a positive count and one of the four
// periods, and reads the same through ulule/limiter, which enforces it;
// tenant validation agrees with ParseRate on every rate_limits value.
func FuzzParseRate(f *testing.F) {
	for _, s := range []string{
		"20-M", "1-S", "3-H", "7-D", "60-M", "6000-M", "999999999-S", "1000000000-S",
		"0-M", "00-M", "020-M", "-1-M", "+1-M", "20-m", "20-MM", "20-", "-M", "20", "", "-", "x-M",
		"20-M\n", " 20-M", "20 -M", "20-M\x00", "２０-M", "20\u2010M", "20-Ｍ",
		"9223372036854775807-S", "9223372036854775808-S", "18446744073709551616-D", "1e3-M", "0x10-M", "1_000-M",
		"20-M-H", "\xff-M",
	} {
		f.Add(s)
	}
	periods := map[string]time.Duration{"S": time.Second, "M": time.Minute, "H": time.Hour, "D": 24 * time.Hour}
	f.Fuzz(func(t *testing.T, s string) {
		limit, period, err := tenant.ParseRate(s)
		patch := tenant.Patch{RateLimits: map[string]*string{tenant.LimitLoginPerIP: &s}}
		if verr := patch.Validate(); (verr == nil) != (err == nil) {
			t.Fatalf("ParseRate(%q): %v, but Patch.Validate: %v", s, err, verr)
		}
		if err != nil {
			if limit != 0 || period != 0 {
				t.Fatalf("ParseRate(%q) = %d, %v with the error %v", s, limit, period, err)
			}
			return
		}
		if limit < 1 || limit > 999_999_999 {
			t.Fatalf("ParseRate(%q): count %d", s, limit)
		}
		var unit string
		for u, d := range periods {
			if d == period {
				unit = u
			}
		}
		if unit == "" {
			t.Fatalf("ParseRate(%q): period %v", s, period)
		}
		if back := strconv.FormatInt(limit, 10) + "-" + unit; back != s {
			t.Fatalf("ParseRate(%q) = %d, %v, which formats as %q", s, limit, period, back)
		}
		r, err := limiter.NewRateFromFormatted(s)
		if err != nil || r.Limit != limit || r.Period != period {
			t.Fatalf("ParseRate(%q) = %d, %v; the limiter reads %d, %v (%v)", s, limit, period, r.Limit, r.Period, err)
		}
	})
}
