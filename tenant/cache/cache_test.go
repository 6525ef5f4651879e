package cache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miniauth/miniauth/tenant/cache"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// source is a loader whose answer and load count tests can see.
type source struct {
	value atomic.Int64
	loads atomic.Int64
	err   atomic.Pointer[error]
}

func (s *source) load(context.Context) (int64, error) {
	s.loads.Add(1)
	if e := s.err.Load(); e != nil {
		return 0, *e
	}
	return s.value.Load(), nil
}

// loaders lets a test choose what the next load of its cache runs.
type loaders struct {
	cur atomic.Pointer[func(context.Context) (int64, error)]
}

func (l *loaders) use(fn func(context.Context) (int64, error)) { l.cur.Store(&fn) }

func newCache[K comparable](opt cache.Options[K]) (*cache.Cache[K, int64], *loaders) {
	l := &loaders{}
	return cache.New(opt, func(ctx context.Context, _ K) (int64, error) { return (*l.cur.Load())(ctx) }), l
}

func get(t *testing.T, c *cache.Cache[string, int64], l *loaders, k string, s *source) int64 {
	t.Helper()
	l.use(s.load)
	v, err := c.Get(context.Background(), k)
	if err != nil {
		t.Fatalf("Get(%q): %v", k, err)
	}
	return v
}

func TestGetLoadsOnceAndServesHits(t *testing.T) {
	t.Parallel()
	c, l := newCache(cache.Options[string]{})
	var s source
	s.value.Store(1)
	if v := get(t, c, l, "a", &s); v != 1 {
		t.Fatalf("first Get = %d, want 1", v)
	}
	s.value.Store(2)
	for range 3 {
		if v := get(t, c, l, "a", &s); v != 1 {
			t.Fatalf("cached Get = %d, want the cached 1", v)
		}
	}
	if n := s.loads.Load(); n != 1 {
		t.Fatalf("%d loads, want 1", n)
	}
}

func TestErrorsAreNotStored(t *testing.T) {
	t.Parallel()
	c, l := newCache(cache.Options[string]{})
	var s source
	boom := errors.New("boom")
	s.err.Store(&boom)
	l.use(s.load)
	if _, err := c.Get(context.Background(), "a"); !errors.Is(err, boom) {
		t.Fatalf("Get err = %v, want boom", err)
	}
	s.err.Store(nil)
	s.value.Store(7)
	if v := get(t, c, l, "a", &s); v != 7 {
		t.Fatalf("after an error Get = %d, want a fresh load of 7", v)
	}
}

func TestInvalidateAndFlush(t *testing.T) {
	t.Parallel()
	c, l := newCache(cache.Options[string]{})
	var s source
	s.value.Store(1)
	get(t, c, l, "a", &s)
	get(t, c, l, "b", &s)
	s.value.Store(2)

	c.Invalidate("a")
	if v := get(t, c, l, "a", &s); v != 2 {
		t.Fatalf("after Invalidate(a) Get(a) = %d, want 2", v)
	}
	if v := get(t, c, l, "b", &s); v != 1 {
		t.Fatalf("Invalidate(a) dropped b too: Get(b) = %d", v)
	}
	s.value.Store(3)
	c.Flush()
	if a, b := get(t, c, l, "a", &s), get(t, c, l, "b", &s); a != 3 || b != 3 {
		t.Fatalf("after Flush Get = %d, %d; want 3, 3", a, b)
	}
}

func TestInvalidateGroup(t *testing.T) {
	t.Parallel()
	type key struct{ user, session string }
	c, l := newCache(cache.Options[key]{Group: func(k key) any { return k.user }})
	var s source
	s.value.Store(1)
	for _, k := range []key{{"u1", "s1"}, {"u1", "s2"}, {"u2", "s3"}} {
		l.use(s.load)
		if _, err := c.Get(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
	s.value.Store(2)
	c.InvalidateGroup("u1")
	for k, want := range map[key]int64{{"u1", "s1"}: 2, {"u1", "s2"}: 2, {"u2", "s3"}: 1} {
		l.use(s.load)
		v, err := c.Get(context.Background(), k)
		if err != nil || v != want {
			t.Fatalf("after InvalidateGroup(u1) Get(%v) = %d, %v; want %d", k, v, err, want)
		}
	}
}

// blockingSource answers only when released, so a test can act while a
// load is in flight.
type blockingSource struct {
	source
	started chan struct{}
	release chan struct{}
}

func newBlocking(v int64) *blockingSource {
	b := &blockingSource{started: make(chan struct{}, 16), release: make(chan struct{})}
	b.value.Store(v)
	return b
}

func (b *blockingSource) load(ctx context.Context) (int64, error) {
	b.started <- struct{}{}
	<-b.release
	return b.source.load(ctx)
}

func TestConcurrentMissesShareOneLoad(t *testing.T) {
	t.Parallel()
	c, l := newCache(cache.Options[string]{})
	src := newBlocking(5)
	var wg sync.WaitGroup
	results := make(chan int64, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.use(src.load)
			v, err := c.Get(context.Background(), "a")
			if err != nil {
				t.Error(err)
			}
			results <- v
		}()
	}
	<-src.started
	close(src.release)
	wg.Wait()
	close(results)
	for v := range results {
		if v != 5 {
			t.Fatalf("a waiter got %d, want 5", v)
		}
	}
	if n := src.loads.Load(); n != 1 {
		t.Fatalf("%d loads for 10 concurrent misses, want 1", n)
	}
}

func TestLoadRacingAnInvalidationIsNotStored(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		invalidate func(c *cache.Cache[string, int64])
	}{
		{"Invalidate", func(c *cache.Cache[string, int64]) { c.Invalidate("a") }},
		{"Flush", func(c *cache.Cache[string, int64]) { c.Flush() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, l := newCache(cache.Options[string]{})
			old := newBlocking(1)
			done := make(chan int64)
			go func() {
				l.use(old.load)
				v, _ := c.Get(context.Background(), "a")
				done <- v
			}()
			<-old.started // the load read the value before the change...
			tc.invalidate(c)
			// ...a lookup after the change does not join it...
			fresh := &source{}
			fresh.value.Store(2)
			if v := get(t, c, l, "a", fresh); v != 2 {
				t.Fatalf("Get after %s joined the stale load: %d", tc.name, v)
			}
			close(old.release)
			// ...its caller still gets its answer...
			if v := <-done; v != 1 {
				t.Fatalf("the racing caller got %d, want its own load's 1", v)
			}
			// ...but it is not what the cache keeps.
			if v := get(t, c, l, "a", fresh); v != 2 {
				t.Fatalf("the stale load was stored: Get = %d, want 2", v)
			}
		})
	}
}

func TestMaxAge(t *testing.T) {
	t.Parallel()
	clk := newClock()
	c, l := newCache(cache.Options[string]{MaxAge: 30 * time.Second, Now: clk.Now})
	var s source
	s.value.Store(1)
	get(t, c, l, "a", &s)
	s.value.Store(2)
	clk.Advance(29 * time.Second)
	if v := get(t, c, l, "a", &s); v != 1 {
		t.Fatalf("before MaxAge Get = %d, want the cached 1", v)
	}
	clk.Advance(time.Second)
	if v := get(t, c, l, "a", &s); v != 2 {
		t.Fatalf("at MaxAge Get = %d, want a reload of 2", v)
	}
}

// TestUnhealthyServesWithinTheBound is the policy while change notices may
// be missing: an entry is served while younger than StaleFor (refreshed in
// the background past half of it) and reloaded in the foreground after.
func TestUnhealthyServesWithinTheBound(t *testing.T) {
	t.Parallel()
	clk := newClock()
	var healthy atomic.Bool
	healthy.Store(true)
	c, l := newCache(cache.Options[string]{
		MaxAge: time.Hour, StaleFor: cache.Propagation, Healthy: healthy.Load, Now: clk.Now,
	})
	var s source
	s.value.Store(1)
	get(t, c, l, "a", &s)
	healthy.Store(false)
	s.value.Store(2)

	clk.Advance(cache.Propagation / 4)
	if v := get(t, c, l, "a", &s); v != 1 || s.loads.Load() != 1 {
		t.Fatalf("young entry while unhealthy: Get = %d after %d loads; want the cached 1, no reload", v, s.loads.Load())
	}

	clk.Advance(cache.Propagation / 2) // now 3/4 of the bound old
	if v := get(t, c, l, "a", &s); v != 1 {
		t.Fatalf("entry past half the bound: Get = %d, want the cached 1 while it refreshes", v)
	}
	deadline := time.Now().Add(5 * time.Second)
	for get(t, c, l, "a", &s) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the background refresh never stored the new value")
		}
		time.Sleep(time.Millisecond)
	}
	if n := s.loads.Load(); n != 2 {
		t.Fatalf("%d loads, want exactly one background refresh", n)
	}

	s.value.Store(3)
	clk.Advance(cache.Propagation)
	if v := get(t, c, l, "a", &s); v != 3 {
		t.Fatalf("entry past the bound while unhealthy: Get = %d, want a foreground reload of 3", v)
	}
}

func TestUnhealthyWithoutStaleForBypasses(t *testing.T) {
	t.Parallel()
	c, l := newCache(cache.Options[string]{Healthy: func() bool { return false }})
	var s source
	for i := range int64(3) {
		s.value.Store(i)
		if v := get(t, c, l, "a", &s); v != i {
			t.Fatalf("Get = %d, want %d read through", v, i)
		}
	}
}

func TestMaxEntriesEvictsOne(t *testing.T) {
	t.Parallel()
	c, l := newCache(cache.Options[string]{MaxEntries: 3})
	var s source
	for _, k := range []string{"a", "b", "c"} {
		get(t, c, l, k, &s)
	}
	get(t, c, l, "d", &s)
	if n := c.Len(); n != 3 {
		t.Fatalf("Len = %d after a fourth key, want 3: one entry evicted, not all", n)
	}
	// Replacing an existing key evicts nothing.
	c.Invalidate("d")
	get(t, c, l, "d", &s)
	get(t, c, l, "d", &s)
	if n := c.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
}

func TestWaiterGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	c, l := newCache(cache.Options[string]{})
	src := newBlocking(9)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		l.use(src.load)
		_, err := c.Get(ctx, "a")
		errc <- err
	}()
	<-src.started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Get err = %v, want context.Canceled", err)
	}
	// The load itself goes on for the others and is stored.
	close(src.release)
	l.use(src.load)
	v, err := c.Get(context.Background(), "a")
	if err != nil || v != 9 {
		t.Fatalf("after the abandoned wait Get = %d, %v; want 9", v, err)
	}
}

func BenchmarkHit(b *testing.B) {
	c, l := newCache(cache.Options[string]{MaxAge: time.Minute, StaleFor: cache.Propagation, Healthy: func() bool { return true }})
	var s source
	l.use(s.load)
	if _, err := c.Get(context.Background(), "tenant-slug"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Get(context.Background(), "tenant-slug"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkMissAndStore(b *testing.B) {
	c := cache.New(cache.Options[int]{MaxEntries: 10_000}, func(context.Context, int) (int64, error) { return 1, nil })
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Get(context.Background(), i); err != nil {
			b.Fatal(err)
		}
	}
}
