package web_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/web"
)

func TestServeSDK(t *testing.T) {
	r := gin.New()
	web.ServeSDK(r)
	for path, want := range map[string]struct{ ctype, text string }{
		"/sdk/miniauth.js":   {"application/javascript", "module.exports"},
		"/sdk/miniauth.d.ts": {"application/typescript", "export function createClient"},
	} {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		etag := w.Header().Get("ETag")
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), want.ctype) || !strings.Contains(w.Body.String(), want.text) || etag == "" {
			t.Fatalf("%s: %d %q etag %q", path, w.Code, w.Header().Get("Content-Type"), etag)
		}
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("If-None-Match", etag)
		w = httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != http.StatusNotModified {
			t.Fatalf("%s with its ETag: %d, want 304", path, w.Code)
		}
	}
}
