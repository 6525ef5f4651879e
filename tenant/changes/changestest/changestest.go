// Package changestest is an in-process change feed for tests, as
// net/http/httptest is a server: it satisfies the Changes interfaces of
// tenant, auth and admin without Redis. Publish delivers a notice to the
// handlers at once, as if every instance had received it, and records it;
// health and resets are set by hand.
package changestest

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// Feed is an in-process change feed; the zero value is not usable, call New.
type Feed struct {
	unhealthy atomic.Bool

	mu        sync.Mutex
	topics    map[string][]func(string)
	resets    []func()
	published []Notice
}

// Notice is one published notice.
type Notice struct{ Topic, Payload string }

// New returns a healthy feed with no subscribers.
func New() *Feed { return &Feed{topics: map[string][]func(string){}} }

// Subscribe registers fn for notices on topic; handlers run in the order
// they subscribed.
func (f *Feed) Subscribe(topic string, fn func(string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.topics[topic] = append(f.topics[topic], fn)
}

// OnReset registers fn to run on Reset.
func (f *Feed) OnReset(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resets = append(f.resets, fn)
}

// Healthy reports what SetHealthy last set (true at first).
func (f *Feed) Healthy() bool { return !f.unhealthy.Load() }

// SetHealthy plays the feed going down (false) or coming back (true).
func (f *Feed) SetHealthy(ok bool) { f.unhealthy.Store(!ok) }

// Publish records the notice and runs its topic's handlers before it
// returns.
func (f *Feed) Publish(_ context.Context, topic, payload string) error {
	f.mu.Lock()
	f.published = append(f.published, Notice{topic, payload})
	fns := slices.Clone(f.topics[topic])
	f.mu.Unlock()
	for _, fn := range fns {
		fn(payload)
	}
	return nil
}

// Reset runs the reset handlers, as the real feed does when notices may
// have been missed.
func (f *Feed) Reset() {
	f.mu.Lock()
	fns := slices.Clone(f.resets)
	f.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Payloads are the payloads published on topic so far, in order.
func (f *Feed) Payloads(topic string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range f.published {
		if n.Topic == topic {
			out = append(out, n.Payload)
		}
	}
	return out
}

// Topics are the topics published so far, in order.
func (f *Feed) Topics() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.published))
	for i, n := range f.published {
		out[i] = n.Topic
	}
	return out
}

// Forget drops the record of what was published so far.
func (f *Feed) Forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.published = nil
}
