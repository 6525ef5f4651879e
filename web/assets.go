package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

//go:embed static
var staticFS embed.FS

// StaticPrefix is where the embedded assets are served.
const StaticPrefix = "/static/"

// asset is one embedded file under its content-hashed name.
type asset struct {
	body        []byte
	contentType string
}

// assets maps "console.css" to "console.1a2b3c4d5e.css" and that hashed
// name to the file. The hash changes with the content, so a URL can be
// cached for a year and a new release is fetched at once.
var assets = func() struct {
	hashed map[string]string
	files  map[string]asset
} {
	out := struct {
		hashed map[string]string
		files  map[string]asset
	}{map[string]string{}, map[string]asset{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "static/")
		sum := sha256.Sum256(body)
		ext := path.Ext(name)
		hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:5]) + ext
		out.hashed[name] = hashed
		out.files[hashed] = asset{body: body, contentType: contentType(ext)}
		return nil
	})
	if err != nil {
		panic(err)
	}
	return out
}()

func contentType(ext string) string {
	switch ext {
	case ".css":
		return "text/css; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	}
	return "application/octet-stream"
}

// Asset returns the URL of an embedded file ("console.css" ->
// "/static/console.1a2b3c4d5e.css"). It panics on a name that is not
// embedded, which a view test catches at once.
func Asset(name string) string {
	h, ok := assets.hashed[name]
	if !ok {
		panic("web: no embedded asset " + name)
	}
	return StaticPrefix + h
}

// ServeAssets serves the embedded files under their hashed names only,
// with a year-long immutable cache lifetime.
func ServeAssets(r gin.IRouter) {
	r.GET(StaticPrefix+"*file", func(c *gin.Context) {
		a, ok := assets.files[strings.TrimPrefix(c.Param("file"), "/")]
		if !ok {
			NotFound(c)
			return
		}
		c.Header("Cache-Control", "public, max-age=31536000, immutable")
		c.Header("X-Content-Type-Options", "nosniff")
		c.Data(http.StatusOK, a.contentType, a.body)
	})
}
