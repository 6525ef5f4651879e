package changestest_test

import (
	"context"
	"slices"
	"testing"

	"github.com/miniauth/miniauth/tenant/changes/changestest"
)

func TestFeed(t *testing.T) {
	f := changestest.New()
	var got []string
	f.Subscribe("a", func(p string) { got = append(got, "first:"+p) })
	f.Subscribe("a", func(p string) { got = append(got, "second:"+p) })
	f.Subscribe("b", func(p string) { got = append(got, "b:"+p) })
	resets := 0
	f.OnReset(func() { resets++ })

	_ = f.Publish(context.Background(), "a", "1")
	_ = f.Publish(context.Background(), "b", "2")
	if want := []string{"first:1", "second:1", "b:2"}; !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v (in subscription order, before Publish returns)", got, want)
	}
	if p := f.Payloads("a"); !slices.Equal(p, []string{"1"}) {
		t.Fatalf("Payloads(a) = %v", p)
	}
	if tp := f.Topics(); !slices.Equal(tp, []string{"a", "b"}) {
		t.Fatalf("Topics() = %v", tp)
	}
	f.Forget()
	if len(f.Topics()) != 0 {
		t.Fatal("Forget kept the record")
	}
	if !f.Healthy() {
		t.Fatal("a new feed is not healthy")
	}
	f.SetHealthy(false)
	if f.Healthy() {
		t.Fatal("SetHealthy(false) did not take")
	}
	f.Reset()
	if resets != 1 {
		t.Fatalf("%d reset handler runs, want 1", resets)
	}
}
