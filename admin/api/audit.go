package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/web"
)

// listAudit answers GET /audit?tenant=&actor=&action=&since=&until=.
// Tenant callers must name their own tenant.
func (h *Handler) listAudit(c *gin.Context) {
	tenantID, ok := h.tenantDomain(c, c.Query("tenant"), admin.ObjAudit, admin.ActRead)
	if !ok {
		return
	}
	limit, err := limitParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	f := admin.AuditFilter{TenantID: tenantID, Limit: limit + 1}
	if f.ActorID, err = web.Query(c, "actor", 200); err != nil {
		fail(c, err)
		return
	}
	if f.Action, err = web.Query(c, "action", 100); err != nil {
		fail(c, err)
		return
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if s := c.Query(p.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				fail(c, web.BadRequest("The query is invalid.", web.FieldError{Field: p.name, Message: "must be an RFC 3339 time"}))
				return
			}
			*p.dst = t
		}
	}
	cur, err := cursorParam(c)
	if err != nil {
		fail(c, err)
		return
	}
	if cur != "" {
		if f.Before, err = strconv.ParseInt(cur, 10, 64); err != nil || f.Before <= 0 {
			fail(c, badCursor)
			return
		}
	}
	entries, err := h.Audit.List(c.Request.Context(), f)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page(entries, limit, func(r admin.AuditRecord) string { return strconv.FormatInt(r.ID, 10) }))
}
