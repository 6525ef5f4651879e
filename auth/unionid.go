package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/miniauth/miniauth/auth/wechat"
	"github.com/miniauth/miniauth/tenant"
)

// wechatIDRe is what a unionid or an openid may look like: WeChat's are
// 28 characters of base64url; the bound leaves room without admitting
// anything else.
var wechatIDRe = regexp.MustCompile(`^[0-9A-Za-z_-]{1,64}$`)

// ValidUnionID reports whether s can be a unionid.
func ValidUnionID(s string) bool { return wechatIDRe.MatchString(s) }

// malformedSession names the field of a jscode2session answer that cannot
// be one WeChat issues, or is "": the ids have wechatIDRe's shape and a
// session_key is 16 bytes in base64 (an AES-128 key). Anything else would
// be stored as the user's, or fail as a key only later.
func malformedSession(ws wechat.Session) string {
	switch {
	case !wechatIDRe.MatchString(ws.OpenID):
		return "openid"
	case ws.UnionID != "" && !ValidUnionID(ws.UnionID):
		return "unionid"
	case !validSessionKey(ws.SessionKey):
		return "session_key"
	}
	return ""
}

func validSessionKey(s string) bool {
	key, err := base64.StdEncoding.Strict().DecodeString(s)
	return err == nil && len(key) == 16
}

// ErrUnionIDTaken means WeChat gave a second openid of one tenant a unionid
// another user there already has: an answer that cannot be right, since one
// person has one openid per app. Nothing is written.
var ErrUnionIDTaken = errors.New("unionid already held by another user of the tenant")

// isUnionIDConflict reports whether err is the unique index on (tenant_id,
// unionid) refusing a row (on the partition, whose index has its own name).
func isUnionIDConflict(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "23505" &&
		regexp.MustCompile(`unionid`).MatchString(pg.ConstraintName)
}

// LinkedUser is one user of a person (a unionid) in one tenant of a group.
type LinkedUser struct {
	Tenant       string `json:"tenant"`
	UnionIDGroup string `json:"unionid_group"`
	User         User   `json:"user"`
}

// GroupedTenants are the tenants in some unionid group, as (id, group).
func (s *Users) GroupedTenants(ctx context.Context) ([]tenant.Tenant, error) {
	rows, err := s.db.Query(ctx, `SELECT id, slug, unionid_group FROM tenants WHERE unionid_group IS NOT NULL ORDER BY slug`)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.Row) (tenant.Tenant, error) {
		var t tenant.Tenant
		err := r.Scan(&t.ID, &t.Slug, &t.UnionIDGroup)
		return t, err
	})
}

// ByUnionID lists the users with this unionid in the given tenants, by
// tenant slug. Each tenant is read through its partition's (tenant_id,
// unionid) index.
func (s *Users) ByUnionID(ctx context.Context, unionID string, tenants []tenant.Tenant) ([]LinkedUser, error) {
	if !ValidUnionID(unionID) {
		return nil, tenant.Invalid("unionid", "must be 1-64 letters, digits, '_' or '-'")
	}
	ids := make([]int64, len(tenants))
	for i, t := range tenants {
		ids[i] = t.ID
	}
	rows, err := s.db.Query(ctx, `SELECT t.slug, coalesce(t.unionid_group, ''), u.`+strings.ReplaceAll(UserColumns, ", ", ", u.")+`
		FROM users u JOIN tenants t ON t.id = u.tenant_id
		WHERE u.tenant_id = ANY($1) AND u.unionid = $2
		ORDER BY t.slug`, ids, unionID)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.Row) (LinkedUser, error) {
		var l LinkedUser
		var err error
		l.User, err = ScanUser(leading{r, []any{&l.Tenant, &l.UnionIDGroup}})
		return l, err
	})
}

// leading scans columns before the ones its caller scans.
type leading struct {
	pgx.Row
	first []any
}

func (l leading) Scan(dest ...any) error { return l.Row.Scan(append(l.first, dest...)...) }

// LinkedTenant is the same person's account in another tenant of the group,
// as /me shows it to a tenant that opted in.
type LinkedTenant struct {
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	UserID string `json:"user_id"`
}

// linkedTenants lists the person's accounts in the other active tenants of
// rt's group.
func (s *Service) linkedTenants(ctx context.Context, rt *tenant.Runtime, unionID string) ([]LinkedTenant, error) {
	rows, err := s.db.Query(ctx, `SELECT t.slug, t.name, u.id::text
		FROM tenants t JOIN users u ON u.tenant_id = t.id AND u.unionid = $2
		WHERE t.unionid_group = $1 AND t.id <> $3 AND t.status = 'active'
		ORDER BY t.slug`, rt.UnionIDGroup, unionID, rt.ID)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.Row) (LinkedTenant, error) {
		var l LinkedTenant
		err := r.Scan(&l.Tenant, &l.Name, &l.UserID)
		return l, err
	})
}
