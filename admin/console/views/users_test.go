package views_test

import (
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin/console/views"
	"github.com/miniauth/miniauth/auth"
)

func someUsers(n int) []auth.User {
	out := make([]auth.User, n)
	for i := range out {
		out[i] = auth.User{ID: uuid.Must(uuid.NewV7()).String(), OpenID: "oid-" + string(rune('a'+i)), Nickname: ptr("nick"),
			Status: "active", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	}
	return out
}

func TestUsersList(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		both(t, views.Users(views.UsersPage{Page: page, Slug: "acme"}), func(t *testing.T, doc *goquery.Document) {
			if byID(doc, "empty").Length() != 1 || byID(doc, "users-table").Length() != 0 {
				t.Error("an empty tenant shows no empty state")
			}
			if byID(doc, "next-page").Length() != 0 || byID(doc, "first-page").Length() != 0 {
				t.Error("an empty list has a pager")
			}
			form := byID(doc, "user-search")
			if m, _ := form.Attr("method"); m != "get" {
				t.Errorf("search form method %q, want get (works without JS)", m)
			}
			if a, _ := form.Attr("action"); a != "/admin/tenants/acme/users" {
				t.Errorf("search form action %q", a)
			}
			q := byID(doc, "field-q")
			if tr, _ := q.Attr("hx-trigger"); tr != "input changed delay:300ms, search" {
				t.Errorf("hx-trigger %q", tr)
			}
			if tg, _ := q.Attr("hx-target"); tg != "#users-results" || doc.Find("#users-results").Length() != 1 {
				t.Errorf("hx-target %q does not name the results", tg)
			}
		})
	})
	t.Run("rows and next page", func(t *testing.T) {
		users := someUsers(3)
		m := views.UsersPage{Page: page, Slug: "acme", Query: "oid", Status: "active", Users: users, Next: users[2].ID}
		both(t, views.Users(m), func(t *testing.T, doc *goquery.Document) {
			if n := byID(doc, "user-row").Length(); n != 3 {
				t.Fatalf("%d rows, want 3", n)
			}
			if href, _ := byID(doc, "user-link").First().Attr("href"); href != "/admin/tenants/acme/users/"+users[0].ID {
				t.Errorf("user link %q", href)
			}
			if v, _ := byID(doc, "field-q").Attr("value"); v != "oid" {
				t.Errorf("search box keeps %q", v)
			}
			if v, _ := byID(doc, "field-status").Find("option[selected]").Attr("value"); v != "active" {
				t.Errorf("status filter shows %q", v)
			}
			next, _ := byID(doc, "next-page").Attr("href")
			if next != "/admin/tenants/acme/users?before="+users[2].ID+"&q=oid&status=active" {
				t.Errorf("next link %q keeps neither search nor cursor", next)
			}
			if byID(doc, "first-page").Length() != 0 {
				t.Error("the first page links to the first page")
			}
		})
	})
	t.Run("no match", func(t *testing.T) {
		both(t, views.UsersResults(views.UsersPage{Slug: "acme", Query: "zzz"}), func(t *testing.T, doc *goquery.Document) {
			if byID(doc, "empty").Length() != 1 {
				t.Error("no empty state")
			}
			if byID(doc, "nav-dashboard").Length() != 0 || doc.Find("main").Length() != 0 {
				t.Error("the fragment carries the layout")
			}
		})
	})
}

func testUser() views.UserPage {
	u := auth.User{ID: uuid.Must(uuid.NewV7()).String(), OpenID: "o-123", UnionID: ptr("u-1"), Nickname: ptr("Ann"),
		Phone: ptr("13800000000"), Status: "active", CreatedAt: time.Now()}
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	return views.UserPage{Page: page, Slug: "acme", User: u, Sessions: []auth.SessionInfo{
		{ID: uuid.New(), CreatedAt: now.Add(-time.Hour), LastUsedAt: now, ExpiresAt: now.Add(24 * time.Hour), IP: "203.0.113.7", UserAgent: "WeChat/8"},
		{ID: uuid.New(), CreatedAt: now.Add(-2 * time.Hour), LastUsedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(time.Hour), Client: auth.SessionWeb},
	}}
}

func TestUserDetail(t *testing.T) {
	t.Run("admin", func(t *testing.T) {
		m := testUser()
		m.CanWriteUsers, m.CanWriteSessions, m.CanWriteBans = true, true, true
		both(t, views.User(m), func(t *testing.T, doc *goquery.Document) {
			for id, want := range map[string]string{"user-id": m.User.ID, "user-unionid": "u-1", "user-nickname": "Ann", "user-phone": "13800000000"} {
				if got := strings.TrimSpace(byID(doc, id).Text()); got != want {
					t.Errorf("%s = %q, want %q", id, got, want)
				}
			}
			if n := byID(doc, "session-row").Length(); n != 2 {
				t.Fatalf("%d session rows, want 2", n)
			}
			if ip := byID(doc, "session-ip").First().Text(); ip != "203.0.113.7" {
				t.Errorf("session ip %q", ip)
			}
			clients := byID(doc, "session-client")
			if a, b := clients.First().Text(), clients.Last().Text(); a == b || a == "" || b == "" {
				t.Errorf("session clients %q and %q: a mini-program session and a web one must read differently", a, b)
			}
			if ua := byID(doc, "session-ua").Last().Text(); ua != "—" {
				t.Errorf("unknown user agent shown as %q", ua)
			}
			if lu := byID(doc, "session-last-used").First().Text(); lu != "2026-03-04 05:06:07" {
				t.Errorf("last used %q", lu)
			}
			act, _ := byID(doc, "revoke-session-form").First().Attr("action")
			if act != m.Base()+"/sessions/"+m.Sessions[0].ID.String()+"/revoke" {
				t.Errorf("revoke action %q", act)
			}
			for _, id := range []string{"revoke-session-form", "revoke-all-form", "ban-form", "erase-form", "status-form"} {
				f := byID(doc, id).First()
				if f.Length() == 0 {
					t.Errorf("no %s", id)
					continue
				}
				if v, _ := f.Find(`input[name="_csrf"]`).Attr("value"); v != "tok" {
					t.Errorf("%s carries no CSRF token", id)
				}
				if id != "status-form" {
					if q, _ := f.Attr("data-confirm"); q == "" {
						t.Errorf("%s asks no confirmation", id)
					}
				}
			}
			if byID(doc, "disable-user").Length() != 1 || byID(doc, "enable-user").Length() != 0 {
				t.Error("an active user is not offered disabling")
			}
			if byID(doc, "field-confirm_openid").Length() != 1 {
				t.Error("erase asks for no typed openid")
			}
			if byID(doc, "unban").Length() != 0 {
				t.Error("an unbanned user is offered unbanning")
			}
		})
	})
	t.Run("viewer", func(t *testing.T) {
		m := testUser()
		both(t, views.User(m), func(t *testing.T, doc *goquery.Document) {
			if n := doc.Find(`form[method="post"]`).Not(`[action="/admin/logout"], [action="/admin/lang"]`).Length(); n != 0 {
				t.Errorf("a read-only viewer gets %d forms", n)
			}
			if byID(doc, "session-row").Length() != 2 {
				t.Error("sessions are not shown")
			}
		})
	})
	t.Run("banned and disabled", func(t *testing.T) {
		m := testUser()
		m.CanWriteUsers, m.CanWriteBans = true, true
		m.User.Status = "disabled"
		exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
		m.Bans = []auth.Ban{{ID: uuid.New(), Kind: "user", Target: m.User.ID, Reason: "spam", ExpiresAt: &exp}}
		both(t, views.User(m), func(t *testing.T, doc *goquery.Document) {
			if byID(doc, "enable-user").Length() != 1 {
				t.Error("a disabled user is not offered enabling")
			}
			if byID(doc, "unban").Length() != 1 || byID(doc, "ban-form").Length() != 0 {
				t.Error("a banned user is not offered unbanning")
			}
			if !strings.Contains(byID(doc, "user-ban").Text(), "2027-01-01 00:00:00") {
				t.Errorf("ban end not shown: %q", byID(doc, "user-ban").Text())
			}
		})
	})
	t.Run("erase mismatch", func(t *testing.T) {
		m := testUser()
		m.CanWriteUsers = true
		m.EraseForm = views.Form{Values: map[string]string{"confirm_openid": "x"}, Errors: map[string]string{"confirm_openid": "wrong"}}
		both(t, views.User(m), func(t *testing.T, doc *goquery.Document) {
			if byID(doc, "error-confirm_openid").Text() != "wrong" {
				t.Error("the typed confirmation's error is not beside the field")
			}
		})
	})
}

// Full pages stay under the size limit: 50 users of the longest fields,
// or a user with 50 sessions of long user agents.
func TestUsersPagesSize(t *testing.T) {
	long := strings.Repeat("x", 128)
	users := someUsers(50)
	for i := range users {
		users[i].OpenID, users[i].Nickname, users[i].Phone = long, ptr(strings.Repeat("名", 64)), ptr("13800000000")
	}
	render(t, views.English, views.Users(views.UsersPage{Page: page, Slug: "acme", Users: users, Next: users[49].ID, Paged: true}))
	m := testUser()
	m.CanWriteUsers, m.CanWriteSessions, m.CanWriteBans = true, true, true
	m.Sessions = nil
	for range 50 {
		m.Sessions = append(m.Sessions, auth.SessionInfo{ID: uuid.New(), IP: "2001:db8::1234:5678:9abc:def0", UserAgent: strings.Repeat("M", 512)})
	}
	m.MoreSessions = true
	render(t, views.Chinese, views.User(m))
}
