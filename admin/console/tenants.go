package console

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/console/views"
	"github.com/miniauth/miniauth/tenant"
)

// tenantPageSize is the rows of one page of the tenant list.
const tenantPageSize = 50

func (h *Handler) tenantRoutes(s *gin.RouterGroup) {
	// The list is open to every admin: it shows the tenants they may read.
	s.GET("/tenants", h.tenantList)
	// No :slug, so creating is checked in the platform domain, as the API's
	// POST /tenants is.
	s.GET("/tenants/new", h.can(admin.ObjTenants, admin.ActWrite), h.newTenantPage)
	s.POST("/tenants/new", h.can(admin.ObjTenants, admin.ActWrite), h.createTenant)
	s.GET("/tenants/:slug", h.can(admin.ObjTenants, admin.ActRead), h.tenantPage)
	s.POST("/tenants/:slug", h.can(admin.ObjTenants, admin.ActWrite), h.updateTenant)
	s.POST("/tenants/:slug/status", h.can(admin.ObjTenants, admin.ActWrite), h.setTenantStatus)
	s.POST("/tenants/:slug/limits", h.can(admin.ObjTenants, admin.ActWrite), h.updateLimits)
	s.POST("/tenants/:slug/wechat", h.can(admin.ObjTenants, admin.ActWrite), h.updateWeChat)
	s.POST("/tenants/:slug/test-credentials", h.can(admin.ObjTenants, admin.ActWrite), h.testCredentials)
	s.GET("/tenants/:slug/keys", h.can(admin.ObjKeys, admin.ActRead), h.keysPage)
	s.POST("/tenants/:slug/keys/rotate", h.can(admin.ObjKeys, admin.ActWrite), h.rotateKey)
}

// readableTenants is the filter of the tenants the viewer may read: nil
// IDs (every tenant) for platform-wide readers, else those of their role
// bindings that grant it.
func (h *Handler) readableTenants(c *gin.Context) tenant.Filter {
	if h.allowed(c, admin.PlatformDomain, admin.ObjTenants, admin.ActRead) {
		return tenant.Filter{}
	}
	ids := []int64{}
	for _, t := range viewerOf(c).tenants {
		if h.allowed(c, admin.TenantDomain(t.ID), admin.ObjTenants, admin.ActRead) {
			ids = append(ids, t.ID)
		}
	}
	return tenant.Filter{IDs: ids}
}

func (h *Handler) tenantList(c *gin.Context) {
	ctx := c.Request.Context()
	m := views.TenantListPage{
		Page:      h.page(c, "tenants.title", "tenants"),
		Q:         strings.TrimSpace(c.Query("q")),
		CanCreate: h.allowed(c, admin.PlatformDomain, admin.ObjTenants, admin.ActWrite),
	}
	if len([]rune(m.Q)) > 100 {
		m.Q = string([]rune(m.Q)[:100])
	}
	// The cursor is the last slug shown; anything else starts over.
	if after := c.Query("after"); tenant.ValidSlug(after) {
		m.After = after
	}
	f := h.readableTenants(c)
	f.Prefix = m.Q
	ts, err := h.Tenants.Search(ctx, f, tenantPageSize+1, m.After)
	if err != nil {
		h.fail(c, err)
		return
	}
	if len(ts) > tenantPageSize {
		ts = ts[:tenantPageSize]
		m.Next = ts[len(ts)-1].Slug
	}
	for _, t := range ts {
		m.Rows = append(m.Rows, views.TenantRow{Slug: t.Slug, Name: t.Name, Status: string(t.Status),
			AppID: t.WeChatAppID, CreatedAt: t.CreatedAt})
	}
	if htmx(c) {
		h.render(c, http.StatusOK, views.TenantResults(m))
		return
	}
	h.render(c, http.StatusOK, views.TenantList(m))
}

func (h *Handler) newTenantPage(c *gin.Context) {
	h.render(c, http.StatusOK, views.TenantNew(views.TenantNewPage{Page: h.page(c, "tenants.new", "tenants"),
		Form: views.Form{Values: map[string]string{"signing_alg": tenant.AlgES256}}}))
}

// formValues are the named fields of a posted form, for showing it again;
// the AppSecret is never among them.
func formValues(c *gin.Context, names ...string) map[string]string {
	out := make(map[string]string, len(names))
	for _, n := range names {
		out[n] = strings.TrimSpace(c.PostForm(n))
	}
	return out
}

// ttlField reads a lifetime in seconds; empty is zero (the default on
// create). A value that is not a whole number is a field error; a huge
// one is capped, so the domain's range check sees it rather than an
// overflowed duration.
func ttlField(c *gin.Context, form map[string]string, errs map[string]string, name string) time.Duration {
	s := form[name]
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	var numErr *strconv.NumError
	switch {
	case errors.As(err, &numErr) && errors.Is(numErr.Err, strconv.ErrRange):
		n = math.MaxInt32
	case err != nil:
		errs[name] = views.T(c.Request.Context(), "tenants.ttl_number")
		return 0
	}
	return time.Duration(min(n, math.MaxInt32)) * time.Second
}

var tenantFormFields = []string{"slug", "name", "wechat_appid", "signing_alg", "access_ttl_seconds", "refresh_ttl_seconds"}

func (h *Handler) createTenant(c *gin.Context) {
	ctx := c.Request.Context()
	m := views.TenantNewPage{Page: h.page(c, "tenants.new", "tenants"),
		Form: views.Form{Values: formValues(c, tenantFormFields...), Errors: map[string]string{}}}
	v := m.Form.Values
	n := tenant.NewTenant{Slug: v["slug"], Name: v["name"], WeChatAppID: v["wechat_appid"],
		WeChatSecret: c.PostForm("wechat_secret"), SigningAlg: v["signing_alg"]}
	n.AccessTTL = ttlField(c, v, m.Form.Errors, "access_ttl_seconds")
	n.RefreshTTL = ttlField(c, v, m.Form.Errors, "refresh_ttl_seconds")
	var t tenant.Tenant
	err := n.Normalize()
	if err == nil && len(m.Form.Errors) == 0 {
		t, err = h.Tenants.Create(ctx, n)
	}
	if errors.Is(err, tenant.ErrConflict) {
		m.Form.Errors["slug"] = views.T(ctx, "tenants.slug_taken")
	} else if err != nil && !fieldErrors(c, err, m.Form.Errors, nil) {
		h.fail(c, err)
		return
	}
	if len(m.Form.Errors) > 0 {
		h.render(c, http.StatusBadRequest, views.TenantNew(m))
		return
	}
	h.record(c, admin.TenantCreateEvent(t, h.RateDefaults))
	h.done(c, "/admin/tenants/"+t.Slug, "tenants.created", t.Slug)
}

// tenantPage is the model of a tenant's detail page with its forms
// filled from the tenant as stored.
func (h *Handler) tenantPage(c *gin.Context) {
	h.render(c, http.StatusOK, views.TenantDetail(h.tenantModel(c, routeTenant(c))))
}

func (h *Handler) tenantModel(c *gin.Context, t tenant.Tenant) views.TenantPage {
	dom := admin.TenantDomain(t.ID)
	m := views.TenantPage{
		Page: h.page(c, "tenants.title", "tenants"),
		Tenant: views.TenantInfo{Slug: t.Slug, Name: t.Name, Status: string(t.Status), AppID: t.WeChatAppID,
			SigningAlg: t.SigningAlg, AccessTTLSeconds: int(t.AccessTTL.Seconds()), RefreshTTLSeconds: int(t.RefreshTTL.Seconds()),
			CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt},
		Edit: views.Form{Values: map[string]string{
			"name": t.Name, "wechat_appid": t.WeChatAppID, "signing_alg": t.SigningAlg,
			"access_ttl_seconds":  strconv.Itoa(int(t.AccessTTL.Seconds())),
			"refresh_ttl_seconds": strconv.Itoa(int(t.RefreshTTL.Seconds())),
		}},
		Limits:    views.Form{Values: map[string]string{}},
		Defaults:  h.RateDefaults,
		Effective: t.EffectiveRateLimits(h.RateDefaults),
		CanEdit:   h.allowed(c, dom, admin.ObjTenants, admin.ActWrite),
		CanUsers:  h.allowed(c, dom, admin.ObjUsers, admin.ActRead),
		CanBans:   h.allowed(c, dom, admin.ObjBans, admin.ActRead),
		CanKeys:   h.allowed(c, dom, admin.ObjKeys, admin.ActRead),
	}
	m.Title = t.Name
	m.CanTest = m.CanEdit && h.Credentials != nil
	m.CanGroup = h.allowed(c, admin.PlatformDomain, admin.ObjTenants, admin.ActWrite)
	m.Breaker = h.Breakers.State(t.ID)
	m.WeChat = views.Form{Values: map[string]string{"qr_login_page": t.QRLoginPage, "unionid_group": t.UnionIDGroup}}
	if t.ShowLinkedTenants {
		m.WeChat.Values["show_linked_tenants"] = "true"
	}
	for _, f := range views.RateLimitFields {
		m.Limits.Values[f] = t.RateLimits[f]
	}
	return m
}

var editFormFields = []string{"name", "wechat_appid", "signing_alg", "access_ttl_seconds", "refresh_ttl_seconds"}

func (h *Handler) updateTenant(c *gin.Context) {
	ctx := c.Request.Context()
	before := routeTenant(c)
	v := formValues(c, editFormFields...)
	errs := map[string]string{}
	p := tenant.Patch{Name: ptr(v["name"]), WeChatAppID: ptr(v["wechat_appid"]), SigningAlg: ptr(v["signing_alg"])}
	for name, dst := range map[string]**time.Duration{"access_ttl_seconds": &p.AccessTTL, "refresh_ttl_seconds": &p.RefreshTTL} {
		d := ttlField(c, v, errs, name)
		if _, bad := errs[name]; !bad {
			*dst = &d
		}
	}
	// The AppSecret is write-only: empty keeps the stored one.
	if s := c.PostForm("wechat_secret"); s != "" {
		p.WeChatSecret = &s
	}
	var t tenant.Tenant
	err := p.Validate()
	if err == nil && len(errs) == 0 {
		t, err = h.Tenants.Update(ctx, before.Slug, p)
	}
	if err != nil && !fieldErrors(c, err, errs, nil) {
		h.fail(c, err)
		return
	}
	if len(errs) > 0 {
		m := h.tenantModel(c, before)
		m.Edit = views.Form{Values: v, Errors: errs}
		h.render(c, http.StatusBadRequest, views.TenantDetail(m))
		return
	}
	h.record(c, admin.TenantUpdateEvent(before, t, h.RateDefaults, p.WeChatSecret != nil))
	h.done(c, "/admin/tenants/"+t.Slug, "tenants.saved", t.Slug)
}

func ptr[T any](v T) *T { return &v }

// updateWeChat saves the WeChat panel: the scan-to-sign-in page, whether
// /me shows linked tenants, and (platform admins only) the unionid group.
func (h *Handler) updateWeChat(c *gin.Context) {
	before := routeTenant(c)
	v := formValues(c, "qr_login_page", "show_linked_tenants", "unionid_group")
	p := tenant.Patch{QRLoginPage: ptr(v["qr_login_page"]), ShowLinkedTenants: ptr(v["show_linked_tenants"] == "true")}
	if _, sent := c.GetPostForm("unionid_group"); sent {
		p.UnionIDGroup = ptr(v["unionid_group"])
	}
	ctx := c.Request.Context()
	err := h.Authz.AuthorizeTenantPatch(viewerOf(c).Subject, p)
	var t tenant.Tenant
	if err == nil {
		t, err = h.Tenants.Update(ctx, before.Slug, p)
	}
	errs := map[string]string{}
	if err != nil && !fieldErrors(c, err, errs, nil) {
		h.fail(c, err)
		return
	}
	if len(errs) > 0 {
		m := h.tenantModel(c, before)
		m.WeChat = views.Form{Values: v, Errors: errs}
		h.render(c, http.StatusBadRequest, views.TenantDetail(m))
		return
	}
	h.record(c, admin.TenantUpdateEvent(before, t, h.RateDefaults, false))
	h.done(c, "/admin/tenants/"+t.Slug, "tenants.wechat_saved", t.Slug)
}

func (h *Handler) setTenantStatus(c *gin.Context) {
	before := routeTenant(c)
	status := tenant.Status(c.PostForm("status"))
	t, err := h.Tenants.Update(c.Request.Context(), before.Slug, tenant.Patch{Status: &status})
	if err != nil {
		h.fail(c, err)
		return
	}
	h.record(c, admin.TenantUpdateEvent(before, t, h.RateDefaults, false))
	key := "tenants.enabled"
	if t.Status == tenant.StatusDisabled {
		key = "tenants.disabled"
	}
	h.done(c, "/admin/tenants/"+t.Slug, key, t.Slug)
}

// updateLimits sets the four request limits; an empty field resets that
// limit to the server's default.
func (h *Handler) updateLimits(c *gin.Context) {
	before := routeTenant(c)
	v := formValues(c, views.RateLimitFields...)
	patch := make(map[string]*string, len(v))
	for _, f := range views.RateLimitFields {
		patch[f] = nil
		if v[f] != "" {
			patch[f] = ptr(v[f])
		}
	}
	t, err := h.Tenants.Update(c.Request.Context(), before.Slug, tenant.Patch{RateLimits: patch})
	errs := map[string]string{}
	if err != nil && !fieldErrors(c, err, errs, func(f string) string { return strings.TrimPrefix(f, "rate_limits.") }) {
		h.fail(c, err)
		return
	}
	if len(errs) > 0 {
		m := h.tenantModel(c, before)
		m.Limits = views.Form{Values: v, Errors: errs}
		h.render(c, http.StatusBadRequest, views.TenantDetail(m))
		return
	}
	h.record(c, admin.TenantUpdateEvent(before, t, h.RateDefaults, false))
	h.done(c, "/admin/tenants/"+t.Slug, "tenants.limits_saved", t.Slug)
}

// testCredentials asks WeChat whether the tenant's AppID and AppSecret
// are a pair. Nothing changes, so nothing is audited.
func (h *Handler) testCredentials(c *gin.Context) {
	if h.Credentials == nil {
		h.errorPage(c, http.StatusNotFound, "")
		return
	}
	t := routeTenant(c)
	verdict, err := h.Credentials.Check(c.Request.Context(), t.Slug)
	if err != nil {
		h.fail(c, err)
		return
	}
	if htmx(c) {
		h.render(c, http.StatusOK, views.CredentialResult(string(verdict)))
		return
	}
	h.flash(c, "credentials."+string(verdict), !views.CredentialsOK(string(verdict)))
	c.Redirect(http.StatusSeeOther, "/admin/tenants/"+t.Slug)
}
