package auth

import (
	"context"
	"net/netip"
	"testing"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant/changes/changestest"
)

// The per-request cost of the two cached checks every authenticated
// request makes, with two cores asking at once (steady state: cached):
//
//	go test -run '^$' -bench 'SessionActive|BanView' -benchmem -count 5 ./auth/

func BenchmarkSessionActive(b *testing.B) {
	s := NewSessions(dbtest.Pool(b), changestest.New())
	ctx := context.Background()
	sid, uid := uuid.New(), uuid.New()
	if _, err := s.Active(ctx, 1, sid, uid); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Active(ctx, 1, sid, uid); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkBanView(b *testing.B) {
	v := NewBanViews(dbtest.Pool(b), changestest.New())
	ctx := context.Background()
	ip := netip.MustParseAddr("203.0.113.7")
	if _, err := v.View(ctx, 1); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			view, err := v.View(ctx, 1)
			if err != nil {
				b.Error(err)
				return
			}
			if err := view.Check("", "", ip); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
