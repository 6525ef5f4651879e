package auth

import (
	"strconv"
	"strings"
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
	bySID  map[scopedID]revEntry
	byUser map[scopedID]map[scopedID]struct{}
}

// scopedID is a session or user id within its tenant.
type scopedID struct {
	tenant int64
	id     uuid.UUID
}

// parseScopedID reads a notice payload "tenantID:uuid".
func parseScopedID(payload string) (scopedID, bool) {
	t, id, ok := strings.Cut(payload, ":")
	if !ok {
		return scopedID{}, false
	}
	tenant, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return scopedID{}, false
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return scopedID{}, false
	}
	return scopedID{tenant, u}, true
}

func (k scopedID) String() string { return strconv.FormatInt(k.tenant, 10) + ":" + k.id.String() }

type revEntry struct {
	user   scopedID
	active bool
	at     time.Time
}

func newRevocations(healthy func() bool) *revocations {
	return &revocations{
		healthy: healthy,
		maxAge:  30 * time.Second,
		limit:   200_000,
		bySID:   map[scopedID]revEntry{},
		byUser:  map[scopedID]map[scopedID]struct{}{},
	}
}

func (r *revocations) get(tenantID int64, sid uuid.UUID) (active, ok bool) {
	if !r.healthy() {
		return false, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.bySID[scopedID{tenantID, sid}]
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
	sk, uk := scopedID{tenantID, sid}, scopedID{tenantID, uid}
	r.bySID[sk] = revEntry{user: uk, active: active, at: time.Now()}
	if r.byUser[uk] == nil {
		r.byUser[uk] = map[scopedID]struct{}{}
	}
	r.byUser[uk][sk] = struct{}{}
}

// dropSession handles a TopicSessionRevoked payload.
func (r *revocations) dropSession(payload string) {
	key, ok := parseScopedID(payload)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	if !ok {
		return
	}
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
func (r *revocations) dropUser(payload string) {
	key, ok := parseScopedID(payload)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	if !ok {
		return
	}
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
	r.bySID = map[scopedID]revEntry{}
	r.byUser = map[scopedID]map[scopedID]struct{}{}
}
