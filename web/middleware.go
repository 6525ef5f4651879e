package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/web/metrics"
)

type ctxKey struct{}

// RequestTimeout bounds the work of one request, so a stuck database or
// upstream cannot pin goroutines and connections indefinitely.
const RequestTimeout = 20 * time.Second

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-ID"

// RequestID returns the request id stored in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// LogHandler adds the request id of the context to every log record, so
// each line a request causes can be found from its id.
type LogHandler struct{ slog.Handler }

func (h LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return LogHandler{h.Handler.WithAttrs(attrs)}
}

func (h LogHandler) WithGroup(name string) slog.Handler { return LogHandler{h.Handler.WithGroup(name)} }

// Unmatched is the route label of requests no route matched.
const Unmatched = "unmatched"

// Middleware is what every surface runs first: request id, panic recovery,
// one access-log line per request and, when requests is not nil, its
// latency by method, route pattern and status.
func Middleware(log *slog.Logger, requests *metrics.Histogram) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		id := c.GetHeader(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		c.Header(RequestIDHeader, id)
		ctx, cancel := context.WithTimeout(context.WithValue(c.Request.Context(), ctxKey{}, id), RequestTimeout)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)

		defer func() {
			if rec := recover(); rec != nil {
				log.ErrorContext(ctx, "panic", "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					Abort(c, InternalError(fmt.Errorf("panic: %v", rec)))
				}
			}
			status, took, route := c.Writer.Status(), time.Since(start), routeLabel(c)
			requests.Observe(took.Seconds(), methodLabel(c.Request.Method), route, metrics.Code(status))
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			attrs := []any{
				"method", c.Request.Method,
				"route", route,
				"status", status,
				"duration_ms", float64(took.Microseconds()) / 1000,
				"ip", c.ClientIP(),
			}
			if slug := tenantParam(c); slug != "" {
				attrs = append(attrs, "tenant", slug)
			}
			if len(c.Errors) > 0 {
				attrs = append(attrs, "err", c.Errors.String())
			}
			log.Log(ctx, level, "request", attrs...)
		}()
		c.Next()
	}
}

// methodLabel bounds the method label: a client may send any token as a
// method.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// tenantParam is the tenant slug of the request's path: :tenant on the
// mini-program API, :slug on the management API and the console.
func tenantParam(c *gin.Context) string {
	if slug := c.Param("tenant"); slug != "" {
		return slug
	}
	return c.Param("slug")
}

// NotFound and MethodNotAllowed answer unknown routes with problems.
func NotFound(c *gin.Context) {
	Abort(c, NewProblem(http.StatusNotFound, "not_found", "No such endpoint."))
}

func MethodNotAllowed(c *gin.Context) {
	Abort(c, NewProblem(http.StatusMethodNotAllowed, "method_not_allowed", "The endpoint does not take this method."))
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
