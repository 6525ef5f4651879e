package auth

import (
	"testing"

	"github.com/google/uuid"
)

// BenchmarkRevocationCacheHit is the per-request session check when the
// answer is cached, from many goroutines as under load.
func BenchmarkRevocationCacheHit(b *testing.B) {
	r := newRevocations(func() bool { return true })
	const sessions = 1024
	sids := make([]uuid.UUID, sessions)
	for i := range sids {
		sids[i] = uuid.New()
		r.put(r.generation(), 1, sids[i], uuid.New(), true)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if active, ok := r.get(1, sids[i%sessions]); !ok || !active {
				b.Fatal("cache miss")
			}
			i++
		}
	})
}
