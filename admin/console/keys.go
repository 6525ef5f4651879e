package console

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/console/views"
)

// keysPage lists a tenant's signing keys (its routes are in tenantRoutes).
func (h *Handler) keysPage(c *gin.Context) {
	t := routeTenant(c)
	keys, err := h.Tenants.Keys(c.Request.Context(), t.Slug)
	if err != nil {
		h.fail(c, err)
		return
	}
	m := views.KeysPage{Page: h.page(c, "keys.title", "tenants"), Slug: t.Slug, Name: t.Name,
		CanRotate: h.allowed(c, admin.TenantDomain(t.ID), admin.ObjKeys, admin.ActWrite)}
	for _, k := range keys {
		m.Keys = append(m.Keys, views.KeyRow{KID: k.KID, Alg: k.Alg, Status: string(k.Status), CreatedAt: k.CreatedAt, RetireAt: k.RetireAt})
	}
	h.render(c, http.StatusOK, views.Keys(m))
}

// rotateKey makes a new active key; the old one retires.
func (h *Handler) rotateKey(c *gin.Context) {
	t := routeTenant(c)
	k, err := h.Tenants.RotateKey(c.Request.Context(), t.Slug)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.record(c, admin.KeyRotateEvent(t, k))
	h.done(c, "/admin/tenants/"+t.Slug+"/keys", "keys.rotated", k.KID)
}
