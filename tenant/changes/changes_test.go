package changes_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant/changes"
)

var discard = slog.New(slog.DiscardHandler)

// runBus starts bus.Run and returns a function that stops it and reports
// whether Run returned.
func runBus(t *testing.T, bus *changes.Bus) (stop func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		bus.Run(ctx)
	}()
	var once sync.Once
	returned := false
	stop = func() bool {
		once.Do(func() {
			cancel()
			select {
			case <-done:
				returned = true
			case <-time.After(10 * time.Second):
			}
		})
		return returned
	}
	t.Cleanup(func() { stop() })
	return stop
}

func waitHealthy(t *testing.T, buses ...*changes.Bus) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, b := range buses {
		for !b.Healthy() {
			if time.Now().After(deadline) {
				t.Fatal("bus never became healthy")
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// recv collects one topic's notices.
func recv(bus *changes.Bus, topic string) <-chan string {
	ch := make(chan string, 100)
	bus.Subscribe(topic, func(p string) { ch <- p })
	return ch
}

func expect(t *testing.T, ch <-chan string, want, who string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("%s received %q, want %q", who, got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s never received %q", who, want)
	}
}

func expectNothing(t *testing.T, ch <-chan string, who string) {
	t.Helper()
	select {
	case got := <-ch:
		t.Fatalf("%s received %q, want nothing", who, got)
	default:
	}
}

func TestPublishReachesEveryInstance(t *testing.T) {
	t.Parallel()
	rdb, prefix := dbtest.Redis(t)
	a := changes.New(rdb, prefix, discard)
	b := changes.New(rdb, prefix, discard)
	aTenant, bTenant := recv(a, "tenant"), recv(b, "tenant")
	aTenant2 := recv(a, "tenant") // a second handler on the same topic
	bSession := recv(b, "session_revoked")
	runBus(t, a)
	runBus(t, b)
	waitHealthy(t, a, b)

	if err := a.Publish(context.Background(), "tenant", "acme"); err != nil {
		t.Fatal(err)
	}
	expect(t, aTenant, "acme", "publisher")
	expect(t, aTenant2, "acme", "publisher's second handler")
	expect(t, bTenant, "acme", "other instance")

	// A payload may hold anything but NUL, including the separator-looking ':'.
	if err := b.Publish(context.Background(), "session_revoked", "42:0190a0b0-0000-7000-8000-000000000000"); err != nil {
		t.Fatal(err)
	}
	expect(t, bSession, "42:0190a0b0-0000-7000-8000-000000000000", "session subscriber")
	// Topics are separate: the tenant handlers got only their own notice.
	if err := b.Publish(context.Background(), "tenant", "last"); err != nil {
		t.Fatal(err)
	}
	expect(t, aTenant, "last", "publisher")
	expect(t, bTenant, "last", "other instance")
}

func TestPrefixesAreIsolated(t *testing.T) {
	t.Parallel()
	rdb, prefix := dbtest.Redis(t)
	one := changes.New(rdb, prefix+"one:", discard)
	two := changes.New(rdb, prefix+"two:", discard)
	oneCh, twoCh := recv(one, "tenant"), recv(two, "tenant")
	runBus(t, one)
	runBus(t, two)
	waitHealthy(t, one, two)

	// Redis delivers in publish order, so once the later notice on the
	// other prefix has arrived, the earlier one would have too.
	if err := one.Publish(context.Background(), "tenant", "for-one"); err != nil {
		t.Fatal(err)
	}
	if err := two.Publish(context.Background(), "tenant", "for-two"); err != nil {
		t.Fatal(err)
	}
	expect(t, oneCh, "for-one", "prefix one")
	expect(t, twoCh, "for-two", "prefix two")
	if err := one.Publish(context.Background(), "tenant", "for-one-again"); err != nil {
		t.Fatal(err)
	}
	expect(t, oneCh, "for-one-again", "prefix one")
	expectNothing(t, oneCh, "prefix one")
	expectNothing(t, twoCh, "prefix two")
}

func TestHealthyFollowsRun(t *testing.T) {
	t.Parallel()
	rdb, prefix := dbtest.Redis(t)
	bus := changes.New(rdb, prefix, discard)
	var resets atomic.Int32
	bus.OnReset(func() { resets.Add(1) })

	if bus.Healthy() {
		t.Fatal("Healthy before Run")
	}
	stop := runBus(t, bus)
	waitHealthy(t, bus)
	if resets.Load() < 1 {
		t.Fatal("subscribing did not reset caches: notices before it were lost")
	}
	if !stop() {
		t.Fatal("Run did not return after its context was cancelled")
	}
	if bus.Healthy() {
		t.Fatal("Healthy after Run returned")
	}
}

func TestRunReturnsWhenCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	rdb, prefix := dbtest.Redis(t)
	bus := changes.New(rdb, prefix, discard)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan struct{})
	go func() { bus.Run(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run with a cancelled context did not return")
	}
	if bus.Healthy() {
		t.Fatal("Healthy after Run returned")
	}
}

func TestRunReturnsWhileRedisIsDown(t *testing.T) {
	t.Parallel()
	// Nothing listens on port 1: Run keeps retrying until cancelled.
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	bus := changes.New(rdb, "unreachable:", discard)
	stop := runBus(t, bus)
	time.Sleep(50 * time.Millisecond) // let it fail at least once
	if bus.Healthy() {
		t.Fatal("Healthy without Redis")
	}
	if !stop() {
		t.Fatal("Run did not return after its context was cancelled")
	}
}

func TestPublishFailureStillInvalidatesLocally(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	bus := changes.New(rdb, "unreachable:", discard)
	ch := recv(bus, "tenant")
	if err := bus.Publish(context.Background(), "tenant", "acme"); err == nil {
		t.Fatal("Publish without Redis returned nil")
	}
	expect(t, ch, "acme", "local subscriber")
}
