package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/miniauth/miniauth/web"
)

func abort(t *testing.T, err error) (*httptest.ResponseRecorder, *gin.Context) {
	t.Helper()
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
	web.Abort(c, err)
	return w, c
}

func TestAbortWritesProblem(t *testing.T) {
	t.Parallel()
	secret := "pq: password authentication failed for user miniauth; appsecret=abc123"
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
		logged     bool
	}{
		{"bad request with fields", web.BadRequest("Bad.", web.FieldError{Field: "code", Message: "is required"}), 400, "invalid_request", "", false},
		{"not found", web.NewProblem(404, "tenant_not_found", "No such tenant."), 404, "tenant_not_found", "", false},
		{"wrapped problem", errors.Join(errors.New("context"), web.NewProblem(401, "invalid_token", "x")), 401, "invalid_token", "", false},
		{"plain error becomes 500", errors.New(secret), 500, "internal_error", "", true},
		{"a statement timeout becomes 503", fmt.Errorf("load user: %w", &pgconn.PgError{Code: "57014", Message: secret}), 503, "unavailable", "1", true},
		{"Postgres shutting down becomes 503", &pgconn.PgError{Code: "57P01", Message: secret}, 503, "unavailable", "1", true},
		{"a lost connection becomes 503", fmt.Errorf("%s: %w", secret, &net.OpError{Op: "read", Err: syscall.ECONNRESET}), 503, "unavailable", "1", true},
		{"the request deadline becomes 503", fmt.Errorf("acquire: %w", context.DeadlineExceeded), 503, "unavailable", "1", true},
		{"a constraint violation stays 500", &pgconn.PgError{Code: "23505", Message: secret}, 500, "internal_error", "", true},
		{"problem with internal cause", web.NewProblem(502, "wechat_unavailable", "WeChat is unavailable.").WithInternal(errors.New(secret)), 502, "wechat_unavailable", "", true},
		{"429 always has Retry-After", web.NewProblem(429, "rate_limited", "Slow down."), 429, "rate_limited", "1", false},
		{"Retry-After rounds up", func() error {
			p := web.NewProblem(429, "rate_limited", "Slow down.")
			p.RetryAfter = 2500 * time.Millisecond
			return p
		}(), 429, "rate_limited", "3", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w, c := abort(t, tc.err)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("Content-Type %q", ct)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Fatalf("Cache-Control %q", cc)
			}
			if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Fatalf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			if !c.IsAborted() {
				t.Fatal("handler chain not aborted")
			}
			if logged := len(c.Errors) > 0; logged != tc.logged {
				t.Fatalf("cause recorded for the log: %v, want %v", logged, tc.logged)
			}
			body := w.Body.String()
			if strings.Contains(body, "appsecret") || strings.Contains(body, "password") {
				t.Fatalf("response leaks the internal cause: %s", body)
			}
			var doc map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			if doc["code"] != tc.code || doc["status"] != float64(tc.status) ||
				doc["type"] != web.ProblemBase+tc.code || doc["title"] != http.StatusText(tc.status) {
				t.Fatalf("problem document %v", doc)
			}
			for _, hidden := range []string{"Internal", "internal", "RetryAfter", "retry_after"} {
				if _, ok := doc[hidden]; ok {
					t.Fatalf("problem document has %q: %v", hidden, doc)
				}
			}
		})
	}
}

func TestAbortFieldErrors(t *testing.T) {
	t.Parallel()
	w, _ := abort(t, web.BadRequest("Bad.", web.FieldError{Field: "code", Message: "is required"}))
	var doc struct {
		Errors []web.FieldError `json:"errors"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Errors) != 1 || doc.Errors[0] != (web.FieldError{Field: "code", Message: "is required"}) {
		t.Fatalf("errors = %+v", doc.Errors)
	}
}
