package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
)

// session inserts a live session of a user, as a login would.
func (b *testBundle) session(t testing.TB, tenantID int64, userID uuid.UUID, ip, ua string) uuid.UUID {
	t.Helper()
	sid := uuid.Must(uuid.NewV7())
	if _, err := b.db.Exec(context.Background(), `INSERT INTO sessions (id, tenant_id, user_id, expires_at, ip, user_agent)
		VALUES ($1, $2, $3, now() + interval '1 day', NULLIF($4, '')::inet, NULLIF($5, ''))`, sid, tenantID, userID, ip, ua); err != nil {
		t.Fatalf("insert session: %v", err)
	}
	return sid
}

// liveSessions counts a user's unrevoked sessions.
func (b *testBundle) liveSessions(t testing.TB, userID uuid.UUID) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), `SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL`,
		userID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (b *testBundle) count(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func noMissing(t testing.TB, p page) {
	t.Helper()
	if strings.Contains(p.Body, "⟦missing") {
		t.Errorf("untranslated string on the page")
	}
}

func TestUsersScreen(t *testing.T) {
	t.Parallel()
	b := setup(t)
	a := b.tenant(t, "users-a")
	other := b.tenant(t, "users-b")
	ann := b.user(t, a.ID, "o-ann-1")
	bob := b.user(t, a.ID, "o-bob-2")
	theirs := b.user(t, other.ID, "o-theirs")
	ta := b.signIn(t, admin.RoleTenantAdmin, "users-a")
	base := "/admin/tenants/users-a/users"

	t.Run("list and search", func(t *testing.T) {
		p := ta.get(t, base).want(t, http.StatusOK)
		noMissing(t, p)
		if n := p.find("user-row").Length(); n != 2 {
			t.Fatalf("%d rows, want 2", n)
		}
		p = ta.get(t, base+"?q=o-an").want(t, http.StatusOK)
		if n := p.find("user-row").Length(); n != 1 || p.find("user-link").Text() != "o-ann-1" {
			t.Fatalf("search by openid prefix: %d rows %q", n, p.find("user-link").Text())
		}
		p = ta.get(t, base+"?q=nobody").want(t, http.StatusOK)
		if p.find("empty").Length() != 1 {
			t.Error("no empty state for a search without match")
		}
		p = ta.get(t, base+"?status=bogus")
		p.want(t, http.StatusBadRequest)
		ta.get(t, base+"?before=nope").want(t, http.StatusBadRequest)
	})
	t.Run("htmx gets the fragment", func(t *testing.T) {
		p := ta.htmx(t, http.MethodGet, base, url.Values{"q": {"o-bo"}}).want(t, http.StatusOK)
		if p.Doc.Find("html head title").Length() != 0 || p.find("nav-dashboard").Length() != 0 {
			t.Fatal("the fragment carries the layout")
		}
		if n := p.find("user-row").Length(); n != 1 || p.find("user-link").Text() != "o-bob-2" {
			t.Fatalf("fragment: %d rows", n)
		}
	})
	t.Run("paging", func(t *testing.T) {
		c := b.tenant(t, "users-many")
		for i := range 51 {
			b.user(t, c.ID, "o-many-"+uuid.NewString()[:8]+string(rune('a'+i%26)))
		}
		viewer := b.signIn(t, admin.RolePlatformAdmin, "")
		p := viewer.get(t, "/admin/tenants/users-many/users").want(t, http.StatusOK)
		if n := p.find("user-row").Length(); n != 50 {
			t.Fatalf("first page %d rows", n)
		}
		next, ok := p.find("next-page").Attr("href")
		if !ok {
			t.Fatal("no next page link")
		}
		p = viewer.get(t, next).want(t, http.StatusOK)
		if n := p.find("user-row").Length(); n != 1 || p.find("next-page").Length() != 0 || p.find("first-page").Length() != 1 {
			t.Fatalf("second page: %d rows, next %d", n, p.find("next-page").Length())
		}
	})
	t.Run("detail with sessions", func(t *testing.T) {
		b.session(t, a.ID, ann, "203.0.113.4", "WeChat/8.0")
		p := ta.get(t, base+"/"+ann.String()).want(t, http.StatusOK)
		noMissing(t, p)
		if p.find("user-id").Text() != ann.String() || p.find("session-row").Length() != 1 {
			t.Fatalf("detail: id %q, %d sessions", p.find("user-id").Text(), p.find("session-row").Length())
		}
		if p.find("session-ip").Text() != "203.0.113.4" || p.find("session-ua").Text() != "WeChat/8.0" {
			t.Errorf("session row %q %q", p.find("session-ip").Text(), p.find("session-ua").Text())
		}
		ta.get(t, base+"/not-a-uuid").want(t, http.StatusNotFound)
		ta.get(t, base+"/"+uuid.NewString()).want(t, http.StatusNotFound)
	})
	t.Run("revoke one session and all", func(t *testing.T) {
		s1 := b.session(t, a.ID, bob, "", "")
		b.session(t, a.ID, bob, "", "")
		b.session(t, a.ID, bob, "", "")
		u := base + "/" + bob.String()
		ta.post(t, u+"/sessions/"+uuid.NewString()+"/revoke", nil).want(t, http.StatusNotFound)
		wantRedirect(t, ta.post(t, u+"/sessions/"+s1.String()+"/revoke", nil), u)
		if n := b.liveSessions(t, bob); n != 2 {
			t.Fatalf("%d live after revoking one, want 2", n)
		}
		if b.auditCount(t, "session.revoke") != 1 {
			t.Error("no session.revoke audit entry")
		}
		p := ta.get(t, u).want(t, http.StatusOK)
		if p.find("flash").Length() != 1 || p.find("session-row").Length() != 2 {
			t.Errorf("after revoke: flash %d, %d rows", p.find("flash").Length(), p.find("session-row").Length())
		}
		wantRedirect(t, ta.post(t, u+"/revoke-sessions", nil), u)
		if n := b.liveSessions(t, bob); n != 0 {
			t.Fatalf("%d live after revoking all", n)
		}
		if b.auditCount(t, "user.revoke_sessions") != 1 {
			t.Error("no user.revoke_sessions audit entry")
		}
	})
	t.Run("ban and unban", func(t *testing.T) {
		u := base + "/" + ann.String()
		p := ta.post(t, u+"/ban", url.Values{"reason": {""}}).want(t, http.StatusBadRequest)
		if p.find("error-reason").Length() != 1 {
			t.Fatalf("no reason error: %s", p.Body)
		}
		p = ta.post(t, u+"/ban", url.Values{"reason": {"spam"}, "expires_at": {"2001-01-01T00:00"}}).want(t, http.StatusBadRequest)
		if p.find("error-expires_at").Length() != 1 {
			t.Fatal("a past expiry is not refused beside its field")
		}
		exp := time.Now().Add(48 * time.Hour).UTC().Format("2006-01-02T15:04")
		wantRedirect(t, ta.post(t, u+"/ban", url.Values{"reason": {"spam"}, "expires_at": {exp}}), u)
		if b.auditCount(t, "ban.create") != 1 || b.count(t, `SELECT count(*) FROM bans WHERE target = $1`, ann.String()) != 1 {
			t.Fatal("ban not stored or not audited")
		}
		p = ta.get(t, u).want(t, http.StatusOK)
		if p.find("user-ban").Length() != 1 || p.find("unban").Length() != 1 || p.find("ban-form").Length() != 0 {
			t.Fatal("the page does not show the ban")
		}
		wantRedirect(t, ta.post(t, u+"/unban", nil), u)
		if b.auditCount(t, "ban.delete") != 1 || b.count(t, `SELECT count(*) FROM bans WHERE target = $1`, ann.String()) != 0 {
			t.Fatal("ban not lifted or not audited")
		}
		ta.post(t, u+"/unban", nil).want(t, http.StatusNotFound)
	})
	t.Run("disable then enable", func(t *testing.T) {
		cal := b.user(t, a.ID, "o-cal")
		b.session(t, a.ID, cal, "", "")
		u := base + "/" + cal.String()
		ta.post(t, u+"/status", url.Values{"status": {"bogus"}}).want(t, http.StatusBadRequest)
		wantRedirect(t, ta.post(t, u+"/status", url.Values{"status": {"disabled"}}), u)
		p := ta.get(t, u).want(t, http.StatusOK)
		if p.find("status").Text() != "disabled" || p.find("enable-user").Length() != 1 {
			t.Fatalf("after disabling: status %q", p.find("status").Text())
		}
		if b.liveSessions(t, cal) != 0 {
			t.Error("disabling left a session live")
		}
		wantRedirect(t, ta.post(t, u+"/status", url.Values{"status": {"active"}}), u)
		if p := ta.get(t, u); p.find("status").Text() != "active" || p.find("disable-user").Length() != 1 {
			t.Fatalf("after enabling: status %q", p.find("status").Text())
		}
		if n := b.count(t, `SELECT count(*) FROM audit_log WHERE action = 'user.update' AND target_id = $1`, cal.String()); n != 2 {
			t.Errorf("%d user.update entries, want 2", n)
		}
	})
	t.Run("erase needs the typed openid", func(t *testing.T) {
		victim := b.user(t, a.ID, "o-victim")
		u := base + "/" + victim.String()
		p := ta.post(t, u+"/erase", url.Values{"confirm_openid": {"o-ann-1"}}).want(t, http.StatusBadRequest)
		if p.find("error-confirm_openid").Length() != 1 {
			t.Error("no error beside the confirmation")
		}
		if b.count(t, `SELECT count(*) FROM users WHERE id = $1`, victim) != 1 || b.auditCount(t, "user.erase") != 0 {
			t.Fatal("erased without the right openid")
		}
		wantRedirect(t, ta.post(t, u+"/erase", url.Values{"confirm_openid": {"o-victim"}}), base)
		if b.count(t, `SELECT count(*) FROM users WHERE id = $1`, victim) != 0 || b.auditCount(t, "user.erase") != 1 {
			t.Fatal("not erased, or not audited")
		}
	})
	t.Run("another tenant's users", func(t *testing.T) {
		ta.get(t, "/admin/tenants/users-b/users").want(t, http.StatusForbidden)
		ta.get(t, "/admin/tenants/users-b/users/"+theirs.String()).want(t, http.StatusForbidden)
		// B's user id under A's URL names no user of A.
		ta.get(t, base+"/"+theirs.String()).want(t, http.StatusNotFound)
		s := b.session(t, other.ID, theirs, "", "")
		for _, path := range []string{"/erase", "/revoke-sessions", "/sessions/" + s.String() + "/revoke", "/ban", "/unban", "/status"} {
			ta.post(t, base+"/"+theirs.String()+path, url.Values{"confirm_openid": {"o-theirs"}, "reason": {"x"}, "status": {"disabled"}}).want(t, http.StatusNotFound)
			ta.post(t, "/admin/tenants/users-b/users/"+theirs.String()+path, url.Values{"confirm_openid": {"o-theirs"}, "reason": {"x"}, "status": {"disabled"}}).want(t, http.StatusForbidden)
		}
		if b.count(t, `SELECT count(*) FROM users WHERE id = $1`, theirs) != 1 || b.liveSessions(t, theirs) != 1 ||
			b.count(t, `SELECT count(*) FROM bans WHERE tenant_id = $1`, other.ID) != 0 ||
			b.count(t, `SELECT count(*) FROM users WHERE id = $1 AND status = 'active'`, theirs) != 1 {
			t.Fatal("tenant B's user was changed from tenant A")
		}
	})
	t.Run("viewer reads only", func(t *testing.T) {
		viewer := b.signIn(t, admin.RoleTenantViewer, "users-a")
		b.session(t, a.ID, ann, "", "")
		u := base + "/" + ann.String()
		p := viewer.get(t, u).want(t, http.StatusOK)
		if n := p.Doc.Find(`main form[method="post"]`).Length(); n != 0 {
			t.Errorf("a viewer gets %d forms", n)
		}
		if p.find("session-row").Length() != 1 {
			t.Error("a viewer does not see the sessions")
		}
		for _, path := range []string{"/erase", "/revoke-sessions", "/ban", "/unban", "/status"} {
			viewer.post(t, u+path, url.Values{"confirm_openid": {"o-ann-1"}, "reason": {"x"}, "status": {"disabled"}}).want(t, http.StatusForbidden)
		}
		if b.liveSessions(t, ann) != 1 || b.count(t, `SELECT count(*) FROM users WHERE id = $1`, ann) != 1 {
			t.Fatal("a viewer changed something")
		}
	})
}
