package auth

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/tenant"
)

// Ban kinds.
const (
	BanUser   = "user"
	BanOpenID = "openid"
	BanIP     = "ip"
)

// Ban refuses one user, openid or IP range.
type Ban struct {
	ID        uuid.UUID  `json:"id"`
	Kind      string     `json:"kind"`
	Target    string     `json:"target"`
	Reason    string     `json:"reason"`
	ExpiresAt *time.Time `json:"expires_at"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	TenantID  *int64     `json:"-"`
}

// NewBan is a ban to create: exactly one of UserID, OpenID and IP.
type NewBan struct {
	UserID    string
	OpenID    string
	IP        string
	Reason    string
	ExpiresAt *time.Time
	CreatedBy string
	// UnlessBanned makes Create a no-op returning errAlreadyBanned when a
	// live ban of the same target exists (automatic bans race).
	UnlessBanned bool
}

// ErrBanNotFound means no ban has that id in that tenant.
var ErrBanNotFound = fmt.Errorf("ban %w", tenant.ErrNotFound)

// Bans is the operators' side of bans, as the management API, the console
// and the automatic bans use it: create, lift, list. Every change reaches
// every instance's BanViews through the change feed, and a new ban ends
// the sessions it covers.
type Bans struct {
	store    banStore
	sessions *Sessions
	pub      Publisher
	log      *slog.Logger
	now      func() time.Time
}

// Create stores a ban for a tenant (tenantID 0: a platform-wide IP ban),
// revokes the sessions it covers and tells every instance.
func (b *Bans) Create(ctx context.Context, tenantID int64, n NewBan) (Ban, error) {
	kind, target, err := n.target(tenantID, b.now())
	if err != nil {
		return Ban{}, err
	}
	if kind == BanUser {
		exists, err := b.store.userExists(ctx, tenantID, target)
		if err != nil {
			return Ban{}, err
		}
		if !exists {
			return Ban{}, errNoSuchBanUser
		}
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Ban{}, err
	}
	ban := Ban{ID: id, Kind: kind, Target: target, Reason: strings.TrimSpace(n.Reason), ExpiresAt: n.ExpiresAt, CreatedBy: n.CreatedBy}
	if tenantID != 0 {
		ban.TenantID = &tenantID
	}
	if err := b.store.insert(ctx, &ban, n.UnlessBanned); err != nil {
		return Ban{}, err
	}
	b.changed(ctx, tenantID)
	// The ban stands even if revoking fails: every request checks bans too.
	if err := b.revokeCovered(ctx, tenantID, kind, target); err != nil {
		b.log.ErrorContext(ctx, "ban created, but revoking the sessions it covers failed", "ban", ban.ID, "err", err)
	}
	return ban, nil
}

// revokeCovered ends the sessions a new ban covers, so tokens already
// issued stop working even after the ban expires.
func (b *Bans) revokeCovered(ctx context.Context, tenantID int64, kind, target string) error {
	if kind == BanIP {
		n, err := b.store.revokeInRange(ctx, tenantID, target)
		if err == nil && n > 0 {
			// A range may cover any number of sessions: one notice makes
			// every instance forget its cached session answers.
			b.sessions.notifyFlush(ctx)
		}
		return err
	}
	uid, ok, err := b.store.coveredUser(ctx, tenantID, kind, target)
	if err != nil || !ok {
		return err
	}
	_, err = b.sessions.RevokeUser(ctx, tenantID, uid, "banned")
	return err
}

// Delete lifts a ban.
func (b *Bans) Delete(ctx context.Context, tenantID int64, id uuid.UUID) (Ban, error) {
	ban, err := b.store.delete(ctx, tenantID, id)
	if err != nil {
		return Ban{}, err
	}
	b.changed(ctx, tenantID)
	return ban, nil
}

// List returns a tenant's bans (0: platform-wide), newest first, before
// the cursor id; expired bans are listed too, until pruned.
func (b *Bans) List(ctx context.Context, tenantID int64, limit int, before *uuid.UUID) ([]Ban, error) {
	return b.store.list(ctx, tenantID, "", limit, before)
}

// ListKind is List of the bans of one kind (BanUser, BanOpenID, BanIP).
func (b *Bans) ListKind(ctx context.Context, tenantID int64, kind string, limit int, before *uuid.UUID) ([]Ban, error) {
	switch kind {
	case BanUser, BanOpenID, BanIP:
	default:
		return nil, tenant.Invalid("kind", "must be user, openid or ip")
	}
	return b.store.list(ctx, tenantID, kind, limit, before)
}

// OfUser returns the bans in force on a user of a tenant: by user id or
// by the user's openid.
func (b *Bans) OfUser(ctx context.Context, tenantID int64, userID uuid.UUID, openID string) ([]Ban, error) {
	return b.store.ofUser(ctx, tenantID, userID, openID)
}

// LiftUser lifts every ban in force on a user (by user id or openid) and
// returns the bans lifted; none is ErrBanNotFound.
func (b *Bans) LiftUser(ctx context.Context, tenantID int64, userID uuid.UUID, openID string) ([]Ban, error) {
	lifted, err := b.store.deleteOfUser(ctx, tenantID, userID, openID)
	if err != nil {
		return nil, err
	}
	if len(lifted) == 0 {
		return nil, ErrBanNotFound
	}
	b.changed(ctx, tenantID)
	return lifted, nil
}

func (b *Bans) changed(ctx context.Context, tenantID int64) {
	_ = b.pub.Publish(context.WithoutCancel(ctx), TopicBans, strconv.FormatInt(tenantID, 10))
}

// NewBans returns the operators' ban operations; a new ban ends the
// sessions it covers through sessions.
func NewBans(db *pgxpool.Pool, pub Publisher, sessions *Sessions, log *slog.Logger) *Bans {
	return &Bans{store: banStore{db: db}, sessions: sessions, pub: pub, log: log, now: time.Now}
}
