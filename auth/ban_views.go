package auth

import (
	"context"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/tenant/cache"
)

// TopicBans is published with a tenant id ("0" for platform-wide bans)
// whenever that tenant's bans change.
const TopicBans = "bans"

// BanViews answers "which bans are in force here" from a per-tenant
// in-memory set, reloaded when a ban of that tenant changes anywhere.
type BanViews struct {
	store banStore
	sets  *cache.Cache[int64, *banSet] // 0 = platform-wide
	now   func() time.Time
}

const maxCachedBanSets = 50_000

func newBanViews(store banStore, changes Changes, now func() time.Time) *BanViews {
	v := &BanViews{store: store, now: now,
		sets: cache.New(cache.Notified[int64](maxCachedBanSets, changes.Healthy, now), store.live)}
	changes.Subscribe(TopicBans, func(payload string) {
		if id, err := strconv.ParseInt(payload, 10, 64); err == nil {
			v.sets.Invalidate(id)
		}
	})
	changes.OnReset(v.sets.Flush)
	return v
}

// View returns the bans that apply in a tenant now: the platform's and the
// tenant's own.
func (v *BanViews) View(ctx context.Context, tenantID int64) (BanView, error) {
	view := BanView{now: v.now()}
	for i, id := range []int64{0, tenantID} {
		s, err := v.sets.Get(ctx, id)
		if err != nil {
			return BanView{}, err
		}
		view.sets[i] = s
	}
	return view, nil
}

// NewBanViews returns the ban views of every tenant, subscribed to the
// change feed.
func NewBanViews(db *pgxpool.Pool, changes Changes) *BanViews {
	return newBanViews(banStore{db: db}, changes, time.Now)
}
