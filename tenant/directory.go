package tenant

import (
	"context"
	"errors"
	"time"

	"github.com/miniauth/miniauth/tenant/cache"
)

// Changes is the cross-instance change feed (tenant/changes.Bus).
type Changes interface {
	Subscribe(topic string, fn func(payload string))
	OnReset(fn func())
	Healthy() bool
}

// Directory serves Runtimes from a local cache (see package cache for how
// far it is trusted). Every change to a tenant is published by the store
// and evicts the entry on every instance, this one included before the
// change returns.
type Directory struct {
	store   *Store
	entries *cache.Cache[string, *Runtime]
}

const maxDirectoryEntries = 50_000

// NewDirectory wires a directory to the store and the change feed; changes
// may be nil when nothing publishes (a CLI).
func NewDirectory(store *Store, changes Changes) *Directory {
	return newDirectory(store, changes, time.Now)
}

func newDirectory(store *Store, changes Changes, now func() time.Time) *Directory {
	var healthy func() bool
	if changes != nil {
		healthy = changes.Healthy
	}
	opt := cache.Notified[string](maxDirectoryEntries, healthy, now)
	d := &Directory{store: store}
	// Unknown slugs are stored as nil, so a flood of bogus slugs does not
	// reach Postgres; the cache's bound keeps them from taking memory.
	d.entries = cache.New(opt, func(ctx context.Context, slug string) (*Runtime, error) {
		rt, err := store.loadRuntime(ctx, slug)
		if errors.Is(err, ErrNotFound) {
			return nil, nil
		}
		return rt, err
	})
	if changes != nil {
		changes.Subscribe(TopicTenant, d.Invalidate)
		changes.OnReset(d.Flush)
	}
	return d
}

// Lookup returns the runtime tenant for slug, or ErrNotFound.
func (d *Directory) Lookup(ctx context.Context, slug string) (*Runtime, error) {
	if !ValidSlug(slug) {
		return nil, ErrNotFound
	}
	rt, err := d.entries.Get(ctx, slug)
	if err != nil {
		return nil, err
	}
	if rt == nil {
		return nil, ErrNotFound
	}
	return rt, nil
}

// Invalidate drops one tenant's entry.
func (d *Directory) Invalidate(slug string) { d.entries.Invalidate(slug) }

// Flush drops every entry, e.g. after the change feed reconnects and
// notices may have been missed.
func (d *Directory) Flush() { d.entries.Flush() }
