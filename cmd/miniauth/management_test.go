package main

// End-to-end tests of the management REST API (/api/v1) where one
// instance is not enough: tenant changes and user revocations seen by
// other instances, and the CLI commands that create admins and API keys.
// Single-instance behaviour of the endpoints is tested in admin/api.
// Helpers are prefixed mgmt and shared with rbac_test.go.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth"
)

// ---------------------------------------------------------------- helpers

// mgmtLog keeps every management response body a test received, so the
// test can assert at its end that no secret leaked into any of them.
type mgmtLog struct {
	mu      sync.Mutex
	entries []mgmtLogged
	issued  map[string]int // secret -> index of the one response allowed to carry it
}

type mgmtLogged struct {
	what string
	body string
}

func (l *mgmtLog) add(what string, body []byte) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, mgmtLogged{what: what, body: string(body)})
	return len(l.entries) - 1
}

// issue marks the last recorded response as the one that may show secret
// (the create answer of an API key).
func (l *mgmtLog) issue(t testing.TB, secret string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.issued == nil {
		l.issued = map[string]int{}
	}
	last := len(l.entries) - 1
	if last < 0 || !strings.Contains(l.entries[last].body, secret) {
		t.Fatalf("issue: the last response does not carry the secret")
	}
	l.issued[secret] = last
}

// assertClean fails the test if any recorded response carries one of
// secrets, except the one response that issued it.
func (l *mgmtLog) assertClean(t testing.TB, secrets ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) == 0 {
		t.Fatal("no management responses were recorded")
	}
	for _, s := range secrets {
		if len(s) < 6 {
			t.Fatalf("secret %q is too short to search for", s)
		}
		allowed, isIssued := l.issued[s]
		for i, e := range l.entries {
			if isIssued && i == allowed {
				continue
			}
			if strings.Contains(e.body, s) {
				t.Errorf("response %d (%s) carries a secret (%.8s...): %s", i, e.what, s, e.body)
			}
		}
	}
}

// mgmtClient calls one instance's management API with one key and records
// every response in a shared log.
type mgmtClient struct {
	t   testing.TB
	url string
	key string
	log *mgmtLog
}

func mgmtPlatform(t testing.TB, b *testBundle) *mgmtClient {
	return &mgmtClient{t: t, url: b.srv.URL, key: b.apiKey, log: &mgmtLog{}}
}

// as returns a client using another key, sharing the log.
func (c *mgmtClient) as(key string) *mgmtClient {
	return &mgmtClient{t: c.t, url: c.url, key: key, log: c.log}
}

// on returns a client talking to another instance, sharing the log.
func (c *mgmtClient) on(srv *testServer) *mgmtClient {
	return &mgmtClient{t: c.t, url: srv.URL, key: c.key, log: c.log}
}

// do calls /api/v1+path.
func (c *mgmtClient) do(method, path string, body any, headers ...string) response {
	c.t.Helper()
	h := append([]string{"Authorization", "Bearer " + c.key}, headers...)
	r := do(c.t, method, c.url+"/api/v1"+path, body, h...)
	c.log.add(method+" "+path, r.Body)
	return r
}

// mgmtPage is one page of a list answer.
type mgmtPage struct {
	Items []map[string]any `json:"items"`
	Next  *string          `json:"next_cursor"`
}

func mgmtList(t testing.TB, what string, r response) mgmtPage {
	t.Helper()
	wantStatus(t, what, r, http.StatusOK, "")
	if !bytes.Contains(r.Body, []byte(`"next_cursor"`)) || !bytes.Contains(r.Body, []byte(`"items"`)) {
		t.Fatalf("%s: not a list answer: %s", what, r.Body)
	}
	var p mgmtPage
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("%s: %v: %s", what, err, r.Body)
	}
	if p.Items == nil {
		t.Fatalf("%s: items is null: %s", what, r.Body)
	}
	return p
}

// mgmtAll pages through path (which may carry a query) with limit and
// returns every item, failing on a repeated id.
func mgmtAll(t testing.TB, c *mgmtClient, path string, limit int, idKey string) []map[string]any {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var all []map[string]any
	seen := map[string]bool{}
	cursor := ""
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatalf("%s: pagination does not end", path)
		}
		p := fmt.Sprintf("%s%slimit=%d", path, sep, limit)
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		l := mgmtList(t, p, c.do("GET", p, nil))
		if len(l.Items) > limit {
			t.Fatalf("%s: %d items over limit %d", p, len(l.Items), limit)
		}
		if l.Next != nil && len(l.Items) != limit {
			t.Fatalf("%s: short page (%d of %d) with a next cursor", p, len(l.Items), limit)
		}
		for _, it := range l.Items {
			id := fmt.Sprint(it[idKey])
			if seen[id] {
				t.Fatalf("%s: %s %s appears twice", path, idKey, id)
			}
			seen[id] = true
			all = append(all, it)
		}
		if l.Next == nil {
			return all
		}
		cursor = *l.Next
	}
}

func mgmtIDs(items []map[string]any, key string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = fmt.Sprint(it[key])
	}
	return out
}

// mgmtHighLimits keep the per-IP login and refresh limits out of the way
// of tests that log many users in from 127.0.0.1.
var mgmtHighLimits = map[string]any{"login_per_ip": "100000-M", "refresh_per_ip": "100000-M", "api_per_user": "100000-M"}

// mgmtTenant creates a tenant through c and registers its app in the fake.
func mgmtTenant(t testing.TB, b *testBundle, c *mgmtClient, slug string, extra map[string]any) testTenant {
	t.Helper()
	tt := testTenant{Slug: slug, AppID: "wx" + strings.ReplaceAll(slug, "-", "") + "00000000", Secret: "wx-secret-of-" + slug + "-" + uuid.NewString()[:8]}
	b.wx.AddApp(tt.AppID, tt.Secret, "")
	req := map[string]any{"slug": slug, "name": "Tenant " + slug, "wechat_appid": tt.AppID, "wechat_secret": tt.Secret,
		"rate_limits": mgmtHighLimits}
	for k, v := range extra {
		req[k] = v
	}
	wantStatus(t, "create tenant "+slug, c.do("POST", "/tenants", req), http.StatusCreated, "")
	return tt
}

// mgmtLogin logs user in to tt on srv (the first instance when nil).
func mgmtLogin(t testing.TB, b *testBundle, srv *testServer, tt testTenant, user string) tokens {
	t.Helper()
	if srv == nil {
		srv = b.srv
	}
	r := do(t, "POST", srv.URL+"/v1/t/"+tt.Slug+"/login", map[string]string{"code": b.wx.MintCode(tt.AppID, user)})
	if r.Status != http.StatusOK {
		t.Fatalf("login %s/%s: %d %s", tt.Slug, user, r.Status, r.Body)
	}
	var tok tokens
	if err := json.Unmarshal(r.Body, &tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

func mgmtMe(t testing.TB, srv *testServer, slug, access string) response {
	t.Helper()
	return do(t, "GET", srv.URL+"/v1/t/"+slug+"/me", nil, "Authorization", "Bearer "+access)
}

func mgmtRefresh(t testing.TB, srv *testServer, slug, refresh string) response {
	t.Helper()
	return do(t, "POST", srv.URL+"/v1/t/"+slug+"/refresh", map[string]string{"refresh_token": refresh})
}

// mgmtCreateKey creates an API key through c and returns its id and key.
func mgmtCreateKey(t testing.TB, c *mgmtClient, name, role, tenantSlug string) (id, key string) {
	t.Helper()
	body := map[string]any{"name": name, "role": role}
	if tenantSlug != "" {
		body["tenant"] = tenantSlug
	}
	r := wantStatus(t, "create API key "+name, c.do("POST", "/api-keys", body), http.StatusCreated, "")
	m := r.JSON(t)
	id, _ = m["id"].(string)
	key, _ = m["key"].(string)
	if id == "" || !strings.HasPrefix(key, admin.APIKeyPrefix) {
		t.Fatalf("create API key %s: %s", name, r.Body)
	}
	c.log.issue(t, key)
	return id, key
}

func mgmtCount(t testing.TB, b *testBundle, query string, args ...any) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// mgmtJWKSKids lists the kids srv publishes for slug.
func mgmtJWKSKids(t testing.TB, srv *testServer, slug string) []string {
	t.Helper()
	r := do(t, "GET", srv.URL+"/v1/t/"+slug+"/.well-known/jwks.json", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("jwks: %d %s", r.Status, r.Body)
	}
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(r.Body, &set); err != nil {
		t.Fatalf("jwks: %v: %s", err, r.Body)
	}
	var kids []string
	for _, k := range set.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Errorf("JWKS key carries private member %q", private)
			}
		}
		kids = append(kids, fmt.Sprint(k["kid"]))
	}
	sort.Strings(kids)
	return kids
}

// mgmtTokenHeader decodes a JWT's header.
func mgmtTokenHeader(t testing.TB, raw string) map[string]any {
	t.Helper()
	seg, _, _ := strings.Cut(raw, ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("token header: %v", err)
	}
	return m
}

func mgmtSorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// ---------------------------------------------------------------- tenants

func TestMgmtTenantStatusAndKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := mgmtPlatform(t, b)
	tt := mgmtTenant(t, b, c, "mt-keys", nil)
	path := "/tenants/" + tt.Slug

	// Disabled: a mini-program login is refused with tenant_disabled.
	before := mgmtLogin(t, b, nil, tt, "alice")
	r := wantStatus(t, "disable", c.do("PATCH", path, map[string]any{"status": "disabled"}), http.StatusOK, "")
	if r.JSON(t)["status"] != "disabled" {
		t.Fatalf("disable: %s", r.Body)
	}
	login := func() response {
		return do(t, "POST", b.srv.URL+"/v1/t/"+tt.Slug+"/login", map[string]string{"code": b.wx.MintCode(tt.AppID, "bob")})
	}
	// Changes hold on the instance that made them as soon as the call returns.
	wantStatus(t, "login on disabled tenant", login(), http.StatusForbidden, "tenant_disabled")
	// Management keeps working on a disabled tenant, and so does its JWKS.
	wantStatus(t, "users of a disabled tenant", c.do("GET", path+"/users", nil), http.StatusOK, "")
	wantStatus(t, "keys of a disabled tenant", c.do("GET", path+"/keys", nil), http.StatusOK, "")
	if kids := mgmtJWKSKids(t, b.srv, tt.Slug); len(kids) != 1 {
		t.Errorf("JWKS of a disabled tenant: %v", kids)
	}
	wantStatus(t, "enable", c.do("PATCH", path, map[string]any{"status": "active"}), http.StatusOK, "")
	wantStatus(t, "login admitted again", login(), http.StatusOK, "")

	// One ES256 key to start with.
	type key struct {
		KID       string     `json:"kid"`
		Alg       string     `json:"alg"`
		Status    string     `json:"status"`
		CreatedAt time.Time  `json:"created_at"`
		RetireAt  *time.Time `json:"retire_at"`
	}
	keys := func(what string) []key {
		t.Helper()
		r := wantStatus(t, what, c.do("GET", path+"/keys", nil), http.StatusOK, "")
		for _, private := range []string{`"d"`, "private", "PRIVATE KEY"} {
			if bytes.Contains(r.Body, []byte(private)) {
				t.Fatalf("%s: key list shows private material (%s): %s", what, private, r.Body)
			}
		}
		var l struct {
			Items []key `json:"items"`
		}
		if err := json.Unmarshal(r.Body, &l); err != nil {
			t.Fatal(err)
		}
		return l.Items
	}
	k0 := keys("initial keys")
	if len(k0) != 1 || k0[0].Alg != "ES256" || k0[0].Status != "active" || k0[0].KID == "" || k0[0].RetireAt != nil {
		t.Fatalf("initial keys: %+v", k0)
	}
	es256 := k0[0].KID
	if h := mgmtTokenHeader(t, before.AccessToken); h["alg"] != "ES256" || h["kid"] != es256 {
		t.Fatalf("token before the switch: header %v", h)
	}

	// Switching to EdDSA makes a new active EdDSA key; the ES256 one retires.
	r = wantStatus(t, "switch to EdDSA", c.do("PATCH", path, map[string]any{"signing_alg": "EdDSA"}), http.StatusOK, "")
	if r.JSON(t)["signing_alg"] != "EdDSA" {
		t.Fatalf("switch: %s", r.Body)
	}
	k1 := keys("keys after the switch")
	if len(k1) != 2 {
		t.Fatalf("keys after the switch: %+v", k1)
	}
	if k1[0].Alg != "EdDSA" || k1[0].Status != "active" || k1[0].KID == es256 || k1[0].RetireAt != nil {
		t.Errorf("newest key after the switch: %+v", k1[0])
	}
	if k1[1].KID != es256 || k1[1].Alg != "ES256" || k1[1].Status != "retiring" || k1[1].RetireAt == nil ||
		!k1[1].RetireAt.After(time.Now().Add(14*time.Minute)) {
		t.Errorf("old key after the switch, want retiring until the last token it signed expired: %+v", k1[1])
	}
	ed1 := k1[0].KID
	if got, want := mgmtJWKSKids(t, b.srv, tt.Slug), mgmtSorted([]string{es256, ed1}); !slices.Equal(got, want) {
		t.Fatalf("JWKS after the switch: %v, want the EdDSA and the retiring ES256 key %v", got, want)
	}
	after := mgmtLogin(t, b, nil, tt, "carol")
	if h := mgmtTokenHeader(t, after.AccessToken); h["alg"] != "EdDSA" || h["kid"] != ed1 {
		t.Errorf("token after the switch: header %v, want EdDSA/%s", h, ed1)
	}
	wantStatus(t, "token of the retiring key still verifies", mgmtMe(t, b.srv, tt.Slug, before.AccessToken), http.StatusOK, "")

	// Rotate: 201 with the new key; the previous one retires with a retire_at.
	r = wantStatus(t, "rotate", c.do("POST", path+"/keys/rotate", nil), http.StatusCreated, "")
	var rotated key
	if err := json.Unmarshal(r.Body, &rotated); err != nil {
		t.Fatal(err)
	}
	if rotated.KID == "" || rotated.KID == ed1 || rotated.Alg != "EdDSA" || rotated.Status != "active" {
		t.Fatalf("rotate answer: %s", r.Body)
	}
	k2 := keys("keys after rotate")
	if len(k2) != 3 || k2[0].KID != rotated.KID || k2[0].Status != "active" {
		t.Fatalf("keys after rotate: %+v", k2)
	}
	active := 0
	for _, k := range k2 {
		if k.Status == "active" {
			active++
		}
		if k.KID == ed1 && (k.Status != "retiring" || k.RetireAt == nil || !k.RetireAt.After(time.Now())) {
			t.Errorf("rotated-out key: %+v", k)
		}
	}
	if active != 1 {
		t.Errorf("%d active keys after rotate: %+v", active, k2)
	}
	if got := mgmtJWKSKids(t, b.srv, tt.Slug); !slices.Contains(got, rotated.KID) {
		t.Fatalf("JWKS after rotate: %v, want the new key %s", got, rotated.KID)
	}
	wantStatus(t, "rotate unknown tenant", c.do("POST", "/tenants/mt-nobody/keys/rotate", nil), http.StatusNotFound, "not_found")

	// Past retire_at: listed as retired, dropped from the JWKS, and the
	// tokens it signed are refused.
	if _, err := b.db.Exec(context.Background(),
		`UPDATE signing_keys SET retire_at = now() - interval '1 second' WHERE status = 'retiring'`); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys("keys after retire_at passed") {
		want := "retired"
		if k.KID == rotated.KID {
			want = "active"
		}
		if k.Status != want {
			t.Errorf("key %s (%s): status %q, want %q", k.KID, k.Alg, k.Status, want)
		}
	}
	// A fresh instance loads the tenant from scratch.
	fresh := b.startInstance()
	if got := mgmtJWKSKids(t, fresh, tt.Slug); !slices.Equal(got, []string{rotated.KID}) {
		t.Errorf("JWKS on a new instance: %v, want only %s", got, rotated.KID)
	}
	// The first instance drops them once a tenant change is noticed.
	wantStatus(t, "rename to invalidate", c.do("PATCH", path, map[string]any{"name": "Renamed"}), http.StatusOK, "")
	if got := mgmtJWKSKids(t, b.srv, tt.Slug); !slices.Equal(got, []string{rotated.KID}) {
		t.Errorf("JWKS after the rename: %v, want the retired keys dropped, only %s", got, rotated.KID)
	}
	wantStatus(t, "token of a retired key", mgmtMe(t, b.srv, tt.Slug, before.AccessToken), http.StatusUnauthorized, "invalid_token")
	wantStatus(t, "token of a retired key, fresh instance", mgmtMe(t, fresh, tt.Slug, before.AccessToken), http.StatusUnauthorized, "invalid_token")

	c.log.assertClean(t, tt.Secret)
}

// ---------------------------------------------------------------- users

// TestMgmtUsersRevokeAndErase: revoking a user's sessions or erasing the
// user ends its tokens on every instance. The user list, search and
// filters are tested at the handler level (admin/api).
func TestMgmtUsersRevokeAndErase(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := mgmtPlatform(t, b)
	tt := mgmtTenant(t, b, c, "mu-users", nil)
	other := mgmtTenant(t, b, c, "mu-other", nil)
	base := "/tenants/" + tt.Slug + "/users"

	names := []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6"}
	tok := map[string]tokens{}
	for _, n := range names {
		tok[n] = mgmtLogin(t, b, nil, tt, n)
	}
	// The same people in another tenant are other users.
	otherU0 := mgmtLogin(t, b, nil, other, "u0")
	mgmtLogin(t, b, nil, other, "u1")

	// Revoke sessions: every session of the user ends, on access and refresh,
	// on every instance, also where the session was just seen live.
	srv2 := b.startInstance()
	second := mgmtLogin(t, b, nil, tt, "u5")
	for _, tk := range []tokens{tok["u5"], second} {
		for _, srv := range []*testServer{b.srv, srv2} {
			wantStatus(t, "me before revoke", mgmtMe(t, srv, tt.Slug, tk.AccessToken), http.StatusOK, "")
		}
	}
	revoked := srv2.notices(t, auth.TopicUserRevoked, naming(tok["u5"].User.ID))
	r := wantStatus(t, "revoke sessions", c.do("POST", base+"/"+tok["u5"].User.ID+"/revoke-sessions", nil), http.StatusOK, "")
	if n, ok := r.JSON(t)["revoked_sessions"].(float64); !ok || n != 2 {
		t.Errorf("revoke sessions: %s, want 2", r.Body)
	}
	revoked.wait(t, "instance 2 hears u5's sessions were revoked")
	for i, tk := range []tokens{tok["u5"], second} {
		for _, srv := range []*testServer{b.srv, srv2} {
			wantStatus(t, fmt.Sprintf("me after revoke (%d)", i), mgmtMe(t, srv, tt.Slug, tk.AccessToken), http.StatusUnauthorized, "invalid_token")
		}
		if r := mgmtRefresh(t, b.srv, tt.Slug, tk.RefreshToken); r.Status != http.StatusUnauthorized {
			t.Errorf("refresh after revoke (%d): %d %s", i, r.Status, r.Body)
		}
	}
	wantStatus(t, "others keep their sessions", mgmtMe(t, b.srv, tt.Slug, tok["u3"].AccessToken), http.StatusOK, "")
	r = wantStatus(t, "revoke again", c.do("POST", base+"/"+tok["u5"].User.ID+"/revoke-sessions", nil), http.StatusOK, "")
	if n, ok := r.JSON(t)["revoked_sessions"].(float64); !ok || n != 0 {
		t.Errorf("revoke again: %s, want 0", r.Body)
	}
	wantStatus(t, "revoke other tenant's user", c.do("POST", base+"/"+otherU0.User.ID+"/revoke-sessions", nil), http.StatusNotFound, "not_found")
	wantStatus(t, "other tenant's user keeps the session", mgmtMe(t, b.srv, other.Slug, otherU0.AccessToken), http.StatusOK, "")
	// A new login works again after a revocation.
	wantStatus(t, "login after revoke", mgmtMe(t, b.srv, tt.Slug, mgmtLogin(t, b, nil, tt, "u5").AccessToken), http.StatusOK, "")

	// Erase: gone entirely, tokens dead.
	victim := tok["u6"]
	mgmtLogin(t, b, nil, tt, "u6") // a second session
	for _, srv := range []*testServer{b.srv, srv2} {
		wantStatus(t, "me before erase", mgmtMe(t, srv, tt.Slug, victim.AccessToken), http.StatusOK, "")
	}
	ctx := context.Background()
	var sids []string
	rows, err := b.db.Query(ctx, `SELECT id::text FROM sessions WHERE user_id = $1`, victim.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		sids = append(sids, id)
	}
	rows.Close()
	if len(sids) != 2 || mgmtCount(t, b, `SELECT count(*) FROM refresh_tokens WHERE session_id = ANY($1::uuid[])`, sids) == 0 {
		t.Fatalf("before erase: %d sessions", len(sids))
	}
	wantStatus(t, "erase other tenant's user", c.do("DELETE", base+"/"+otherU0.User.ID, nil), http.StatusNotFound, "not_found")
	erased := srv2.notices(t, auth.TopicUserRevoked, naming(victim.User.ID))
	wantStatus(t, "erase", c.do("DELETE", base+"/"+victim.User.ID, nil), http.StatusNoContent, "")
	wantStatus(t, "get erased", c.do("GET", base+"/"+victim.User.ID, nil), http.StatusNotFound, "not_found")
	erased.wait(t, "instance 2 hears u6 was erased")
	for _, srv := range []*testServer{b.srv, srv2} {
		wantStatus(t, "erased user's token on "+srv.URL, mgmtMe(t, srv, tt.Slug, victim.AccessToken), http.StatusUnauthorized, "")
	}
	// /me fails anyway once the user row is gone; logout does not need the
	// row, so it shows whether the token itself is still accepted. A
	// logout that got through would revoke the session, so it is tried
	// once per instance: where the erase ran, and on the other instance,
	// which has heard of the erase by now.
	logout := func(srv *testServer) response {
		return do(t, "POST", srv.URL+"/v1/t/"+tt.Slug+"/logout", nil, "Authorization", "Bearer "+victim.AccessToken)
	}
	wantStatus(t, "erased user's token on logout", logout(b.srv), http.StatusUnauthorized, "invalid_token")
	wantStatus(t, "erased user's token on logout, other instance", logout(srv2), http.StatusUnauthorized, "invalid_token")
	if r := mgmtRefresh(t, b.srv, tt.Slug, victim.RefreshToken); r.Status != http.StatusUnauthorized {
		t.Errorf("refresh of erased user: %d %s", r.Status, r.Body)
	}
	for q, args := range map[string][]any{
		`SELECT count(*) FROM users WHERE id = $1`:                               {victim.User.ID},
		`SELECT count(*) FROM users WHERE openid = $1`:                           {victim.User.OpenID},
		`SELECT count(*) FROM sessions WHERE user_id = $1`:                       {victim.User.ID},
		`SELECT count(*) FROM sessions WHERE id = ANY($1::uuid[])`:               {sids},
		`SELECT count(*) FROM refresh_tokens WHERE session_id = ANY($1::uuid[])`: {sids},
	} {
		if n := mgmtCount(t, b, q, args...); n != 0 {
			t.Errorf("after erase: %s = %d, want 0", q, n)
		}
	}
	if got := mgmtIDs(mgmtAll(t, c, base, 50, "id"), "id"); slices.Contains(got, victim.User.ID) || len(got) != 6 {
		t.Errorf("list after erase: %v", got)
	}
	wantStatus(t, "other tenant's u0 untouched", c.do("GET", "/tenants/"+other.Slug+"/users/"+otherU0.User.ID, nil), http.StatusOK, "")

	c.log.assertClean(t, tt.Secret, other.Secret)
}

// ---------------------------------------------------------------- CLI

// TestMgmtCLI runs the admin and apikey commands in-process against the
// bundle's database and Redis. It sets environment variables, so it cannot
// run in parallel.
func TestMgmtCLI(t *testing.T) {
	b := setup(t)
	c := mgmtPlatform(t, b)
	tt := mgmtTenant(t, b, c, "mcli-one", nil)
	t.Setenv("DATABASE_URL", b.cfg.DatabaseURL)
	t.Setenv("REDIS_URL", b.cfg.RedisURL)
	t.Setenv("MINIAUTH_REDIS_PREFIX", b.cfg.RedisPrefix)
	t.Setenv("MINIAUTH_MASTER_KEY", base64.StdEncoding.EncodeToString(b.cfg.MasterKey))
	t.Setenv("MINIAUTH_ENV", "production")
	t.Setenv("MINIAUTH_LOG_LEVEL", "debug")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cli := func(stdin string, args ...string) (string, string, error) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}
	const pw = "a-long-password-123"

	// admin create.
	out, errOut, err := cli(pw+"\n", "admin", "create", "--email", "x@y.z", "--role", "tenant_viewer", "--tenant", tt.Slug)
	if err != nil {
		t.Fatalf("admin create: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	if strings.Contains(out+errOut, pw) {
		t.Errorf("admin create printed the password: %s %s", out, errOut)
	}
	var found map[string]any
	for _, a := range mgmtAll(t, c, "/admins", 50, "id") {
		if a["email"] == "x@y.z" {
			found = a
		}
	}
	if found == nil {
		t.Fatal("the CLI's admin is not listed")
	}
	if got, _ := json.Marshal(found["roles"]); string(got) != `[{"role":"tenant_viewer","tenant":"mcli-one"}]` || found["disabled"] != false {
		t.Errorf("CLI admin: %v", found)
	}
	if _, err := admin.NewAccounts(b.db, nil).VerifyPassword(ctx, "x@y.z", pw); err != nil {
		t.Errorf("CLI admin cannot sign in with the stdin password: %v", err)
	}

	// Refused.
	for what, tc := range map[string]struct {
		stdin string
		args  []string
	}{
		"short password":   {"short\n", []string{"admin", "create", "--email", "s@y.z", "--role", "tenant_viewer", "--tenant", tt.Slug}},
		"no password":      {"", []string{"admin", "create", "--email", "s@y.z", "--role", "tenant_viewer", "--tenant", tt.Slug}},
		"unknown role":     {pw + "\n", []string{"admin", "create", "--email", "s@y.z", "--role", "root"}},
		"unknown tenant":   {pw + "\n", []string{"admin", "create", "--email", "s@y.z", "--role", "tenant_viewer", "--tenant", "mcli-nobody"}},
		"duplicate email":  {pw + "\n", []string{"admin", "create", "--email", "X@Y.Z", "--role", "platform_admin"}},
		"key without role": {"", []string{"apikey", "create", "--name", "k"}},
		"key without name": {"", []string{"apikey", "create", "--role", "platform_admin"}},
		"key, no tenant":   {"", []string{"apikey", "create", "--name", "k", "--role", "tenant_viewer"}},
		"key, bad tenant":  {"", []string{"apikey", "create", "--name", "k", "--role", "tenant_viewer", "--tenant", "mcli-nobody"}},
	} {
		adminsBefore, keysBefore := mgmtCount(t, b, `SELECT count(*) FROM admins`), mgmtCount(t, b, `SELECT count(*) FROM api_keys`)
		out, errOut, err := cli(tc.stdin, tc.args...)
		if err == nil {
			t.Errorf("%s: no error; stdout %q", what, out)
		}
		if strings.Contains(out, "mak_") {
			t.Errorf("%s: printed a key: %q", what, out)
		}
		if strings.Contains(out+errOut+fmt.Sprint(err), pw) {
			t.Errorf("%s: the password was printed", what)
		}
		if a, k := mgmtCount(t, b, `SELECT count(*) FROM admins`), mgmtCount(t, b, `SELECT count(*) FROM api_keys`); a != adminsBefore || k != keysBefore {
			t.Errorf("%s: left %d admins and %d keys behind", what, a-adminsBefore, k-keysBefore)
		}
	}
	if _, _, err := cli("short\n", "admin", "create", "--email", "s@y.z", "--role", "tenant_viewer", "--tenant", tt.Slug); err == nil ||
		!strings.Contains(err.Error(), "password") {
		t.Errorf("short password error does not name the password: %v", err)
	}

	// apikey create: the key alone on the last line, usable at once.
	out, errOut, err = cli("", "apikey", "create", "--name", "cli key", "--role", "tenant_admin", "--tenant", tt.Slug)
	if err != nil {
		t.Fatalf("apikey create: %v\nstderr: %s", err, errOut)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	key := lines[len(lines)-1]
	if !strings.HasPrefix(key, "mak_") || strings.ContainsAny(key, " \t") || !strings.HasSuffix(out, key+"\n") {
		t.Fatalf("apikey create stdout: %q", out)
	}
	if strings.Contains(errOut, key) {
		t.Errorf("the key was logged to stderr")
	}
	kc := c.as(key)
	wantStatus(t, "CLI key reads its tenant", kc.do("GET", "/tenants/"+tt.Slug, nil), http.StatusOK, "")
	wantStatus(t, "CLI key acts as tenant_admin", kc.do("POST", "/tenants/"+tt.Slug+"/keys/rotate", nil), http.StatusCreated, "")
	wantStatus(t, "CLI key is not platform", kc.do("GET", "/tenants", nil), http.StatusForbidden, "forbidden")

	// A platform key from the CLI works on a second instance at once.
	out, errOut, err = cli("", "apikey", "create", "--name", "cli platform", "--role", "platform_admin")
	if err != nil {
		t.Fatalf("apikey create platform: %v\nstderr: %s", err, errOut)
	}
	lines = strings.Split(strings.TrimRight(out, "\n"), "\n")
	pkey := lines[len(lines)-1]
	wantStatus(t, "CLI platform key", c.as(pkey).do("GET", "/tenants", nil), http.StatusOK, "")

	// Both commands wrote audit rows as the CLI.
	type row struct{ action, actorType, targetID, diff string }
	var rows []row
	q, err := b.db.Query(ctx, `SELECT action, actor_type, target_id, diff::text FROM audit_log WHERE actor_type = 'cli' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for q.Next() {
		var r row
		if err := q.Scan(&r.action, &r.actorType, &r.targetID, &r.diff); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	q.Close()
	var acts []string
	for _, r := range rows {
		acts = append(acts, r.action)
		for _, s := range []string{pw, key, pkey} {
			if strings.Contains(r.diff+r.targetID, s) {
				t.Errorf("CLI audit row %s carries a secret", r.action)
			}
		}
	}
	if !slices.Equal(acts, []string{"admin.create", "apikey.create", "apikey.create"}) {
		t.Errorf("CLI audit actions: %v", acts)
	}
	if len(rows) > 0 && rows[0].targetID != fmt.Sprint(found["id"]) {
		t.Errorf("admin.create target %s, want %v", rows[0].targetID, found["id"])
	}
	// And the audit API shows them with actor_type cli.
	r := wantStatus(t, "audit of the CLI", c.do("GET", "/audit?tenant="+tt.Slug+"&action=apikey.create", nil), http.StatusOK, "")
	if !bytes.Contains(r.Body, []byte(`"actor_type":"cli"`)) {
		t.Errorf("audit API does not show the CLI entry: %s", r.Body)
	}
	c.log.assertClean(t, pw, key, pkey, tt.Secret)
}
