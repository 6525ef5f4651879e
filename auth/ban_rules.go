package auth

import (
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/tenant"
)

// The rules of bans: what a valid ban is, and which ban wins when several
// match. Nothing here reads Postgres.

// target checks a new ban for a tenant (0: the platform) against the rules
// and returns its kind and normalised target. A user_id ban still needs
// the user to exist in the tenant, which only the store can tell.
func (n NewBan) target(tenantID int64, now time.Time) (kind, target string, err error) {
	set := 0
	for _, v := range []string{n.UserID, n.OpenID, n.IP} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return "", "", tenant.Invalid("user_id", "exactly one of user_id, openid and ip is required")
	}
	if r := strings.TrimSpace(n.Reason); r == "" || utf8.RuneCountInString(r) > 500 || !tenant.Storable(r) {
		return "", "", tenant.Invalid("reason", "is required, at most 500 characters")
	}
	if n.ExpiresAt != nil && !n.ExpiresAt.After(now) {
		return "", "", tenant.Invalid("expires_at", "must be in the future")
	}
	switch {
	case n.IP != "":
		p, err := parseIPOrPrefix(n.IP)
		if err != nil {
			return "", "", tenant.Invalid("ip", "must be an IP address or CIDR")
		}
		return BanIP, p.String(), nil
	case tenantID == 0:
		return "", "", tenant.Invalid("ip", "platform-wide bans target IPs only")
	case n.OpenID != "":
		if len(n.OpenID) > 128 || strings.ContainsAny(n.OpenID, " \t\r\n") || !tenant.Storable(n.OpenID) {
			return "", "", tenant.Invalid("openid", "must be an openid")
		}
		return BanOpenID, n.OpenID, nil
	default:
		uid, err := uuid.Parse(n.UserID)
		if err != nil {
			return "", "", errNoSuchBanUser
		}
		return BanUser, uid.String(), nil
	}
}

// A ban of an IP range wider than these prefix lengths locks out a whole
// population (a provider's network, a country, everyone), so it is held
// to a stronger authorisation than a ban of one subject (admin.CheckWideBan).
const (
	WideBanBitsIPv4 = 16
	WideBanBitsIPv6 = 48
)

// Wide reports whether the ban's ip is a range wider than /16 (IPv4) or
// /48 (IPv6), up to 0.0.0.0/0 or ::/0, and returns the range as the ban
// will store it (host bits cleared, IPv4-mapped forms as IPv4). A ban of a
// user, an openid, one address or a narrower range is not wide, and
// neither is an ip Create would refuse as malformed.
func (n NewBan) Wide() (target string, wide bool) {
	if n.IP == "" {
		return "", false
	}
	p, err := parseIPOrPrefix(n.IP)
	if err != nil {
		return "", false
	}
	limit := WideBanBitsIPv6
	if p.Addr().Is4() {
		limit = WideBanBitsIPv4
	}
	return p.String(), p.Bits() < limit
}

var errNoSuchBanUser = tenant.Invalid("user_id", "no user of this tenant has this id")

// parseIPOrPrefix reads an address or CIDR as the IP check sees clients:
// IPv4-mapped IPv6 forms become plain IPv4, or they would match nothing.
func parseIPOrPrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

type banEntry struct {
	until time.Time // zero: permanent
}

type ipBan struct {
	prefix netip.Prefix
	banEntry
}

// banSet is the live bans of one tenant (or of the platform).
type banSet struct {
	users  map[string]banEntry // user id; openid bans resolve to their user too
	openid map[string]banEntry
	ips    []ipBan
}

func newBanSet() *banSet {
	return &banSet{users: map[string]banEntry{}, openid: map[string]banEntry{}}
}

// add records one ban row; userID is the user an openid ban resolves to,
// if that openid has logged in.
func (s *banSet) add(kind, target string, expires *time.Time, userID *uuid.UUID) {
	e := banEntry{}
	if expires != nil {
		e.until = *expires
	}
	switch kind {
	case BanUser:
		s.users[target] = longer(s.users, target, e)
	case BanOpenID:
		s.openid[target] = longer(s.openid, target, e)
		if userID != nil {
			s.users[userID.String()] = longer(s.users, userID.String(), e)
		}
	case BanIP:
		if p, err := netip.ParsePrefix(target); err == nil {
			s.ips = append(s.ips, ipBan{prefix: p, banEntry: e})
		}
	}
}

// longer returns whichever lasts longer of e and the entry m has for key.
func longer(m map[string]banEntry, key string, e banEntry) banEntry {
	cur, ok := m[key]
	if !ok || e.until.IsZero() || (!cur.until.IsZero() && e.until.After(cur.until)) {
		return e
	}
	return cur
}

// BanView is the bans that apply in one tenant at one moment: the
// platform's and the tenant's. Making one may read Postgres; checking one
// never does, so a check inside a transaction needs no second connection.
type BanView struct {
	sets [2]*banSet
	now  time.Time
}

// Check refuses a subject if any live ban matches its user id, openid or
// IP. Empty arguments are not checked. When several bans match, the one
// that lasts longest is reported (a permanent one over any temporary one),
// so the caller learns the true end of its ban.
func (v BanView) Check(userID, openID string, ip netip.Addr) error {
	var hit *BannedError
	consider := func(e banEntry, ok bool) {
		if !ok || (!e.until.IsZero() && !v.now.Before(e.until)) {
			return
		}
		if hit == nil || (!hit.Until.IsZero() && (e.until.IsZero() || e.until.After(hit.Until))) {
			hit = &BannedError{Until: e.until}
		}
	}
	ip = ip.Unmap()
	for _, s := range v.sets {
		if s == nil {
			continue
		}
		if userID != "" {
			e, ok := s.users[userID]
			consider(e, ok)
		}
		if openID != "" {
			e, ok := s.openid[openID]
			consider(e, ok)
		}
		if ip.IsValid() {
			for _, ib := range s.ips {
				consider(ib.banEntry, ib.prefix.Contains(ip))
			}
		}
	}
	if hit != nil {
		return hit
	}
	return nil
}
