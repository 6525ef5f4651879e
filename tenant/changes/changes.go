// Package changes is the cross-instance change feed: an instance that
// changes a tenant, a session, a ban or a policy publishes a notice on one
// Redis channel, and every instance's caches drop what the notice names.
// The publishing instance drops it before Publish returns, so a change is
// visible there as soon as the call that made it returns.
//
// Notices are hints, never the data: the truth stays in Postgres. When the
// subscription breaks, or reconnects after notices may have been lost,
// every cache is flushed and Healthy reports false until the feed is back,
// so caches trust their entries only briefly in the meantime (package
// tenant/cache).
package changes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

const publishTimeout = 500 * time.Millisecond

var errFeedDown = errors.New("change feed is down")

// Bus publishes and receives change notices.
type Bus struct {
	rdb     redis.UniversalClient
	channel string
	log     *slog.Logger
	id      string // tells this bus's own notices apart when Redis echoes them

	healthy atomic.Bool
	started atomic.Bool

	mu     sync.RWMutex
	topics map[string][]func(string)
	resets []func()
}

// New returns a bus on the channel prefix+"changes". Call Run to receive.
func New(rdb redis.UniversalClient, prefix string, log *slog.Logger) *Bus {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	return &Bus{rdb: rdb, channel: prefix + "changes", log: log, id: hex.EncodeToString(id), topics: map[string][]func(string){}}
}

// Subscribe registers fn for notices on topic. Handlers must be quick.
func (b *Bus) Subscribe(topic string, fn func(payload string)) {
	b.mu.Lock()
	b.topics[topic] = append(b.topics[topic], fn)
	b.mu.Unlock()
}

// OnReset registers fn to run whenever notices may have been missed.
func (b *Bus) OnReset(fn func()) {
	b.mu.Lock()
	b.resets = append(b.resets, fn)
	b.mu.Unlock()
}

// Healthy reports whether the subscription is live, i.e. whether caches
// fed by it can be trusted.
func (b *Bus) Healthy() bool { return b.healthy.Load() }

// Publish delivers a notice to this instance's handlers at once, then
// sends it to every other instance. If Redis does not take it, the notice
// is retried in the background until it goes out: every moment it is late
// is a moment another instance may trust a stale cache.
func (b *Bus) Publish(ctx context.Context, topic, payload string) error {
	b.dispatch(topic, payload)
	msg := b.id + "\x00" + topic + "\x00" + payload
	err := errFeedDown
	// A bus that never ran (a CLI command) has no feed to judge Redis by.
	if b.Healthy() || !b.started.Load() {
		err = b.send(ctx, msg)
	}
	if err == nil {
		return nil
	}
	if b.started.Load() {
		go b.retry(context.WithoutCancel(ctx), msg)
	}
	return err
}

func (b *Bus) send(ctx context.Context, msg string) error {
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	return b.rdb.Publish(pctx, b.channel, msg).Err()
}

// retry re-sends a notice until Redis takes it, for up to a minute; past
// that every cache has aged out on its own.
func (b *Bus) retry(ctx context.Context, msg string) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && b.started.Load() {
		time.Sleep(250 * time.Millisecond)
		if b.send(ctx, msg) == nil {
			return
		}
	}
	b.log.Warn("change notice dropped after a minute of retries")
}

// Run receives notices until ctx ends, reconnecting as needed.
func (b *Bus) Run(ctx context.Context) {
	b.started.Store(true)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		ps := b.rdb.Subscribe(ctx, b.channel)
		// Receive does not watch ctx while it waits on the socket; closing
		// the subscription is what ends it.
		stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
		for {
			msg, err := ps.Receive(ctx)
			if err != nil && ctx.Err() != nil {
				break // shutting down
			}
			if err != nil {
				if b.healthy.Swap(false) {
					b.log.Warn("change feed lost; caches trust entries for at most a second until it returns", "err", err)
				}
				b.reset()
				break
			}
			switch m := msg.(type) {
			case *redis.Subscription:
				if m.Kind == "subscribe" {
					// Anything published while we were away is lost.
					b.reset()
					b.healthy.Store(true)
					backoff = 100 * time.Millisecond
				}
			case *redis.Message:
				from, rest, _ := strings.Cut(m.Payload, "\x00")
				if from == b.id {
					continue // delivered when it was published
				}
				topic, payload, _ := strings.Cut(rest, "\x00")
				b.dispatch(topic, payload)
			}
		}
		stop()
		_ = ps.Close()
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
	b.healthy.Store(false)
	b.started.Store(false) // stops pending retries
}

func (b *Bus) dispatch(topic, payload string) {
	b.mu.RLock()
	fns := b.topics[topic]
	b.mu.RUnlock()
	for _, fn := range fns {
		fn(payload)
	}
}

func (b *Bus) reset() {
	b.mu.RLock()
	fns := b.resets
	b.mu.RUnlock()
	for _, fn := range fns {
		fn()
	}
}
