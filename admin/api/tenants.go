package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/web"
)

// tenantJSON is the tenant's view with its live state: the WeChat
// circuit breaker of the instance that answers (not part of audit diffs).
type tenantJSON struct {
	admin.TenantView
	WeChatBreaker string `json:"wechat_breaker"`
}

func (h *Handler) toTenantJSON(t tenant.Tenant) tenantJSON {
	return tenantJSON{TenantView: admin.ViewTenant(t, h.RateDefaults), WeChatBreaker: h.Breakers.State(t.ID)}
}

type createTenantRequest struct {
	Slug              string             `json:"slug"`
	Name              string             `json:"name"`
	WeChatAppID       string             `json:"wechat_appid"`
	WeChatSecret      string             `json:"wechat_secret"`
	SigningAlg        string             `json:"signing_alg"`
	AccessTTLSeconds  int                `json:"access_ttl_seconds"`
	RefreshTTLSeconds int                `json:"refresh_ttl_seconds"`
	RateLimits        map[string]*string `json:"rate_limits"`
	UnionIDGroup      string             `json:"unionid_group"`
	ShowLinkedTenants bool               `json:"show_linked_tenants"`
	QRLoginPage       string             `json:"qr_login_page"`
}

func (h *Handler) createTenant(c *gin.Context) {
	var req createTenantRequest
	if err := web.DecodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	t, err := h.Tenants.Create(c.Request.Context(), tenant.NewTenant{
		Slug: req.Slug, Name: req.Name, WeChatAppID: req.WeChatAppID, WeChatSecret: req.WeChatSecret,
		SigningAlg: req.SigningAlg,
		AccessTTL:  time.Duration(req.AccessTTLSeconds) * time.Second,
		RefreshTTL: time.Duration(req.RefreshTTLSeconds) * time.Second,
		RateLimits: req.RateLimits, UnionIDGroup: req.UnionIDGroup, ShowLinkedTenants: req.ShowLinkedTenants,
		QRLoginPage: req.QRLoginPage,
	})
	if err != nil {
		fail(c, err)
		return
	}
	h.record(c, admin.TenantCreateEvent(t, h.RateDefaults))
	c.Header("Location", "/api/v1/tenants/"+t.Slug)
	c.JSON(http.StatusCreated, h.toTenantJSON(t))
}

func (h *Handler) listTenants(c *gin.Context) {
	limit, err := limitParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	after, err := cursorParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	ts, err := h.Tenants.List(c.Request.Context(), limit+1, after)
	if err != nil {
		fail(c, err)
		return
	}
	items := make([]tenantJSON, len(ts))
	for i, t := range ts {
		items[i] = h.toTenantJSON(t)
	}
	c.JSON(http.StatusOK, page(items, limit, func(t tenantJSON) string { return t.Slug }))
}

func (h *Handler) getTenant(c *gin.Context) {
	c.JSON(http.StatusOK, h.toTenantJSON(routeTenant(c)))
}

type patchTenantRequest struct {
	Name              *string            `json:"name"`
	Status            *tenant.Status     `json:"status"`
	WeChatAppID       *string            `json:"wechat_appid"`
	WeChatSecret      *string            `json:"wechat_secret"`
	SigningAlg        *string            `json:"signing_alg"`
	AccessTTLSeconds  *int               `json:"access_ttl_seconds"`
	RefreshTTLSeconds *int               `json:"refresh_ttl_seconds"`
	RateLimits        map[string]*string `json:"rate_limits"`
	// UnionIDGroup: a name joins a group, "" leaves it.
	UnionIDGroup      *string `json:"unionid_group"`
	ShowLinkedTenants *bool   `json:"show_linked_tenants"`
	QRLoginPage       *string `json:"qr_login_page"`
}

func seconds(n *int) *time.Duration {
	if n == nil {
		return nil
	}
	d := time.Duration(*n) * time.Second
	return &d
}

func (h *Handler) updateTenant(c *gin.Context) {
	var req patchTenantRequest
	if err := web.DecodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	before := routeTenant(c)
	patch := tenant.Patch{
		Name: req.Name, Status: req.Status, WeChatAppID: req.WeChatAppID, WeChatSecret: req.WeChatSecret,
		SigningAlg: req.SigningAlg, AccessTTL: seconds(req.AccessTTLSeconds), RefreshTTL: seconds(req.RefreshTTLSeconds),
		RateLimits: req.RateLimits, UnionIDGroup: req.UnionIDGroup, ShowLinkedTenants: req.ShowLinkedTenants,
		QRLoginPage: req.QRLoginPage,
	}
	if err := h.Authz.AuthorizeTenantPatch(caller(c).Subject, patch); err != nil {
		fail(c, err)
		return
	}
	t, err := h.Tenants.Update(c.Request.Context(), before.Slug, patch)
	if err != nil {
		fail(c, err)
		return
	}
	h.record(c, admin.TenantUpdateEvent(before, t, h.RateDefaults, req.WeChatSecret != nil))
	c.JSON(http.StatusOK, h.toTenantJSON(t))
}

func (h *Handler) deleteTenant(c *gin.Context) {
	rt := routeTenant(c)
	if err := h.Tenants.Delete(c.Request.Context(), rt.Slug); err != nil {
		fail(c, err)
		return
	}
	// Its API keys and admin bindings went with it; drop them from the policy.
	h.Authz.Changed(c.Request.Context())
	h.record(c, admin.Event{Action: "tenant.delete", TenantID: &rt.ID, TenantSlug: rt.Slug, TargetType: "tenant", TargetID: rt.Slug})
	c.Status(http.StatusNoContent)
}

type keyJSON struct {
	KID       string           `json:"kid"`
	Alg       string           `json:"alg"`
	Status    tenant.KeyStatus `json:"status"`
	CreatedAt time.Time        `json:"created_at"`
	RetireAt  *time.Time       `json:"retire_at,omitempty"`
}

func toKeyJSON(k tenant.Key) keyJSON {
	return keyJSON{KID: k.KID, Alg: k.Alg, Status: k.Status, CreatedAt: k.CreatedAt, RetireAt: k.RetireAt}
}

func (h *Handler) listKeys(c *gin.Context) {
	keys, err := h.Tenants.Keys(c.Request.Context(), c.Param("slug"))
	if err != nil {
		fail(c, err)
		return
	}
	out := list[keyJSON]{Items: []keyJSON{}}
	for _, k := range keys {
		out.Items = append(out.Items, toKeyJSON(k))
	}
	c.JSON(http.StatusOK, out)
}

func (h *Handler) rotateKey(c *gin.Context) {
	rt := routeTenant(c)
	k, err := h.Tenants.RotateKey(c.Request.Context(), rt.Slug)
	if err != nil {
		fail(c, err)
		return
	}
	h.record(c, admin.KeyRotateEvent(rt, k))
	c.JSON(http.StatusCreated, toKeyJSON(k))
}
