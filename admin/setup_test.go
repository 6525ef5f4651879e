package admin_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/changes/changestest"
	"github.com/miniauth/miniauth/tenant/seal"
)

// testBundle is the admin stores on a fresh, migrated database of their own,
// publishing on one in-process change feed that stands for every instance.
type testBundle struct {
	db       *pgxpool.Pool
	feed     *changestest.Feed
	tenants  *tenant.Store
	keys     *admin.APIKeys
	accounts *admin.Accounts
	audit    *admin.Audit
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return setupOn(t, dbtest.Pool(t))
}

func setupOn(t *testing.T, db *pgxpool.Pool) *testBundle {
	t.Helper()
	sealer, err := seal.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	feed := changestest.New()
	return &testBundle{
		db:       db,
		feed:     feed,
		tenants:  tenant.NewStore(db, sealer, nil),
		keys:     admin.NewAPIKeys(db),
		accounts: admin.NewAccountsAt(db, feed, cheapPasswords),
		audit:    admin.NewAudit(db),
	}
}

func (b *testBundle) createTenant(t *testing.T, slug string) tenant.Tenant {
	t.Helper()
	ten, err := b.tenants.Create(context.Background(), tenant.NewTenant{
		Slug: slug, Name: slug, WeChatAppID: "wx0123456789abcdef", WeChatSecret: "test-secret-0123456789",
	})
	if err != nil {
		t.Fatalf("create tenant %s: %v", slug, err)
	}
	return ten
}

func (b *testBundle) createKey(t *testing.T, name string, role admin.Role, slug string) (admin.APIKey, string) {
	t.Helper()
	k, plain, err := b.keys.Create(context.Background(), name, role, slug)
	if err != nil {
		t.Fatalf("create key %q (%s, %q): %v", name, role, slug, err)
	}
	return k, plain
}

// invalidFields returns the fields a *tenant.ValidationError names, or
// fails the test when err is not one.
func invalidFields(t *testing.T, err error) []string {
	t.Helper()
	var v *tenant.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("err = %v (%T), want a *tenant.ValidationError", err, err)
	}
	var fields []string
	for _, f := range v.Fields {
		fields = append(fields, f.Field)
	}
	return fields
}

func ptr[T any](v T) *T { return &v }

// cheapPasswords hashes test passwords in microseconds instead of the
// default's tenth of a second (far more under -race): the tests are about
// accounts, not argon2's cost, which admin_test.go checks.
var cheapPasswords = admin.PasswordCost{Time: 1, MemoryKiB: 64, Threads: 1}
