package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
)

// banID is the id of a tenant's ban of target.
func (b *testBundle) banID(t testing.TB, target string) string {
	t.Helper()
	var id uuid.UUID
	if err := b.db.QueryRow(t.Context(), `SELECT id FROM bans WHERE target = $1`, target).Scan(&id); err != nil {
		t.Fatalf("ban of %s: %v", target, err)
	}
	return id.String()
}

func TestBansScreen(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.tenant(t, "bans-a")
	other := b.tenant(t, "bans-b")
	ann := b.user(t, a.ID, "o-ann")
	ta := b.signIn(t, admin.RoleTenantAdmin, "bans-a")
	base := "/admin/tenants/bans-a/bans"

	t.Run("empty", func(t *testing.T) {
		p := ta.get(t, base).want(t, http.StatusOK)
		noMissing(t, p)
		if p.find("empty").Length() != 1 || p.find("ban-create-form").Length() != 1 {
			t.Fatal("no empty state or no create form")
		}
	})
	t.Run("create each kind", func(t *testing.T) {
		for _, f := range []url.Values{
			{"user_id": {ann.String()}, "reason": {"by id"}},
			{"openid": {"o-later"}, "reason": {"by openid"}},
			{"ip": {"203.0.113.0/24"}, "reason": {"by ip"}, "expires_at": {"2099-01-01T10:00"}},
		} {
			wantRedirect(t, ta.post(t, base, f), base)
		}
		if b.auditCount(t, "ban.create") != 3 {
			t.Fatal("bans not audited")
		}
		p := ta.get(t, base).want(t, http.StatusOK)
		if p.find("ban-row").Length() != 3 {
			t.Fatalf("%d rows", p.find("ban-row").Length())
		}
		p = ta.get(t, base+"?kind=ip").want(t, http.StatusOK)
		if p.find("ban-row").Length() != 1 || p.find("ban-target").Text() != "203.0.113.0/24" {
			t.Fatalf("ip filter: %d rows", p.find("ban-row").Length())
		}
		ta.get(t, base+"?kind=nope").want(t, http.StatusBadRequest)
	})
	t.Run("expiry is read in the viewer's zone", func(t *testing.T) {
		c := b.signIn(t, admin.RoleTenantAdmin, "bans-a")
		u, _ := url.Parse(b.URL)
		c.http.Jar.SetCookies(u, []*http.Cookie{{Name: "tz", Value: "Asia%2FShanghai", Path: "/admin"}})
		wantRedirect(t, c.post(t, base, url.Values{"openid": {"o-zone"}, "reason": {"z"}, "expires_at": {"2099-06-01T08:00"}}), base)
		if n := b.count(t, `SELECT count(*) FROM bans WHERE target = 'o-zone' AND expires_at = '2099-06-01T00:00:00Z'`); n != 1 {
			t.Fatal("8:00 in Shanghai was not stored as 0:00 UTC")
		}
	})
	t.Run("field errors", func(t *testing.T) {
		before := b.count(t, `SELECT count(*) FROM bans`)
		for field, f := range map[string]url.Values{
			"user_id":    {"user_id": {ann.String()}, "openid": {"o-x"}, "reason": {"two targets"}},
			"ip":         {"ip": {"not-an-ip"}, "reason": {"r"}},
			"reason":     {"ip": {"203.0.113.9"}},
			"expires_at": {"ip": {"203.0.113.9"}, "reason": {"r"}, "expires_at": {"tomorrow"}},
		} {
			p := ta.post(t, base, f).want(t, http.StatusBadRequest)
			if p.find("error-"+field).Length() != 1 {
				t.Errorf("%s: no error beside the field: %s", field, p.find("ban-create-form").Text())
			}
			noMissing(t, p)
		}
		if b.count(t, `SELECT count(*) FROM bans`) != before {
			t.Fatal("a refused ban was stored")
		}
	})
	t.Run("lift", func(t *testing.T) {
		id := b.banID(t, "o-later")
		wantRedirect(t, ta.post(t, base+"/"+id+"/delete", nil), base)
		if b.auditCount(t, "ban.delete") != 1 || b.count(t, `SELECT count(*) FROM bans WHERE id = $1`, id) != 0 {
			t.Fatal("not lifted or not audited")
		}
		ta.post(t, base+"/"+id+"/delete", nil).want(t, http.StatusNotFound)
		ta.post(t, base+"/nope/delete", nil).want(t, http.StatusNotFound)
	})
	t.Run("another tenant's bans", func(t *testing.T) {
		pa := b.signIn(t, admin.RolePlatformAdmin, "")
		wantRedirect(t, pa.post(t, "/admin/tenants/bans-b/bans", url.Values{"openid": {"o-b"}, "reason": {"b"}}), "/admin/tenants/bans-b/bans")
		id := b.banID(t, "o-b")
		ta.get(t, "/admin/tenants/bans-b/bans").want(t, http.StatusForbidden)
		ta.post(t, "/admin/tenants/bans-b/bans", url.Values{"openid": {"o-c"}, "reason": {"b"}}).want(t, http.StatusForbidden)
		ta.post(t, "/admin/tenants/bans-b/bans/"+id+"/delete", nil).want(t, http.StatusForbidden)
		// B's ban id under A's URL names no ban of A.
		ta.post(t, base+"/"+id+"/delete", nil).want(t, http.StatusNotFound)
		if b.count(t, `SELECT count(*) FROM bans WHERE tenant_id = $1`, other.ID) != 1 {
			t.Fatal("tenant B's bans were changed from tenant A")
		}
		// A user id of B is no user of A.
		theirs := b.user(t, other.ID, "o-theirs")
		p := ta.post(t, base, url.Values{"user_id": {theirs.String()}, "reason": {"x"}}).want(t, http.StatusBadRequest)
		if p.find("error-user_id").Length() != 1 {
			t.Error("no error beside the user id")
		}
	})
	t.Run("viewer reads only", func(t *testing.T) {
		v := b.signIn(t, admin.RoleTenantViewer, "bans-a")
		p := v.get(t, base).want(t, http.StatusOK)
		if p.Doc.Find(`main form[method="post"]`).Length() != 0 {
			t.Error("a viewer gets forms")
		}
		if p.find("ban-row").Length() == 0 {
			t.Error("a viewer sees no bans")
		}
		v.post(t, base, url.Values{"openid": {"o-v"}, "reason": {"v"}}).want(t, http.StatusForbidden)
		v.post(t, base+"/"+b.banID(t, ann.String())+"/delete", nil).want(t, http.StatusForbidden)
		if b.count(t, `SELECT count(*) FROM bans WHERE target = 'o-v'`) != 0 {
			t.Fatal("a viewer created a ban")
		}
	})
	t.Run("platform bans", func(t *testing.T) {
		pa := b.signIn(t, admin.RolePlatformAdmin, "")
		p := pa.get(t, "/admin/bans").want(t, http.StatusOK)
		noMissing(t, p)
		if p.find("field-user_id").Length() != 0 || p.find("field-ip").Length() != 1 {
			t.Fatal("platform form offers more than IPs")
		}
		wantRedirect(t, pa.post(t, "/admin/bans", url.Values{"ip": {"198.51.100.7"}, "reason": {"platform"}}), "/admin/bans")
		if b.count(t, `SELECT count(*) FROM bans WHERE tenant_id IS NULL AND target = '198.51.100.7/32'`) != 1 {
			t.Fatal("platform ban not stored")
		}
		p = pa.post(t, "/admin/bans", url.Values{"openid": {"o-x"}, "reason": {"platform"}}).want(t, http.StatusBadRequest)
		if !strings.Contains(p.Body, "IP") {
			t.Error("no message about platform bans being IP bans")
		}
		ta.get(t, "/admin/bans").want(t, http.StatusForbidden)
		ta.post(t, "/admin/bans", url.Values{"ip": {"198.51.100.8"}, "reason": {"x"}}).want(t, http.StatusForbidden)
		id := b.banID(t, "198.51.100.7/32")
		ta.post(t, "/admin/bans/"+id+"/delete", nil).want(t, http.StatusForbidden)
		// The platform's ban is not a ban of tenant A.
		ta.post(t, base+"/"+id+"/delete", nil).want(t, http.StatusNotFound)
		wantRedirect(t, pa.post(t, "/admin/bans/"+id+"/delete", nil), "/admin/bans")
		if b.count(t, `SELECT count(*) FROM bans WHERE id = $1`, id) != 0 {
			t.Fatal("platform ban not lifted")
		}
	})
	t.Run("population-wide bans", func(t *testing.T) {
		before := b.count(t, `SELECT count(*) FROM bans`)
		audits := b.auditCount(t, "ban.create")
		p := ta.post(t, base, url.Values{"ip": {"10.0.0.0/8"}, "reason": {"everyone"}, "confirm": {"10.0.0.0/8"}}).want(t, http.StatusForbidden)
		if p.find("error-ip").Length() != 1 || p.find("field-confirm").Length() != 0 {
			t.Error("a tenant admin's wide ban is not refused beside the ip")
		}
		noMissing(t, p)
		if b.count(t, `SELECT count(*) FROM bans`) != before || b.auditCount(t, "ban.create") != audits {
			t.Fatal("a tenant admin's /8 ban was stored")
		}
		// /16 is as wide as a tenant admin may go.
		wantRedirect(t, ta.post(t, base, url.Values{"ip": {"192.168.0.0/16"}, "reason": {"office"}}), base)

		pa := b.signIn(t, admin.RolePlatformAdmin, "")
		for _, path := range []string{"/admin/bans", base} {
			p := pa.post(t, path, url.Values{"ip": {"10.0.0.0/8"}, "reason": {"everyone"}}).want(t, http.StatusBadRequest)
			if p.find("field-confirm").Length() != 1 || p.find("error-confirm").Length() != 1 {
				t.Fatalf("%s: no typed confirmation asked for: %s", path, p.find("ban-create-form").Text())
			}
			if v, _ := p.find("field-ip").Attr("value"); v != "10.0.0.0/8" {
				t.Errorf("%s: the range typed is lost: %q", path, v)
			}
			noMissing(t, p)
			p = pa.post(t, path, url.Values{"ip": {"10.0.0.0/8"}, "reason": {"everyone"}, "confirm": {"10.0.0.0/9"}}).want(t, http.StatusBadRequest)
			if p.find("field-confirm").Length() != 1 {
				t.Fatalf("%s: a wrong confirmation is not asked again", path)
			}
			if b.count(t, `SELECT count(*) FROM bans WHERE target = '10.0.0.0/8'`) != 0 {
				t.Fatalf("%s: stored without the confirmation", path)
			}
			wantRedirect(t, pa.post(t, path, url.Values{"ip": {"10.0.0.0/8"}, "reason": {"everyone"}, "confirm": {"10.0.0.0/8"}}), path)
			if b.count(t, `SELECT count(*) FROM bans WHERE target = '10.0.0.0/8'`) != 1 {
				t.Fatalf("%s: confirmed wide ban not stored", path)
			}
			if _, err := b.db.Exec(t.Context(), `DELETE FROM bans WHERE target = '10.0.0.0/8'`); err != nil {
				t.Fatal(err)
			}
		}
	})
}
