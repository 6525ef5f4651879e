package auth

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/tenant/cache"
)

// TopicUserChanged tells every instance that a user's row changed (a
// profile edit, a phone number, a status); the payload is
// "tenantID:userID".
const TopicUserChanged = "user_changed"

// Profiles serves GET /me's user from a local cache, so a client calling
// it repeatedly costs Postgres one read a second at most. Edits made
// through the API or the console evict it on every instance (a notice);
// what changes without a notice, a login's last_login_at on another
// instance, is seen within cache.Propagation, the contract's bound.
type Profiles struct {
	db     *pgxpool.Pool
	pub    Publisher
	cached *cache.Cache[userKey, User]
}

const maxCachedProfiles = 100_000

// NewProfiles returns the cache and subscribes it to the change feed.
func NewProfiles(db *pgxpool.Pool, changes Changes) *Profiles {
	return newProfiles(db, changes, time.Now)
}

func newProfiles(db *pgxpool.Pool, changes Changes, now func() time.Time) *Profiles {
	p := &Profiles{db: db, pub: changes}
	p.cached = cache.New(cache.Options[userKey]{
		MaxEntries: maxCachedProfiles, MaxAge: cache.Propagation, StaleFor: cache.Propagation,
		Healthy: changes.Healthy, Now: now,
	}, p.load)
	for _, topic := range []string{TopicUserChanged, TopicUserRevoked} {
		changes.Subscribe(topic, func(payload string) {
			if k, ok := parseUserKey(payload); ok {
				p.cached.Invalidate(k)
			}
		})
	}
	changes.OnReset(p.cached.Flush)
	return p
}

func (p *Profiles) load(ctx context.Context, k userKey) (User, error) {
	return ScanUser(p.db.QueryRow(ctx, `SELECT `+UserColumns+` FROM users WHERE tenant_id = $1 AND id = $2`, k.tenant, k.user))
}

// Get returns a user as GET /me shows it.
func (p *Profiles) Get(ctx context.Context, tenantID int64, userID uuid.UUID) (User, error) {
	return p.cached.Get(ctx, userKey{tenantID, userID})
}

// Forget drops the user here at once (this instance wrote the row).
func (p *Profiles) Forget(tenantID int64, userID uuid.UUID) {
	p.cached.Invalidate(userKey{tenantID, userID})
}

// Changed drops the user here and tells every other instance to.
func (p *Profiles) Changed(ctx context.Context, tenantID int64, userID uuid.UUID) {
	p.Forget(tenantID, userID)
	_ = p.pub.Publish(context.WithoutCancel(ctx), TopicUserChanged, userKey{tenantID, userID}.String())
}
