package admin

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/tenant"
)

// Binding is one role of an admin account, in one tenant or (tenant nil)
// the whole platform.
type Binding struct {
	Role   Role    `json:"role"`
	Tenant *string `json:"tenant"`
}

// Account is a console admin.
type Account struct {
	ID          uuid.UUID  `json:"id"`
	Email       string     `json:"email"`
	Disabled    bool       `json:"disabled"`
	Roles       []Binding  `json:"roles"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	LastLoginAt *time.Time `json:"last_login_at"`
}

// Accounts is the SQL store of admin accounts and their role bindings.
//
// A change that alters what signed an admin in or what they may do (a new
// password, disabling, other roles) and deleting an account end the
// admin's console sessions: the rows end in the change's own transaction,
// so no caller (API, console, CLI) can forget it, and a notice drops them
// from every instance's cache.
type Accounts struct {
	db    *pgxpool.Pool
	pub   Publisher
	cost  PasswordCost
	dummy func() string // a hash checked against when an email is unknown
}

// Publisher tells every instance about a change (tenant/changes.Bus).
type Publisher interface {
	Publish(ctx context.Context, topic, payload string) error
}

// NewAccounts returns the store; new passwords are hashed at the default
// cost. pub carries the notice that ends console sessions on every
// instance; it may be nil only where no console runs (a CLI that creates
// an account).
func NewAccounts(db *pgxpool.Pool, pub Publisher) *Accounts {
	return NewAccountsAt(db, pub, DefaultPasswordCost)
}

// NewAccountsAt returns the store hashing new passwords at cost (tests use
// a cheap one).
func NewAccountsAt(db *pgxpool.Pool, pub Publisher, cost PasswordCost) *Accounts {
	return &Accounts{db: db, pub: pub, cost: cost, dummy: sync.OnceValue(func() string {
		h, _ := cost.Hash("miniauth-no-such-admin")
		return h
	})}
}

func validateEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || len(email) > 254 {
		return "", tenant.Invalid("email", "must be an email address")
	}
	return email, nil
}

func validatePassword(pw string) error {
	if utf8.RuneCountInString(pw) < MinPasswordLen || len(pw) > 1024 {
		return tenant.Invalid("password", "must be at least 12 characters")
	}
	return nil
}

func validateBindings(bs []Binding) error {
	if len(bs) == 0 {
		return tenant.Invalid("roles", "must name at least one role")
	}
	seen := map[string]bool{}
	for _, b := range bs {
		if _, ok := ParseRole(string(b.Role)); !ok {
			return tenant.Invalid("roles", "unknown role "+string(b.Role))
		}
		if b.Role.TenantScoped() != (b.Tenant != nil && *b.Tenant != "") {
			return tenant.Invalid("roles", "tenant roles need a tenant; platform_admin takes none")
		}
		key := ""
		if b.Tenant != nil {
			key = *b.Tenant
		}
		if seen[key] {
			return tenant.Invalid("roles", "at most one role per tenant")
		}
		seen[key] = true
	}
	return nil
}

// Create makes an admin account with its role bindings.
func (s *Accounts) Create(ctx context.Context, email, password string, roles []Binding) (Account, error) {
	email, err := validateEmail(email)
	if err != nil {
		return Account{}, err
	}
	if err := validatePassword(password); err != nil {
		return Account{}, err
	}
	if err := validateBindings(roles); err != nil {
		return Account{}, err
	}
	hash, err := s.cost.Hash(password)
	if err != nil {
		return Account{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Account{}, err
	}
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO admins (id, email, password_hash) VALUES ($1, $2, $3)`, id, email, hash); err != nil {
			return err
		}
		return setBindings(ctx, tx, id, roles)
	})
	if err != nil {
		return Account{}, translate(err)
	}
	return s.Get(ctx, id)
}

func setBindings(ctx context.Context, tx pgx.Tx, id uuid.UUID, roles []Binding) error {
	if _, err := tx.Exec(ctx, `DELETE FROM admin_roles WHERE admin_id = $1`, id); err != nil {
		return err
	}
	for _, b := range roles {
		tag, err := tx.Exec(ctx, `INSERT INTO admin_roles (admin_id, role, tenant_id)
			SELECT $1, $2, t.id FROM (SELECT NULL::bigint AS id WHERE $3 = ''
				UNION ALL SELECT id FROM tenants WHERE slug = $3) t`, id, b.Role, deref(b.Tenant))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return tenant.Invalid("roles", "no tenant has the slug "+deref(b.Tenant))
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

const accountColumns = `a.id, a.email, a.disabled_at IS NOT NULL, a.created_at, a.updated_at, a.last_login_at,
	COALESCE((SELECT json_agg(json_build_object('role', r.role, 'tenant', t.slug) ORDER BY t.slug NULLS FIRST)
		FROM admin_roles r LEFT JOIN tenants t ON t.id = r.tenant_id WHERE r.admin_id = a.id), '[]')`

func scanAccount(row pgx.Row) (Account, error) {
	var a Account
	err := row.Scan(&a.ID, &a.Email, &a.Disabled, &a.CreatedAt, &a.UpdatedAt, &a.LastLoginAt, &a.Roles)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, tenant.ErrNotFound
	}
	return a, err
}

// Get returns one account.
func (s *Accounts) Get(ctx context.Context, id uuid.UUID) (Account, error) {
	return scanAccount(s.db.QueryRow(ctx, `SELECT `+accountColumns+` FROM admins a WHERE a.id = $1`, id))
}

// List returns accounts ordered by id, after the cursor.
func (s *Accounts) List(ctx context.Context, limit int, after *uuid.UUID) ([]Account, error) {
	var rows pgx.Rows
	var err error
	if after == nil {
		rows, err = s.db.Query(ctx, `SELECT `+accountColumns+` FROM admins a ORDER BY a.id LIMIT $1`, limit)
	} else {
		rows, err = s.db.Query(ctx, `SELECT `+accountColumns+` FROM admins a WHERE a.id > $2 ORDER BY a.id LIMIT $1`, limit, *after)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Account{}
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// AccountPatch changes an account; nil fields stay.
type AccountPatch struct {
	Disabled *bool
	Password *string
	Roles    []Binding // nil keeps the roles; non-nil replaces them
}

// Update applies a patch. A new password, disabling, or roles that differ
// from the current ones end the admin's console sessions; a patch that
// repeats the current roles changes nothing.
func (s *Accounts) Update(ctx context.Context, id uuid.UUID, p AccountPatch) (Account, error) {
	if p.Password != nil {
		if err := validatePassword(*p.Password); err != nil {
			return Account{}, err
		}
	}
	if p.Roles != nil {
		if err := validateBindings(p.Roles); err != nil {
			return Account{}, err
		}
	}
	var ended int64
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		guard, err := lockPlatformAdmins(ctx, tx, p.Disabled != nil && *p.Disabled || p.Roles != nil)
		if err != nil {
			return err
		}
		// The row lock this takes orders concurrent patches of one
		// account, so the roles compared below are the current ones.
		tag, err := tx.Exec(ctx, `UPDATE admins SET updated_at = now(),
			disabled_at = CASE WHEN $2::boolean IS NULL THEN disabled_at WHEN $2 THEN COALESCE(disabled_at, now()) ELSE NULL END
			WHERE id = $1`, id, p.Disabled)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return tenant.ErrNotFound
		}
		endSessions := p.Password != nil || (p.Disabled != nil && *p.Disabled)
		if p.Password != nil {
			hash, err := s.cost.Hash(*p.Password)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE admins SET password_hash = $2 WHERE id = $1`, id, hash); err != nil {
				return err
			}
		}
		if p.Roles != nil {
			same, err := sameBindings(ctx, tx, id, p.Roles)
			if err != nil {
				return err
			}
			if !same {
				if err := setBindings(ctx, tx, id, p.Roles); err != nil {
					return err
				}
				endSessions = true
			}
		}
		if err := guard(ctx, tx); err != nil {
			return err
		}
		if endSessions {
			ended, err = endConsoleSessions(ctx, tx, id)
		}
		return err
	})
	if err != nil {
		return Account{}, translate(err)
	}
	if ended > 0 {
		notifyConsoleSessionsEnded(ctx, s.pub, id)
	}
	return s.Get(ctx, id)
}

// sameBindings reports whether roles are the account's current bindings,
// in any order.
func sameBindings(ctx context.Context, tx pgx.Tx, id uuid.UUID, roles []Binding) (bool, error) {
	rows, err := tx.Query(ctx, `SELECT r.role, COALESCE(t.slug, '') FROM admin_roles r
		LEFT JOIN tenants t ON t.id = r.tenant_id WHERE r.admin_id = $1`, id)
	if err != nil {
		return false, err
	}
	cur, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Role, Tenant string }])
	if err != nil || len(cur) != len(roles) {
		return false, err
	}
	want := map[struct{ Role, Tenant string }]bool{}
	for _, b := range roles {
		want[struct{ Role, Tenant string }{string(b.Role), deref(b.Tenant)}] = true
	}
	for _, c := range cur {
		if !want[c] {
			return false, nil
		}
	}
	return true, nil
}

// Delete removes an account; its console sessions go with it (ON DELETE
// CASCADE) and every instance drops them from its cache.
func (s *Accounts) Delete(ctx context.Context, id uuid.UUID) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		guard, err := lockPlatformAdmins(ctx, tx, true)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM admins WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return tenant.ErrNotFound
		}
		return guard(ctx, tx)
	})
	if err != nil {
		return err
	}
	notifyConsoleSessionsEnded(ctx, s.pub, id)
	return nil
}

// ErrLastPlatformAdmin refuses a change that would leave no enabled
// platform admin account: nobody could then manage admins in the console.
var ErrLastPlatformAdmin = tenant.Invalid("roles", "the last enabled platform admin cannot be disabled, demoted or deleted")

// lockPlatformAdmins serialises the changes that can remove a platform
// admin (a transaction-scoped advisory lock, so two admins disabling each
// other at once cannot both succeed) and returns the check to run after
// the change: it fails when there were enabled platform admins before and
// none are left. Changes that cannot remove one take no lock.
func lockPlatformAdmins(ctx context.Context, tx pgx.Tx, may bool) (func(context.Context, pgx.Tx) error, error) {
	if !may {
		return func(context.Context, pgx.Tx) error { return nil }, nil
	}
	count := func(ctx context.Context, tx pgx.Tx) (int, error) {
		var n int
		err := tx.QueryRow(ctx, `SELECT count(*) FROM admins a JOIN admin_roles r ON r.admin_id = a.id
			WHERE r.role = 'platform_admin' AND a.disabled_at IS NULL`).Scan(&n)
		return n, err
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('miniauth.platform_admins'))`); err != nil {
		return nil, err
	}
	before, err := count(ctx, tx)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, tx pgx.Tx) error {
		after, err := count(ctx, tx)
		if err != nil {
			return err
		}
		if before > 0 && after == 0 {
			return ErrLastPlatformAdmin
		}
		return nil
	}, nil
}

// VerifyPassword returns the live account with this email if password
// matches. It spends the same hashing time for unknown emails, so timing
// does not reveal which emails exist.
func (s *Accounts) VerifyPassword(ctx context.Context, email, password string) (Account, error) {
	var id uuid.UUID
	var hash string
	var disabled bool
	err := s.db.QueryRow(ctx, `SELECT id, password_hash, disabled_at IS NOT NULL FROM admins WHERE lower(email) = lower($1)`,
		strings.TrimSpace(email)).Scan(&id, &hash, &disabled)
	known := err == nil
	if errors.Is(err, pgx.ErrNoRows) {
		hash = s.dummy()
	} else if err != nil {
		return Account{}, err
	}
	ok, err := CheckPassword(hash, password)
	if err != nil || !ok || !known || disabled {
		return Account{}, ErrUnauthorized
	}
	if _, err := s.db.Exec(ctx, `UPDATE admins SET last_login_at = now() WHERE id = $1`, id); err != nil {
		return Account{}, err
	}
	return s.Get(ctx, id)
}

func translate(err error) error {
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "23505" {
		return tenant.ErrConflict
	}
	return err
}

// bindingsView is the audited view of an account's roles: plain JSON
// values, as they are stored in the diff.
func bindingsView(bs []Binding) []any {
	out := []any{}
	for _, b := range bs {
		var t any
		if b.Tenant != nil {
			t = *b.Tenant
		}
		out = append(out, map[string]any{"role": string(b.Role), "tenant": t})
	}
	return out
}

// AccountCreated is the audit entry of a new admin account; the password
// shows only as set.
func AccountCreated(a Account) Event {
	return Event{Action: "admin.create", TargetType: "admin", TargetID: a.ID.String(),
		Diff: Diff(nil, map[string]any{"email": a.Email, "roles": bindingsView(a.Roles), "password": "set"}, "password")}
}

// AccountUpdated is the audit entry of a patched account; a new password
// shows only as changed.
func AccountUpdated(before, after Account, passwordSet bool) Event {
	view := func(a Account) map[string]any {
		return map[string]any{"disabled": a.Disabled, "roles": bindingsView(a.Roles)}
	}
	diff := Diff(view(before), view(after))
	if passwordSet {
		diff["password"] = Change{From: Masked, To: Masked}
	}
	return Event{Action: "admin.update", TargetType: "admin", TargetID: after.ID.String(), Diff: diff}
}

// AccountDeleted is the audit entry of a deleted account.
func AccountDeleted(id uuid.UUID) Event {
	return Event{Action: "admin.delete", TargetType: "admin", TargetID: id.String()}
}
