package api_test

// Tests of the ban endpoints: the shape of each kind, validation, lists
// per tenant and for the platform, and platform bans. What a ban refuses
// is auth/api's; what it refuses on another instance, and platform bans
// refusing logins, are cmd/miniauth's.

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miniauth/miniauth/admin"
)

// banItem is a ban as the API answers it.
type banItem struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Target    string     `json:"target"`
	Reason    string     `json:"reason"`
	ExpiresAt *time.Time `json:"expires_at"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	Tenant    *string    `json:"tenant"`
}

// banCreate POSTs a ban to path ("/tenants/x/bans" or "/bans") with the
// platform key and wants 201.
func banCreate(t *testing.T, b *testBundle, path string, body map[string]any) banItem {
	t.Helper()
	r := b.do(t, b.platformKey, http.MethodPost, path, body)
	r.want(t, "create ban "+fmt.Sprint(body), http.StatusCreated, "")
	var it banItem
	r.into(t, &it)
	return it
}

// banFields asserts r is a 400 invalid_request naming field in errors
// (field "" only checks the status and code).
func banFields(t *testing.T, what string, r reply, field string) {
	t.Helper()
	r.want(t, what, http.StatusBadRequest, "invalid_request")
	if field == "" {
		return
	}
	for _, e := range r.Problem.Errors {
		if e.Field == field {
			if e.Message == "" {
				t.Fatalf("%s: errors entry for %s has no message: %s", what, field, r.Raw)
			}
			return
		}
	}
	t.Fatalf("%s: errors do not name field %q: %s", what, field, r.Raw)
}

// TestBanKinds creates one ban of each kind and checks the answer and the
// row. What each kind refuses is auth/api's (TestBanKinds there).
func TestBanKinds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.tenant(t, "ban-kinds")
	path := "/tenants/" + tt.Slug + "/bans"

	// user_id: the full 201 shape.
	alice := b.user(t, tt.ID, "o-alice").String()
	before := time.Now()
	r := b.do(t, b.platformKey, "POST", path, map[string]any{"user_id": alice, "reason": "  spam  "})
	r.want(t, "ban alice", http.StatusCreated, "")
	m := r.Body
	for _, k := range []string{"id", "kind", "target", "reason", "expires_at", "created_at", "created_by"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("ban response lacks %q: %s", k, r.Raw)
		}
	}
	var ban banItem
	r.into(t, &ban)
	if ban.Kind != "user" || ban.Target != alice || ban.Reason != "spam" || ban.ExpiresAt != nil {
		t.Fatalf("user ban: %s", r.Raw)
	}
	if m["expires_at"] != nil {
		t.Fatalf("permanent ban: expires_at %v, want null", m["expires_at"])
	}
	if ban.CreatedAt.Before(before.Add(-5*time.Second)) || ban.CreatedAt.After(time.Now().Add(5*time.Second)) {
		t.Fatalf("created_at %s is not now", ban.CreatedAt)
	}
	if want := "apikey:" + b.platformKeyID.String(); ban.CreatedBy != want {
		t.Fatalf("created_by %q, want %q", ban.CreatedBy, want)
	}
	if ban.Tenant == nil || *ban.Tenant != tt.Slug {
		t.Fatalf("tenant of a tenant ban: %s", r.Raw)
	}
	if n := b.count(t, `SELECT count(*) FROM bans WHERE id = $1 AND kind = 'user' AND target = $2`, ban.ID, alice); n != 1 {
		t.Fatalf("bans rows for %s: %d", ban.ID, n)
	}

	// openid, pre-emptive: bob has never logged in.
	bobOpenID := "o-bob-never-seen"
	ob := banCreate(t, b, path, map[string]any{"openid": bobOpenID, "reason": "known abuser"})
	if ob.Kind != "openid" || ob.Target != bobOpenID || ob.Reason != "known abuser" {
		t.Fatalf("openid ban: %+v", ob)
	}

	// ip: a single address, a CIDR, an IPv6 range and a CIDR with host bits
	// (the wide ones confirmed, TestBanWide; confirm is ignored on the rest).
	for _, c := range []struct{ ip, target, alt string }{
		{"127.0.0.1", "127.0.0.1", "127.0.0.1/32"},
		{"127.0.0.0/8", "127.0.0.0/8", ""},
		{"2001:db8::/32", "2001:db8::/32", ""},
		{"10.1.2.3/8", "10.0.0.0/8", ""},
	} {
		ib := banCreate(t, b, path, map[string]any{"ip": c.ip, "reason": "ip", "confirm": c.ip})
		if ib.Kind != "ip" || (ib.Target != c.target && (c.alt == "" || ib.Target != c.alt)) {
			t.Fatalf("ip ban of %s: %+v, want target %s", c.ip, ib, c.target)
		}
	}
}

// TestBanValidation sends every malformed ban and checks nothing is
// stored. That a refused ban binds no login is cmd/miniauth's
// (TestBanRefusedLeavesLogin).
func TestBanValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.tenant(t, "ban-valid")
	other := b.tenant(t, "ban-valid-other")
	aliceOpenID := "o-alice"
	alice := b.user(t, tt.ID, aliceOpenID).String()
	stranger := b.user(t, other.ID, "o-stranger").String()
	path := "/tenants/" + tt.Slug + "/bans"
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)

	cases := []struct {
		name  string
		body  any
		field string
	}{
		{"no target", map[string]any{"reason": "x"}, "user_id"},
		{"empty object", map[string]any{}, "user_id"},
		{"empty targets", map[string]any{"user_id": "", "openid": "", "ip": "", "reason": "x"}, "user_id"},
		{"user_id and openid", map[string]any{"user_id": alice, "openid": aliceOpenID, "reason": "x"}, "user_id"},
		{"openid and ip", map[string]any{"openid": "o-someone", "ip": "10.0.0.1", "reason": "x"}, "user_id"},
		{"all three", map[string]any{"user_id": alice, "openid": "o-someone", "ip": "10.0.0.1", "reason": "x"}, "user_id"},
		{"missing reason", map[string]any{"openid": "o-someone"}, "reason"},
		{"blank reason", map[string]any{"openid": "o-someone", "reason": "   "}, "reason"},
		{"reason too long", map[string]any{"openid": "o-someone", "reason": strings.Repeat("r", 501)}, "reason"},
		{"expires_at in the past", map[string]any{"openid": "o-someone", "reason": "x", "expires_at": past}, "expires_at"},
		{"expires_at not a time", map[string]any{"openid": "o-someone", "reason": "x", "expires_at": "tomorrow"}, ""},
		{"bad ip", map[string]any{"ip": "300.1.2.3", "reason": "x"}, "ip"},
		{"bad cidr", map[string]any{"ip": "10.0.0.0/33", "reason": "x"}, "ip"},
		{"hostname", map[string]any{"ip": "example.com", "reason": "x"}, "ip"},
		{"unknown user_id", map[string]any{"user_id": "0190a0c0-0000-7000-8000-000000000000", "reason": "x"}, "user_id"},
		{"user_id not a uuid", map[string]any{"user_id": "alice", "reason": "x"}, "user_id"},
		{"user of another tenant", map[string]any{"user_id": stranger, "reason": "x"}, "user_id"},
		{"openid with spaces", map[string]any{"openid": "o some one", "reason": "x"}, "openid"},
		{"unknown field", map[string]any{"openid": "o-someone", "reason": "x", "duration": 60}, "duration"},
		{"wrong type", map[string]any{"openid": 42, "reason": "x"}, "openid"},
		{"not JSON", "{not json", ""},
		{"array", "[]", ""},
	}
	for _, c := range cases {
		banFields(t, c.name, b.do(t, b.platformKey, "POST", path, c.body), c.field)
	}
	if n := b.count(t, `SELECT count(*) FROM bans`); n != 0 {
		t.Fatalf("rejected bans left %d rows", n)
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE action = 'ban.create'`); n != 0 {
		t.Fatalf("rejected bans left %d audit rows", n)
	}
	b.do(t, b.platformKey, "POST", "/tenants/no-such-tenant/bans", map[string]any{"openid": "o-someone", "reason": "x"}).
		want(t, "ban on an unknown tenant", http.StatusNotFound, "not_found")
	b.do(t, "", "POST", path, map[string]any{"openid": "o-someone", "reason": "x"}).
		want(t, "ban without a key", http.StatusUnauthorized, "unauthorized")
}

// TestBanList lists a tenant's bans apart from another tenant's and the
// platform's.
func TestBanList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.tenant(t, "ban-list")
	other := b.tenant(t, "ban-list-other")
	path := "/tenants/" + tt.Slug + "/bans"

	var created []string
	for i := range 5 {
		created = append(created, banCreate(t, b, path, map[string]any{"openid": fmt.Sprintf("o-listed-%d", i), "reason": fmt.Sprintf("r%d", i)}).ID)
	}
	banCreate(t, b, "/tenants/"+other.Slug+"/bans", map[string]any{"openid": "o-elsewhere", "reason": "other"})

	// Paging and bad list parameters are TestPagination's and
	// TestErrorMapping's.
	r := mgWant(t, "list", b.do(t, b.platformKey, "GET", path, nil), http.StatusOK, "")
	var all page[banItem]
	r.into(t, &all)
	if all.Items == nil || len(all.Items) != 5 || all.NextCursor != nil {
		t.Fatalf("default page: %d items, next %v: %s", len(all.Items), all.NextCursor, r.Raw)
	}
	want := slices.Clone(created)
	slices.Reverse(want)
	for i, it := range all.Items {
		if it.ID != want[i] || it.Reason != fmt.Sprintf("r%d", 4-i) || it.Kind != "openid" ||
			it.Target != fmt.Sprintf("o-listed-%d", 4-i) || it.Tenant == nil || *it.Tenant != tt.Slug {
			t.Fatalf("default page item %d: %+v", i, it)
		}
	}
	op := mgWant(t, "other tenant's list", b.do(t, b.platformKey, "GET", "/tenants/"+other.Slug+"/bans", nil), http.StatusOK, "")
	var opg page[banItem]
	op.into(t, &opg)
	if len(opg.Items) != 1 || opg.Items[0].Target != "o-elsewhere" {
		t.Fatalf("other tenant's list: %s", op.Raw)
	}
	pl := mgWant(t, "platform list", b.do(t, b.platformKey, "GET", "/bans", nil), http.StatusOK, "")
	var ppg page[banItem]
	pl.into(t, &ppg)
	if len(ppg.Items) != 0 {
		t.Fatalf("platform list shows tenant bans: %s", pl.Raw)
	}
}

// TestBanPlatformWide manages an IP ban on every tenant through /bans.
// That it refuses logins, tokens and refreshes on every tenant, and stops
// once lifted, is cmd/miniauth's (TestBanPlatformWide there).
func TestBanPlatformWide(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ta := b.tenant(t, "ban-plat-a")
	tb := b.tenant(t, "ban-plat-b")
	adminKeyA, _ := b.key(t, admin.RoleTenantAdmin, ta.Slug)
	aliceOpenID := "o-alice"
	alice := b.user(t, ta.ID, aliceOpenID).String()
	platform := func(method, path string, body any) reply {
		t.Helper()
		return b.do(t, b.platformKey, method, path, body)
	}
	asAdminA := func(method, path string, body any) reply {
		t.Helper()
		return b.do(t, adminKeyA, method, path, body)
	}

	// Only the platform may manage platform bans; a tenant admin may not even look.
	body := map[string]any{"ip": "127.0.0.1", "reason": "x"}
	asAdminA("GET", "/bans", nil).want(t, "tenant admin lists platform bans", http.StatusForbidden, "forbidden")
	asAdminA("POST", "/bans", body).want(t, "tenant admin creates a platform ban", http.StatusForbidden, "forbidden")
	// Platform bans target IPs only.
	banFields(t, "platform ban of a user_id", platform("POST", "/bans", map[string]any{"user_id": alice, "reason": "x"}), "ip")
	banFields(t, "platform ban of an openid", platform("POST", "/bans", map[string]any{"openid": aliceOpenID, "reason": "x"}), "ip")
	if n := b.count(t, `SELECT count(*) FROM bans`); n != 0 {
		t.Fatalf("refused platform bans left %d rows", n)
	}

	pb := banCreate(t, b, "/bans", body)
	if pb.Kind != "ip" || (pb.Target != "127.0.0.1" && pb.Target != "127.0.0.1/32") || pb.Tenant != nil {
		t.Fatalf("platform ban: %+v", pb)
	}
	if n := b.count(t, `SELECT count(*) FROM bans WHERE id = $1 AND tenant_id IS NULL`, pb.ID); n != 1 {
		t.Fatalf("platform ban row with tenant_id NULL: %d", n)
	}

	asAdminA("DELETE", "/bans/"+pb.ID, nil).want(t, "tenant admin deletes a platform ban", http.StatusForbidden, "forbidden")
	platform("DELETE", "/tenants/"+ta.Slug+"/bans/"+pb.ID, nil).want(t, "delete a platform ban through a tenant", http.StatusNotFound, "not_found")
	pl := mgWant(t, "platform list", platform("GET", "/bans", nil), http.StatusOK, "")
	if len(pl.Body["items"].([]any)) != 1 {
		t.Fatalf("platform list: %s", pl.Raw)
	}
	tl := mgWant(t, "tenant list", platform("GET", "/tenants/"+ta.Slug+"/bans", nil), http.StatusOK, "")
	if len(tl.Body["items"].([]any)) != 0 {
		t.Fatalf("a tenant's list shows the platform ban: %s", tl.Raw)
	}
	asAdminA("GET", "/tenants/"+ta.Slug+"/bans", nil).want(t, "tenant admin lists own tenant's bans", http.StatusOK, "")
	asAdminA("GET", "/tenants/"+tb.Slug+"/bans", nil).want(t, "tenant admin lists another tenant's bans", http.StatusForbidden, "forbidden")

	platform("DELETE", "/bans/"+pb.ID, nil).want(t, "delete the platform ban", http.StatusNoContent, "")
	if n := b.count(t, `SELECT count(*) FROM bans`); n != 0 {
		t.Fatalf("%d bans rows after the platform ban was deleted", n)
	}
	for _, action := range []string{"ban.create", "ban.delete"} {
		if n := b.count(t, `SELECT count(*) FROM audit_log WHERE action = $1 AND target_id = $2 AND tenant_id IS NULL AND actor_type = 'apikey'`,
			action, pb.ID); n != 1 {
			t.Fatalf("audit %s of the platform ban: %d rows", action, n)
		}
	}
}

// A ban wider than /16 (IPv4) or /48 (IPv6) locks out a whole population:
// platform admins only, and only with the target typed into confirm.
func TestBanWide(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ta := b.tenant(t, "ban-wide")
	tenantAdmin, _ := b.key(t, admin.RoleTenantAdmin, ta.Slug)
	operator, _ := b.key(t, admin.RoleTenantOperator, ta.Slug)
	path := "/tenants/" + ta.Slug + "/bans"
	stored := func() int {
		t.Helper()
		return b.count(t, `SELECT count(*) FROM bans`)
	}

	t.Run("tenant roles may not", func(t *testing.T) {
		for _, key := range []string{tenantAdmin, operator} {
			for _, body := range []map[string]any{
				{"ip": "10.0.0.0/8", "reason": "x"},
				{"ip": "10.0.0.0/8", "reason": "x", "confirm": "10.0.0.0/8"},
				{"ip": "2001:db8::/32", "reason": "x", "confirm": "2001:db8::/32"},
				{"ip": "0.0.0.0/0", "reason": "x", "confirm": "0.0.0.0/0"},
			} {
				r := b.do(t, key, http.MethodPost, path, body)
				r.want(t, fmt.Sprint(body), http.StatusForbidden, "forbidden")
				if !strings.Contains(r.Problem.Detail, "platform admin") {
					t.Errorf("%v: detail %q does not say who may", body, r.Problem.Detail)
				}
			}
		}
		if n := stored(); n != 0 {
			t.Fatalf("refused wide bans left %d rows", n)
		}
		// Up to a /16 or a /48 is theirs to ban, confirm or not.
		for _, ip := range []string{"10.1.0.0/16", "2001:db8:1::/48", "203.0.113.7"} {
			b.do(t, tenantAdmin, http.MethodPost, path, map[string]any{"ip": ip, "reason": "x"}).want(t, ip, http.StatusCreated, "")
		}
		b.do(t, tenantAdmin, http.MethodPost, path, map[string]any{"ip": "10.2.0.0/16", "reason": "x", "confirm": "anything"}).
			want(t, "confirm on a narrow ban", http.StatusCreated, "")
	})

	before := stored()
	t.Run("a platform admin must confirm", func(t *testing.T) {
		banFields(t, "no confirm", b.do(t, b.platformKey, http.MethodPost, path, map[string]any{"ip": "10.0.0.0/8", "reason": "x"}), "confirm")
		banFields(t, "wrong confirm", b.do(t, b.platformKey, http.MethodPost, path,
			map[string]any{"ip": "10.0.0.0/8", "reason": "x", "confirm": "10.0.0.0/9"}), "confirm")
		banFields(t, "platform route, no confirm", b.do(t, b.platformKey, http.MethodPost, "/bans", map[string]any{"ip": "::/0", "reason": "x"}), "confirm")
		if n := stored(); n != before {
			t.Fatalf("unconfirmed wide bans left %d rows", n-before)
		}
	})

	t.Run("a platform admin, confirmed", func(t *testing.T) {
		it := banCreate(t, b, path, map[string]any{"ip": "10.9.8.7/8", "reason": "botnet", "confirm": "10.0.0.0/8"})
		if it.Kind != "ip" || it.Target != "10.0.0.0/8" {
			t.Fatalf("wide ban: %+v", it)
		}
		pb := banCreate(t, b, "/bans", map[string]any{"ip": "::/0", "reason": "drill", "confirm": "::/0"})
		for _, id := range []string{it.ID, pb.ID} {
			if n := b.count(t, `SELECT count(*) FROM audit_log WHERE action = 'ban.create' AND target_id = $1
				AND actor_id = $2 AND diff->'target' IS NOT NULL`, id, b.platformKeyID.String()); n != 1 {
				t.Fatalf("audit of wide ban %s: %d rows", id, n)
			}
		}
	})
}
