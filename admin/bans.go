package admin

import (
	"fmt"

	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
)

// ErrWideBanForbidden refuses a ban of a whole population (auth.NewBan.Wide)
// to a caller who is not a platform admin; it is an ErrForbidden.
var ErrWideBanForbidden = fmt.Errorf("%w: only a platform admin may ban an IP range wider than /%d (IPv4) or /%d (IPv6)",
	ErrForbidden, auth.WideBanBitsIPv4, auth.WideBanBitsIPv6)

// CheckWideBan is the rule for bans that lock out a whole population: only
// a platform admin may create one, and only by typing its target into
// confirm (as given in the ip field, or as the ban will store it). The
// management API and the console call it before auth.Bans.Create, the
// first through Authorizer.AuthorizeBan; a ban that is not wide passes
// whatever the caller and confirm. It returns ErrWideBanForbidden, or a
// validation error on the field "confirm".
func CheckWideBan(platformAdmin bool, n auth.NewBan, confirm string) error {
	target, wide := n.Wide()
	if !wide {
		return nil
	}
	if !platformAdmin {
		return ErrWideBanForbidden
	}
	if confirm != target && confirm != n.IP {
		return tenant.Invalid("confirm", "this bans a whole population: type the target "+target+" to confirm")
	}
	return nil
}

// AuthorizeBan is CheckWideBan for a policy subject, who counts as a
// platform admin when it may write bans in PlatformDomain. Bans that are
// not wide never reach the policy.
func (a *Authorizer) AuthorizeBan(sub string, n auth.NewBan, confirm string) error {
	if _, wide := n.Wide(); !wide {
		return nil
	}
	platformAdmin, err := a.Allowed(sub, PlatformDomain, ObjBans, ActWrite)
	if err != nil {
		return err
	}
	return CheckWideBan(platformAdmin, n, confirm)
}
