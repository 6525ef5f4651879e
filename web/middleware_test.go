package web_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/web"
)

// syncBuffer is a log sink safe for the handler's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func newRouter(buf *syncBuffer) *gin.Engine {
	log := slog.New(web.LogHandler{Handler: slog.NewJSONHandler(buf, nil)})
	r := gin.New()
	r.Use(web.Middleware(log, nil))
	r.NoRoute(web.NotFound)
	r.GET("/ok", func(c *gin.Context) {
		log.InfoContext(c.Request.Context(), "inside", "id", web.RequestID(c.Request.Context()))
		c.String(http.StatusOK, web.RequestID(c.Request.Context()))
	})
	r.GET("/panic", func(*gin.Context) { panic("appsecret=hunter2") })
	return r
}

func TestMiddlewareRequestID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, sent string
		kept       bool
	}{
		{"generated when absent", "", false},
		{"kept when valid", "abc-123_X.y", true},
		{"replaced when it has odd characters", "abc 123\x01", false},
		{"replaced when too long", strings.Repeat("a", 65), false},
		{"kept at 64 characters", strings.Repeat("a", 64), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf syncBuffer
			req := httptest.NewRequest(http.MethodGet, "/ok", nil)
			if tc.sent != "" {
				req.Header.Set(web.RequestIDHeader, tc.sent)
			}
			w := httptest.NewRecorder()
			newRouter(&buf).ServeHTTP(w, req)
			id := w.Header().Get(web.RequestIDHeader)
			if id == "" || w.Body.String() != id {
				t.Fatalf("header id %q, handler saw %q", id, w.Body.String())
			}
			if (id == tc.sent) != tc.kept {
				t.Fatalf("sent %q, answered %q; kept = %v, want %v", tc.sent, id, id == tc.sent, tc.kept)
			}
			lines := buf.lines(t)
			if len(lines) != 2 {
				t.Fatalf("%d log lines, want the handler's and the access line", len(lines))
			}
			for _, l := range lines {
				if l["request_id"] != id {
					t.Fatalf("log line without the request id: %v", l)
				}
			}
			if access := lines[1]; access["msg"] != "request" || access["status"] != float64(200) || access["route"] != "/ok" {
				t.Fatalf("access line %v", access)
			}
		})
	}
}

func TestMiddlewareRecoversPanics(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	w := httptest.NewRecorder()
	newRouter(&buf).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/panic", nil))
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", w.Code)
	}
	if strings.Contains(w.Body.String(), "hunter2") || strings.Contains(w.Body.String(), "goroutine") {
		t.Fatalf("panic details leaked: %s", w.Body.String())
	}
	var doc map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || doc["code"] != "internal_error" {
		t.Fatalf("body %s (%v), want an internal_error problem", w.Body.String(), err)
	}
	var sawPanic, sawAccess bool
	for _, l := range buf.lines(t) {
		switch l["msg"] {
		case "panic":
			sawPanic = l["stack"] != nil && l["request_id"] != nil
		case "request":
			sawAccess = l["status"] == float64(500) && l["level"] == "ERROR"
		}
	}
	if !sawPanic || !sawAccess {
		t.Fatalf("log: panic line %v, 500 access line %v", sawPanic, sawAccess)
	}
}

func TestNotFoundIsProblem(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	w := httptest.NewRecorder()
	newRouter(&buf).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/nope", nil))
	if w.Code != http.StatusNotFound || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%d %s", w.Code, w.Header().Get("Content-Type"))
	}
}
