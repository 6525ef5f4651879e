package admin_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/tenant"
)

const goodPassword = "correct horse battery"

func bind(role admin.Role, slug string) admin.Binding {
	if slug == "" {
		return admin.Binding{Role: role}
	}
	return admin.Binding{Role: role, Tenant: &slug}
}

// bindingsOf renders bindings as "role@tenant" ("role@" for the platform),
// sorted, for comparison.
func bindingsOf(bs []admin.Binding) []string {
	out := []string{}
	for _, b := range bs {
		s := string(b.Role) + "@"
		if b.Tenant != nil {
			s += *b.Tenant
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func (b *testBundle) createAccount(t *testing.T, email string, roles ...admin.Binding) admin.Account {
	t.Helper()
	a, err := b.accounts.Create(context.Background(), email, goodPassword, roles)
	if err != nil {
		t.Fatalf("create account %s: %v", email, err)
	}
	return a
}

func (b *testBundle) countAdmins(t *testing.T) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), `SELECT count(*) FROM admins`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAccountCreateValidates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.createTenant(t, "acct-a")
	b.createTenant(t, "acct-b")
	short := strings.Repeat("p", admin.MinPasswordLen-1)

	for _, c := range []struct {
		name     string
		email    string
		password string
		roles    []admin.Binding
		want     string // the invalid field; "" means accepted
	}{
		{"platform admin", "root@example.com", goodPassword, []admin.Binding{bind(admin.RolePlatformAdmin, "")}, ""},
		{"roles in two tenants", "two@example.com", goodPassword,
			[]admin.Binding{bind(admin.RoleTenantAdmin, "acct-a"), bind(admin.RoleTenantViewer, "acct-b")}, ""},
		{"platform and a tenant", "both@example.com", goodPassword,
			[]admin.Binding{bind(admin.RolePlatformAdmin, ""), bind(admin.RoleTenantViewer, "acct-a")}, ""},
		{"platform_admin with an empty tenant", "empty-tenant@example.com", goodPassword,
			[]admin.Binding{{Role: admin.RolePlatformAdmin, Tenant: ptr("")}}, ""},
		{"password of exactly the minimum", "min@example.com", strings.Repeat("p", admin.MinPasswordLen),
			[]admin.Binding{bind(admin.RoleTenantViewer, "acct-a")}, ""},
		{"minimum counted in characters", "runes@example.com", strings.Repeat("密", admin.MinPasswordLen),
			[]admin.Binding{bind(admin.RoleTenantViewer, "acct-a")}, ""},
		{"email trimmed", "  trim@example.com ", goodPassword, []admin.Binding{bind(admin.RoleTenantViewer, "acct-a")}, ""},

		{"empty email", "", goodPassword, []admin.Binding{bind(admin.RolePlatformAdmin, "")}, "email"},
		{"not an email", "root", goodPassword, []admin.Binding{bind(admin.RolePlatformAdmin, "")}, "email"},
		{"email with a display name", "Root <root2@example.com>", goodPassword, []admin.Binding{bind(admin.RolePlatformAdmin, "")}, "email"},
		{"two emails", "a@example.com, b@example.com", goodPassword, []admin.Binding{bind(admin.RolePlatformAdmin, "")}, "email"},
		{"email over 254 characters", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190) + ".com", goodPassword,
			[]admin.Binding{bind(admin.RolePlatformAdmin, "")}, "email"},
		{"empty password", "pw0@example.com", "", []admin.Binding{bind(admin.RolePlatformAdmin, "")}, "password"},
		{"password one short", "pw1@example.com", short, []admin.Binding{bind(admin.RolePlatformAdmin, "")}, "password"},
		{"password one character short in multibyte", "pw3@example.com", strings.Repeat("密", admin.MinPasswordLen-1),
			[]admin.Binding{bind(admin.RolePlatformAdmin, "")}, "password"},
		{"password over 1024 bytes", "pw2@example.com", strings.Repeat("p", 1025), []admin.Binding{bind(admin.RolePlatformAdmin, "")}, "password"},
		{"no roles", "r0@example.com", goodPassword, nil, "roles"},
		{"empty roles", "r1@example.com", goodPassword, []admin.Binding{}, "roles"},
		{"unknown role", "r2@example.com", goodPassword, []admin.Binding{bind("root", "")}, "roles"},
		{"tenant role without tenant", "r3@example.com", goodPassword, []admin.Binding{bind(admin.RoleTenantAdmin, "")}, "roles"},
		{"platform_admin with a tenant", "r4@example.com", goodPassword, []admin.Binding{bind(admin.RolePlatformAdmin, "acct-a")}, "roles"},
		{"two roles in one tenant", "r5@example.com", goodPassword,
			[]admin.Binding{bind(admin.RoleTenantAdmin, "acct-a"), bind(admin.RoleTenantViewer, "acct-a")}, "roles"},
		{"platform_admin twice", "r6@example.com", goodPassword,
			[]admin.Binding{bind(admin.RolePlatformAdmin, ""), bind(admin.RolePlatformAdmin, "")}, "roles"},
		{"unknown tenant", "r7@example.com", goodPassword, []admin.Binding{bind(admin.RoleTenantViewer, "no-such-tenant")}, "roles"},
		{"unknown tenant after a known one", "r8@example.com", goodPassword,
			[]admin.Binding{bind(admin.RoleTenantViewer, "acct-a"), bind(admin.RoleTenantViewer, "no-such-tenant")}, "roles"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := b.countAdmins(t)
			a, err := b.accounts.Create(ctx, c.email, c.password, c.roles)
			after := b.countAdmins(t)
			if c.want != "" {
				if got := invalidFields(t, err); !slices.Equal(got, []string{c.want}) {
					t.Fatalf("invalid fields %v, want [%s]", got, c.want)
				}
				if after != before {
					t.Errorf("refused Create left a row: %d admins, then %d", before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if after != before+1 {
				t.Errorf("%d admins, then %d: want one more", before, after)
			}
			if a.Email != strings.TrimSpace(c.email) || a.Disabled || a.LastLoginAt != nil || a.CreatedAt.IsZero() {
				t.Errorf("account %+v", a)
			}
			if got, w := bindingsOf(a.Roles), bindingsOf(c.roles); !slices.Equal(got, w) {
				t.Errorf("roles %v, want %v", got, w)
			}
			got, err := b.accounts.Get(ctx, a.ID)
			if err != nil || got.Email != a.Email || !slices.Equal(bindingsOf(got.Roles), bindingsOf(a.Roles)) {
				t.Errorf("Get = %+v, %v; want %+v", got, err, a)
			}
		})
	}
}

func TestAccountDuplicateEmail(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.createAccount(t, "Dup@Example.com", bind(admin.RolePlatformAdmin, ""))
	for _, email := range []string{"Dup@Example.com", "dup@example.com", "DUP@EXAMPLE.COM"} {
		t.Run(email, func(t *testing.T) {
			before := b.countAdmins(t)
			_, err := b.accounts.Create(ctx, email, goodPassword, []admin.Binding{bind(admin.RolePlatformAdmin, "")})
			if !errors.Is(err, tenant.ErrConflict) {
				t.Fatalf("Create(%s) = %v, want ErrConflict", email, err)
			}
			if after := b.countAdmins(t); after != before {
				t.Fatalf("%d admins, then %d", before, after)
			}
		})
	}
	t.Run("another email", func(t *testing.T) {
		if _, err := b.accounts.Create(ctx, "dup2@example.com", goodPassword, []admin.Binding{bind(admin.RolePlatformAdmin, "")}); err != nil {
			t.Fatalf("Create: %v", err)
		}
	})
}

func TestAccountVerifyPassword(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.createTenant(t, "acct-login")
	a := b.createAccount(t, "Login@example.com", bind(admin.RoleTenantOperator, "acct-login"))
	d := b.createAccount(t, "disabled@example.com", bind(admin.RoleTenantOperator, "acct-login"))
	if _, err := b.accounts.Update(ctx, d.ID, admin.AccountPatch{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	lastLogin := func(t *testing.T, id uuid.UUID) *time.Time {
		t.Helper()
		var at *time.Time
		if err := b.db.QueryRow(ctx, `SELECT last_login_at FROM admins WHERE id = $1`, id).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}

	var refused []error
	for _, c := range []struct{ name, email, password string }{
		{"wrong password", "Login@example.com", goodPassword + "!"},
		{"empty password", "Login@example.com", ""},
		{"unknown email", "nobody@example.com", goodPassword},
		{"disabled account", "disabled@example.com", goodPassword},
	} {
		t.Run("refuses "+c.name, func(t *testing.T) {
			got, err := b.accounts.VerifyPassword(ctx, c.email, c.password)
			if !errors.Is(err, admin.ErrUnauthorized) {
				t.Fatalf("VerifyPassword = %+v, %v; want ErrUnauthorized", got, err)
			}
			if got.ID != uuid.Nil {
				t.Errorf("refused VerifyPassword returned account %+v", got)
			}
			refused = append(refused, err)
		})
	}
	t.Run("one error for every refusal", func(t *testing.T) {
		for _, err := range refused {
			if err != admin.ErrUnauthorized {
				t.Errorf("refusal %v (%T) is not ErrUnauthorized itself: it tells reasons apart", err, err)
			}
		}
	})
	t.Run("refusals do not record a login", func(t *testing.T) {
		if at := lastLogin(t, a.ID); at != nil {
			t.Fatalf("last_login_at %v after refused attempts", at)
		}
		if at := lastLogin(t, d.ID); at != nil {
			t.Fatalf("disabled account got last_login_at %v", at)
		}
	})
	t.Run("right password", func(t *testing.T) {
		got, err := b.accounts.VerifyPassword(ctx, "Login@example.com", goodPassword)
		if err != nil {
			t.Fatalf("VerifyPassword: %v", err)
		}
		if got.ID != a.ID || got.Email != "Login@example.com" ||
			!slices.Equal(bindingsOf(got.Roles), []string{"tenant_operator@acct-login"}) {
			t.Fatalf("VerifyPassword = %+v, want %+v", got, a)
		}
		at := lastLogin(t, a.ID)
		if at == nil {
			t.Fatal("last_login_at not set")
		}
		if d := time.Since(*at); d < -time.Minute || d > time.Minute {
			t.Fatalf("last_login_at %v is not about now", at)
		}
		if got.LastLoginAt == nil || !got.LastLoginAt.Equal(*at) {
			t.Fatalf("returned last_login_at %v, stored %v", got.LastLoginAt, at)
		}
	})
	t.Run("email matched without case", func(t *testing.T) {
		got, err := b.accounts.VerifyPassword(ctx, " LOGIN@EXAMPLE.COM ", goodPassword)
		if err != nil || got.ID != a.ID {
			t.Fatalf("VerifyPassword = %+v, %v; want account %s", got, err, a.ID)
		}
	})
}

func TestAccountUpdate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.createTenant(t, "acct-upd-a")
	b.createTenant(t, "acct-upd-b")
	a := b.createAccount(t, "update@example.com", bind(admin.RoleTenantAdmin, "acct-upd-a"))
	get := func(t *testing.T) admin.Account {
		t.Helper()
		got, err := b.accounts.Get(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	canLogin := func(t *testing.T, password string) bool {
		t.Helper()
		_, err := b.accounts.VerifyPassword(ctx, "update@example.com", password)
		if err != nil && !errors.Is(err, admin.ErrUnauthorized) {
			t.Fatal(err)
		}
		return err == nil
	}

	t.Run("disable", func(t *testing.T) {
		got, err := b.accounts.Update(ctx, a.ID, admin.AccountPatch{Disabled: ptr(true)})
		if err != nil {
			t.Fatal(err)
		}
		if !got.Disabled || !get(t).Disabled {
			t.Fatalf("Update returned %+v; stored disabled=%v", got, get(t).Disabled)
		}
		if !got.UpdatedAt.After(a.UpdatedAt) {
			t.Errorf("updated_at %v not moved on from %v", got.UpdatedAt, a.UpdatedAt)
		}
		if canLogin(t, goodPassword) {
			t.Fatal("a disabled account signed in")
		}
	})
	t.Run("disable again keeps the first time", func(t *testing.T) {
		var at time.Time
		if err := b.db.QueryRow(ctx, `SELECT disabled_at FROM admins WHERE id = $1`, a.ID).Scan(&at); err != nil {
			t.Fatal(err)
		}
		if _, err := b.accounts.Update(ctx, a.ID, admin.AccountPatch{Disabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		var again time.Time
		if err := b.db.QueryRow(ctx, `SELECT disabled_at FROM admins WHERE id = $1`, a.ID).Scan(&again); err != nil {
			t.Fatal(err)
		}
		if !again.Equal(at) {
			t.Fatalf("disabled_at moved from %v to %v", at, again)
		}
	})
	t.Run("a patch without Disabled leaves it", func(t *testing.T) {
		if _, err := b.accounts.Update(ctx, a.ID, admin.AccountPatch{}); err != nil {
			t.Fatal(err)
		}
		if !get(t).Disabled {
			t.Fatal("an empty patch enabled the account")
		}
	})
	t.Run("enable", func(t *testing.T) {
		got, err := b.accounts.Update(ctx, a.ID, admin.AccountPatch{Disabled: ptr(false)})
		if err != nil {
			t.Fatal(err)
		}
		if got.Disabled || get(t).Disabled {
			t.Fatalf("still disabled: %+v", got)
		}
		if !canLogin(t, goodPassword) {
			t.Fatal("re-enabled account cannot sign in")
		}
	})
	t.Run("password change", func(t *testing.T) {
		const next = "a different passphrase"
		if _, err := b.accounts.Update(ctx, a.ID, admin.AccountPatch{Password: ptr(next)}); err != nil {
			t.Fatal(err)
		}
		if canLogin(t, goodPassword) {
			t.Error("the old password still works")
		}
		if !canLogin(t, next) {
			t.Error("the new password does not work")
		}
		if got := bindingsOf(get(t).Roles); !slices.Equal(got, []string{"tenant_admin@acct-upd-a"}) {
			t.Errorf("a password change touched the roles: %v", got)
		}
	})
	t.Run("password too short", func(t *testing.T) {
		_, err := b.accounts.Update(ctx, a.ID, admin.AccountPatch{Password: ptr(strings.Repeat("p", admin.MinPasswordLen-1))})
		if got := invalidFields(t, err); !slices.Equal(got, []string{"password"}) {
			t.Fatalf("invalid fields %v", got)
		}
	})
	t.Run("roles replaced", func(t *testing.T) {
		roles := []admin.Binding{bind(admin.RoleTenantViewer, "acct-upd-a"), bind(admin.RoleTenantOperator, "acct-upd-b")}
		got, err := b.accounts.Update(ctx, a.ID, admin.AccountPatch{Roles: roles})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"tenant_operator@acct-upd-b", "tenant_viewer@acct-upd-a"}
		if r := bindingsOf(got.Roles); !slices.Equal(r, want) {
			t.Fatalf("returned roles %v, want %v", r, want)
		}
		if r := bindingsOf(get(t).Roles); !slices.Equal(r, want) {
			t.Fatalf("stored roles %v, want %v", r, want)
		}
	})
	t.Run("nil roles keep the roles", func(t *testing.T) {
		if _, err := b.accounts.Update(ctx, a.ID, admin.AccountPatch{Disabled: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		if r := bindingsOf(get(t).Roles); len(r) != 2 {
			t.Fatalf("roles %v after a patch without roles", r)
		}
	})
	t.Run("a refused patch changes nothing", func(t *testing.T) {
		before := get(t)
		for _, p := range []admin.AccountPatch{
			{Disabled: ptr(true), Roles: []admin.Binding{}},
			{Disabled: ptr(true), Roles: []admin.Binding{bind(admin.RoleTenantAdmin, "")}},
			{Disabled: ptr(true), Roles: []admin.Binding{bind(admin.RoleTenantAdmin, "acct-upd-a"), bind(admin.RoleTenantAdmin, "no-such-tenant")}},
		} {
			_, err := b.accounts.Update(ctx, a.ID, p)
			if got := invalidFields(t, err); !slices.Equal(got, []string{"roles"}) {
				t.Fatalf("patch %+v: invalid fields %v", p, got)
			}
			after := get(t)
			if after.Disabled || !slices.Equal(bindingsOf(after.Roles), bindingsOf(before.Roles)) {
				t.Fatalf("patch %+v was refused but left %+v (before %+v)", p, after, before)
			}
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		if _, err := b.accounts.Update(ctx, uuid.Must(uuid.NewV7()), admin.AccountPatch{Disabled: ptr(true)}); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("Update(unknown) = %v, want ErrNotFound", err)
		}
	})
}

func TestAccountDelete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.createTenant(t, "acct-del")
	a := b.createAccount(t, "delete@example.com", bind(admin.RoleTenantAdmin, "acct-del"))
	keep := b.createAccount(t, "keep@example.com", bind(admin.RolePlatformAdmin, ""))

	if err := b.accounts.Delete(ctx, a.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	t.Run("get after delete", func(t *testing.T) {
		if got, err := b.accounts.Get(ctx, a.ID); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("Get = %+v, %v; want ErrNotFound", got, err)
		}
	})
	t.Run("bindings gone", func(t *testing.T) {
		var n int
		if err := b.db.QueryRow(ctx, `SELECT count(*) FROM admin_roles WHERE admin_id = $1`, a.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatalf("%d role bindings left", n)
		}
	})
	t.Run("cannot sign in", func(t *testing.T) {
		if _, err := b.accounts.VerifyPassword(ctx, "delete@example.com", goodPassword); !errors.Is(err, admin.ErrUnauthorized) {
			t.Fatalf("VerifyPassword = %v", err)
		}
	})
	t.Run("delete again", func(t *testing.T) {
		if err := b.accounts.Delete(ctx, a.ID); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("second Delete = %v, want ErrNotFound", err)
		}
	})
	t.Run("others stay", func(t *testing.T) {
		if _, err := b.accounts.Get(ctx, keep.ID); err != nil {
			t.Fatalf("Get(other) = %v", err)
		}
	})
	t.Run("email free again", func(t *testing.T) {
		if _, err := b.accounts.Create(ctx, "delete@example.com", goodPassword, []admin.Binding{bind(admin.RolePlatformAdmin, "")}); err != nil {
			t.Fatalf("Create with a deleted account's email: %v", err)
		}
	})
}

func TestLastPlatformAdmin(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	b.tenants.Create(ctx, tenant.NewTenant{Slug: "last-pa", Name: "t", WeChatAppID: "wx0lastpa000000001", WeChatSecret: "s-last-pa"})
	yes, no := true, false

	// With no platform admin at all (API keys only), nothing is guarded.
	ta := b.createAccount(t, "ta-last@example.com", bind(admin.RoleTenantAdmin, "last-pa"))
	if _, err := b.accounts.Update(ctx, ta.ID, admin.AccountPatch{Disabled: &yes}); err != nil {
		t.Fatalf("disable a tenant admin with no platform admins: %v", err)
	}

	one := b.createAccount(t, "pa1-last@example.com", bind(admin.RolePlatformAdmin, ""))
	two := b.createAccount(t, "pa2-last@example.com", bind(admin.RolePlatformAdmin, ""))
	if _, err := b.accounts.Update(ctx, one.ID, admin.AccountPatch{Disabled: &yes}); err != nil {
		t.Fatalf("disable one of two platform admins: %v", err)
	}
	for name, change := range map[string]func() error{
		"disable": func() error { _, err := b.accounts.Update(ctx, two.ID, admin.AccountPatch{Disabled: &yes}); return err },
		"demote": func() error {
			_, err := b.accounts.Update(ctx, two.ID, admin.AccountPatch{Roles: []admin.Binding{bind(admin.RoleTenantAdmin, "last-pa")}})
			return err
		},
		"delete": func() error { return b.accounts.Delete(ctx, two.ID) },
	} {
		if err := change(); !errors.Is(err, admin.ErrLastPlatformAdmin) {
			t.Errorf("%s the last platform admin: %v, want ErrLastPlatformAdmin", name, err)
		}
	}
	if got, err := b.accounts.Get(ctx, two.ID); err != nil || got.Disabled || len(got.Roles) != 1 || got.Roles[0].Role != admin.RolePlatformAdmin {
		t.Fatalf("the refused changes changed the account: %+v, %v", got, err)
	}

	// Re-enabled, the first may go again; two disabling each other at once
	// leave exactly one.
	if _, err := b.accounts.Update(ctx, one.ID, admin.AccountPatch{Disabled: &no}); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for _, id := range []uuid.UUID{one.ID, two.ID} {
		go func() { _, err := b.accounts.Update(ctx, id, admin.AccountPatch{Disabled: &yes}); errs <- err }()
	}
	refused := 0
	for range 2 {
		if err := <-errs; errors.Is(err, admin.ErrLastPlatformAdmin) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused != 1 {
		t.Fatalf("%d of two concurrent disables refused, want exactly 1", refused)
	}
}
