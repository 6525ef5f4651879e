package web_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/web"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

type loginBody struct {
	Code  string `json:"code"`
	All   bool   `json:"all"`
	Count int    `json:"count"`
	Inner struct {
		Name string `json:"name"`
	} `json:"inner"`
	Tags []string `json:"tags"`
}

func decode(t *testing.T, body string, contentType string) (loginBody, error) {
	t.Helper()
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest(http.MethodPost, "/v1/t/acme/login", strings.NewReader(body))
	if contentType != "" {
		c.Request.Header.Set("Content-Type", contentType)
	}
	var dst loginBody
	err := web.DecodeJSON(c, &dst)
	return dst, err
}

func asProblem(t *testing.T, err error) *web.Problem {
	t.Helper()
	var p *web.Problem
	if !errors.As(err, &p) {
		t.Fatalf("err = %v (%T), want a *web.Problem", err, err)
	}
	return p
}

func TestDecodeJSONAccepts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, contentType string
		want                    string
	}{
		{"object", `{"code":"abc"}`, "application/json", "abc"},
		{"no content type", `{"code":"abc"}`, "", "abc"},
		{"form content type", `{"code":"abc"}`, "application/x-www-form-urlencoded", "abc"},
		{"surrounding whitespace", " \n\t{\"code\":\"abc\"}\n ", "application/json", "abc"},
		{"empty object", `{}`, "application/json", ""},
		{"null", `null`, "application/json", ""},
		{"one name in several objects", `{"inner":{"name":"code"},"code":"abc","tags":["code","code"]}`, "application/json", "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := decode(t, tc.body, tc.contentType)
			if err != nil {
				t.Fatalf("DecodeJSON: %v", err)
			}
			if got.Code != tc.want {
				t.Fatalf("Code = %q, want %q", got.Code, tc.want)
			}
		})
	}
}

func TestDecodeJSONRejects(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		body  string
		field string // the field the problem must name, if any
		msg   string // part of that field's message
	}{
		{"unknown field", `{"code":"abc","cdoe":"x"}`, "cdoe", "unknown"},
		{"unknown nested field", `{"inner":{"nmae":"x"}}`, "nmae", "unknown"},
		{"string for bool", `{"all":"yes"}`, "all", "boolean"},
		{"number for string", `{"code":5}`, "code", "string"},
		{"string for number", `{"count":"5"}`, "count", "number"},
		{"fraction for int", `{"count":1.5}`, "count", "number"},
		{"object for string", `{"code":{}}`, "code", "string"},
		{"nested wrong type", `{"inner":{"name":1}}`, "inner.name", "string"},
		{"string for array", `{"tags":"a"}`, "tags", "array"},
		{"top-level array", `[]`, "", ""},
		{"top-level string", `"code"`, "", ""},
		{"syntax error", `{"code":}`, "", ""},
		{"single quotes", `{'code':'abc'}`, "", ""},
		{"truncated", `{"code":"abc"`, "", ""},
		{"not json", `code=abc`, "", ""},
		{"trailing object", `{"code":"abc"}{"code":"def"}`, "", ""},
		{"trailing garbage", `{"code":"abc"} x`, "", ""},
		{"trailing number", `{"code":"abc"} 1`, "", ""},
		{"trailing brace", `{"code":"abc"}}`, "", ""},
		{"trailing bracket", `{"code":"abc"}]`, "", ""},
		{"invalid UTF-8", "{\"code\":\"a\xffb\"}", "", ""},
		{"repeated name", `{"code":"a","code":"b"}`, "code", "more than once"},
		{"repeated name in another case", `{"code":"a","Code":"b"}`, "Code", "more than once"},
		{"repeated nested name", `{"inner":{"name":"a","name":"b"}}`, "name", "more than once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := decode(t, tc.body, "application/json")
			if err == nil {
				t.Fatalf("DecodeJSON(%s) accepted it", tc.body)
			}
			p := asProblem(t, err)
			if p.Status != http.StatusBadRequest || p.Code != "invalid_request" {
				t.Fatalf("problem %d %s, want 400 invalid_request", p.Status, p.Code)
			}
			if p.Detail == "" {
				t.Fatal("problem has no detail")
			}
			if tc.field == "" {
				return
			}
			if len(p.Errors) != 1 || p.Errors[0].Field != tc.field || !strings.Contains(p.Errors[0].Message, tc.msg) {
				t.Fatalf("errors = %+v, want field %q with a message about %q", p.Errors, tc.field, tc.msg)
			}
		})
	}
}

func TestDecodeJSONEmptyBody(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body string }{
		{"empty", ""},
		{"whitespace", " \r\n\t "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := decode(t, tc.body, "application/json")
			if !errors.Is(err, web.ErrEmptyBody) {
				t.Fatalf("err = %v, want ErrEmptyBody", err)
			}
			if p := asProblem(t, err); p.Status != http.StatusBadRequest || p.Code != "invalid_request" {
				t.Fatalf("problem %d %s, want 400 invalid_request", p.Status, p.Code)
			}
		})
	}
	t.Run("no body at all", func(t *testing.T) {
		t.Parallel()
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		c.Request = httptest.NewRequest(http.MethodPost, "/", http.NoBody)
		var dst loginBody
		if err := web.DecodeJSON(c, &dst); !errors.Is(err, web.ErrEmptyBody) {
			t.Fatalf("err = %v, want ErrEmptyBody", err)
		}
	})
}

// bodyOfSize is a valid JSON object of exactly n bytes.
func bodyOfSize(t *testing.T, n int) string {
	t.Helper()
	const prefix, suffix = `{"code":"`, `"}`
	b := prefix + strings.Repeat("a", n-len(prefix)-len(suffix)) + suffix
	if len(b) != n {
		t.Fatalf("built %d bytes, want %d", len(b), n)
	}
	return b
}

func TestDecodeJSONSizeLimit(t *testing.T) {
	t.Parallel()
	if web.MaxBodyBytes != 16*1024 {
		t.Fatalf("MaxBodyBytes = %d, the contract says 16 KiB", web.MaxBodyBytes)
	}

	t.Run("exactly 16 KiB is accepted", func(t *testing.T) {
		t.Parallel()
		got, err := decode(t, bodyOfSize(t, 16*1024), "application/json")
		if err != nil {
			t.Fatalf("DecodeJSON: %v", err)
		}
		if len(got.Code) != 16*1024-len(`{"code":""}`) {
			t.Fatalf("decoded code of %d bytes", len(got.Code))
		}
	})
	for _, n := range []int{16*1024 + 1, 64 * 1024, 1 << 20} {
		t.Run("over the limit", func(t *testing.T) {
			t.Parallel()
			_, err := decode(t, bodyOfSize(t, n), "application/json")
			p := asProblem(t, err)
			if p.Status != http.StatusRequestEntityTooLarge || p.Code != "request_too_large" {
				t.Fatalf("%d bytes: problem %d %s, want 413 request_too_large", n, p.Status, p.Code)
			}
		})
	}
	t.Run("a larger Content-Length is refused before reading", func(t *testing.T) {
		t.Parallel()
		c, _ := gin.CreateTestContext(httptest.NewRecorder())
		// The body never ends: reading it would block.
		r, _ := io.Pipe()
		c.Request = httptest.NewRequest(http.MethodPost, "/v1/t/acme/login", r)
		c.Request.ContentLength = 16*1024 + 1
		var dst loginBody
		if p := asProblem(t, web.DecodeJSON(c, &dst)); p.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("problem %d %s, want 413", p.Status, p.Code)
		}
	})
	t.Run("16 KiB + 1 of whitespace is still too large", func(t *testing.T) {
		t.Parallel()
		_, err := decode(t, `{"code":"a"}`+strings.Repeat(" ", 16*1024), "application/json")
		if p := asProblem(t, err); p.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("problem %d %s, want 413", p.Status, p.Code)
		}
	})
}
