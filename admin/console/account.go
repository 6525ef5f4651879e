package console

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/console/views"
	"github.com/miniauth/miniauth/tenant"
)

func (h *Handler) accountPage(c *gin.Context) {
	h.render(c, http.StatusOK, views.Account(views.AccountPage{Page: h.page(c, "account.title", "account")}))
}

// changePassword sets the viewer's password. It ends every session of the
// account, this one included, so the viewer signs in again.
func (h *Handler) changePassword(c *gin.Context) {
	ctx := c.Request.Context()
	v := viewerOf(c)
	m := views.AccountPage{Page: h.page(c, "account.title", "account"), Form: views.Form{Errors: map[string]string{}}}
	current, next := c.PostForm("current_password"), c.PostForm("new_password")
	if _, err := h.Accounts.VerifyPassword(ctx, v.Session.Account.Email, current); err != nil {
		if !errors.Is(err, admin.ErrUnauthorized) {
			h.fail(c, err)
			return
		}
		m.Form.Errors["current_password"] = views.T(ctx, "account.wrong_password")
	}
	if next != c.PostForm("confirm_password") {
		m.Form.Errors["confirm_password"] = views.T(ctx, "account.mismatch")
	}
	if len(m.Form.Errors) > 0 {
		h.render(c, http.StatusBadRequest, views.Account(m))
		return
	}
	_, err := h.Accounts.Update(ctx, v.Session.Account.ID, admin.AccountPatch{Password: &next})
	var invalid *tenant.ValidationError
	if errors.As(err, &invalid) {
		invalid.EachField(func(field, message string) {
			m.Form.Errors["new_password"] = views.FieldMessage(ctx, message)
		})
		h.render(c, http.StatusBadRequest, views.Account(m))
		return
	}
	if err != nil {
		h.fail(c, err)
		return
	}
	h.record(c, admin.Event{Action: "admin.update", TargetType: "admin", TargetID: v.Actor.ID,
		Diff: map[string]admin.Change{"password": {From: admin.Masked, To: admin.Masked}}})
	h.clearCookie(c, h.sessionCookieName())
	h.flash(c, "account.changed", false)
	c.Redirect(http.StatusSeeOther, "/admin/login")
}
