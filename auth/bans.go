package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TopicBans is published with a tenant id ("0" for platform-wide bans)
// whenever that tenant's bans change.
const TopicBans = "bans"

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

var errAlreadyBanned = errors.New("already banned")

// Bans stores bans and answers "is this subject banned" from a per-tenant
// in-memory set, reloaded when a ban of that tenant changes anywhere.
type Bans struct {
	db       *pgxpool.Pool
	log      *slog.Logger
	changes  Changes
	sessions *Sessions
	now      func() time.Time
	maxAge   time.Duration

	mu   sync.Mutex
	gen  uint64
	sets map[int64]*banSet // 0 = platform-wide
}

type banEntry struct {
	until time.Time // zero: permanent
}

type ipBan struct {
	prefix netip.Prefix
	banEntry
}

type banSet struct {
	users  map[string]banEntry // user id; openid bans resolve to their user too
	openid map[string]banEntry
	ips    []ipBan
	at     time.Time
}

func newBans(db *pgxpool.Pool, changes Changes, sessions *Sessions, log *slog.Logger) *Bans {
	b := &Bans{db: db, log: log, changes: changes, sessions: sessions, now: time.Now, maxAge: 30 * time.Second, sets: map[int64]*banSet{}}
	changes.Subscribe(TopicBans, func(payload string) {
		if id, err := strconv.ParseInt(payload, 10, 64); err == nil {
			b.drop(id)
		}
	})
	changes.OnReset(b.flush)
	return b
}

func (b *Bans) drop(tenantID int64) {
	b.mu.Lock()
	b.gen++
	delete(b.sets, tenantID)
	b.mu.Unlock()
}

func (b *Bans) flush() {
	b.mu.Lock()
	b.gen++
	b.sets = map[int64]*banSet{}
	b.mu.Unlock()
}

// set returns the live bans of a tenant (0: platform-wide), from the cache
// while the change feed is healthy.
func (b *Bans) set(ctx context.Context, tenantID int64) (*banSet, error) {
	healthy := b.changes.Healthy()
	b.mu.Lock()
	s, ok := b.sets[tenantID]
	gen := b.gen
	b.mu.Unlock()
	if ok && healthy && b.now().Sub(s.at) < b.maxAge {
		return s, nil
	}
	s, err := b.load(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	if gen == b.gen && healthy {
		b.sets[tenantID] = s
	}
	b.mu.Unlock()
	return s, nil
}

func (b *Bans) load(ctx context.Context, tenantID int64) (*banSet, error) {
	s := &banSet{users: map[string]banEntry{}, openid: map[string]banEntry{}, at: b.now()}
	rows, err := b.db.Query(ctx, `
		SELECT b.kind, b.target, b.expires_at, u.id
		FROM bans b LEFT JOIN users u ON b.kind = 'openid' AND u.tenant_id = b.tenant_id AND u.openid = b.target
		WHERE `+inScope("b.tenant_id", "$1", tenantID)+` AND (b.expires_at IS NULL OR b.expires_at > now())`, nullTenant(tenantID))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var kind, target string
		var expires *time.Time
		var uid *uuid.UUID
		if err := rows.Scan(&kind, &target, &expires, &uid); err != nil {
			return nil, err
		}
		e := banEntry{}
		if expires != nil {
			e.until = *expires
		}
		switch kind {
		case BanUser:
			s.users[target] = longer(s.users, target, e)
		case BanOpenID:
			s.openid[target] = longer(s.openid, target, e)
			if uid != nil {
				s.users[uid.String()] = longer(s.users, uid.String(), e)
			}
		case BanIP:
			if p, err := netip.ParsePrefix(target); err == nil {
				s.ips = append(s.ips, ipBan{prefix: p, banEntry: e})
			}
		}
	}
	return s, rows.Err()
}

// longer returns whichever lasts longer of e and the entry m has for key.
func longer(m map[string]banEntry, key string, e banEntry) banEntry {
	cur, ok := m[key]
	if !ok || e.until.IsZero() || (!cur.until.IsZero() && e.until.After(cur.until)) {
		return e
	}
	return cur
}

// inScope is the SQL condition "col belongs to this tenant's bans" (tenant
// 0: the platform's), written so an index on col can serve it; param is
// the placeholder bound to nullTenant(tenantID).
func inScope(col, param string, tenantID int64) string {
	if tenantID == 0 {
		return col + " IS NULL AND " + param + "::bigint IS NULL"
	}
	return col + " = " + param
}

func nullTenant(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// BanView is the bans that apply in one tenant at one moment: the
// platform's and the tenant's. Making one may read Postgres; checking one
// never does, so a check inside a transaction needs no second connection.
type BanView struct {
	sets [2]*banSet
	now  time.Time
}

// View loads the bans that apply in a tenant.
func (b *Bans) View(ctx context.Context, tenantID int64) (BanView, error) {
	v := BanView{now: b.now()}
	for i, id := range []int64{0, tenantID} {
		s, err := b.set(ctx, id)
		if err != nil {
			return BanView{}, err
		}
		v.sets[i] = s
	}
	return v, nil
}

// Check refuses a subject if any live ban matches its user id, openid or
// IP. Empty arguments are not checked.
func (v BanView) Check(userID, openID string, ip netip.Addr) error {
	var hit *BannedError
	consider := func(e banEntry, ok bool) {
		if !ok || (!e.until.IsZero() && !v.now.Before(e.until)) {
			return
		}
		if hit == nil || (!hit.Until.IsZero() && (e.until.IsZero() || e.until.After(hit.Until))) {
			hit = &BannedError{Until: e.until}
		}
	}
	ip = ip.Unmap()
	for _, s := range v.sets {
		if userID != "" {
			e, ok := s.users[userID]
			consider(e, ok)
		}
		if openID != "" {
			e, ok := s.openid[openID]
			consider(e, ok)
		}
		if ip.IsValid() {
			for _, ib := range s.ips {
				consider(ib.banEntry, ib.prefix.Contains(ip))
			}
		}
	}
	if hit != nil {
		return hit
	}
	return nil
}

// Check is View followed by BanView.Check.
func (b *Bans) Check(ctx context.Context, tenantID int64, userID, openID string, ip netip.Addr) error {
	v, err := b.View(ctx, tenantID)
	if err != nil {
		return err
	}
	return v.Check(userID, openID, ip)
}

// Create stores a ban for a tenant (tenantID 0: a platform-wide IP ban),
// revokes the sessions it covers and tells every instance.
func (b *Bans) Create(ctx context.Context, tenantID int64, n NewBan) (Ban, error) {
	kind, target, err := b.validate(ctx, tenantID, n)
	if err != nil {
		return Ban{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Ban{}, err
	}
	ban := Ban{ID: id, Kind: kind, Target: target, Reason: strings.TrimSpace(n.Reason), ExpiresAt: n.ExpiresAt, CreatedBy: n.CreatedBy}
	if tenantID != 0 {
		ban.TenantID = &tenantID
	}
	err = pgx.BeginFunc(ctx, b.db, func(tx pgx.Tx) error {
		if n.UnlessBanned {
			// Serialise racing automatic bans of one target: the first
			// inserts, the rest see its ban and stop.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
				fmt.Sprintf("ban:%d:%s:%s", tenantID, kind, target)); err != nil {
				return err
			}
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM bans WHERE `+inScope("tenant_id", "$1", tenantID)+`
				AND kind = $2 AND target = $3 AND (expires_at IS NULL OR expires_at > now()))`,
				ban.TenantID, kind, target).Scan(&exists); err != nil {
				return err
			}
			if exists {
				return errAlreadyBanned
			}
		}
		return tx.QueryRow(ctx, `INSERT INTO bans (id, tenant_id, kind, target, reason, expires_at, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at`,
			id, ban.TenantID, kind, target, ban.Reason, n.ExpiresAt, n.CreatedBy).Scan(&ban.CreatedAt)
	})
	if err != nil {
		return Ban{}, err
	}
	b.changed(ctx, tenantID)
	// The ban stands even if revoking fails: every request checks bans too.
	if err := b.revokeCovered(ctx, tenantID, kind, target); err != nil {
		b.log.ErrorContext(ctx, "ban created, but revoking the sessions it covers failed", "ban", ban.ID, "err", err)
	}
	return ban, nil
}

func (b *Bans) validate(ctx context.Context, tenantID int64, n NewBan) (kind, target string, err error) {
	set := 0
	for _, v := range []string{n.UserID, n.OpenID, n.IP} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return "", "", &InvalidFieldError{Field: "user_id", Message: "exactly one of user_id, openid and ip is required"}
	}
	if r := strings.TrimSpace(n.Reason); r == "" || len(r) > 500 {
		return "", "", &InvalidFieldError{Field: "reason", Message: "is required, at most 500 characters"}
	}
	if n.ExpiresAt != nil && !n.ExpiresAt.After(b.now()) {
		return "", "", &InvalidFieldError{Field: "expires_at", Message: "must be in the future"}
	}
	switch {
	case n.IP != "":
		p, err := parseIPOrPrefix(n.IP)
		if err != nil {
			return "", "", &InvalidFieldError{Field: "ip", Message: "must be an IP address or CIDR"}
		}
		return BanIP, p.String(), nil
	case tenantID == 0:
		return "", "", &InvalidFieldError{Field: "ip", Message: "platform-wide bans target IPs only"}
	case n.OpenID != "":
		if len(n.OpenID) > 128 || strings.ContainsAny(n.OpenID, " \t\r\n") {
			return "", "", &InvalidFieldError{Field: "openid", Message: "must be an openid"}
		}
		return BanOpenID, n.OpenID, nil
	default:
		uid, err := uuid.Parse(n.UserID)
		if err != nil {
			return "", "", &InvalidFieldError{Field: "user_id", Message: "no user of this tenant has this id"}
		}
		var exists bool
		if err := b.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND id = $2)`, tenantID, uid).Scan(&exists); err != nil {
			return "", "", err
		}
		if !exists {
			return "", "", &InvalidFieldError{Field: "user_id", Message: "no user of this tenant has this id"}
		}
		return BanUser, uid.String(), nil
	}
}

func parseIPOrPrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// revokeCovered ends the sessions a new ban covers, so tokens already
// issued stop working even after the ban expires.
func (b *Bans) revokeCovered(ctx context.Context, tenantID int64, kind, target string) error {
	switch kind {
	case BanUser, BanOpenID:
		var uid uuid.UUID
		q := `SELECT id FROM users WHERE tenant_id = $1 AND id = $2::uuid`
		if kind == BanOpenID {
			q = `SELECT id FROM users WHERE tenant_id = $1 AND openid = $2`
		}
		err := b.db.QueryRow(ctx, q, tenantID, target).Scan(&uid)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		_, err = b.sessions.RevokeUser(ctx, tenantID, uid, "banned")
		return err
	default:
		tag, err := b.db.Exec(ctx, `UPDATE sessions SET revoked_at = now(), revoke_reason = 'banned'
			WHERE ($1::bigint IS NULL OR tenant_id = $1) AND ip <<= $2::cidr AND revoked_at IS NULL`,
			nullTenant(tenantID), target)
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			// A range may cover any number of sessions: one notice makes
			// every instance forget its cached session answers.
			b.sessions.notifyFlush(ctx)
		}
		return nil
	}
}

// Delete lifts a ban.
func (b *Bans) Delete(ctx context.Context, tenantID int64, id uuid.UUID) (Ban, error) {
	ban, err := scanBan(b.db.QueryRow(ctx, `DELETE FROM bans WHERE id = $1 AND `+inScope("tenant_id", "$2", tenantID)+`
		RETURNING `+banColumns, id, nullTenant(tenantID)))
	if err != nil {
		return Ban{}, err
	}
	b.changed(ctx, tenantID)
	return ban, nil
}

// List returns a tenant's bans (0: platform-wide), newest first, before
// the cursor id; expired bans are listed too, until pruned.
func (b *Bans) List(ctx context.Context, tenantID int64, limit int, before *uuid.UUID) ([]Ban, error) {
	rows, err := b.db.Query(ctx, `SELECT `+banColumns+` FROM bans
		WHERE `+inScope("tenant_id", "$1", tenantID)+` AND ($3::uuid IS NULL OR id < $3)
		ORDER BY id DESC LIMIT $2`, nullTenant(tenantID), limit, before)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Ban{}
	for rows.Next() {
		ban, err := scanBan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, ban)
	}
	return out, rows.Err()
}

const banColumns = `id, tenant_id, kind, target, reason, expires_at, created_at, created_by`

// ErrBanNotFound means no ban has that id in that tenant.
var ErrBanNotFound = errors.New("ban not found")

func scanBan(row pgx.Row) (Ban, error) {
	var b Ban
	err := row.Scan(&b.ID, &b.TenantID, &b.Kind, &b.Target, &b.Reason, &b.ExpiresAt, &b.CreatedAt, &b.CreatedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return b, ErrBanNotFound
	}
	return b, err
}

func (b *Bans) changed(ctx context.Context, tenantID int64) {
	b.drop(tenantID)
	payload := strconv.FormatInt(tenantID, 10)
	_ = b.changes.Publish(context.WithoutCancel(ctx), TopicBans, payload)
}
