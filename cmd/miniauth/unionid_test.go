package main

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/miniauth/miniauth/auth/wechat/fake"
)

// groupTenant creates a tenant whose app the fake binds to openPlatform.
func groupTenant(b *testBundle, slug, openPlatform string, extra map[string]any) testTenant {
	b.t.Helper()
	tt := b.createTenant(slug, extra)
	b.wx.AddApp(tt.AppID, tt.Secret, openPlatform)
	return tt
}

func unionItems(t *testing.T, r response) []string {
	t.Helper()
	wantStatus(t, "unionid lookup", r, http.StatusOK, "")
	var out struct {
		Items []struct {
			Tenant string `json:"tenant"`
			User   struct {
				ID      string `json:"id"`
				UnionID string `json:"unionid"`
			} `json:"user"`
		} `json:"items"`
	}
	if err := json.Unmarshal(r.Body, &out); err != nil {
		t.Fatal(err)
	}
	slugs := []string{}
	for _, it := range out.Items {
		slugs = append(slugs, it.Tenant)
	}
	return slugs
}

// Tenants of one unionid group share a person's unionid: the management
// API lists the person's users across them (as far as the caller may read
// them), and a tenant that opts in shows the linked accounts on /me.
func TestUnionIDLinking(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := mgmtPlatform(t, b)
	a := groupTenant(b, "group-a", "op-1", map[string]any{"unionid_group": "acme", "show_linked_tenants": true})
	bb := groupTenant(b, "group-b", "op-1", map[string]any{"unionid_group": "acme"})
	loner := groupTenant(b, "group-none", "op-1", nil)

	alice := b.login(nil, a, "alice")
	aliceB := b.login(nil, bb, "alice")
	b.login(nil, loner, "alice")
	if alice.User.UnionID == nil || aliceB.User.UnionID == nil || *alice.User.UnionID != *aliceB.User.UnionID {
		t.Fatalf("unionids %v and %v, want one shared", alice.User.UnionID, aliceB.User.UnionID)
	}
	u := *alice.User.UnionID

	if got := unionItems(t, c.do("GET", "/unionids/"+u, nil)); len(got) != 2 || got[0] != a.Slug || got[1] != bb.Slug {
		t.Fatalf("platform admin sees %v, want the group's two tenants", got)
	}
	_, adminA := mgmtCreateKey(t, c, "admin-a", "tenant_admin", a.Slug)
	_, adminLoner := mgmtCreateKey(t, c, "admin-loner", "tenant_admin", loner.Slug)
	if got := unionItems(t, c.as(adminA).do("GET", "/unionids/"+u, nil)); len(got) != 1 || got[0] != a.Slug {
		t.Fatalf("tenant admin of %s sees %v, want only its own tenant", a.Slug, got)
	}
	if got := unionItems(t, c.as(adminLoner).do("GET", "/unionids/"+u, nil)); len(got) != 0 {
		t.Fatalf("admin of a tenant in no group sees %v, want nothing", got)
	}
	if got := unionItems(t, c.do("GET", "/unionids/o-nobody", nil)); len(got) != 0 {
		t.Fatalf("unknown unionid: %v", got)
	}
	wantStatus(t, "malformed unionid", c.do("GET", "/unionids/bad%20id", nil), http.StatusBadRequest, "invalid_request")

	// /me of the tenant that opted in lists the other tenant of the group.
	me := wantStatus(t, "me", do(t, "GET", b.srv.URL+"/v1/t/"+a.Slug+"/me", nil, "Authorization", "Bearer "+alice.AccessToken), http.StatusOK, "")
	var m struct {
		Linked []struct {
			Tenant string `json:"tenant"`
			UserID string `json:"user_id"`
		} `json:"linked_tenants"`
	}
	_ = json.Unmarshal(me.Body, &m)
	if len(m.Linked) != 1 || m.Linked[0].Tenant != bb.Slug || m.Linked[0].UserID != aliceB.User.ID {
		t.Fatalf("linked_tenants %s", me.Body)
	}
	meB := wantStatus(t, "me on a tenant that did not opt in", do(t, "GET", b.srv.URL+"/v1/t/"+bb.Slug+"/me", nil, "Authorization", "Bearer "+aliceB.AccessToken), http.StatusOK, "")
	if _, ok := meB.JSON(t)["linked_tenants"]; ok {
		t.Fatalf("linked_tenants shown without opting in: %s", meB.Body)
	}
	// A disabled tenant of the group is not shown.
	wantStatus(t, "disable b", c.do("PATCH", "/tenants/"+bb.Slug, map[string]any{"status": "disabled"}), http.StatusOK, "")
	afterPropagation()
	me = wantStatus(t, "me", do(t, "GET", b.srv.URL+"/v1/t/"+a.Slug+"/me", nil, "Authorization", "Bearer "+alice.AccessToken), http.StatusOK, "")
	if _, ok := me.JSON(t)["linked_tenants"]; ok {
		t.Fatalf("a disabled tenant is linked: %s", me.Body)
	}

	// Only a platform admin sets a group; "" leaves it.
	wantStatus(t, "tenant admin sets a group", c.as(adminA).do("PATCH", "/tenants/"+a.Slug, map[string]any{"unionid_group": "other"}), http.StatusForbidden, "forbidden")
	wantStatus(t, "tenant admin opts out", c.as(adminA).do("PATCH", "/tenants/"+a.Slug, map[string]any{"show_linked_tenants": false}), http.StatusOK, "")
	r := wantStatus(t, "platform admin leaves the group", c.do("PATCH", "/tenants/"+bb.Slug, map[string]any{"unionid_group": ""}), http.StatusOK, "")
	if g := r.JSON(t)["unionid_group"]; g != nil {
		t.Fatalf("unionid_group %v after leaving, want null", g)
	}
	if got := unionItems(t, c.do("GET", "/unionids/"+u, nil)); len(got) != 1 || got[0] != a.Slug {
		t.Fatalf("after b left the group: %v", got)
	}
	for name, body := range map[string]map[string]any{
		"bad group":         {"unionid_group": "a b"},
		"page with slash":   {"qr_login_page": "/pages/index/index"},
		"page with a query": {"qr_login_page": "pages/index/index?a=1"},
	} {
		wantStatus(t, name, c.do("PATCH", "/tenants/"+a.Slug, body), http.StatusBadRequest, "invalid_request")
	}
	r = wantStatus(t, "set the page", c.do("PATCH", "/tenants/"+a.Slug, map[string]any{"qr_login_page": "pages/qr/index"}), http.StatusOK, "")
	if r.JSON(t)["qr_login_page"] != "pages/qr/index" {
		t.Fatalf("qr_login_page not stored: %s", r.Body)
	}
}

// A unionid that appears after the app is bound is stored on the next
// login; WeChat answers that would give two users of a tenant one unionid,
// or a malformed one, are refused with nothing written.
func TestUnionIDBackfillAndHostileAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("backfill", nil)
	first := b.login(nil, tt, "bob")
	if first.User.UnionID != nil {
		t.Fatalf("unionid %v before the app is bound", *first.User.UnionID)
	}
	b.wx.AddApp(tt.AppID, tt.Secret, "op-late")
	again := b.login(nil, tt, "bob")
	if again.User.ID != first.User.ID || again.User.UnionID == nil || *again.User.UnionID != b.wx.UnionID(tt.AppID, "bob") {
		t.Fatalf("after binding: %+v, want the same user with its unionid", again.User)
	}
	count := func() (users, sessions int) {
		if err := b.db.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM sessions)`).Scan(&users, &sessions); err != nil {
			t.Fatal(err)
		}
		return
	}
	u0, s0 := count()
	for name, body := range map[string]string{
		"another openid with bob's unionid": `{"openid":"oSomeoneElse0000000000000000","session_key":"c2Vzc2lvbmtleTEyMzQ1Ng==","unionid":"` + *again.User.UnionID + `"}`,
		"malformed unionid":                 `{"openid":"oSomeoneElse0000000000000001","session_key":"c2Vzc2lvbmtleTEyMzQ1Ng==","unionid":"bad unionid!"}`,
	} {
		b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, Body: body})
		r := do(t, "POST", b.srv.URL+"/v1/t/"+tt.Slug+"/login", map[string]string{"code": b.wx.MintCode(tt.AppID, "mallory")})
		wantStatus(t, name, r, http.StatusBadGateway, "wechat_unavailable")
		if u, s := count(); u != u0 || s != s0 {
			t.Fatalf("%s: %d users and %d sessions, want %d and %d (nothing written)", name, u, s, u0, s0)
		}
	}
}
