package web_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/miniauth/miniauth/web"
)

// TestProblemListener: what net/http refuses before any handler runs is
// answered as a problem, 4xx, and what handlers answer passes untouched.
func TestProblemListener(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Shaped as closely as a handler can to net/http's refusals.
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, "the handler's own")
		}),
		MaxHeaderBytes: 4 << 10, ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(web.ProblemListener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })

	for _, tc := range []struct {
		name, request string
		status        int
		code          string
	}{
		{"NUL in a header", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n", 400, "invalid_request"},
		{"malformed request line", "GET\r\n\r\n", 400, "invalid_request"},
		{"missing Host", "GET / HTTP/1.1\r\n\r\n", 400, "invalid_request"},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("p", 16<<10) + "\r\n\r\n", 431, "headers_too_large"},
		{"unknown transfer coding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 400, "invalid_request"},
		{"unknown protocol version", "GET / HTTP/2.5\r\nHost: x\r\n\r\n", 400, "invalid_request"},
		{"a handler's answer", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			go func() { _, _ = io.WriteString(conn, tc.request) }()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if tc.code == "" {
				if string(body) != "the handler's own" {
					t.Fatalf("the handler's answer was changed: %q", body)
				}
				return
			}
			var p web.Problem
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(body, &p) != nil {
				t.Fatalf("Content-Type %q: %s", ct, body)
			}
			if p.Status != tc.status || p.Code != tc.code || p.Detail == "" {
				t.Fatalf("problem %+v, want %d %s with a detail", p, tc.status, tc.code)
			}
		})
	}
}

// TestProblemErrors: a plain handler's errors become problems; its
// successes are left alone.
func TestProblemErrors(t *testing.T) {
	t.Parallel()
	m := http.NewServeMux()
	m.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "fine") })
	m.HandleFunc("GET /bad", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no good", http.StatusBadRequest) })
	h := web.ProblemErrors(m)
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"GET", "/ok", 200, ""},
		{"GET", "/bad", 400, "invalid_request"},
		{"GET", "/nowhere", 404, "not_found"},
		{"POST", "/ok", 405, "method_not_allowed"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.status {
			t.Fatalf("%s %s: status %d, want %d", tc.method, tc.path, rec.Code, tc.status)
		}
		if tc.code == "" {
			if rec.Body.String() != "fine" {
				t.Fatalf("%s %s: body %q", tc.method, tc.path, rec.Body)
			}
			continue
		}
		var p web.Problem
		if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Code != tc.code {
			t.Fatalf("%s %s: Content-Type %q, body %s, want code %s", tc.method, tc.path, ct, rec.Body, tc.code)
		}
	}
}
