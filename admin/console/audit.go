package console

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/console/views"
	"github.com/miniauth/miniauth/tenant"
)

// datetimeLocal is the value format of <input type="datetime-local">,
// with and without seconds.
var datetimeLocal = []string{"2006-01-02T15:04", "2006-01-02T15:04:05"}

// auditPage lists the audit log. The tenant filter is also the domain the
// entries are read in, exactly as GET /api/v1/audit decides it: a tenant
// admin reads only their tenants' entries, platform entries need the
// platform domain.
func (h *Handler) auditPage(c *gin.Context) {
	ctx := c.Request.Context()
	m := views.AuditPage{Page: h.page(c, "audit.title", "audit"),
		Filter: views.Form{Values: map[string]string{}, Errors: map[string]string{}}}
	platform, opts, more, err := h.tenantScopes(c, admin.ObjAudit, admin.ActRead)
	if err != nil {
		h.fail(c, err)
		return
	}
	m.AllScope, m.Tenants, m.MoreTenants = platform, opts, more
	slug, tenantID, err := h.scope(c, admin.ObjAudit, platform, opts)
	if err != nil {
		h.fail(c, err)
		return
	}
	f := admin.AuditFilter{TenantID: tenantID, Limit: accessPageSize + 1}
	m.Filter.Values["tenant"] = slug
	text := func(name string, maxLen int) string {
		v := c.Query(name)
		m.Filter.Values[name] = v
		if utf8.RuneCountInString(v) > maxLen {
			m.Filter.Errors[name] = views.T(ctx, "audit.too_long")
			return ""
		}
		return v
	}
	f.ActorID, f.Action = text("actor", 200), text("action", 100)
	zone := views.LocaleOf(ctx).Zone
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.Since}, {"until", &f.Until}} {
		v := c.Query(p.name)
		m.Filter.Values[p.name] = v
		if v == "" {
			continue
		}
		if t, ok := parseLocal(v, zone); ok {
			*p.dst = t
		} else {
			m.Filter.Errors[p.name] = views.T(ctx, "audit.bad_time")
		}
	}
	if v := c.Query("before"); v != "" {
		if f.Before, err = strconv.ParseInt(v, 10, 64); err != nil || f.Before <= 0 {
			h.fail(c, tenant.Invalid("before", "is not a page cursor"))
			return
		}
	}
	status := http.StatusOK
	if len(m.Filter.Errors) > 0 {
		m.Filter.Error = views.T(ctx, "audit.bad_filter")
		status = http.StatusBadRequest
		if htmx(c) {
			// htmx swaps only successful answers; the fragment says
			// what is wrong.
			status = http.StatusOK
		}
	} else {
		entries, err := h.Audit.List(ctx, f)
		if err != nil {
			h.fail(c, err)
			return
		}
		if len(entries) > accessPageSize {
			entries = entries[:accessPageSize]
			q := url.Values{}
			for _, k := range []string{"tenant", "actor", "action", "from", "until"} {
				if v := m.Filter.Values[k]; v != "" {
					q.Set(k, v)
				}
			}
			q.Set("before", strconv.FormatInt(entries[len(entries)-1].ID, 10))
			m.Next = "/admin/audit?" + q.Encode()
		}
		for _, e := range entries {
			m.Entries = append(m.Entries, auditEntry(ctx, e))
		}
	}
	if htmx(c) {
		h.render(c, status, views.AuditResults(m))
		return
	}
	h.render(c, status, views.Audit(m))
}

func parseLocal(v string, zone *time.Location) (time.Time, bool) {
	for _, layout := range datetimeLocal {
		if t, err := time.ParseInLocation(layout, v, zone); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func auditEntry(ctx context.Context, r admin.AuditRecord) views.AuditEntry {
	e := views.AuditEntry{ID: strconv.FormatInt(r.ID, 10), At: views.Time(ctx, r.At), ActorType: r.ActorType,
		ActorID: r.ActorID, ActorName: r.ActorName, ActorRole: r.ActorRole, Action: r.Action,
		TargetType: r.TargetType, Target: r.TargetID}
	if r.Tenant != nil {
		e.Tenant = *r.Tenant
	}
	if r.IP != nil {
		e.IP = *r.IP
	}
	fields := make([]string, 0, len(r.Diff))
	for k := range r.Diff {
		fields = append(fields, k)
	}
	sort.Strings(fields)
	for _, k := range fields {
		ch := r.Diff[k]
		e.Changes = append(e.Changes, views.AuditChange{Field: k, From: auditValue(ch.From), To: auditValue(ch.To)})
	}
	return e
}

// auditValue shows one value of a diff: strings as they are (a secret is
// stored as admin.Masked), anything else as its JSON.
func auditValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "—"
	case string:
		return v
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}
