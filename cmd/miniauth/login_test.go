package main

// End-to-end tests of what only the real server shows about logins: no
// secret at rest anywhere in the database after real flows, and what every
// response of the server shares (problems, request ids, health). The login
// handler's single-instance behaviour is tested in auth/api. Each test
// builds its own world with setup(t), so they all run in parallel.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// ---------------------------------------------------------------- helpers

// loginPost posts {"code": code} to tenant slug's login endpoint.
func loginPost(t testing.TB, b *testBundle, slug, code string) response {
	t.Helper()
	return do(t, "POST", b.srv.URL+"/v1/t/"+slug+"/login", map[string]string{"code": code})
}

// loginWantProblem asserts r is an RFC 9457 problem with this status and
// code, and returns its decoded body.
func loginWantProblem(t testing.TB, r response, status int, code string) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d: %s", r.Status, status, r.Body)
	}
	if got := r.Code(t); got != code {
		t.Fatalf("problem code = %q, want %q: %s", got, code, r.Body)
	}
	m := r.JSON(t)
	if s, _ := m["type"].(string); s == "" {
		t.Errorf("problem without a type: %s", r.Body)
	}
	if s, _ := m["title"].(string); s == "" {
		t.Errorf("problem without a title: %s", r.Body)
	}
	if n, ok := m["status"].(float64); !ok || int(n) != status {
		t.Errorf("problem status member = %v, want %d: %s", m["status"], status, r.Body)
	}
	return m
}

// ---------------------------------------------------------------- 1. secrets at rest

func TestLoginSecretsAtRest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("at-rest", nil)
	alice := b.login(nil, tt, "alice")
	bob := b.login(nil, tt, "bob")
	// A second login rotates alice's key; the old one must not linger either.
	skOld, _ := b.wx.SessionKey(tt.AppID, "alice")
	alice2 := b.login(nil, tt, "alice")
	skA, _ := b.wx.SessionKey(tt.AppID, "alice")
	skB, _ := b.wx.SessionKey(tt.AppID, "bob")

	type needle struct {
		name string
		val  []byte
	}
	needles := []needle{
		{"AppSecret", []byte(tt.Secret)},
		{"API key", []byte(b.apiKey)},
		{"refresh token alice", []byte(alice.RefreshToken)},
		{"refresh token alice 2", []byte(alice2.RefreshToken)},
		{"refresh token bob", []byte(bob.RefreshToken)},
	}
	for i, sk := range []string{skOld, skA, skB} {
		if sk == "" {
			t.Fatalf("fake issued no session_key %d", i)
		}
		raw, err := base64.StdEncoding.DecodeString(sk)
		if err != nil {
			t.Fatal(err)
		}
		needles = append(needles,
			needle{fmt.Sprintf("session_key %d", i), []byte(sk)},
			needle{fmt.Sprintf("session_key %d raw bytes", i), raw})
	}

	ctx := context.Background()
	rows, err := b.db.Query(ctx, `
		SELECT c.table_name, c.column_name, c.data_type
		FROM information_schema.columns c
		JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
		ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	type column struct{ table, name, typ string }
	var cols []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.table, &c.name, &c.typ); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(cols) == 0 {
		t.Fatal("no columns found in the public schema")
	}

	values, foundOpenID := 0, false
	openID := b.wx.OpenID(tt.AppID, "alice")
	for _, c := range cols {
		col := pgx.Identifier{c.name}.Sanitize()
		tbl := pgx.Identifier{c.table}.Sanitize()
		var q string
		if c.typ == "bytea" {
			q = fmt.Sprintf(`SELECT %s, encode(%s, 'escape') FROM %s WHERE %s IS NOT NULL`, col, col, tbl, col)
		} else {
			q = fmt.Sprintf(`SELECT convert_to(%s::text, 'UTF8'), %s::text FROM %s WHERE %s IS NOT NULL`, col, col, tbl, col)
		}
		vr, err := b.db.Query(ctx, q)
		if err != nil {
			t.Fatalf("scan %s.%s: %v", c.table, c.name, err)
		}
		for vr.Next() {
			var raw []byte
			var text string
			if err := vr.Scan(&raw, &text); err != nil {
				t.Fatalf("scan %s.%s: %v", c.table, c.name, err)
			}
			values++
			if text == openID {
				foundOpenID = true
			}
			for _, n := range needles {
				if bytes.Contains(raw, n.val) || strings.Contains(text, string(n.val)) {
					t.Errorf("%s found in plaintext in %s.%s", n.name, c.table, c.name)
				}
			}
		}
		if err := vr.Err(); err != nil {
			t.Fatalf("scan %s.%s: %v", c.table, c.name, err)
		}
	}
	// The scan must actually have seen the data it is vouching for.
	if !foundOpenID || values < 20 {
		t.Errorf("scan saw %d values (alice's openid found: %v); it is not looking at the right database", values, foundOpenID)
	}
}

// ---------------------------------------------------------------- 2. routes and health

func TestLoginRoutesAndHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.createTenant("routes", nil)

	for _, path := range []string{"/nope", "/v1/t/routes/nope", "/v1/t/routes/login/extra", "/api/v1/nope"} {
		r := do(t, "GET", b.srv.URL+path, nil, "Authorization", "Bearer "+b.apiKey)
		if r.Status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404: %s", path, r.Status, r.Body)
			continue
		}
		if code := r.Code(t); code == "" {
			t.Errorf("GET %s: problem without a code: %s", path, r.Body)
		}
		loginWantProblem(t, r, http.StatusNotFound, r.Code(t))
	}
	for _, c := range []struct{ method, path, allow string }{
		{"GET", "/v1/t/routes/login", "POST"},
		{"PUT", "/v1/t/routes/refresh", "POST"},
		{"DELETE", "/healthz", "GET"},
	} {
		r := do(t, c.method, b.srv.URL+c.path, nil)
		loginWantProblem(t, r, http.StatusMethodNotAllowed, "method_not_allowed")
		// RFC 9110 15.5.6: a 405 MUST carry Allow.
		if allow := r.Header.Get("Allow"); !strings.Contains(allow, c.allow) {
			t.Errorf("%s %s: Allow = %q, want it to list %s", c.method, c.path, allow, c.allow)
		}
	}

	r := do(t, "GET", b.srv.URL+"/healthz", nil)
	if r.Status != http.StatusOK {
		t.Errorf("/healthz: %d %s", r.Status, r.Body)
	}
	r = do(t, "GET", b.srv.URL+"/readyz", nil)
	if r.Status != http.StatusOK {
		t.Errorf("/readyz: %d %s", r.Status, r.Body)
	} else if m := r.JSON(t); m["postgres"] != "ok" || m["redis"] != "ok" {
		t.Errorf("/readyz = %s, want postgres and redis ok", r.Body)
	}
}

// ---------------------------------------------------------------- 3. request ids

func TestLoginRequestID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("reqid", nil)

	// One is generated when none is sent, different per request, on
	// successes and on problems alike.
	seen := map[string]bool{}
	for _, r := range []response{
		do(t, "GET", b.srv.URL+"/healthz", nil),
		do(t, "GET", b.srv.URL+"/healthz", nil),
		loginPost(t, b, tt.Slug, "bogus-code-0000"),
		do(t, "GET", b.srv.URL+"/nope", nil),
		loginPost(t, b, tt.Slug, b.wx.MintCode(tt.AppID, "alice")),
	} {
		id := r.Header.Get("X-Request-ID")
		if id == "" {
			t.Errorf("status %d response without X-Request-ID", r.Status)
			continue
		}
		if seen[id] {
			t.Errorf("X-Request-ID %q answered twice", id)
		}
		seen[id] = true
	}

	// A sane incoming id is echoed, on success and on error.
	for _, id := range []string{"abc-123.DEF_4", "0f8e2d1c-5b3a-4c7d-9e6f-1a2b3c4d5e6f"} {
		if got := do(t, "GET", b.srv.URL+"/healthz", nil, "X-Request-ID", id).Header.Get("X-Request-ID"); got != id {
			t.Errorf("sent X-Request-ID %q, got back %q", id, got)
		}
		r := do(t, "POST", b.srv.URL+"/v1/t/"+tt.Slug+"/login", `{}`, "X-Request-ID", id)
		if got := r.Header.Get("X-Request-ID"); got != id || r.Status != http.StatusBadRequest {
			t.Errorf("login with X-Request-ID %q: %d, got back %q", id, r.Status, got)
		}
	}

	// An insane one is replaced, not echoed.
	for _, id := range []string{strings.Repeat("a", 200), "bad id with spaces", "inject\"quote", "<script>"} {
		got := do(t, "GET", b.srv.URL+"/healthz", nil, "X-Request-ID", id).Header.Get("X-Request-ID")
		if got == "" || got == id {
			t.Errorf("sent X-Request-ID %q, got back %q; want a fresh id", id, got)
		}
	}
}
