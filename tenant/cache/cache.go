// Package cache is the one local cache every request path reads through:
// tenants, ban views, session liveness, policy decisions and verified
// tokens. It holds keyed values loaded on a miss, drops them when a change
// notice names them, and decides in one place how far a value may be
// trusted while those notices may be missing.
//
// Trust follows the change feed (Options.Healthy):
//   - While notices arrive, an entry is served until it is invalidated, or
//     until MaxAge in case a notice was lost.
//   - While the feed is down, notices can be missed, so an entry is served
//     only while it is younger than StaleFor. Past half of that it is still
//     served, and one background load refreshes it; past StaleFor the
//     request waits for a fresh load. A change made on another instance
//     while the feed is down is therefore seen within StaleFor, and a busy
//     key costs Postgres about two reads per StaleFor instead of one per
//     request. (With StaleFor zero the cache is bypassed while unhealthy.)
//
// Loads are shared: concurrent misses of one key run one load. A load that
// was running when its key was invalidated still answers its callers, but
// is not stored, so a value read before a change never outlives the change.
//
// Size is bounded by MaxEntries. Inserting into a full cache evicts one
// arbitrary entry (Go's map iteration order is randomised, so this is
// random replacement): no bookkeeping on the hit path, no cliff where the
// whole cache empties at once, and hot keys that lose their place are
// reloaded on their next use.
package cache

import (
	"context"
	"sync"
	"time"
)

// Options configure a Cache. The zero value is a cache without bound or age
// that is always trusted.
type Options[K comparable] struct {
	// MaxEntries bounds the number of entries; 0 means unbounded.
	MaxEntries int
	// MaxAge is how long an entry is trusted while the feed is healthy; 0
	// means until invalidated.
	MaxAge time.Duration
	// StaleFor is how old an entry may be served while the feed is down.
	StaleFor time.Duration
	// Healthy reports whether change notices are arriving; nil is always.
	Healthy func() bool
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Group names the group a key belongs to, for InvalidateGroup (e.g.
	// every session of one user); nil disables groups.
	Group func(K) any
}

// Propagation is how soon a change must be seen on every instance (the
// contract's 1 s): the StaleFor of every cache whose entries a change
// notice evicts.
const Propagation = time.Second

// NoticeMaxAge is how long a cache kept by change notices trusts an entry
// while they arrive, in case one was lost.
const NoticeMaxAge = 30 * time.Second

// Notified are the options of a cache whose entries change notices evict:
// trusted for NoticeMaxAge while healthy reports the feed up, and for
// Propagation while it is down.
func Notified[K comparable](maxEntries int, healthy func() bool, now func() time.Time) Options[K] {
	return Options[K]{MaxEntries: maxEntries, MaxAge: NoticeMaxAge, StaleFor: Propagation, Healthy: healthy, Now: now}
}

// loadTimeout bounds one load, which runs detached from any one caller.
const loadTimeout = 10 * time.Second

// Cache maps keys to values its loader produces. It is safe for
// concurrent use; a hit takes no lock and allocates nothing.
type Cache[K comparable, V any] struct {
	opt  Options[K]
	load Loader[K, V]

	entries sync.Map // K -> *entry[V]; written only under mu

	mu       sync.Mutex
	size     int
	groups   map[any]map[K]struct{}
	inflight map[K]*call[V]
}

type entry[V any] struct {
	v  V
	at time.Time
}

type call[V any] struct {
	done  chan struct{}
	v     V
	err   error
	stale bool // invalidated while loading: answer, but do not store
}

// Loader produces the value of one key. Errors are returned to the callers
// waiting on that load and never stored.
type Loader[K comparable, V any] func(ctx context.Context, k K) (V, error)

// New returns an empty cache filled by load.
func New[K comparable, V any](opt Options[K], load Loader[K, V]) *Cache[K, V] {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	c := &Cache[K, V]{opt: opt, load: load, inflight: map[K]*call[V]{}}
	if opt.Group != nil {
		c.groups = map[any]map[K]struct{}{}
	}
	return c
}

// Get returns the value of k, from the cache when it may be trusted, else
// from the loader.
func (c *Cache[K, V]) Get(ctx context.Context, k K) (V, error) {
	if v, ok := c.entries.Load(k); ok {
		e := v.(*entry[V])
		healthy := c.opt.Healthy == nil || c.opt.Healthy()
		age := c.opt.Now().Sub(e.at)
		switch {
		case healthy && (c.opt.MaxAge == 0 || age < c.opt.MaxAge):
			return e.v, nil
		case !healthy && age < c.opt.StaleFor/2:
			return e.v, nil
		case !healthy && age < c.opt.StaleFor:
			c.start(ctx, k) // refresh behind the caller's back
			return e.v, nil
		}
	}
	cl := c.start(ctx, k)
	select {
	case <-cl.done:
		return cl.v, cl.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// start joins the load of k in flight, or starts one. The load runs
// detached from the caller's cancellation, since others may be waiting on
// it, but keeps its values (the request id in logs).
func (c *Cache[K, V]) start(ctx context.Context, k K) *call[V] {
	c.mu.Lock()
	if cl, ok := c.inflight[k]; ok {
		c.mu.Unlock()
		return cl
	}
	cl := &call[V]{done: make(chan struct{})}
	c.inflight[k] = cl
	c.mu.Unlock()

	go func() {
		at := c.opt.Now()
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
		v, err := c.load(lctx, k)
		cancel()
		c.mu.Lock()
		if c.inflight[k] == cl {
			delete(c.inflight, k)
		}
		if err == nil && !cl.stale {
			c.putLocked(k, &entry[V]{v: v, at: at})
		}
		cl.v, cl.err = v, err
		c.mu.Unlock()
		close(cl.done)
	}()
	return cl
}

func (c *Cache[K, V]) putLocked(k K, e *entry[V]) {
	if _, exists := c.entries.Load(k); !exists {
		if c.opt.MaxEntries > 0 && c.size >= c.opt.MaxEntries {
			c.entries.Range(func(victim, _ any) bool {
				c.deleteLocked(victim.(K))
				return false
			})
		}
		c.size++
	}
	c.entries.Store(k, e)
	if c.groups != nil {
		g := c.opt.Group(k)
		if c.groups[g] == nil {
			c.groups[g] = map[K]struct{}{}
		}
		c.groups[g][k] = struct{}{}
	}
}

func (c *Cache[K, V]) deleteLocked(k K) {
	if _, had := c.entries.LoadAndDelete(k); had {
		c.size--
	}
	if cl, ok := c.inflight[k]; ok {
		cl.stale = true
		delete(c.inflight, k)
	}
	if c.groups != nil {
		g := c.opt.Group(k)
		if set := c.groups[g]; set != nil {
			delete(set, k)
			if len(set) == 0 {
				delete(c.groups, g)
			}
		}
	}
}

// Invalidate drops k; a load of k already running is not stored.
func (c *Cache[K, V]) Invalidate(k K) {
	c.mu.Lock()
	c.deleteLocked(k)
	c.mu.Unlock()
}

// InvalidateGroup drops every key of group g, including keys whose load is
// running.
func (c *Cache[K, V]) InvalidateGroup(g any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.groups[g] {
		c.deleteLocked(k)
	}
	for k := range c.inflight {
		if c.opt.Group(k) == g {
			c.deleteLocked(k)
		}
	}
}

// Flush drops everything, e.g. after notices may have been missed.
func (c *Cache[K, V]) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.inflight {
		cl.stale = true
	}
	c.inflight = map[K]*call[V]{}
	c.entries.Clear()
	c.size = 0
	if c.groups != nil {
		c.groups = map[any]map[K]struct{}{}
	}
}

// Len is the number of entries stored.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}
