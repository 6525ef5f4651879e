package auth

import (
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
)

// revocations caches whether sessions are live, so the per-request check
// costs a map lookup. Entries are dropped by revocation notices from every
// instance; a generation counter stops a read that raced a notice from
// caching the stale answer; entries expire after maxAge in case a notice
// is lost; and while the change feed is down (healthy false) the cache
// is not consulted at all.
type revocations struct {
	healthy func() bool
	maxAge  time.Duration
	limit   int

	mu     sync.Mutex
	gen    uint64
	bySID  map[string]revEntry
	byUser map[string]map[string]struct{}
}

type revEntry struct {
	user   string
	active bool
	at     time.Time
}

func newRevocations(healthy func() bool) *revocations {
	return &revocations{
		healthy: healthy,
		maxAge:  30 * time.Second,
		limit:   200_000,
		bySID:   map[string]revEntry{},
		byUser:  map[string]map[string]struct{}{},
	}
}

func sessionKey(tenantID int64, sid uuid.UUID) string { return fmt.Sprintf("%d:%s", tenantID, sid) }
func userKey(tenantID int64, uid uuid.UUID) string    { return fmt.Sprintf("%d:%s", tenantID, uid) }

func (r *revocations) get(tenantID int64, sid uuid.UUID) (active, ok bool) {
	if !r.healthy() {
		return false, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.bySID[sessionKey(tenantID, sid)]
	if !ok || time.Since(e.at) > r.maxAge {
		return false, false
	}
	return e.active, true
}

func (r *revocations) generation() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen
}

func (r *revocations) put(gen uint64, tenantID int64, sid, uid uuid.UUID, active bool) {
	if !r.healthy() {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if gen != r.gen {
		return
	}
	if len(r.bySID) >= r.limit {
		r.clearLocked()
	}
	sk, uk := sessionKey(tenantID, sid), userKey(tenantID, uid)
	r.bySID[sk] = revEntry{user: uk, active: active, at: time.Now()}
	if r.byUser[uk] == nil {
		r.byUser[uk] = map[string]struct{}{}
	}
	r.byUser[uk][sk] = struct{}{}
}

// dropSession handles a TopicSessionRevoked payload.
func (r *revocations) dropSession(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	if e, ok := r.bySID[key]; ok {
		delete(r.bySID, key)
		if set := r.byUser[e.user]; set != nil {
			delete(set, key)
			if len(set) == 0 {
				delete(r.byUser, e.user)
			}
		}
	}
}

// dropUser handles a TopicUserRevoked payload.
func (r *revocations) dropUser(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	for sk := range r.byUser[key] {
		delete(r.bySID, sk)
	}
	delete(r.byUser, key)
}

func (r *revocations) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clearLocked()
}

func (r *revocations) clearLocked() {
	r.gen++
	r.bySID = map[string]revEntry{}
	r.byUser = map[string]map[string]struct{}{}
}
