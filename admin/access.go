package admin

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/tenant"
)

// ErrForbidden means the caller's roles do not allow the operation.
var ErrForbidden = errors.New("forbidden")

// TenantGetter reads a tenant row by slug (tenant.Store).
type TenantGetter interface {
	Get(ctx context.Context, slug string) (tenant.Tenant, error)
}

// TenantAccess decides whether sub may do act on obj in the tenant named
// by slug, or in the platform domain when slug is "". Both the management
// API and the console authorise their routes with it. It returns the
// tenant (nil for the platform domain), ErrForbidden, or
// tenant.ErrNotFound — the last only to callers who could see every
// tenant, so tenant-scoped callers cannot probe for other tenants' slugs.
func (a *Authorizer) TenantAccess(ctx context.Context, tenants TenantGetter, sub, slug, obj, act string) (*tenant.Tenant, error) {
	if slug == "" {
		return nil, a.require(sub, PlatformDomain, obj, act)
	}
	// The plain row, not the directory's runtime view: a tenant whose
	// secrets cannot be opened must still be manageable.
	t, err := tenant.Tenant{}, tenant.ErrNotFound
	if tenant.ValidSlug(slug) {
		t, err = tenants.Get(ctx, slug)
	}
	if errors.Is(err, tenant.ErrNotFound) {
		if a.require(sub, PlatformDomain, obj, act) == nil {
			return nil, err
		}
		return nil, ErrForbidden
	}
	if err != nil {
		return nil, err
	}
	if err := a.require(sub, TenantDomain(t.ID), obj, act); err != nil {
		return nil, err
	}
	return &t, nil
}

// require is Allowed as an error: ErrForbidden, or the policy's failure.
func (a *Authorizer) require(sub, dom, obj, act string) error {
	ok, err := a.Allowed(sub, dom, obj, act)
	if err != nil {
		return err
	}
	if !ok {
		return ErrForbidden
	}
	return nil
}

// ScopeAccess decides whether sub may do act on obj in the domain a
// request names by a tenant slug in its body or query ("" is the
// platform), for resources that are not under a tenant's URL: API keys
// and the audit log. It is TenantAccess, except that an unknown slug is a
// field error (tenant) for callers who could see every tenant.
func (a *Authorizer) ScopeAccess(ctx context.Context, tenants TenantGetter, sub, slug, obj, act string) (*tenant.Tenant, error) {
	t, err := a.TenantAccess(ctx, tenants, sub, slug, obj, act)
	if errors.Is(err, tenant.ErrNotFound) {
		return nil, tenant.Invalid("tenant", "no tenant has this slug")
	}
	return t, err
}

// APIKeyAccess returns the live key id if sub may do act on it, in the
// domain the key acts in. A caller who could not see every key learns
// only ErrForbidden about keys that do not exist.
func (a *Authorizer) APIKeyAccess(ctx context.Context, keys *APIKeys, sub string, id uuid.UUID, act string) (APIKey, error) {
	k, err := keys.Get(ctx, id)
	if errors.Is(err, tenant.ErrNotFound) && a.require(sub, PlatformDomain, ObjAPIKeys, act) != nil {
		return APIKey{}, ErrForbidden
	}
	if err != nil {
		return APIKey{}, err
	}
	dom := PlatformDomain
	if k.TenantID != nil {
		dom = TenantDomain(*k.TenantID)
	}
	if err := a.require(sub, dom, ObjAPIKeys, act); err != nil {
		return APIKey{}, err
	}
	return k, nil
}
