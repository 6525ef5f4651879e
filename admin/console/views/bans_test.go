package views_test

import (
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin/console/views"
	"github.com/miniauth/miniauth/auth"
)

func TestBansList(t *testing.T) {
	t.Run("empty", func(t *testing.T) {
		both(t, views.Bans(views.BansPage{Page: page, Slug: "acme"}), func(t *testing.T, doc *goquery.Document) {
			if byID(doc, "empty").Length() != 1 {
				t.Error("no empty state")
			}
			if byID(doc, "ban-create-form").Length() != 0 {
				t.Error("a reader is offered the create form")
			}
			if href, _ := byID(doc, "kind-ip").Attr("href"); href != "/admin/tenants/acme/bans?kind=ip" {
				t.Errorf("kind filter link %q", href)
			}
		})
	})
	t.Run("rows", func(t *testing.T) {
		exp := time.Now().Add(time.Hour)
		bans := []auth.Ban{
			{ID: uuid.New(), Kind: "ip", Target: "10.0.0.0/24", Reason: "abuse", CreatedBy: "admin:x"},
			{ID: uuid.New(), Kind: "openid", Target: "o-1", Reason: "spam", ExpiresAt: &exp},
		}
		m := views.BansPage{Page: page, Slug: "acme", Kind: "", Bans: bans, Next: bans[1].ID.String(), CanWrite: true}
		both(t, views.Bans(m), func(t *testing.T, doc *goquery.Document) {
			if n := byID(doc, "ban-row").Length(); n != 2 {
				t.Fatalf("%d rows", n)
			}
			f := byID(doc, "lift-form").First()
			if a, _ := f.Attr("action"); a != "/admin/tenants/acme/bans/"+bans[0].ID.String()+"/delete" {
				t.Errorf("lift action %q", a)
			}
			if q, _ := f.Attr("data-confirm"); q == "" {
				t.Error("lifting asks no confirmation")
			}
			if href, _ := byID(doc, "next-page").Attr("href"); href != "/admin/tenants/acme/bans?before="+bans[1].ID.String() {
				t.Errorf("next %q", href)
			}
			for _, f := range []string{"user_id", "openid", "ip", "reason", "expires_at"} {
				if byID(doc, "field-"+f).Length() != 1 {
					t.Errorf("create form lacks %s", f)
				}
			}
			if typ, _ := byID(doc, "field-expires_at").Attr("type"); typ != "datetime-local" {
				t.Errorf("expiry input type %q", typ)
			}
			if byID(doc, "field-confirm").Length() != 0 {
				t.Error("the typed confirmation shows before the server asks for it")
			}
		})
	})
	t.Run("form errors", func(t *testing.T) {
		m := views.BansPage{Page: page, Slug: "acme", CanWrite: true, Form: views.Form{
			Values: map[string]string{"ip": "nonsense", "reason": ""},
			Errors: map[string]string{"ip": "must be an IP address or CIDR", "reason": "is required, at most 500 characters"}}}
		both(t, views.Bans(m), func(t *testing.T, doc *goquery.Document) {
			if byID(doc, "error-ip").Text() == "" || byID(doc, "error-reason").Text() == "" {
				t.Error("field errors are not beside their fields")
			}
			if inv, _ := byID(doc, "field-ip").Attr("aria-invalid"); inv != "true" {
				t.Error("the ip field is not marked invalid")
			}
			if v, _ := byID(doc, "field-ip").Attr("value"); v != "nonsense" {
				t.Errorf("typed value lost: %q", v)
			}
		})
	})
	t.Run("wide ban confirmation", func(t *testing.T) {
		m := views.BansPage{Page: page, CanWrite: true, Confirm: true, Form: views.Form{
			Values: map[string]string{"ip": "10.0.0.0/8", "reason": "r"}, Errors: map[string]string{"confirm": "type it"}}}
		both(t, views.Bans(m), func(t *testing.T, doc *goquery.Document) {
			c := byID(doc, "field-confirm")
			if c.Length() != 1 {
				t.Fatal("no confirmation field")
			}
			if v, _ := c.Attr("value"); v != "" {
				t.Errorf("the confirmation is prefilled with %q", v)
			}
			if byID(doc, "error-confirm").Text() != "type it" {
				t.Error("no message beside the confirmation")
			}
			if byID(doc, "field-user_id").Length() != 0 || byID(doc, "kind-filter").Length() != 0 {
				t.Error("platform bans offer user and openid targets")
			}
			if a, _ := byID(doc, "ban-create-form").Attr("action"); a != "/admin/bans" {
				t.Errorf("platform form posts to %q", a)
			}
		})
	})
}
