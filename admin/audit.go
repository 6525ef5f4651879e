package admin

import (
	"context"
	"encoding/json"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/auth"
)

// Actor is who made a change.
type Actor struct {
	Type      string // apikey, admin, cli, system
	ID        string
	Name      string
	Role      string
	IP        netip.Addr
	RequestID string
}

// Change is one field's old and new value in an audit entry.
type Change struct {
	From any `json:"from"`
	To   any `json:"to"`
}

// Masked stands in for every secret value in an audit entry.
const Masked = "********"

// Event is one change to record.
type Event struct {
	Action     string // e.g. tenant.update
	TenantID   *int64
	TenantSlug string
	TargetType string
	TargetID   string
	Diff       map[string]Change
}

// AuditRecord is a stored audit entry.
type AuditRecord struct {
	ID         int64             `json:"id"`
	At         time.Time         `json:"at"`
	ActorType  string            `json:"actor_type"`
	ActorID    string            `json:"actor_id"`
	ActorName  string            `json:"actor_name"`
	ActorRole  string            `json:"actor_role"`
	Action     string            `json:"action"`
	Tenant     *string           `json:"tenant"`
	TargetType string            `json:"target_type"`
	TargetID   string            `json:"target_id"`
	IP         *string           `json:"ip"`
	RequestID  string            `json:"request_id"`
	Diff       map[string]Change `json:"diff"`
}

// Audit is the append-only audit log.
type Audit struct {
	db *pgxpool.Pool
}

// NewAudit returns the audit log store.
func NewAudit(db *pgxpool.Pool) *Audit { return &Audit{db: db} }

// Record appends one entry.
func (a *Audit) Record(ctx context.Context, actor Actor, e Event) error {
	diff := e.Diff
	if diff == nil {
		diff = map[string]Change{}
	}
	body, err := json.Marshal(diff)
	if err != nil {
		return err
	}
	var ip any
	if actor.IP.IsValid() {
		ip = actor.IP.Unmap().String()
	}
	_, err = a.db.Exec(context.WithoutCancel(ctx), `INSERT INTO audit_log
		(actor_type, actor_id, actor_name, actor_role, action, tenant_id, tenant_slug, target_type, target_id, ip, request_id, diff)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), $8, $9, $10, $11, $12)`,
		actor.Type, actor.ID, actor.Name, actor.Role, e.Action, e.TenantID, e.TenantSlug, e.TargetType, e.TargetID,
		ip, actor.RequestID, body)
	return err
}

// AuditFilter selects audit entries; zero fields match everything.
type AuditFilter struct {
	TenantID *int64
	ActorID  string
	Action   string // exact, or a prefix ending in "." (e.g. "tenant.")
	Since    time.Time
	Until    time.Time
	Before   int64 // keyset cursor: entries with a smaller id
	Limit    int
}

// List returns entries newest first.
func (a *Audit) List(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	args := []any{f.Limit}
	var where []string
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.TenantID != nil {
		add("tenant_id = ?", *f.TenantID)
	}
	if f.ActorID != "" {
		add("actor_id = ?", f.ActorID)
	}
	if strings.HasSuffix(f.Action, ".") {
		add("starts_with(action, ?)", f.Action)
	} else if f.Action != "" {
		add("action = ?", f.Action)
	}
	if !f.Since.IsZero() {
		add("at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		add("at < ?", f.Until)
	}
	if f.Before > 0 {
		add("id < ?", f.Before)
	}
	q := `SELECT id, at, actor_type, actor_id, actor_name, actor_role, action, tenant_slug, target_type, target_id,
		host(ip), request_id, diff FROM audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := a.db.Query(ctx, q+" ORDER BY id DESC LIMIT $1", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []AuditRecord{}
	for rows.Next() {
		var r AuditRecord
		var diff []byte
		if err := rows.Scan(&r.ID, &r.At, &r.ActorType, &r.ActorID, &r.ActorName, &r.ActorRole, &r.Action, &r.Tenant,
			&r.TargetType, &r.TargetID, &r.IP, &r.RequestID, &diff); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(diff, &r.Diff); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Diff compares two flat views of a resource and returns the changed
// fields; fields named in secret are recorded as changed without values.
func Diff(before, after map[string]any, secret ...string) map[string]Change {
	out := map[string]Change{}
	isSecret := func(k string) bool {
		for _, s := range secret {
			if s == k {
				return true
			}
		}
		return false
	}
	for k, to := range after {
		from, had := before[k]
		if had && reflect.DeepEqual(from, to) {
			continue
		}
		if isSecret(k) {
			out[k] = Change{From: Masked, To: Masked}
			continue
		}
		if !had {
			from = nil
		}
		out[k] = Change{From: from, To: to}
	}
	for k, from := range before {
		if _, ok := after[k]; !ok {
			if isSecret(k) {
				from = Masked
			}
			out[k] = Change{From: from, To: nil}
		}
	}
	return out
}

// BanEvent is the audit entry of a ban created or lifted, by whoever did it.
func BanEvent(action, tenantSlug string, b auth.Ban) Event {
	view := map[string]any{"kind": b.Kind, "target": b.Target, "reason": b.Reason, "expires_at": b.ExpiresAt}
	e := Event{Action: action, TenantID: b.TenantID, TenantSlug: tenantSlug, TargetType: "ban", TargetID: b.ID.String()}
	if action == "ban.delete" {
		e.Diff = Diff(view, nil)
	} else {
		e.Diff = Diff(nil, view)
	}
	return e
}
