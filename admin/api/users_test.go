package api_test

// The user list of a tenant: order,
// paging (also while users are added), search, the status filter and what
// an item shows.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
)

func TestMgmtUsers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.mg(t)
	tt := b.tenant(t, "mu-users")
	other := b.tenant(t, "mu-other")
	base := "/tenants/" + tt.Slug + "/users"

	names := []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6"}
	uid := map[string]string{}
	openid := map[string]string{}
	var ids []string // in creation order
	for _, n := range names {
		openid[n] = "o" + randomHex(t, 12)
		uid[n] = b.user(t, tt.ID, openid[n]).String()
		ids = append(ids, uid[n])
	}
	// What a login stores, and what no answer may show.
	if _, err := b.db.Exec(ctx, `UPDATE users SET last_login_at = now(), last_login_ip = '192.0.2.7',
		session_key_sealed = '\x0102', nickname = NULL WHERE tenant_id = $1`, tt.ID); err != nil {
		t.Fatal(err)
	}
	byID := map[string]string{}
	for n, id := range uid {
		byID[id] = n
	}
	// The same people in another tenant are other users.
	b.user(t, other.ID, openid["u0"])
	b.user(t, other.ID, openid["u1"])
	newestFirst := slices.Clone(ids)
	slices.Reverse(newestFirst)

	// Newest first, with and without pagination.
	l := mgList(t, "list", c.do(http.MethodGet, base, nil))
	if got := mgIDs(l.Items, "id"); !slices.Equal(got, newestFirst) || l.Next != nil {
		t.Fatalf("list: %v (next %v), want %v", got, l.Next, newestFirst)
	}
	for _, limit := range []int{1, 3, 7} {
		if got := mgIDs(mgAll(t, c, base, limit, "id"), "id"); !slices.Equal(got, newestFirst) {
			t.Errorf("paged with limit %d: %v, want %v", limit, got, newestFirst)
		}
	}
	if l := mgList(t, "limit 3", c.do(http.MethodGet, base+"?limit=3", nil)); len(l.Items) != 3 || l.Next == nil {
		t.Errorf("limit 3: %d items, next %v", len(l.Items), l.Next)
	}
	u := l.Items[len(l.Items)-1] // u0
	if u["openid"] != openid["u0"] || u["status"] != "active" || u["created_at"] == nil || u["last_login_at"] == nil {
		t.Errorf("list item: %v", u)
	}
	for _, k := range []string{"id", "openid", "unionid", "nickname", "avatar_url", "phone", "status", "created_at", "last_login_at"} {
		if _, ok := u[k]; !ok {
			t.Errorf("user has no %q member: %v", k, u)
		}
	}
	for _, k := range []string{"session_key", "session_key_sealed", "tenant_id", "last_login_ip"} {
		if _, ok := u[k]; ok {
			t.Errorf("user shows %q: %v", k, u)
		}
	}

	// Search.
	setNick := func(n, nick string) {
		t.Helper()
		if _, err := b.db.Exec(ctx, `UPDATE users SET nickname = $2 WHERE id = $1`, uid[n], nick); err != nil {
			t.Fatalf("set nickname of %s: %v", n, err)
		}
	}
	setNick("u0", "Alice Liddell")
	setNick("u1", "alfred")
	setNick("u2", "BOB")
	search := func(query string) []string {
		t.Helper()
		l := mgList(t, "search "+query, c.do(http.MethodGet, base+"?"+query, nil))
		var out []string
		for _, id := range mgIDs(l.Items, "id") {
			n, ok := byID[id]
			if !ok {
				t.Fatalf("search %s: id %s is not a user of this tenant", query, id)
			}
			out = append(out, n)
		}
		return out
	}
	openid3 := openid["u3"]
	for query, want := range map[string][]string{
		"q=" + url.QueryEscape(openid3[:12]): {"u3"},
		"q=" + url.QueryEscape(openid3):      {"u3"},
		"q=ali":                              {"u0"},
		"q=ALI":                              {"u0"},
		"q=Alice+L":                          {"u0"},
		"q=al":                               {"u1", "u0"},
		"q=bo":                               {"u2"},
		"q=Bob":                              {"u2"},
		"q=" + url.QueryEscape("  ali  "):    {"u0"},
		"q=liddell":                          nil, // prefix, not substring
		"q=%25":                              nil, // LIKE metacharacters are literal
		"q=_":                                nil,
		"q=zzz":                              nil,
		"q=al&limit=1":                       {"u1"},
	} {
		if got := search(query); !slices.Equal(got, want) {
			t.Errorf("search %s: %v, want %v", query, got, want)
		}
	}
	mgFields(t, "q too long", c.do(http.MethodGet, base+"?q="+strings.Repeat("a", 129), nil), "q")

	// Status filter.
	if _, err := b.db.Exec(ctx, `UPDATE users SET status = 'disabled' WHERE id = $1`, uid["u4"]); err != nil {
		t.Fatal(err)
	}
	if got := search("status=disabled"); !slices.Equal(got, []string{"u4"}) {
		t.Errorf("status=disabled: %v", got)
	}
	if got := search("status=active"); !slices.Equal(got, []string{"u6", "u5", "u3", "u2", "u1", "u0"}) {
		t.Errorf("status=active: %v", got)
	}
	if got := search("status=active&q=al"); !slices.Equal(got, []string{"u1", "u0"}) {
		t.Errorf("status=active&q=al: %v", got)
	}
	mgFields(t, "status bogus", c.do(http.MethodGet, base+"?status=bogus", nil), "status")

	// Bad limits and cursors.
	for _, q := range []string{"limit=0", "limit=201", "limit=x", "limit=-1", "limit=1.5"} {
		mgFields(t, q, c.do(http.MethodGet, base+"?"+q, nil), "limit")
	}
	if l := mgList(t, "limit 200", c.do(http.MethodGet, base+"?limit=200", nil)); len(l.Items) != 7 {
		t.Errorf("limit=200: %d items", len(l.Items))
	}
	for _, cur := range []string{"%25%25%25", base64.RawURLEncoding.EncodeToString([]byte("not-a-uuid")), "!!", "a"} {
		mgFields(t, "cursor "+cur, c.do(http.MethodGet, base+"?cursor="+cur, nil), "cursor")
	}

	// Get one.
	r := mgWant(t, "get", c.do(http.MethodGet, base+"/"+uid["u0"], nil), http.StatusOK, "")
	if m := r.Body; m["id"] != uid["u0"] || m["nickname"] != "Alice Liddell" || m["openid"] != openid["u0"] {
		t.Errorf("get: %s", r.Raw)
	}

	c.log.assertClean(t, "secret-of-"+tt.Slug, "secret-of-"+other.Slug)
}

func TestMgmtUsersPaginationUnderInserts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.mg(t)
	tt := b.tenant(t, "mu-pages")
	for i := 0; i < 23; i++ {
		b.user(t, tt.ID, fmt.Sprintf("pre-%d", i))
	}

	// Keep adding users while paging, as first logins do; inserted hears
	// of each one.
	inserted := make(chan struct{}, 1)
	var failures atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := b.db.Exec(context.Background(),
				`INSERT INTO users (tenant_id, id, openid) VALUES ($1, $2, $3)`,
				tt.ID, uuid.Must(uuid.NewV7()), fmt.Sprintf("during-%d", i)); err != nil {
				failures.Add(1)
				continue
			}
			select {
			case inserted <- struct{}{}:
			default:
			}
		}
	}()
	defer func() { close(stop); <-done }()
	waitInsert := func() {
		t.Helper()
		// Forget inserts already done: one must finish after this call.
		select {
		case <-inserted:
		default:
		}
		select {
		case <-inserted:
		case <-time.After(10 * time.Second):
			t.Fatalf("no user added concurrently (failures %d)", failures.Load())
		}
	}
	waitInsert()

	existing := map[string]bool{}
	rows, err := b.db.Query(context.Background(), `SELECT id::text FROM users`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		existing[id] = true
	}
	rows.Close()

	seen := map[string]int{}
	var order []string
	cursor := ""
	pages := 0
	for {
		p := "/tenants/" + tt.Slug + "/users?limit=5"
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		l := mgList(t, p, c.do(http.MethodGet, p, nil))
		pages++
		for _, id := range mgIDs(l.Items, "id") {
			seen[id]++
			order = append(order, id)
		}
		if l.Next == nil {
			break
		}
		if pages > 100 {
			t.Fatal("pagination does not end")
		}
		cursor = *l.Next
		waitInsert() // at least one insert between every two pages
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("user %s seen %d times", id, n)
		}
	}
	for id := range existing {
		if seen[id] != 1 {
			t.Errorf("user %s existed before paging and was seen %d times", id, seen[id])
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i] >= order[i-1] {
			t.Errorf("order broken at %d: %s after %s", i, order[i], order[i-1])
		}
	}
	if pages < 5 || failures.Load() != 0 {
		t.Errorf("pages %d, concurrent insert failures %d", pages, failures.Load())
	}
}

func TestMgmtUserStatus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	tt := b.tenant(t, "mu-status")
	other := b.tenant(t, "mu-status-other")
	uid := b.user(t, tt.ID, "o-status")
	theirs := b.user(t, other.ID, "o-status")
	s1, s2 := b.mgSession(t, tt.ID, uid), b.mgSession(t, tt.ID, uid)
	operator, operatorID := b.key(t, admin.RoleTenantOperator, tt.Slug)
	viewer, _ := b.key(t, admin.RoleTenantViewer, tt.Slug)
	path := "/tenants/" + tt.Slug + "/users/" + uid.String()
	status := func(id uuid.UUID) string {
		t.Helper()
		var s string
		if err := b.db.QueryRow(ctx, `SELECT status FROM users WHERE id = $1`, id).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	audits := func() []map[string]admin.Change {
		t.Helper()
		rows, err := b.db.Query(ctx, `SELECT actor_id, tenant_slug, target_type, diff::text FROM audit_log
			WHERE action = 'user.update' AND target_id = $1 ORDER BY id`, uid.String())
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []map[string]admin.Change
		for rows.Next() {
			var actor, slug, typ, diff string
			if err := rows.Scan(&actor, &slug, &typ, &diff); err != nil {
				t.Fatal(err)
			}
			if actor != operatorID.String() || slug != tt.Slug || typ != "user" {
				t.Errorf("audit entry by %s on %s/%s", actor, slug, typ)
			}
			var d map[string]admin.Change
			if err := json.Unmarshal([]byte(diff), &d); err != nil {
				t.Fatal(err)
			}
			out = append(out, d)
		}
		return out
	}

	t.Run("a viewer may not", func(t *testing.T) {
		b.do(t, viewer, http.MethodPatch, path, map[string]any{"status": "disabled"}).want(t, "viewer", http.StatusForbidden, "forbidden")
		if status(uid) != "active" || b.mgLive(t, uid) != 2 {
			t.Fatal("a viewer's request changed the user")
		}
	})

	t.Run("bad status", func(t *testing.T) {
		for _, body := range []any{map[string]any{"status": "banned"}, map[string]any{}, map[string]any{"status": 1}} {
			r := b.do(t, operator, http.MethodPatch, path, body)
			r.want(t, fmt.Sprint(body), http.StatusBadRequest, "invalid_request")
			if len(r.Problem.Errors) == 0 || r.Problem.Errors[0].Field != "status" {
				t.Errorf("%v: %s, want field status", body, r.Raw)
			}
		}
		b.do(t, operator, http.MethodPatch, path, map[string]any{"status": "disabled", "nickname": "x"}).
			want(t, "unknown field", http.StatusBadRequest, "invalid_request")
		if status(uid) != "active" || len(audits()) != 0 {
			t.Fatal("a bad request changed or audited something")
		}
	})

	t.Run("unknown, malformed and another tenant's user", func(t *testing.T) {
		for _, id := range []string{uuid.NewString(), "xyz", theirs.String()} {
			b.do(t, operator, http.MethodPatch, "/tenants/"+tt.Slug+"/users/"+id, map[string]any{"status": "disabled"}).
				want(t, id, http.StatusNotFound, "not_found")
		}
		if status(theirs) != "active" {
			t.Fatal("another tenant's user was disabled")
		}
	})

	t.Run("disable", func(t *testing.T) {
		r := mgWant(t, "disable", b.do(t, operator, http.MethodPatch, path, map[string]any{"status": "disabled"}), http.StatusOK, "")
		if r.Body["id"] != uid.String() || r.Body["status"] != "disabled" || r.Body["openid"] != "o-status" {
			t.Fatalf("disable: %s", r.Raw)
		}
		if status(uid) != "disabled" || b.mgLive(t, uid) != 0 {
			t.Fatalf("after disable: status %s, %d live sessions", status(uid), b.mgLive(t, uid))
		}
		for _, sid := range []uuid.UUID{s1, s2} {
			if n := b.count(t, `SELECT count(*) FROM sessions WHERE id = $1 AND revoke_reason = 'user_disabled'`, sid); n != 1 {
				t.Fatalf("session %s not revoked as user_disabled", sid)
			}
		}
		a := audits()
		if len(a) != 1 || a[0]["status"] != (admin.Change{From: "active", To: "disabled"}) {
			t.Fatalf("audit diffs %v", a)
		}
	})

	t.Run("enable", func(t *testing.T) {
		r := mgWant(t, "enable", b.do(t, operator, http.MethodPatch, path, map[string]any{"status": "active"}), http.StatusOK, "")
		if r.Body["status"] != "active" || status(uid) != "active" {
			t.Fatalf("enable: %s", r.Raw)
		}
		a := audits()
		if len(a) != 2 || a[1]["status"] != (admin.Change{From: "disabled", To: "active"}) {
			t.Fatalf("audit diffs %v", a)
		}
	})
}
