package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
)

// listUnionID lists a person's users across the tenants of unionid groups
// the caller may read users of. It answers 200 with what the caller may
// see, possibly nothing: whether the unionid exists in a tenant the caller
// cannot read is not revealed.
func (h *Handler) listUnionID(c *gin.Context) {
	unionID := c.Param("unionid")
	if !auth.ValidUnionID(unionID) {
		fail(c, tenant.Invalid("unionid", "must be 1-64 letters, digits, '_' or '-'"))
		return
	}
	ctx := c.Request.Context()
	grouped, err := h.Users.GroupedTenants(ctx)
	if err != nil {
		fail(c, err)
		return
	}
	visible := grouped
	if !h.allowed(c, admin.PlatformDomain, admin.ObjUsers, admin.ActRead) {
		visible = nil
		for _, t := range grouped {
			if h.allowed(c, admin.TenantDomain(t.ID), admin.ObjUsers, admin.ActRead) {
				visible = append(visible, t)
			}
		}
	}
	items := []auth.LinkedUser{}
	if len(visible) > 0 {
		if items, err = h.Users.ByUnionID(ctx, unionID, visible); err != nil {
			fail(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"unionid": unionID, "items": items})
}
