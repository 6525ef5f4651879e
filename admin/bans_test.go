package admin_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth"
)

func TestCheckWideBan(t *testing.T) {
	t.Parallel()
	const (
		pass      = ""
		forbidden = "forbidden"
		confirm   = "confirm"
	)
	for _, tc := range []struct {
		name          string
		ban           auth.NewBan
		platformAdmin bool
		confirm       string
		want          string
	}{
		{"a /16 is not wide: a tenant admin may", auth.NewBan{IP: "10.1.0.0/16"}, false, "", pass},
		{"a /15 is wide: a tenant admin may not", auth.NewBan{IP: "10.0.0.0/15"}, false, "10.0.0.0/15", forbidden},
		{"a /15 for a platform admin needs the confirmation", auth.NewBan{IP: "10.0.0.0/15"}, true, "", confirm},
		{"a /15 for a platform admin, confirmed", auth.NewBan{IP: "10.0.0.0/15"}, true, "10.0.0.0/15", pass},
		{"a /0 is wide", auth.NewBan{IP: "0.0.0.0/0"}, false, "0.0.0.0/0", forbidden},
		{"a /0 confirmed", auth.NewBan{IP: "0.0.0.0/0"}, true, "0.0.0.0/0", pass},
		{"a confirmation of another target", auth.NewBan{IP: "0.0.0.0/0"}, true, "10.0.0.0/8", confirm},
		{"a confirmation in another spelling", auth.NewBan{IP: "0.0.0.0/0"}, true, " 0.0.0.0/0", confirm},
		{"confirmed as typed, host bits set", auth.NewBan{IP: "10.9.8.7/8"}, true, "10.9.8.7/8", pass},
		{"confirmed as stored", auth.NewBan{IP: "10.9.8.7/8"}, true, "10.0.0.0/8", pass},
		{"an IPv4-mapped /96+0 is everyone", auth.NewBan{IP: "::ffff:0.0.0.0/96"}, false, "", forbidden},
		{"an IPv6 /48 is not wide", auth.NewBan{IP: "2001:db8:1::/48"}, false, "", pass},
		{"an IPv6 /47 is wide", auth.NewBan{IP: "2001:db8::/47"}, false, "2001:db8::/47", forbidden},
		{"an IPv6 /47 confirmed", auth.NewBan{IP: "2001:db8::/47"}, true, "2001:db8::/47", pass},
		{"::/0 is wide", auth.NewBan{IP: "::/0"}, true, "", confirm},
		{"a single IPv4 address is never wide", auth.NewBan{IP: "203.0.113.7"}, false, "", pass},
		{"a single IPv6 address is never wide", auth.NewBan{IP: "2001:db8::1"}, false, "", pass},
		{"a user ban is never wide", auth.NewBan{UserID: "01947a2e-7c1d-7b3e-9a55-3c2f1e0d4b6a"}, false, "", pass},
		{"an openid ban is never wide", auth.NewBan{OpenID: "oAbCd"}, false, "", pass},
		{"a malformed ip is left to Create's validation", auth.NewBan{IP: "0.0.0.0/99"}, false, "", pass},
		// /api/v1/bans (platform-wide) is open to platform admins only, and
		// the confirmation is still required there.
		{"platform-wide route, unconfirmed", auth.NewBan{IP: "100.64.0.0/10"}, true, "", confirm},
		{"platform-wide route, confirmed", auth.NewBan{IP: "100.64.0.0/10"}, true, "100.64.0.0/10", pass},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := admin.CheckWideBan(tc.platformAdmin, tc.ban, tc.confirm)
			switch tc.want {
			case pass:
				if err != nil {
					t.Fatalf("CheckWideBan = %v, want nil", err)
				}
			case forbidden:
				if !errors.Is(err, admin.ErrWideBanForbidden) || !errors.Is(err, admin.ErrForbidden) {
					t.Fatalf("CheckWideBan = %v, want ErrWideBanForbidden", err)
				}
			case confirm:
				if f := invalidFields(t, err); !slices.Equal(f, []string{"confirm"}) {
					t.Fatalf("CheckWideBan invalid fields %v, want confirm", f)
				}
			}
		})
	}
}

func TestAuthorizeBan(t *testing.T) {
	t.Parallel()
	rb := setupRBAC(t)
	platform, _ := rb.createKey(t, "platform", admin.RolePlatformAdmin, "")
	tenantAdmin, _ := rb.createKey(t, "tenant admin", admin.RoleTenantAdmin, "rbac-own")
	rb.start(t)
	wide := auth.NewBan{IP: "0.0.0.0/0", Reason: "x"}
	if err := rb.authz.AuthorizeBan(admin.APIKeySubject(tenantAdmin.ID.String()), wide, "0.0.0.0/0"); !errors.Is(err, admin.ErrWideBanForbidden) {
		t.Fatalf("tenant admin: %v, want ErrWideBanForbidden", err)
	}
	if err := rb.authz.AuthorizeBan(admin.APIKeySubject(tenantAdmin.ID.String()), auth.NewBan{IP: "10.1.0.0/16"}, ""); err != nil {
		t.Fatalf("tenant admin, /16: %v", err)
	}
	sub := admin.APIKeySubject(platform.ID.String())
	if f := invalidFields(t, rb.authz.AuthorizeBan(sub, wide, "")); !slices.Equal(f, []string{"confirm"}) {
		t.Fatalf("platform admin unconfirmed: fields %v", f)
	}
	if err := rb.authz.AuthorizeBan(sub, wide, "0.0.0.0/0"); err != nil {
		t.Fatalf("platform admin confirmed: %v", err)
	}
}
