package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
)

// qrRoutes registers scan to sign in on the web: the page's side on the
// admitted group a, the mini-program's on the authenticated group.
func (h *Handler) qrRoutes(a *gin.RouterGroup, authed gin.IRoutes) {
	// The page's side is called from the integrator's own origin.
	web := a.Group("/qr-login", webCORS)
	web.OPTIONS("", webCORS)
	web.OPTIONS("/:ticket", webCORS)
	web.POST("", h.limit(tenant.LimitLoginPerIP, byIP), h.startQRLogin)
	web.GET("/:ticket", h.waitQRLogin)
	web.DELETE("/:ticket", h.abandonQRLogin)
	web.GET("/:ticket/image", h.qrLoginImage)
	authed.POST("/qr-login/:ticket/scan", h.scanQRLogin)
	authed.POST("/qr-login/:ticket/confirm", h.confirmQRLogin)
	authed.POST("/qr-login/:ticket/cancel", h.cancelQRLogin)
}

// webCORS lets any origin call the page's side of scan to sign in, and
// answers preflights. No cookie is involved: the poll token, sent as a
// Bearer header, is what proves the page, so any origin is safe to allow.
func webCORS(c *gin.Context) {
	c.Header("Access-Control-Allow-Origin", "*")
	c.Header("Access-Control-Expose-Headers", "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset")
	if c.Request.Method == http.MethodOptions {
		c.Header("Access-Control-Allow-Methods", "GET, POST, DELETE")
		c.Header("Access-Control-Allow-Headers", "Authorization, Content-Type")
		c.Header("Access-Control-Max-Age", "600")
		c.AbortWithStatus(http.StatusNoContent)
	}
}

func (h *Handler) startQRLogin(c *gin.Context) {
	t, err := h.svc.StartQRLogin(c.Request.Context(), scope(c), clientMeta(c))
	if err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusCreated, gin.H{
		"ticket": t.Ticket, "poll_token": t.PollToken, "expires_in": t.ExpiresIn,
		"image_url": h.tokens.Issuer(tenantOf(c).Slug) + "/qr-login/" + t.Ticket + "/image",
	})
}

// maxQRWait bounds a long poll, below the usual 60 s proxy read timeout.
const maxQRWait = 30 * time.Second

func (h *Handler) waitQRLogin(c *gin.Context) {
	wait := 25 * time.Second
	if v := c.Query("wait"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > int(maxQRWait.Seconds()) {
			fail(c, tenant.Invalid("wait", "must be 0-30 seconds"))
			return
		}
		wait = time.Duration(n) * time.Second
	}
	since := c.Query("status")
	switch since {
	case "", auth.QRPending, auth.QRScanned:
	default:
		fail(c, tenant.Invalid("status", "must be pending or scanned: the state the page last saw"))
		return
	}
	st, err := h.svc.WaitQRLogin(c.Request.Context(), scope(c), c.Param("ticket"), bearer(c), since, wait, clientMeta(c))
	if err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	if st.Tokens != nil {
		c.Set(loginKey, st.Tokens.User)
		c.JSON(http.StatusOK, struct {
			Status string `json:"status"`
			auth.TokenResponse
		}{st.Status, *st.Tokens})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": st.Status, "expires_in": st.ExpiresIn})
}

func (h *Handler) abandonQRLogin(c *gin.Context) {
	if err := h.svc.AbandonQRLogin(c.Request.Context(), tenantOf(c), c.Param("ticket"), bearer(c)); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *Handler) qrLoginImage(c *gin.Context) {
	img, left, err := h.svc.QRLoginImage(c.Request.Context(), tenantOf(c), c.Param("ticket"))
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Cache-Control", "private, max-age="+strconv.Itoa(int(left.Seconds())))
	c.Data(http.StatusOK, img.ContentType, img.Data)
}

func (h *Handler) scanQRLogin(c *gin.Context) {
	scan, err := h.svc.ScanQRLogin(c.Request.Context(), principal(c), c.Param("ticket"))
	if err != nil {
		fail(c, err)
		return
	}
	noStore(c)
	c.JSON(http.StatusOK, scan)
}

func (h *Handler) confirmQRLogin(c *gin.Context) {
	if err := h.svc.ConfirmQRLogin(c.Request.Context(), principal(c), c.Param("ticket")); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *Handler) cancelQRLogin(c *gin.Context) {
	if err := h.svc.CancelQRLogin(c.Request.Context(), principal(c), c.Param("ticket")); err != nil {
		fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
