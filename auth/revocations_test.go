package auth

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

func healthyCache() (*revocations, *atomic.Bool) {
	var healthy atomic.Bool
	healthy.Store(true)
	return newRevocations(healthy.Load), &healthy
}

func mustGet(t *testing.T, r *revocations, tenantID int64, sid uuid.UUID, wantActive, wantOK bool) {
	t.Helper()
	active, ok := r.get(tenantID, sid)
	if ok != wantOK || (ok && active != wantActive) {
		t.Fatalf("get(%d, %s) = active %v, ok %v; want active %v, ok %v", tenantID, sid, active, ok, wantActive, wantOK)
	}
}

func TestRevocationsPutGet(t *testing.T) {
	t.Parallel()
	r, _ := healthyCache()
	live, dead, unknown, user := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	r.put(r.generation(), 1, live, user, true)
	r.put(r.generation(), 1, dead, user, false)

	for _, tc := range []struct {
		name       string
		tenantID   int64
		sid        uuid.UUID
		active, ok bool
	}{
		{"live session", 1, live, true, true},
		{"revoked session", 1, dead, false, true},
		{"unknown session", 1, unknown, false, false},
		{"same session id, other tenant", 2, live, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mustGet(t, r, tc.tenantID, tc.sid, tc.active, tc.ok)
		})
	}

	// A later answer for the same session replaces the earlier one.
	r.put(r.generation(), 1, live, user, false)
	mustGet(t, r, 1, live, false, true)
}

func TestRevocationsDropSession(t *testing.T) {
	t.Parallel()
	r, _ := healthyCache()
	user := uuid.New()
	s1, s2 := uuid.New(), uuid.New()
	r.put(r.generation(), 1, s1, user, true)
	r.put(r.generation(), 1, s2, user, true)

	r.dropSession(scopedID{1, s1}.String())
	mustGet(t, r, 1, s1, false, false)
	mustGet(t, r, 1, s2, true, true)
	if set := r.byUser[scopedID{1, user}]; len(set) != 1 {
		t.Fatalf("user index holds %d sessions after dropping one of two, want 1", len(set))
	}

	r.dropSession(scopedID{1, s2}.String())
	if _, ok := r.byUser[scopedID{1, user}]; ok {
		t.Fatal("user index kept an empty set")
	}
	// Dropping what is not cached is harmless.
	r.dropSession(scopedID{1, uuid.New()}.String())
	r.dropSession("garbage")
}

func TestRevocationsDropUser(t *testing.T) {
	t.Parallel()
	r, _ := healthyCache()
	alice, bob := uuid.New(), uuid.New()
	a1, a2, a3, b1 := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	for _, s := range []uuid.UUID{a1, a2, a3} {
		r.put(r.generation(), 1, s, alice, true)
	}
	r.put(r.generation(), 1, b1, bob, true)
	// Alice's id in another tenant is another user.
	a4 := uuid.New()
	r.put(r.generation(), 2, a4, alice, true)

	r.dropUser(scopedID{1, alice}.String())
	for _, s := range []uuid.UUID{a1, a2, a3} {
		mustGet(t, r, 1, s, false, false)
	}
	mustGet(t, r, 1, b1, true, true)
	mustGet(t, r, 2, a4, true, true)
	if _, ok := r.byUser[scopedID{1, alice}]; ok {
		t.Fatal("user index kept the dropped user")
	}
}

func TestRevocationsGenerationGuard(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		drop func(r *revocations, sid, uid uuid.UUID)
	}{
		{"session notice", func(r *revocations, sid, _ uuid.UUID) { r.dropSession(scopedID{1, sid}.String()) }},
		{"user notice", func(r *revocations, _, uid uuid.UUID) { r.dropUser(scopedID{1, uid}.String()) }},
		{"unrelated session notice", func(r *revocations, _, _ uuid.UUID) { r.dropSession(scopedID{1, uuid.New()}.String()) }},
		{"flush", func(r *revocations, _, _ uuid.UUID) { r.flush() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, _ := healthyCache()
			sid, uid := uuid.New(), uuid.New()
			// A read starts, a revocation notice lands, then the read's
			// (now stale) answer arrives: it must not be cached.
			gen := r.generation()
			tc.drop(r, sid, uid)
			r.put(gen, 1, sid, uid, true)
			mustGet(t, r, 1, sid, false, false)

			// A read that started after the notice is cached.
			r.put(r.generation(), 1, sid, uid, false)
			mustGet(t, r, 1, sid, false, true)
		})
	}
}

func TestRevocationsUnhealthyBypasses(t *testing.T) {
	t.Parallel()
	r, healthy := healthyCache()
	cached, uncached, user := uuid.New(), uuid.New(), uuid.New()
	r.put(r.generation(), 1, cached, user, true)

	healthy.Store(false)
	mustGet(t, r, 1, cached, false, false)
	r.put(r.generation(), 1, uncached, user, true)

	healthy.Store(true)
	mustGet(t, r, 1, uncached, false, false)
	mustGet(t, r, 1, cached, true, true)
}

func TestRevocationsMaxAge(t *testing.T) {
	t.Parallel()
	r, _ := healthyCache()
	fresh, stale, user := uuid.New(), uuid.New(), uuid.New()
	r.put(r.generation(), 1, fresh, user, true)
	r.put(r.generation(), 1, stale, user, true)

	// Age one entry past maxAge instead of sleeping.
	r.mu.Lock()
	e := r.bySID[scopedID{1, stale}]
	e.at = time.Now().Add(-r.maxAge - time.Second)
	r.bySID[scopedID{1, stale}] = e
	r.mu.Unlock()

	mustGet(t, r, 1, stale, false, false)
	mustGet(t, r, 1, fresh, true, true)
	if r.maxAge <= 0 || r.maxAge > time.Minute {
		t.Fatalf("maxAge = %v; a lost notice must not keep a revoked session alive for long", r.maxAge)
	}
}

func TestRevocationsLimit(t *testing.T) {
	t.Parallel()
	r, _ := healthyCache()
	r.limit = 3
	user := uuid.New()
	sids := []uuid.UUID{uuid.New(), uuid.New(), uuid.New(), uuid.New()}
	for _, s := range sids[:3] {
		r.put(r.generation(), 1, s, user, true)
	}
	for _, s := range sids[:3] {
		mustGet(t, r, 1, s, true, true)
	}
	// The fourth entry would pass the limit: the cache starts over.
	r.put(r.generation(), 1, sids[3], user, true)
	for _, s := range sids[:3] {
		mustGet(t, r, 1, s, false, false)
	}
	mustGet(t, r, 1, sids[3], true, true)
	if len(r.bySID) != 1 || len(r.byUser[scopedID{1, user}]) != 1 {
		t.Fatalf("after clearing: %d sessions, user index %v", len(r.bySID), r.byUser)
	}
}

func TestRevocationsFlush(t *testing.T) {
	t.Parallel()
	r, _ := healthyCache()
	s, u := uuid.New(), uuid.New()
	r.put(r.generation(), 1, s, u, true)
	before := r.generation()
	r.flush()
	mustGet(t, r, 1, s, false, false)
	if r.generation() == before {
		t.Fatal("flush did not advance the generation")
	}
	if len(r.byUser) != 0 {
		t.Fatalf("user index not cleared: %v", r.byUser)
	}
}

// TestRevocationsConcurrent is for the race detector: notices, reads and
// writes from many goroutines at once.
func TestRevocationsConcurrent(t *testing.T) {
	t.Parallel()
	r, healthy := healthyCache()
	r.limit = 50
	users := []uuid.UUID{uuid.New(), uuid.New(), uuid.New()}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				u := users[(w+i)%len(users)]
				s := uuid.New()
				r.put(r.generation(), int64(w%2), s, u, i%2 == 0)
				r.get(int64(w%2), s)
				switch i % 50 {
				case 10:
					r.dropSession(scopedID{int64(w % 2), s}.String())
				case 20:
					r.dropUser(scopedID{int64(w % 2), u}.String())
				case 30:
					r.flush()
				case 40:
					healthy.Store(i%100 != 40)
				}
			}
		}()
	}
	wg.Wait()
	healthy.Store(true)
	// Every indexed session points back at a user that indexes it.
	r.mu.Lock()
	defer r.mu.Unlock()
	for sk, e := range r.bySID {
		if _, ok := r.byUser[e.user][sk]; !ok {
			t.Fatalf("session %s of user %s missing from the user index", sk, e.user)
		}
	}
}
