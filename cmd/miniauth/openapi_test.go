package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// ginParam is a gin path parameter (:slug) or catch-all (*path).
var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// openAPIPath spells a gin route path the OpenAPI way: /tenants/:slug ->
// /tenants/{slug}.
func openAPIPath(ginPath string) string { return ginParam.ReplaceAllString(ginPath, "{$1}") }

// openAPIMethods are the keys of a path item that are operations; the
// others (parameters, summary, servers, ...) are not routes.
var openAPIMethods = map[string]bool{
	"get": true, "put": true, "post": true, "delete": true, "options": true, "head": true, "patch": true, "trace": true,
}

// TestOpenAPIMatchesRoutes keeps admin/api/openapi.json and the routes the
// server really registers in step: every route is documented and every
// documented operation is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// The document is public: no API key.
	r := do(t, "GET", b.srv.URL+"/api/v1/openapi.json", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf(`openapi = %q, want "3.1.0"`, doc.OpenAPI)
	}

	registered := map[string]bool{}
	for _, rt := range b.srv.app.handler.(*gin.Engine).Routes() {
		// The console's HTML pages and assets are not part of the API.
		if rt.Path == "/" || strings.HasPrefix(rt.Path, "/admin") || strings.HasPrefix(rt.Path, "/static/") {
			continue
		}
		registered[rt.Method+" "+openAPIPath(rt.Path)] = true
	}
	// Guard against comparing two empty sets.
	for _, want := range []string{"GET /healthz", "POST /v1/t/{tenant}/login", "GET /api/v1/tenants/{slug}"} {
		if !registered[want] {
			t.Fatalf("route %s is not registered; is this the real handler? routes: %v", want, sortedKeys(registered))
		}
	}

	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			if openAPIMethods[method] {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}

	if missing := minus(registered, documented); len(missing) > 0 {
		t.Errorf("%d registered route(s) missing from admin/api/openapi.json:\n\t%s",
			len(missing), strings.Join(missing, "\n\t"))
	}
	if extra := minus(documented, registered); len(extra) > 0 {
		t.Errorf("%d operation(s) in admin/api/openapi.json that the server does not register:\n\t%s",
			len(extra), strings.Join(extra, "\n\t"))
	}
}

// minus lists the keys of a that are not in b, sorted.
func minus(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
