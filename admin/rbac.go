package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/tenant/cache"
)

// TopicPolicy is published after any change to roles, keys or permissions.
const TopicPolicy = "policy"

// Objects and actions of the permission model.
const (
	ObjTenants  = "tenants"
	ObjKeys     = "keys"
	ObjUsers    = "users"
	ObjSessions = "sessions"
	ObjBans     = "bans"
	ObjAPIKeys  = "apikeys"
	ObjAudit    = "audit"
	ObjAdmins   = "admins"

	ActRead  = "read"
	ActWrite = "write"
)

// PlatformDomain is the domain of platform-wide resources (the tenant list,
// admin accounts); only platform_admin is bound there.
const PlatformDomain = "*"

// TenantDomain names the domain of one tenant. It uses the tenant's id, not
// its slug, so a binding can never carry over to a later tenant that
// reuses a deleted tenant's slug.
func TenantDomain(tenantID int64) string { return fmt.Sprintf("tenant:%d", tenantID) }

// Subject names for Casbin.
func APIKeySubject(id string) string { return "apikey:" + id }
func AdminSubject(id string) string  { return "admin:" + id }

// rbacModel: role permissions (p) are domain-free; role bindings (g) carry
// the domain. A binding in PlatformDomain applies in every domain.
const rbacModel = `
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = (g(r.sub, p.sub, r.dom) || g(r.sub, p.sub, "*")) && (p.obj == "*" || r.obj == p.obj) && (p.act == "*" || r.act == p.act)
`

// policyAdapter is Casbin's persist.Adapter on Postgres. Permission rules
// live in casbin_rule; role bindings are read from api_keys and
// admin_roles, so each binding has exactly one home and a revoked key or
// a disabled admin drops out of the policy by itself.
type policyAdapter struct {
	db *pgxpool.Pool
}

func (a *policyAdapter) LoadPolicy(m model.Model) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := a.db.Query(ctx, `
		SELECT ptype, v0, v1, v2 FROM casbin_rule
		UNION ALL
		SELECT 'g', 'apikey:' || id, role, COALESCE('tenant:' || tenant_id, '*')
			FROM api_keys WHERE revoked_at IS NULL
		UNION ALL
		SELECT 'g', 'admin:' || r.admin_id, r.role, COALESCE('tenant:' || r.tenant_id, '*')
			FROM admin_roles r JOIN admins a ON a.id = r.admin_id WHERE a.disabled_at IS NULL`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var ptype, v0, v1, v2 string
		if err := rows.Scan(&ptype, &v0, &v1, &v2); err != nil {
			return err
		}
		sec := ptype[:1]
		if err := m.AddPolicy(sec, ptype, []string{v0, v1, v2}); err != nil {
			return err
		}
	}
	return rows.Err()
}

var errReadOnlyPolicy = errors.New("policy changes go through the admin stores, not the enforcer")

func (a *policyAdapter) SavePolicy(model.Model) error                { return errReadOnlyPolicy }
func (a *policyAdapter) AddPolicy(string, string, []string) error    { return errReadOnlyPolicy }
func (a *policyAdapter) RemovePolicy(string, string, []string) error { return errReadOnlyPolicy }
func (a *policyAdapter) RemoveFilteredPolicy(string, string, int, ...string) error {
	return errReadOnlyPolicy
}

// Changes is the cross-instance change feed (tenant/changes.Bus).
type Changes interface {
	Publish(ctx context.Context, topic, payload string) error
	Subscribe(topic string, fn func(payload string))
	OnReset(fn func())
	Healthy() bool
}

// Authorizer answers "may this subject do this in this domain" from the
// Casbin policy. A policy change anywhere reloads the policy on every
// instance (through the change feed, and every second while the feed is
// down); decisions are cached until the next reload, which swaps the
// policy in atomically and then flushes them (a decision still being made
// on the old policy is not stored).
type Authorizer struct {
	adapter *policyAdapter
	changes Changes
	log     *slog.Logger

	cur       atomic.Pointer[policy]
	decisions *cache.Cache[decision, bool]
	reload    chan struct{}
	reloadMu  sync.Mutex
}

type decision struct{ sub, dom, obj, act string }

type policy struct {
	enf      *casbin.Enforcer
	subjects map[string]bool // every subject with a role binding
}

const maxCachedDecisions = 200_000

// NewAuthorizer loads the policy; Run keeps it current.
func NewAuthorizer(db *pgxpool.Pool, changes Changes, log *slog.Logger) (*Authorizer, error) {
	a := &Authorizer{adapter: &policyAdapter{db: db}, changes: changes, log: log, reload: make(chan struct{}, 1)}
	a.decisions = cache.New(cache.Options[decision]{MaxEntries: maxCachedDecisions},
		func(_ context.Context, d decision) (bool, error) {
			return a.cur.Load().enf.Enforce(d.sub, d.dom, d.obj, d.act)
		})
	if err := a.Reload(); err != nil {
		return nil, err
	}
	changes.Subscribe(TopicPolicy, func(string) { a.requestReload() })
	changes.OnReset(a.requestReload)
	return a, nil
}

// Reload reads the whole policy and swaps it in.
func (a *Authorizer) Reload() error {
	m, err := model.NewModelFromString(rbacModel)
	if err != nil {
		return err
	}
	enf, err := casbin.NewEnforcer(m, a.adapter)
	if err != nil {
		return fmt.Errorf("load policy: %w", err)
	}
	enf.EnableAutoSave(false)
	bindings, err := enf.GetGroupingPolicy()
	if err != nil {
		return err
	}
	subjects := make(map[string]bool, len(bindings))
	for _, g := range bindings {
		subjects[g[0]] = true
	}
	a.cur.Store(&policy{enf: enf, subjects: subjects})
	a.decisions.Flush()
	return nil
}

// Known makes sure sub is in the policy when it was just created on
// another path (a CLI on another host whose notice was lost): an
// authenticated subject the policy has never seen triggers one reload.
func (a *Authorizer) Known(sub string) {
	if a.cur.Load().subjects[sub] {
		return
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.cur.Load().subjects[sub] {
		return
	}
	if err := a.Reload(); err != nil {
		a.log.Warn("policy reload failed", "err", err)
	}
}

func (a *Authorizer) requestReload() {
	select {
	case a.reload <- struct{}{}:
	default:
	}
}

// Run reloads the policy on notices until ctx ends.
func (a *Authorizer) Run(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.reload:
		case <-tick.C:
			if a.changes.Healthy() {
				continue
			}
		}
		if err := a.Reload(); err != nil && ctx.Err() == nil {
			a.log.Warn("policy reload failed; keeping the previous policy", "err", err)
		}
	}
}

// Changed tells every instance to reload the policy.
func (a *Authorizer) Changed(ctx context.Context) {
	_ = a.Reload()
	_ = a.changes.Publish(context.WithoutCancel(ctx), TopicPolicy, "")
}

// Allowed reports whether sub may do act on obj in dom.
func (a *Authorizer) Allowed(sub, dom, obj, act string) (bool, error) {
	return a.decisions.Get(context.Background(), decision{sub, dom, obj, act})
}
