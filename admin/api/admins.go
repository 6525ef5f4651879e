package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/web"
)

type createAdminRequest struct {
	Email    string          `json:"email"`
	Password string          `json:"password"`
	Roles    []admin.Binding `json:"roles"`
}

func (h *Handler) createAdmin(c *gin.Context) {
	var req createAdminRequest
	if err := web.DecodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	a, err := h.Accounts.Create(c.Request.Context(), req.Email, req.Password, req.Roles)
	if err != nil {
		fail(c, err)
		return
	}
	h.Authz.Changed(c.Request.Context())
	h.record(c, admin.Event{Action: "admin.create", TargetType: "admin", TargetID: a.ID.String(),
		Diff: admin.Diff(nil, map[string]any{"email": a.Email, "roles": flatList(a.Roles), "password": "set"}, "password")})
	c.JSON(http.StatusCreated, a)
}

func (h *Handler) listAdmins(c *gin.Context) {
	limit, after, err := uuidPage(c)
	if err != nil {
		fail(c, err)
		return
	}
	accounts, err := h.Accounts.List(c.Request.Context(), limit+1, after)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, page(accounts, limit, func(a admin.Account) string { return a.ID.String() }))
}

func adminID(c *gin.Context) (uuid.UUID, bool) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		fail(c, tenant.ErrNotFound)
		return uuid.Nil, false
	}
	return id, true
}

func (h *Handler) getAdmin(c *gin.Context) {
	id, ok := adminID(c)
	if !ok {
		return
	}
	a, err := h.Accounts.Get(c.Request.Context(), id)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, a)
}

type patchAdminRequest struct {
	Disabled *bool           `json:"disabled"`
	Password *string         `json:"password"`
	Roles    []admin.Binding `json:"roles"`
}

func (h *Handler) updateAdmin(c *gin.Context) {
	id, ok := adminID(c)
	if !ok {
		return
	}
	var req patchAdminRequest
	if err := web.DecodeJSON(c, &req); err != nil {
		fail(c, err)
		return
	}
	before, err := h.Accounts.Get(c.Request.Context(), id)
	if err != nil {
		fail(c, err)
		return
	}
	a, err := h.Accounts.Update(c.Request.Context(), id, admin.AccountPatch{Disabled: req.Disabled, Password: req.Password, Roles: req.Roles})
	if err != nil {
		fail(c, err)
		return
	}
	h.Authz.Changed(c.Request.Context())
	view := func(a admin.Account) map[string]any {
		return map[string]any{"disabled": a.Disabled, "roles": flatList(a.Roles)}
	}
	diff := admin.Diff(view(before), view(a))
	if req.Password != nil {
		diff["password"] = admin.Change{From: admin.Masked, To: admin.Masked}
	}
	h.record(c, admin.Event{Action: "admin.update", TargetType: "admin", TargetID: id.String(), Diff: diff})
	c.JSON(http.StatusOK, a)
}

func (h *Handler) deleteAdmin(c *gin.Context) {
	id, ok := adminID(c)
	if !ok {
		return
	}
	if err := h.Accounts.Delete(c.Request.Context(), id); err != nil {
		fail(c, err)
		return
	}
	h.Authz.Changed(c.Request.Context())
	h.record(c, admin.Event{Action: "admin.delete", TargetType: "admin", TargetID: id.String()})
	c.Status(http.StatusNoContent)
}

// flatList renders bindings as plain JSON values for audit diffs.
func flatList(bs []admin.Binding) []any {
	out := []any{}
	for _, b := range bs {
		out = append(out, admin.Flat(b))
	}
	return out
}
