package auth

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestNewBanTarget(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	const uid = "0190a0b0-1111-7000-8000-00000000abcd"
	openid := "oAbCdEfGhIjKlMnOpQrStUvWxYz_"

	for _, tc := range []struct {
		name   string
		tenant int64 // 0: the platform
		ban    NewBan
		// On success, the kind and normalised target; otherwise the field
		// the validation error names.
		kind, target string
		field        string
	}{
		{name: "user id", tenant: 1, ban: NewBan{UserID: uid, Reason: "spam"}, kind: BanUser, target: uid},
		{name: "user id in upper case is canonicalised", tenant: 1, ban: NewBan{UserID: strings.ToUpper(uid), Reason: "spam"}, kind: BanUser, target: uid},
		{name: "openid", tenant: 1, ban: NewBan{OpenID: openid, Reason: "spam"}, kind: BanOpenID, target: openid},
		{name: "openid of 128 characters", tenant: 1, ban: NewBan{OpenID: strings.Repeat("o", 128), Reason: "spam"}, kind: BanOpenID, target: strings.Repeat("o", 128)},
		{name: "IPv4 address", tenant: 1, ban: NewBan{IP: "203.0.113.7", Reason: "spam"}, kind: BanIP, target: "203.0.113.7/32"},
		{name: "IPv4-mapped IPv6 address is its IPv4 address", tenant: 1, ban: NewBan{IP: "::ffff:203.0.113.7", Reason: "spam"}, kind: BanIP, target: "203.0.113.7/32"},
		{name: "IPv6 address", tenant: 1, ban: NewBan{IP: "2001:db8::1", Reason: "spam"}, kind: BanIP, target: "2001:db8::1/128"},
		{name: "IPv6 address in long form", tenant: 1, ban: NewBan{IP: "2001:DB8:0:0:0:0:0:1", Reason: "spam"}, kind: BanIP, target: "2001:db8::1/128"},
		{name: "IPv4 CIDR", tenant: 1, ban: NewBan{IP: "203.0.113.0/24", Reason: "spam"}, kind: BanIP, target: "203.0.113.0/24"},
		{name: "IPv4 CIDR with host bits is masked", tenant: 1, ban: NewBan{IP: "203.0.113.77/24", Reason: "spam"}, kind: BanIP, target: "203.0.113.0/24"},
		{name: "IPv6 CIDR with host bits is masked", tenant: 1, ban: NewBan{IP: "2001:db8:1:2:3::/64", Reason: "spam"}, kind: BanIP, target: "2001:db8:1:2::/64"},
		{name: "platform IP", tenant: 0, ban: NewBan{IP: "198.51.100.0/24", Reason: "spam"}, kind: BanIP, target: "198.51.100.0/24"},
		{name: "reason of 500 characters", tenant: 1, ban: NewBan{IP: "203.0.113.7", Reason: strings.Repeat("r", 500)}, kind: BanIP, target: "203.0.113.7/32"},
		{name: "reason of 500 Chinese characters", tenant: 1, ban: NewBan{IP: "203.0.113.7", Reason: strings.Repeat("封", 500)}, kind: BanIP, target: "203.0.113.7/32"},
		{name: "IPv4-mapped IPv6 CIDR is its IPv4 CIDR", tenant: 1, ban: NewBan{IP: "::ffff:203.0.113.0/120", Reason: "spam"}, kind: BanIP, target: "203.0.113.0/24"},
		{name: "reason padded with spaces", tenant: 1, ban: NewBan{IP: "203.0.113.7", Reason: "  spam  "}, kind: BanIP, target: "203.0.113.7/32"},
		{name: "expires in the future", tenant: 1, ban: NewBan{IP: "203.0.113.7", Reason: "spam", ExpiresAt: at(time.Second)}, kind: BanIP, target: "203.0.113.7/32"},

		{name: "no target", tenant: 1, ban: NewBan{Reason: "spam"}, field: "user_id"},
		{name: "user id and openid", tenant: 1, ban: NewBan{UserID: uid, OpenID: openid, Reason: "spam"}, field: "user_id"},
		{name: "openid and ip", tenant: 1, ban: NewBan{OpenID: openid, IP: "203.0.113.7", Reason: "spam"}, field: "user_id"},
		{name: "all three", tenant: 1, ban: NewBan{UserID: uid, OpenID: openid, IP: "203.0.113.7", Reason: "spam"}, field: "user_id"},
		{name: "reason missing", tenant: 1, ban: NewBan{IP: "203.0.113.7"}, field: "reason"},
		{name: "reason blank", tenant: 1, ban: NewBan{IP: "203.0.113.7", Reason: " \t\n"}, field: "reason"},
		{name: "reason of 501 characters", tenant: 1, ban: NewBan{IP: "203.0.113.7", Reason: strings.Repeat("r", 501)}, field: "reason"},
		{name: "reason of 501 Chinese characters", tenant: 1, ban: NewBan{IP: "203.0.113.7", Reason: strings.Repeat("封", 501)}, field: "reason"},
		{name: "expires now", tenant: 1, ban: NewBan{IP: "203.0.113.7", Reason: "spam", ExpiresAt: at(0)}, field: "expires_at"},
		{name: "expired", tenant: 1, ban: NewBan{IP: "203.0.113.7", Reason: "spam", ExpiresAt: at(-time.Second)}, field: "expires_at"},
		{name: "ip not an address", tenant: 1, ban: NewBan{IP: "not-an-ip", Reason: "spam"}, field: "ip"},
		{name: "ip with a port", tenant: 1, ban: NewBan{IP: "203.0.113.7:80", Reason: "spam"}, field: "ip"},
		{name: "ip a host name", tenant: 1, ban: NewBan{IP: "example.com", Reason: "spam"}, field: "ip"},
		{name: "ip prefix too long", tenant: 1, ban: NewBan{IP: "203.0.113.0/33", Reason: "spam"}, field: "ip"},
		{name: "ip with spaces", tenant: 1, ban: NewBan{IP: " 203.0.113.7", Reason: "spam"}, field: "ip"},
		{name: "ip truncated", tenant: 1, ban: NewBan{IP: "203.0.113", Reason: "spam"}, field: "ip"},
		{name: "platform openid", tenant: 0, ban: NewBan{OpenID: openid, Reason: "spam"}, field: "ip"},
		{name: "platform user id", tenant: 0, ban: NewBan{UserID: uid, Reason: "spam"}, field: "ip"},
		{name: "openid of 129 characters", tenant: 1, ban: NewBan{OpenID: strings.Repeat("o", 129), Reason: "spam"}, field: "openid"},
		{name: "openid with a space", tenant: 1, ban: NewBan{OpenID: "oAbc def", Reason: "spam"}, field: "openid"},
		{name: "openid with a tab", tenant: 1, ban: NewBan{OpenID: "oAbc\tdef", Reason: "spam"}, field: "openid"},
		{name: "openid with a newline", tenant: 1, ban: NewBan{OpenID: "oAbc\ndef", Reason: "spam"}, field: "openid"},
		{name: "openid with a carriage return", tenant: 1, ban: NewBan{OpenID: "oAbc\rdef", Reason: "spam"}, field: "openid"},
		{name: "malformed user id", tenant: 1, ban: NewBan{UserID: "not-a-uuid", Reason: "spam"}, field: "user_id"},
		{name: "user id one digit short", tenant: 1, ban: NewBan{UserID: uid[:len(uid)-1], Reason: "spam"}, field: "user_id"},
		{name: "user id with a stray character", tenant: 1, ban: NewBan{UserID: uid[:len(uid)-1] + "g", Reason: "spam"}, field: "user_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			kind, target, err := tc.ban.target(tc.tenant, now)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("target: %v", err)
				}
				if kind != tc.kind || target != tc.target {
					t.Fatalf("target = %q %q, want %q %q", kind, target, tc.kind, tc.target)
				}
				return
			}
			if err == nil {
				t.Fatalf("target accepted the ban as %q %q", kind, target)
			}
			if got := invalidField(err); got != tc.field {
				t.Fatalf("err = %v (field %q), want a validation error of %q", err, got, tc.field)
			}
		})
	}
}

func TestBanViewCheck(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	user := uuid.MustParse("0190a0b0-1111-7000-8000-000000000001")
	other := uuid.MustParse("0190a0b0-1111-7000-8000-000000000002")
	const openid = "oBannedOpenID"

	// ban is one row of a set; platform puts it in the platform's set.
	type ban struct {
		platform bool
		kind     string
		target   string
		expires  *time.Time
		user     *uuid.UUID // the user an openid ban resolves to
	}
	type subject struct{ user, openid, ip string }
	for _, tc := range []struct {
		name   string
		bans   []ban
		check  subject
		banned bool
		until  *time.Time // nil: permanent, when banned
	}{
		{name: "no bans", check: subject{user.String(), openid, "203.0.113.7"}},
		{name: "user ban", bans: []ban{{kind: BanUser, target: user.String()}}, check: subject{user: user.String()}, banned: true},
		{name: "another user's ban", bans: []ban{{kind: BanUser, target: other.String()}}, check: subject{user: user.String()}},
		{name: "openid ban", bans: []ban{{kind: BanOpenID, target: openid}}, check: subject{openid: openid}, banned: true},

		{name: "permanent beats temporary of the same user", bans: []ban{
			{kind: BanUser, target: user.String(), expires: at(time.Hour)},
			{kind: BanUser, target: user.String()},
		}, check: subject{user: user.String()}, banned: true},
		{name: "permanent beats a later temporary of the same user", bans: []ban{
			{kind: BanUser, target: user.String()},
			{kind: BanUser, target: user.String(), expires: at(time.Hour)},
		}, check: subject{user: user.String()}, banned: true},
		{name: "permanent IP ban beats a temporary user ban", bans: []ban{
			{kind: BanUser, target: user.String(), expires: at(time.Hour)},
			{kind: BanIP, target: "203.0.113.0/24"},
		}, check: subject{user: user.String(), ip: "203.0.113.7"}, banned: true},
		{name: "permanent user ban beats a temporary platform IP ban", bans: []ban{
			{platform: true, kind: BanIP, target: "203.0.113.0/24", expires: at(time.Hour)},
			{kind: BanUser, target: user.String()},
		}, check: subject{user: user.String(), ip: "203.0.113.7"}, banned: true},

		{name: "the longer temporary of the same user wins", bans: []ban{
			{kind: BanUser, target: user.String(), expires: at(3 * time.Hour)},
			{kind: BanUser, target: user.String(), expires: at(time.Hour)},
		}, check: subject{user: user.String()}, banned: true, until: at(3 * time.Hour)},
		{name: "the longer temporary across kinds wins", bans: []ban{
			{kind: BanUser, target: user.String(), expires: at(time.Hour)},
			{kind: BanOpenID, target: openid, expires: at(3 * time.Hour)},
			{kind: BanIP, target: "203.0.113.7/32", expires: at(2 * time.Hour)},
		}, check: subject{user.String(), openid, "203.0.113.7"}, banned: true, until: at(3 * time.Hour)},
		{name: "the longer of two matching IP ranges wins", bans: []ban{
			{kind: BanIP, target: "203.0.113.0/24", expires: at(3 * time.Hour)},
			{kind: BanIP, target: "203.0.113.7/32", expires: at(time.Hour)},
		}, check: subject{ip: "203.0.113.7"}, banned: true, until: at(3 * time.Hour)},

		{name: "platform and tenant sets combine: the platform's is longer", bans: []ban{
			{platform: true, kind: BanIP, target: "203.0.113.0/24", expires: at(2 * time.Hour)},
			{kind: BanUser, target: user.String(), expires: at(time.Hour)},
		}, check: subject{user: user.String(), ip: "203.0.113.7"}, banned: true, until: at(2 * time.Hour)},
		{name: "platform and tenant sets combine: the tenant's is longer", bans: []ban{
			{platform: true, kind: BanIP, target: "203.0.113.0/24", expires: at(time.Hour)},
			{kind: BanUser, target: user.String(), expires: at(2 * time.Hour)},
		}, check: subject{user: user.String(), ip: "203.0.113.7"}, banned: true, until: at(2 * time.Hour)},
		{name: "a platform ban applies alone", bans: []ban{
			{platform: true, kind: BanIP, target: "203.0.113.0/24", expires: at(time.Hour)},
		}, check: subject{user: user.String(), ip: "203.0.113.7"}, banned: true, until: at(time.Hour)},

		{name: "an expired ban is ignored", bans: []ban{
			{kind: BanUser, target: user.String(), expires: at(-time.Second)},
		}, check: subject{user: user.String()}},
		{name: "a ban expiring at the view's now is ignored", bans: []ban{
			{kind: BanUser, target: user.String(), expires: at(0)},
		}, check: subject{user: user.String()}},
		{name: "a ban expiring just after the view's now applies", bans: []ban{
			{kind: BanUser, target: user.String(), expires: at(time.Nanosecond)},
		}, check: subject{user: user.String()}, banned: true, until: at(time.Nanosecond)},
		{name: "an expired longer ban does not hide a live one", bans: []ban{
			{kind: BanOpenID, target: openid, expires: at(-time.Second)},
			{platform: true, kind: BanIP, target: "203.0.113.7/32", expires: at(time.Hour)},
		}, check: subject{openid: openid, ip: "203.0.113.7"}, banned: true, until: at(time.Hour)},

		{name: "an openid ban resolving to a user blocks that user id", bans: []ban{
			{kind: BanOpenID, target: openid, user: &user},
		}, check: subject{user: user.String()}, banned: true},
		{name: "an openid ban resolving to a user keeps its expiry", bans: []ban{
			{kind: BanOpenID, target: openid, user: &user, expires: at(time.Hour)},
		}, check: subject{user: user.String()}, banned: true, until: at(time.Hour)},
		{name: "an openid ban resolving to a user does not block another", bans: []ban{
			{kind: BanOpenID, target: openid, user: &user},
		}, check: subject{user: other.String()}},
		{name: "an openid ban of no user blocks no user id", bans: []ban{
			{kind: BanOpenID, target: openid},
		}, check: subject{user: user.String()}},

		{name: "IPv4 inside a CIDR", bans: []ban{{kind: BanIP, target: "203.0.113.0/24"}}, check: subject{ip: "203.0.113.255"}, banned: true},
		{name: "IPv4 just outside a CIDR", bans: []ban{{kind: BanIP, target: "203.0.113.0/24"}}, check: subject{ip: "203.0.114.0"}},
		{name: "IPv4-mapped address inside an IPv4 CIDR", bans: []ban{{kind: BanIP, target: "203.0.113.0/24"}}, check: subject{ip: "::ffff:203.0.113.9"}, banned: true},
		{name: "IPv6 inside a /64", bans: []ban{{kind: BanIP, target: "2001:db8:1:2::/64"}}, check: subject{ip: "2001:db8:1:2:ffff::1"}, banned: true},
		{name: "IPv6 outside a /64", bans: []ban{{kind: BanIP, target: "2001:db8:1:2::/64"}}, check: subject{ip: "2001:db8:1:3::1"}},
		{name: "an IPv4 ban does not match IPv6", bans: []ban{{kind: BanIP, target: "0.0.0.0/0"}}, check: subject{ip: "2001:db8::1"}},

		{name: "empty arguments are skipped", bans: []ban{
			{kind: BanUser, target: ""},
			{kind: BanOpenID, target: ""},
			{platform: true, kind: BanIP, target: "0.0.0.0/0"},
			{kind: BanIP, target: "::/0"},
		}, check: subject{}},
		{name: "control: the same bans refuse a real address", bans: []ban{
			{kind: BanUser, target: ""},
			{kind: BanOpenID, target: ""},
			{platform: true, kind: BanIP, target: "0.0.0.0/0"},
			{kind: BanIP, target: "::/0"},
		}, check: subject{ip: "198.51.100.1"}, banned: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			view := BanView{sets: [2]*banSet{newBanSet(), newBanSet()}, now: now}
			for _, b := range tc.bans {
				set := view.sets[1]
				if b.platform {
					set = view.sets[0]
				}
				set.add(b.kind, b.target, b.expires, b.user)
			}
			var ip netip.Addr
			if tc.check.ip != "" {
				ip = netip.MustParseAddr(tc.check.ip)
			}
			err := view.Check(tc.check.user, tc.check.openid, ip)
			if !tc.banned {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var be *BannedError
			if !errors.As(err, &be) {
				t.Fatalf("Check = %v, want a *BannedError", err)
			}
			var want time.Time
			if tc.until != nil {
				want = *tc.until
			}
			if !be.Until.Equal(want) {
				t.Fatalf("banned until %v, want %v (zero: permanent)", be.Until, want)
			}
		})
	}

	t.Run("a view without sets refuses nothing", func(t *testing.T) {
		t.Parallel()
		if err := (BanView{}).Check(user.String(), openid, netip.MustParseAddr("203.0.113.7")); err != nil {
			t.Fatalf("Check = %v", err)
		}
	})
}

func TestNewBanWide(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ip     string
		target string
		wide   bool
	}{
		{"10.1.0.0/16", "10.1.0.0/16", false},
		{"10.1.2.3/15", "10.0.0.0/15", true},
		{"0.0.0.0/0", "0.0.0.0/0", true},
		{"203.0.113.7", "203.0.113.7/32", false},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", true},
		{"::ffff:10.1.0.0/112", "10.1.0.0/16", false},
		{"2001:db8:1::/48", "2001:db8:1::/48", false},
		{"2001:db8:1::/47", "2001:db8::/47", true},
		{"::/0", "::/0", true},
		{"2001:db8::1", "2001:db8::1/128", false},
		{"", "", false},
		{"not an ip", "", false},
	} {
		target, wide := NewBan{IP: tc.ip}.Wide()
		if target != tc.target || wide != tc.wide {
			t.Errorf("Wide(%q) = %q, %v; want %q, %v", tc.ip, target, wide, tc.target, tc.wide)
		}
	}
}
