package api

import (
	"testing"
	"time"
)

func TestUntilChinaMidnight(t *testing.T) {
	for _, tc := range []struct {
		now  string // RFC 3339
		want time.Duration
	}{
		{"2026-12-02T15:59:59Z", time.Second},           // 23:59:59 in China
		{"2026-12-02T16:00:00Z", 24 * time.Hour},        // midnight in China: a whole day
		{"2026-12-02T00:00:00Z", 16 * time.Hour},        // 08:00 in China
		{"2026-12-31T20:30:00Z", 19*time.Hour + 1800e9}, // across a year in China
	} {
		now, _ := time.Parse(time.RFC3339, tc.now)
		if got := untilChinaMidnight(now); got != tc.want {
			t.Errorf("untilChinaMidnight(%s) = %s, want %s", tc.now, got, tc.want)
		}
	}
}
