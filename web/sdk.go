package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"

	"github.com/gin-gonic/gin"
)

//go:embed sdk/miniauth.js sdk/miniauth.d.ts
var sdkFiles embed.FS

// ServeSDK serves the mini-program SDK at /sdk/miniauth.js and its types at
// /sdk/miniauth.d.ts, for developers to copy into their mini-program.
func ServeSDK(r gin.IRouter) {
	for name, ctype := range map[string]string{
		"miniauth.js":   "application/javascript; charset=utf-8",
		"miniauth.d.ts": "application/typescript; charset=utf-8",
	} {
		body, err := sdkFiles.ReadFile("sdk/" + name)
		if err != nil {
			panic(err) // embedded above: cannot happen
		}
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:8]) + `"`
		r.GET("/sdk/"+name, func(c *gin.Context) {
			c.Header("Cache-Control", "public, max-age=300")
			c.Header("ETag", etag)
			c.Header("X-Content-Type-Options", "nosniff")
			if c.GetHeader("If-None-Match") == etag {
				c.Status(http.StatusNotModified)
				return
			}
			c.Data(http.StatusOK, ctype, body)
		})
	}
}
