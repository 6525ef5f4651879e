package console

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/admin/console/views"
)

func (h *Handler) dashboard(c *gin.Context) {
	h.render(c, http.StatusOK, views.Dashboard(views.DashboardPage{Page: h.page(c, "dashboard.title", "dashboard")}))
}
