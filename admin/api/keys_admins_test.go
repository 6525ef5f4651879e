package api_test

// Management API endpoints one by one:
// API keys and admin accounts, their success and failure paths, and no
// secret in any answer.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
)

func TestMgmtAPIKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.mg(t)
	tt := b.tenant(t, "mk-one")
	other := b.tenant(t, "mk-two")
	platformID := b.platformKeyID.String()

	r := mgWant(t, "create", c.do(http.MethodPost, "/api-keys", map[string]any{"name": "ci deploy", "role": "tenant_operator", "tenant": tt.Slug}),
		http.StatusCreated, "")
	m := r.Body
	id, _ := m["id"].(string)
	plain, _ := m["key"].(string)
	c.log.issue(t, plain)
	if _, err := uuid.Parse(id); err != nil || m["name"] != "ci deploy" || m["role"] != "tenant_operator" || m["tenant"] != tt.Slug ||
		m["created_at"] == nil || !strings.HasPrefix(plain, "mak_") || len(plain) < 40 {
		t.Fatalf("create answer: %s", r.Raw)
	}
	if bytes.Contains(r.Raw, []byte("hash")) {
		t.Errorf("create answer shows a hash: %s", r.Raw)
	}
	if n := b.count(t, `SELECT count(*) FROM api_keys WHERE key_hash = sha256($1::bytea)`, []byte(plain)); n != 1 {
		t.Errorf("key stored as its SHA-256: %d rows", n)
	}
	if n := b.count(t, `SELECT count(*) FROM api_keys a WHERE strpos(a::text, $1) > 0`, plain); n != 0 {
		t.Errorf("plaintext key stored in %d rows", n)
	}

	find := func(what, path, id string) map[string]any {
		t.Helper()
		for _, it := range mgAll(t, c, path, 50, "id") {
			if _, ok := it["key"]; ok {
				t.Errorf("%s: list item shows a key: %v", what, it)
			}
			if it["id"] == id {
				return it
			}
		}
		return nil
	}
	it := find("list", "/api-keys", id)
	if it == nil || it["name"] != "ci deploy" || it["role"] != "tenant_operator" || it["tenant"] != tt.Slug {
		t.Fatalf("list: key %s missing or wrong: %v", id, it)
	}
	if v, ok := it["last_used_at"]; !ok || v != nil {
		t.Errorf("unused key: last_used_at %v (present %v), want null", v, ok)
	}
	mgWant(t, "use the key", c.as(plain).do(http.MethodGet, "/tenants/"+tt.Slug, nil), http.StatusOK, "")
	if it := find("list after use", "/api-keys", id); it == nil || it["last_used_at"] == nil {
		t.Errorf("used key: %v, want a last_used_at", it)
	}

	// Tenant filter, platform keys and pagination.
	otherID, otherKey := mgCreateKey(t, c, "other", "tenant_viewer", other.Slug)
	pID, pKey := mgCreateKey(t, c, "second platform key", "platform_admin", "")
	if got := mgSorted(mgIDs(mgAll(t, c, "/api-keys?tenant="+tt.Slug, 50, "id"), "id")); !slices.Equal(got, []string{id}) {
		t.Errorf("keys of %s: %v, want [%s]", tt.Slug, got, id)
	}
	all := mgAll(t, c, "/api-keys", 1, "id")
	if got, want := mgSorted(mgIDs(all, "id")), mgSorted([]string{platformID, id, otherID, pID}); !slices.Equal(got, want) {
		t.Errorf("paged key list: %v, want %v", got, want)
	}
	for _, k := range all {
		if k["id"] == pID && (k["role"] != "platform_admin" || k["tenant"] != nil) {
			t.Errorf("platform key listed as %v", k)
		}
	}
	mgWant(t, "platform key created through the API works", c.as(pKey).do(http.MethodGet, "/tenants", nil), http.StatusOK, "")
	for _, q := range []string{"limit=0", "limit=201", "limit=x"} {
		mgFields(t, "list "+q, c.do(http.MethodGet, "/api-keys?"+q, nil), "limit")
	}
	for _, cur := range []string{"%25%25", base64.RawURLEncoding.EncodeToString([]byte("nope"))} {
		mgFields(t, "list cursor "+cur, c.do(http.MethodGet, "/api-keys?cursor="+cur, nil), "cursor")
	}

	// Invalid creates name the field and create nothing.
	keysBefore := b.count(t, `SELECT count(*) FROM api_keys`)
	for what, tc := range map[string]struct {
		body   any
		fields []string
	}{
		"empty name":             {map[string]any{"name": "", "role": "tenant_viewer", "tenant": tt.Slug}, []string{"name"}},
		"blank name":             {map[string]any{"name": "   ", "role": "tenant_viewer", "tenant": tt.Slug}, []string{"name"}},
		"long name":              {map[string]any{"name": strings.Repeat("n", 101), "role": "tenant_viewer", "tenant": tt.Slug}, []string{"name"}},
		"unknown role":           {map[string]any{"name": "x", "role": "root", "tenant": tt.Slug}, []string{"role"}},
		"missing role":           {map[string]any{"name": "x", "tenant": tt.Slug}, []string{"role"}},
		"tenant role, no slug":   {map[string]any{"name": "x", "role": "tenant_viewer"}, []string{"tenant"}},
		"platform with a slug":   {map[string]any{"name": "x", "role": "platform_admin", "tenant": tt.Slug}, []string{"tenant"}},
		"unknown tenant":         {map[string]any{"name": "x", "role": "tenant_viewer", "tenant": "mk-nobody"}, []string{"tenant"}},
		"unknown field":          {map[string]any{"name": "x", "role": "tenant_viewer", "tenant": tt.Slug, "scopes": []string{"all"}}, []string{"scopes"}},
		"role of the wrong type": {map[string]any{"name": "x", "role": 7, "tenant": tt.Slug}, []string{"role"}},
	} {
		mgFields(t, what, c.do(http.MethodPost, "/api-keys", tc.body), tc.fields...)
	}
	mgWant(t, "broken JSON", c.do(http.MethodPost, "/api-keys", `{"name":`), http.StatusBadRequest, "invalid_request")
	mgWant(t, "no body", c.do(http.MethodPost, "/api-keys", nil), http.StatusBadRequest, "invalid_request")
	if n := b.count(t, `SELECT count(*) FROM api_keys`); n != keysBefore {
		t.Errorf("refused creates left %d new keys", n-keysBefore)
	}

	// Revoke.
	mgWant(t, "revoke", c.do(http.MethodDelete, "/api-keys/"+id, nil), http.StatusNoContent, "")
	mgWant(t, "revoked key", c.as(plain).do(http.MethodGet, "/tenants/"+tt.Slug, nil), http.StatusUnauthorized, "unauthorized")
	mgWant(t, "revoke again", c.do(http.MethodDelete, "/api-keys/"+id, nil), http.StatusNotFound, "not_found")
	if it := find("list after revoke", "/api-keys", id); it != nil {
		t.Errorf("revoked key still listed: %v", it)
	}
	mgWant(t, "other keys still work", c.as(otherKey).do(http.MethodGet, "/tenants/"+other.Slug, nil), http.StatusOK, "")

	// Authentication failures.
	for name, h := range map[string]string{
		"no key":      "",
		"unknown key": "Bearer mak_" + strings.Repeat("A", 43),
		"not a key":   "Bearer hunter2",
		"basic":       "Basic " + otherKey,
		"huge key":    "Bearer mak_" + strings.Repeat("A", 5000),
	} {
		r := b.do(t, "", http.MethodGet, "/tenants/"+other.Slug, nil, "Authorization", h)
		c.log.add(name, r.Raw)
		mgWant(t, name, r, http.StatusUnauthorized, "unauthorized")
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", name)
		}
	}

	c.log.assertClean(t, plain, otherKey, pKey, b.platformKey, "secret-of-"+tt.Slug, "secret-of-"+other.Slug)
}

// ---------------------------------------------------------------- admins

func TestMgmtAdmins(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.mg(t)
	one := b.tenant(t, "ma-one")
	two := b.tenant(t, "ma-two")
	pw1, pw2 := "first correct horse battery", "second staple of the battery"
	ctx := context.Background()
	accounts := admin.NewAccountsAt(b.db, nil, cheapPasswords)

	r := mgWant(t, "create", c.do(http.MethodPost, "/admins", map[string]any{"email": "Alice@Example.com", "password": pw1,
		"roles": []map[string]any{{"role": "tenant_admin", "tenant": one.Slug}}}), http.StatusCreated, "")
	for _, bad := range []string{"password", "hash", "argon2"} {
		if bytes.Contains(r.Raw, []byte(bad)) {
			t.Errorf("create answer mentions %q: %s", bad, r.Raw)
		}
	}
	var acct admin.Account
	if err := json.Unmarshal(r.Raw, &acct); err != nil {
		t.Fatal(err)
	}
	if acct.ID == uuid.Nil || acct.Email != "Alice@Example.com" || acct.Disabled || len(acct.Roles) != 1 ||
		acct.Roles[0].Role != admin.RoleTenantAdmin || acct.Roles[0].Tenant == nil || *acct.Roles[0].Tenant != one.Slug ||
		acct.CreatedAt.IsZero() {
		t.Fatalf("created admin: %s", r.Raw)
	}
	id := acct.ID.String()
	var hash string
	if err := b.db.QueryRow(ctx, `SELECT password_hash FROM admins WHERE id = $1`, id).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$") || strings.Contains(hash, pw1) {
		t.Errorf("stored password is not an argon2id hash: %.20s", hash)
	}
	if _, err := accounts.VerifyPassword(ctx, "alice@example.com", pw1); err != nil {
		t.Errorf("the new admin cannot sign in: %v", err)
	}

	// Refused creates.
	before := b.count(t, `SELECT count(*) FROM admins`)
	mgWant(t, "duplicate email, other case", c.do(http.MethodPost, "/admins", map[string]any{"email": "alice@EXAMPLE.com", "password": pw2,
		"roles": []map[string]any{{"role": "platform_admin"}}}), http.StatusConflict, "conflict")
	roles := func(rs ...map[string]any) []map[string]any { return append([]map[string]any{}, rs...) }
	for what, tc := range map[string]struct {
		body   map[string]any
		fields []string
	}{
		"weak password":        {map[string]any{"email": "b@example.com", "password": "short", "roles": roles(map[string]any{"role": "platform_admin"})}, []string{"password"}},
		"11-char password":     {map[string]any{"email": "b@example.com", "password": "elevenchars", "roles": roles(map[string]any{"role": "platform_admin"})}, []string{"password"}},
		"no password":          {map[string]any{"email": "b@example.com", "roles": roles(map[string]any{"role": "platform_admin"})}, []string{"password"}},
		"bad email":            {map[string]any{"email": "not an email", "password": pw2, "roles": roles(map[string]any{"role": "platform_admin"})}, []string{"email"}},
		"display-name email":   {map[string]any{"email": "Bob <b@example.com>", "password": pw2, "roles": roles(map[string]any{"role": "platform_admin"})}, []string{"email"}},
		"unknown role":         {map[string]any{"email": "b@example.com", "password": pw2, "roles": roles(map[string]any{"role": "root"})}, []string{"roles"}},
		"no roles":             {map[string]any{"email": "b@example.com", "password": pw2, "roles": roles()}, []string{"roles"}},
		"tenant role, no slug": {map[string]any{"email": "b@example.com", "password": pw2, "roles": roles(map[string]any{"role": "tenant_viewer"})}, []string{"roles"}},
		"platform with slug":   {map[string]any{"email": "b@example.com", "password": pw2, "roles": roles(map[string]any{"role": "platform_admin", "tenant": one.Slug})}, []string{"roles"}},
		"unknown tenant":       {map[string]any{"email": "b@example.com", "password": pw2, "roles": roles(map[string]any{"role": "tenant_viewer", "tenant": "ma-nobody"})}, []string{"roles"}},
		"two roles in one tenant": {map[string]any{"email": "b@example.com", "password": pw2, "roles": roles(
			map[string]any{"role": "tenant_viewer", "tenant": one.Slug}, map[string]any{"role": "tenant_admin", "tenant": one.Slug})}, []string{"roles"}},
		"unknown field": {map[string]any{"email": "b@example.com", "password": pw2, "roles": roles(map[string]any{"role": "platform_admin"}), "name": "Bob"}, []string{"name"}},
	} {
		mgFields(t, what, c.do(http.MethodPost, "/admins", tc.body), tc.fields...)
	}
	if n := b.count(t, `SELECT count(*) FROM admins`); n != before {
		t.Errorf("refused creates left %d accounts", n-before)
	}
	if n := b.count(t, `SELECT count(*) FROM admin_roles`); n != 1 {
		t.Errorf("%d role bindings, want 1", n)
	}

	// Get and list.
	r = mgWant(t, "get", c.do(http.MethodGet, "/admins/"+id, nil), http.StatusOK, "")
	if m := r.Body; m["id"] != id || m["email"] != "Alice@Example.com" || m["disabled"] != false {
		t.Errorf("get: %s", r.Raw)
	}
	mgWant(t, "get unknown", c.do(http.MethodGet, "/admins/"+uuid.NewString(), nil), http.StatusNotFound, "not_found")
	mgWant(t, "get malformed", c.do(http.MethodGet, "/admins/nope", nil), http.StatusNotFound, "not_found")
	var more []string
	for i := 0; i < 3; i++ {
		aid := uuid.Must(uuid.NewV7()).String()
		if _, err := b.db.Exec(ctx, `INSERT INTO admins (id, email, password_hash) VALUES ($1, $2, 'x')`, aid, fmt.Sprintf("more%d@example.com", i)); err != nil {
			t.Fatal(err)
		}
		more = append(more, aid)
	}
	if got, want := mgSorted(mgIDs(mgAll(t, c, "/admins", 1, "id"), "id")), mgSorted(append([]string{id}, more...)); !slices.Equal(got, want) {
		t.Errorf("paged admin list: %v, want %v", got, want)
	}
	mgFields(t, "admins bad limit", c.do(http.MethodGet, "/admins?limit=0", nil), "limit")
	mgFields(t, "admins bad cursor", c.do(http.MethodGet, "/admins?cursor="+base64.RawURLEncoding.EncodeToString([]byte("zz")), nil), "cursor")

	// Update.
	patch := func(what string, body any) map[string]any {
		t.Helper()
		r := mgWant(t, what, c.do(http.MethodPatch, "/admins/"+id, body), http.StatusOK, "")
		if bytes.Contains(r.Raw, []byte("password")) || bytes.Contains(r.Raw, []byte("argon2")) {
			t.Errorf("%s: answer mentions the password: %s", what, r.Raw)
		}
		return r.Body
	}
	if m := patch("disable", map[string]any{"disabled": true}); m["disabled"] != true {
		t.Errorf("disable: %v", m)
	}
	if _, err := accounts.VerifyPassword(ctx, "alice@example.com", pw1); err == nil {
		t.Error("a disabled admin can sign in")
	}
	if m := patch("enable", map[string]any{"disabled": false}); m["disabled"] != false {
		t.Errorf("enable: %v", m)
	}
	m := patch("roles", map[string]any{"roles": roles(map[string]any{"role": "tenant_operator", "tenant": two.Slug},
		map[string]any{"role": "tenant_viewer", "tenant": one.Slug})})
	got, _ := json.Marshal(m["roles"])
	if want := `[{"role":"tenant_viewer","tenant":"ma-one"},{"role":"tenant_operator","tenant":"ma-two"}]`; string(got) != want {
		t.Errorf("roles after patch: %s, want %s", got, want)
	}
	mgFields(t, "weak new password", c.do(http.MethodPatch, "/admins/"+id, map[string]any{"password": "short"}), "password")
	mgFields(t, "empty roles", c.do(http.MethodPatch, "/admins/"+id, map[string]any{"roles": roles()}), "roles")
	mgFields(t, "bad role", c.do(http.MethodPatch, "/admins/"+id, map[string]any{"roles": roles(map[string]any{"role": "root"})}), "roles")
	mgFields(t, "unknown tenant", c.do(http.MethodPatch, "/admins/"+id, map[string]any{"roles": roles(map[string]any{"role": "tenant_viewer", "tenant": "ma-nobody"})}), "roles")
	mgFields(t, "patch email", c.do(http.MethodPatch, "/admins/"+id, map[string]any{"email": "x@example.com"}), "email")
	// The refused patches kept the roles.
	got, _ = json.Marshal(mgWant(t, "get", c.do(http.MethodGet, "/admins/"+id, nil), http.StatusOK, "").Body["roles"])
	if want := `[{"role":"tenant_viewer","tenant":"ma-one"},{"role":"tenant_operator","tenant":"ma-two"}]`; string(got) != want {
		t.Errorf("roles after refused patches: %s, want %s", got, want)
	}
	patch("password", map[string]any{"password": pw2})
	if _, err := accounts.VerifyPassword(ctx, "alice@example.com", pw2); err != nil {
		t.Errorf("new password refused: %v", err)
	}
	if _, err := accounts.VerifyPassword(ctx, "alice@example.com", pw1); err == nil {
		t.Error("old password still accepted")
	}
	mgWant(t, "patch unknown", c.do(http.MethodPatch, "/admins/"+uuid.NewString(), map[string]any{"disabled": true}), http.StatusNotFound, "not_found")
	mgWant(t, "patch malformed", c.do(http.MethodPatch, "/admins/nope", map[string]any{"disabled": true}), http.StatusNotFound, "not_found")

	// Delete.
	mgWant(t, "delete", c.do(http.MethodDelete, "/admins/"+id, nil), http.StatusNoContent, "")
	mgWant(t, "get deleted", c.do(http.MethodGet, "/admins/"+id, nil), http.StatusNotFound, "not_found")
	mgWant(t, "delete again", c.do(http.MethodDelete, "/admins/"+id, nil), http.StatusNotFound, "not_found")
	mgWant(t, "delete malformed", c.do(http.MethodDelete, "/admins/nope", nil), http.StatusNotFound, "not_found")
	if n := b.count(t, `SELECT count(*) FROM admin_roles WHERE admin_id = $1`, id); n != 0 {
		t.Errorf("%d role bindings left after delete", n)
	}

	c.log.assertClean(t, pw1, pw2, "secret-of-"+one.Slug, "secret-of-"+two.Slug)
}

// ---------------------------------------------------------------- audit
