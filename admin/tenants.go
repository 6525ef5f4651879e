package admin

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/miniauth/miniauth/tenant"
)

// TenantView is a tenant as the management surfaces show it: the API's
// JSON shape, and the flat view the audit log diffs. The AppSecret is
// never part of it; WeChatSecretSet says one is stored (always true).
type TenantView struct {
	Slug              string            `json:"slug"`
	Name              string            `json:"name"`
	Status            tenant.Status     `json:"status"`
	WeChatAppID       string            `json:"wechat_appid"`
	WeChatSecretSet   bool              `json:"wechat_secret_set"`
	SigningAlg        string            `json:"signing_alg"`
	AccessTTLSeconds  int               `json:"access_ttl_seconds"`
	RefreshTTLSeconds int               `json:"refresh_ttl_seconds"`
	RateLimits        map[string]string `json:"rate_limits"`
	UnionIDGroup      *string           `json:"unionid_group"`
	ShowLinkedTenants bool              `json:"show_linked_tenants"`
	QRLoginPage       string            `json:"qr_login_page"`
	CreatedAt         time.Time         `json:"created_at"`
	UpdatedAt         time.Time         `json:"updated_at"`
}

// ViewTenant is t's view, its rate limits filled in from the server's
// defaults where it has none of its own.
func ViewTenant(t tenant.Tenant, defaults map[string]string) TenantView {
	var group *string
	if t.UnionIDGroup != "" {
		group = &t.UnionIDGroup
	}
	return TenantView{
		UnionIDGroup: group, ShowLinkedTenants: t.ShowLinkedTenants, QRLoginPage: t.QRLoginPage,
		Slug: t.Slug, Name: t.Name, Status: t.Status, WeChatAppID: t.WeChatAppID,
		WeChatSecretSet: true, SigningAlg: t.SigningAlg,
		AccessTTLSeconds: int(t.AccessTTL.Seconds()), RefreshTTLSeconds: int(t.RefreshTTL.Seconds()),
		RateLimits: t.EffectiveRateLimits(defaults), CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
	}
}

// TenantCreateEvent is the audit entry of creating t.
func TenantCreateEvent(t tenant.Tenant, defaults map[string]string) Event {
	return Event{Action: "tenant.create", TenantID: &t.ID, TenantSlug: t.Slug, TargetType: "tenant",
		TargetID: t.Slug, Diff: Diff(nil, Flat(ViewTenant(t, defaults)))}
}

// TenantUpdateEvent is the audit entry of changing before into after;
// secretChanged records that a new AppSecret was given, without values.
func TenantUpdateEvent(before, after tenant.Tenant, defaults map[string]string, secretChanged bool) Event {
	diff := Diff(Flat(ViewTenant(before, defaults)), Flat(ViewTenant(after, defaults)), "updated_at")
	delete(diff, "updated_at")
	if secretChanged {
		diff["wechat_secret"] = Change{From: Masked, To: Masked}
	}
	return Event{Action: "tenant.update", TenantID: &after.ID, TenantSlug: after.Slug, TargetType: "tenant",
		TargetID: after.Slug, Diff: diff}
}

// KeyRotateEvent is the audit entry of rotating t's signing key to k.
func KeyRotateEvent(t tenant.Tenant, k tenant.Key) Event {
	return Event{Action: "key.rotate", TenantID: &t.ID, TenantSlug: t.Slug, TargetType: "key", TargetID: k.KID}
}

// Flat is a resource's JSON view as a map, for audit diffs.
func Flat(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// ErrGroupForbidden refuses a change of a tenant's unionid group to a
// caller who is not a platform admin; it is an ErrForbidden. A group links
// users across tenants, so it is set only by who sees every tenant.
var ErrGroupForbidden = fmt.Errorf("%w: only a platform admin may set unionid_group", ErrForbidden)

// AuthorizeTenantPatch is the rule for patches that link tenants: a patch
// naming unionid_group needs a subject who may write tenants in
// PlatformDomain. Other patches never reach the policy.
func (a *Authorizer) AuthorizeTenantPatch(sub string, p tenant.Patch) error {
	if p.UnionIDGroup == nil {
		return nil
	}
	ok, err := a.Allowed(sub, PlatformDomain, ObjTenants, ActWrite)
	if err != nil {
		return err
	}
	if !ok {
		return ErrGroupForbidden
	}
	return nil
}
