package main

import (
	"net/http"
	"strings"
	"testing"
)

// Metrics and profiles are served on the operations listener only.
func TestOpsListener(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, path := range []string{"/metrics", "/debug/pprof/", "/debug/pprof/cmdline"} {
		if r := do(t, "GET", b.srv.URL+path, nil); r.Status != http.StatusNotFound {
			t.Errorf("public GET %s: %d, want 404", path, r.Status)
		}
	}
	r := wantStatus(t, "ops metrics", do(t, "GET", b.srv.OpsURL+"/metrics", nil), http.StatusOK, "")
	if !strings.Contains(string(r.Body), "# TYPE miniauth_ratelimit_limited_total counter") {
		t.Fatalf("ops /metrics: %.300s", r.Body)
	}
	r = wantStatus(t, "ops pprof index", do(t, "GET", b.srv.OpsURL+"/debug/pprof/", nil), http.StatusOK, "")
	if !strings.Contains(string(r.Body), "goroutine") {
		t.Fatalf("ops pprof index: %.300s", r.Body)
	}
	wantStatus(t, "ops pprof heap", do(t, "GET", b.srv.OpsURL+"/debug/pprof/heap?debug=1", nil), http.StatusOK, "")
}
