package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/console/views"
	"github.com/miniauth/miniauth/tenant"
)

// Admin accounts live in the platform domain: every route here is behind
// h.can(admin.ObjAdmins, ...), as in the management API.

func (h *Handler) adminsPage(c *gin.Context) {
	m, err := h.adminsModel(c)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, http.StatusOK, views.Admins(m))
}

func (h *Handler) adminsModel(c *gin.Context) (views.AdminsPage, error) {
	m := views.AdminsPage{Page: h.page(c, "admins.title", "admins")}
	var after *uuid.UUID
	if v := c.Query("after"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return m, tenant.Invalid("after", "is not a page cursor")
		}
		after = &id
	}
	accounts, err := h.Accounts.List(c.Request.Context(), accessPageSize+1, after)
	if err != nil {
		return m, err
	}
	if len(accounts) > accessPageSize {
		accounts = accounts[:accessPageSize]
		m.Next = "/admin/admins?after=" + accounts[len(accounts)-1].ID.String()
	}
	for _, a := range accounts {
		m.Accounts = append(m.Accounts, h.adminRow(c, a))
	}
	if h.allowed(c, admin.PlatformDomain, admin.ObjAdmins, admin.ActWrite) {
		f, err := h.adminForm(c)
		if err != nil {
			return m, err
		}
		m.Create = &f
	}
	return m, nil
}

func (h *Handler) adminRow(c *gin.Context, a admin.Account) views.AdminRow {
	r := views.AdminRow{ID: a.ID.String(), Email: a.Email, Disabled: a.Disabled,
		LastLogin: views.TimePtr(c.Request.Context(), a.LastLoginAt), Self: a.ID == viewerOf(c).Session.Account.ID}
	for _, b := range a.Roles {
		r.Roles = append(r.Roles, bindingOption(b).Label)
	}
	return r
}

func bindingOption(b admin.Binding) views.BindingOption {
	if b.Tenant == nil {
		return views.BindingOption{Value: string(b.Role), Label: string(b.Role)}
	}
	return views.BindingOption{Value: string(b.Role) + "|" + *b.Tenant, Label: string(b.Role) + " @ " + *b.Tenant}
}

// parseBinding reads a role and an optional tenant slug from a form.
func parseBinding(role, slug string) admin.Binding {
	b := admin.Binding{Role: admin.Role(role)}
	if slug != "" {
		b.Tenant = &slug
	}
	return b
}

// adminForm offers every role and the tenants a binding may name.
func (h *Handler) adminForm(c *gin.Context) (views.AdminForm, error) {
	f := views.AdminForm{Form: views.Form{Values: map[string]string{}, Errors: map[string]string{}}}
	for _, r := range admin.Roles {
		f.Roles = append(f.Roles, string(r))
	}
	var err error
	f.Tenants, f.MoreTenants, err = h.allTenants(c)
	return f, err
}

// accountErrors puts a domain error of an account change beside the
// form's fields, or reports that it is not a form error.
func accountErrors(c *gin.Context, f *views.Form, err error) bool {
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	switch {
	case fieldErrors(c, err, f.Errors, nil):
	case errors.Is(err, tenant.ErrConflict):
		f.Errors["email"] = views.T(c.Request.Context(), "admins.email_taken")
	default:
		return false
	}
	return true
}

func (h *Handler) createAdmin(c *gin.Context) {
	ctx := c.Request.Context()
	email, password := c.PostForm("email"), c.PostForm("password")
	a, err := h.Accounts.Create(ctx, email, password, []admin.Binding{parseBinding(c.PostForm("role"), c.PostForm("tenant"))})
	if err != nil {
		m, merr := h.adminsModel(c)
		if merr != nil {
			h.fail(c, merr)
			return
		}
		if !accountErrors(c, &m.Create.Form, err) {
			h.fail(c, err)
			return
		}
		m.Create.Values = map[string]string{"email": email, "role": c.PostForm("role"), "tenant": c.PostForm("tenant")}
		h.render(c, http.StatusBadRequest, views.Admins(m))
		return
	}
	h.Authz.Changed(ctx)
	h.record(c, admin.AccountCreated(a))
	h.done(c, "/admin/admins/"+a.ID.String(), "admins.created", a.Email)
}

// account is the account of the :id route.
func (h *Handler) account(c *gin.Context) (admin.Account, bool) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		h.fail(c, tenant.ErrNotFound)
		return admin.Account{}, false
	}
	a, err := h.Accounts.Get(c.Request.Context(), id)
	if err != nil {
		h.fail(c, err)
		return admin.Account{}, false
	}
	return a, true
}

func (h *Handler) adminPage(c *gin.Context) {
	a, ok := h.account(c)
	if !ok {
		return
	}
	m, err := h.adminModel(c, a)
	if err != nil {
		h.fail(c, err)
		return
	}
	h.render(c, http.StatusOK, views.AdminDetail(m))
}

func (h *Handler) adminModel(c *gin.Context, a admin.Account) (views.AdminPage, error) {
	m := views.AdminPage{Page: h.page(c, "admins.title", "admins"), Account: h.adminRow(c, a),
		Created:  views.Time(c.Request.Context(), a.CreatedAt),
		CanWrite: h.allowed(c, admin.PlatformDomain, admin.ObjAdmins, admin.ActWrite)}
	for _, b := range a.Roles {
		m.Bindings = append(m.Bindings, bindingOption(b))
	}
	f, err := h.adminForm(c)
	if err != nil {
		return m, err
	}
	if a.Disabled {
		f.Values["disabled"] = "true"
	}
	m.Form = f
	return m, nil
}

// updateAdmin applies the edit form: the roles still ticked plus one to
// add, disabled, and a new password when one is typed. An admin may not
// disable or demote their own account, so the platform is never left
// without a platform admin by its last one.
func (h *Handler) updateAdmin(c *gin.Context) {
	ctx := c.Request.Context()
	before, ok := h.account(c)
	if !ok {
		return
	}
	roles := []admin.Binding{}
	for _, v := range c.PostFormArray("binding") {
		role, slug, _ := strings.Cut(v, "|")
		roles = append(roles, parseBinding(role, slug))
	}
	if r := c.PostForm("add_role"); r != "" {
		roles = append(roles, parseBinding(r, c.PostForm("add_tenant")))
	}
	disabled := c.PostForm("disabled") == "true"
	patch := admin.AccountPatch{Disabled: &disabled, Roles: roles}
	if pw := c.PostForm("password"); pw != "" {
		patch.Password = &pw
	}
	m, err := h.adminModel(c, before)
	if err != nil {
		h.fail(c, err)
		return
	}
	m.Form.Values["add_role"], m.Form.Values["add_tenant"] = c.PostForm("add_role"), c.PostForm("add_tenant")
	m.Form.Values["disabled"] = ""
	if disabled {
		m.Form.Values["disabled"] = "true"
	}
	if before.ID == viewerOf(c).Session.Account.ID {
		if disabled {
			m.Form.Errors["disabled"] = views.T(ctx, "admins.self_disable")
		}
		if hasPlatformAdmin(before.Roles) && !hasPlatformAdmin(roles) {
			m.Form.Errors["roles"] = views.T(ctx, "admins.self_demote")
		}
	}
	var after admin.Account
	if len(m.Form.Errors) == 0 {
		after, err = h.Accounts.Update(ctx, before.ID, patch)
		if err != nil && !accountErrors(c, &m.Form.Form, err) {
			h.fail(c, err)
			return
		}
	}
	if len(m.Form.Errors) > 0 {
		h.render(c, http.StatusBadRequest, views.AdminDetail(m))
		return
	}
	h.Authz.Changed(ctx)
	h.record(c, admin.AccountUpdated(before, after, patch.Password != nil))
	h.done(c, "/admin/admins/"+after.ID.String(), "admins.saved", after.Email)
}

func hasPlatformAdmin(bs []admin.Binding) bool {
	for _, b := range bs {
		if b.Role == admin.RolePlatformAdmin {
			return true
		}
	}
	return false
}

func (h *Handler) deleteAdmin(c *gin.Context) {
	ctx := c.Request.Context()
	a, ok := h.account(c)
	if !ok {
		return
	}
	if a.ID == viewerOf(c).Session.Account.ID {
		h.flash(c, "admins.self_delete", true)
		c.Redirect(http.StatusSeeOther, "/admin/admins/"+a.ID.String())
		return
	}
	if err := h.Accounts.Delete(ctx, a.ID); err != nil {
		h.fail(c, err)
		return
	}
	h.Authz.Changed(ctx)
	h.record(c, admin.AccountDeleted(a.ID))
	h.done(c, "/admin/admins", "admins.deleted", a.Email)
}
