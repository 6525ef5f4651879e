package api

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// spec is the OpenAPI 3.1 description of this API; a test keeps it and the
// registered routes in step, and CI lints it.
//
//go:embed openapi.json
var spec []byte

func serveSpec(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/json", spec)
}
