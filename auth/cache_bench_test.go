package auth

import (
	"context"
	"net/netip"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/migrations/dbtest"
)

// The per-request cost of the two cached checks every authenticated
// request makes, with two cores asking at once (steady state: cached):
//
//	go test -run '^$' -bench 'SessionActive|BanView' -benchmem -count 5 ./auth/

// benchFeed is a change feed with no other instances.
type benchFeed struct {
	mu     sync.Mutex
	topics map[string][]func(string)
}

func (f *benchFeed) Publish(_ context.Context, topic, payload string) error {
	f.mu.Lock()
	fns := f.topics[topic]
	f.mu.Unlock()
	for _, fn := range fns {
		fn(payload)
	}
	return nil
}

func (f *benchFeed) Subscribe(topic string, fn func(string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.topics == nil {
		f.topics = map[string][]func(string){}
	}
	f.topics[topic] = append(f.topics[topic], fn)
}

func (f *benchFeed) OnReset(func()) {}
func (f *benchFeed) Healthy() bool  { return true }

func BenchmarkSessionActive(b *testing.B) {
	s := NewSessions(dbtest.Pool(b), &benchFeed{})
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
	v := NewBanViews(dbtest.Pool(b), &benchFeed{})
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
