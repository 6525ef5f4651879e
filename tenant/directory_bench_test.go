package tenant_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/changes/changestest"
	"github.com/miniauth/miniauth/tenant/seal"
)

// BenchmarkDirectoryLookup is the per-request cost of resolving a tenant
// that is already cached, with two cores asking at once:
//
//	go test -run '^$' -bench DirectoryLookup -benchmem -count 5 ./tenant/
func BenchmarkDirectoryLookup(b *testing.B) {
	db := dbtest.Pool(b)
	sealer, err := seal.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		b.Fatal(err)
	}
	feed := changestest.New()
	store := tenant.NewStore(db, sealer, feed)
	n := validNew()
	n.Slug = "bench-dir"
	if _, err := store.Create(context.Background(), n); err != nil {
		b.Fatal(err)
	}
	dir := tenant.NewDirectory(store, feed)
	ctx := context.Background()
	if _, err := dir.Lookup(ctx, n.Slug); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := dir.Lookup(ctx, n.Slug); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
