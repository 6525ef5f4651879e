package admin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/tenant"
)

func TestAPIKeyCreateValidates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.createTenant(t, "keys-valid")

	for _, c := range []struct {
		name, keyName string
		role          admin.Role
		tenant        string
		want          []string // invalid fields; nil means accepted
	}{
		{"platform key", "ci", admin.RolePlatformAdmin, "", nil},
		{"tenant key", "deploy", admin.RoleTenantViewer, "keys-valid", nil},
		{"name of 100 characters", strings.Repeat("n", 100), admin.RoleTenantAdmin, "keys-valid", nil},
		{"name trimmed to 1 character", "  x  ", admin.RoleTenantOperator, "keys-valid", nil},
		{"empty name", "", admin.RolePlatformAdmin, "", []string{"name"}},
		{"blank name", " \t ", admin.RolePlatformAdmin, "", []string{"name"}},
		{"name of 101 characters", strings.Repeat("n", 101), admin.RolePlatformAdmin, "", []string{"name"}},
		{"name of 100 Chinese characters", strings.Repeat("名", 100), admin.RolePlatformAdmin, "", nil},
		{"name of 101 Chinese characters", strings.Repeat("名", 101), admin.RolePlatformAdmin, "", []string{"name"}},
		{"unknown role", "ci", "root", "", []string{"role"}},
		{"empty role", "ci", "", "keys-valid", []string{"role"}},
		{"tenant role without tenant", "ci", admin.RoleTenantAdmin, "", []string{"tenant"}},
		{"platform_admin with tenant", "ci", admin.RolePlatformAdmin, "keys-valid", []string{"tenant"}},
		{"unknown tenant slug", "ci", admin.RoleTenantViewer, "no-such-tenant", []string{"tenant"}},
		{"every field wrong", "", "root", "", []string{"name", "role"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var before int
			if err := b.db.QueryRow(ctx, `SELECT count(*) FROM api_keys`).Scan(&before); err != nil {
				t.Fatal(err)
			}
			k, plain, err := b.keys.Create(ctx, c.keyName, c.role, c.tenant)
			var after int
			if err := b.db.QueryRow(ctx, `SELECT count(*) FROM api_keys`).Scan(&after); err != nil {
				t.Fatal(err)
			}
			if c.want != nil {
				if got := invalidFields(t, err); !slices.Equal(got, c.want) {
					t.Fatalf("invalid fields %v, want %v", got, c.want)
				}
				if plain != "" || k.ID != uuid.Nil {
					t.Errorf("refused Create returned key %+v / %q", k, plain)
				}
				if after != before {
					t.Errorf("refused Create wrote a row: %d keys, then %d", before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			if after != before+1 {
				t.Errorf("%d keys, then %d: want one more", before, after)
			}
			if k.Name != strings.TrimSpace(c.keyName) || k.Role != c.role || k.CreatedAt.IsZero() || k.LastUsedAt != nil {
				t.Errorf("key %+v", k)
			}
			if k.ID.Version() != 7 {
				t.Errorf("id %s is version %d, want a time-ordered v7", k.ID, k.ID.Version())
			}
			if c.tenant == "" {
				if k.Tenant != nil || k.TenantID != nil {
					t.Errorf("platform key has tenant %v/%v", k.Tenant, k.TenantID)
				}
			} else if k.Tenant == nil || *k.Tenant != c.tenant || k.TenantID == nil {
				t.Errorf("tenant %v/%v, want %s", k.Tenant, k.TenantID, c.tenant)
			}
			if !strings.HasPrefix(plain, admin.APIKeyPrefix) {
				t.Errorf("plaintext %q lacks the %s prefix", plain, admin.APIKeyPrefix)
			}
		})
	}
}

func TestAPIKeyStoredOnlyAsHash(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.createTenant(t, "keys-hash")
	k, plain := b.createKey(t, "hashed", admin.RoleTenantAdmin, "keys-hash")
	_, other := b.createKey(t, "other", admin.RoleTenantAdmin, "keys-hash")

	t.Run("plaintext shape", func(t *testing.T) {
		secret, ok := strings.CutPrefix(plain, admin.APIKeyPrefix)
		if !ok {
			t.Fatalf("%q does not start with %s", plain, admin.APIKeyPrefix)
		}
		raw, err := base64.RawURLEncoding.DecodeString(secret)
		if err != nil || len(raw) != 32 {
			t.Fatalf("secret part %q: %d bytes, %v; want 32 random bytes, base64url", secret, len(raw), err)
		}
		if plain == other {
			t.Fatal("two keys have the same plaintext")
		}
	})

	t.Run("no column holds the plaintext", func(t *testing.T) {
		rows, err := b.db.Query(ctx, `SELECT * FROM api_keys WHERE id = $1`, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		if !rows.Next() {
			t.Fatalf("no api_keys row for %s: %v", k.ID, rows.Err())
		}
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		secret := strings.TrimPrefix(plain, admin.APIKeyPrefix)
		raw, _ := base64.RawURLEncoding.DecodeString(secret)
		want := sha256.Sum256([]byte(plain))
		var sawHash bool
		for i, fd := range rows.FieldDescriptions() {
			var text string
			switch v := vals[i].(type) {
			case []byte:
				if bytes.Contains(v, []byte(secret)) || bytes.Contains(v, raw) {
					t.Errorf("column %s holds the key: %x", fd.Name, v)
				}
				if fd.Name == "key_hash" {
					sawHash = bytes.Equal(v, want[:])
				}
				text = string(v)
			default:
				text = fmt.Sprint(v)
			}
			if strings.Contains(text, secret) {
				t.Errorf("column %s holds the key: %q", fd.Name, text)
			}
		}
		if !sawHash {
			t.Error("key_hash is not the SHA-256 of the plaintext")
		}
	})
}

func TestAPIKeyAuthenticate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.createTenant(t, "keys-auth")
	k, plain := b.createKey(t, "auth", admin.RoleTenantOperator, "keys-auth")

	t.Run("the key", func(t *testing.T) {
		got, err := b.keys.Authenticate(ctx, plain)
		if err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
		if got.ID != k.ID || got.Role != admin.RoleTenantOperator || got.Tenant == nil || *got.Tenant != "keys-auth" ||
			got.TenantID == nil || *got.TenantID != *k.TenantID {
			t.Fatalf("Authenticate = %+v, want %+v", got, k)
		}
	})

	flip := []byte(plain)
	if flip[len(flip)-1] == 'A' {
		flip[len(flip)-1] = 'B'
	} else {
		flip[len(flip)-1] = 'A'
	}
	for _, c := range []struct{ name, key string }{
		{"empty", ""},
		{"prefix alone", admin.APIKeyPrefix},
		{"short", admin.APIKeyPrefix + "abc"},
		{"truncated", plain[:len(plain)-1]},
		{"last character changed", string(flip)},
		{"without the prefix", strings.TrimPrefix(plain, admin.APIKeyPrefix)},
		{"prefix in upper case", strings.ToUpper(admin.APIKeyPrefix) + strings.TrimPrefix(plain, admin.APIKeyPrefix)},
		{"padded", " " + plain},
		{"overlong", plain + strings.Repeat("x", 100)},
	} {
		t.Run("refuses "+c.name, func(t *testing.T) {
			got, err := b.keys.Authenticate(ctx, c.key)
			if !errors.Is(err, admin.ErrUnauthorized) {
				t.Fatalf("Authenticate(%q) = %+v, %v; want ErrUnauthorized", c.key, got, err)
			}
		})
	}

	t.Run("refuses a revoked key", func(t *testing.T) {
		rk, rplain := b.createKey(t, "to revoke", admin.RoleTenantViewer, "keys-auth")
		if _, err := b.keys.Authenticate(ctx, rplain); err != nil {
			t.Fatalf("live key refused: %v", err)
		}
		if err := b.keys.Revoke(ctx, rk.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := b.keys.Authenticate(ctx, rplain); !errors.Is(err, admin.ErrUnauthorized) {
			t.Fatalf("revoked key: %+v, %v; want ErrUnauthorized", got, err)
		}
		if _, err := b.keys.Authenticate(ctx, plain); err != nil {
			t.Fatalf("revoking one key refused another: %v", err)
		}
	})
}

func TestAPIKeyLastUsed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	k, plain := b.createKey(t, "last used", admin.RolePlatformAdmin, "")
	lastUsed := func(t *testing.T) *time.Time {
		t.Helper()
		var at *time.Time
		if err := b.db.QueryRow(ctx, `SELECT last_used_at FROM api_keys WHERE id = $1`, k.ID).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	auth := func(t *testing.T) {
		t.Helper()
		if _, err := b.keys.Authenticate(ctx, plain); err != nil {
			t.Fatalf("Authenticate: %v", err)
		}
	}

	if at := lastUsed(t); at != nil {
		t.Fatalf("new key has last_used_at %v", at)
	}
	var first time.Time
	t.Run("written on first use", func(t *testing.T) {
		auth(t)
		at := lastUsed(t)
		if at == nil {
			t.Fatal("last_used_at still NULL after a use")
		}
		if d := time.Since(*at); d < -time.Minute || d > time.Minute {
			t.Fatalf("last_used_at %v is not about now", at)
		}
		first = *at
		if got, err := b.keys.Get(ctx, k.ID); err != nil || got.LastUsedAt == nil || !got.LastUsedAt.Equal(first) {
			t.Fatalf("Get = %+v, %v; want last_used_at %v", got, err, first)
		}
	})
	t.Run("not rewritten within the minute", func(t *testing.T) {
		auth(t)
		auth(t)
		if at := lastUsed(t); at == nil || !at.Equal(first) {
			t.Fatalf("last_used_at %v after more uses within the minute, want %v kept", at, first)
		}
	})
	t.Run("rewritten once the minute has passed", func(t *testing.T) {
		if _, err := b.db.Exec(ctx, `UPDATE api_keys SET last_used_at = now() - interval '2 minutes' WHERE id = $1`, k.ID); err != nil {
			t.Fatal(err)
		}
		backdated := lastUsed(t)
		auth(t)
		if at := lastUsed(t); at == nil || !at.After(backdated.Add(time.Minute)) {
			t.Fatalf("last_used_at %v after a use, want it moved on from %v", at, backdated)
		}
	})
	t.Run("not written by a refused key", func(t *testing.T) {
		if _, err := b.db.Exec(ctx, `UPDATE api_keys SET last_used_at = NULL WHERE id = $1`, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := b.keys.Authenticate(ctx, plain[:len(plain)-1]); !errors.Is(err, admin.ErrUnauthorized) {
			t.Fatalf("truncated key: %v", err)
		}
		if at := lastUsed(t); at != nil {
			t.Fatalf("a refused key wrote last_used_at %v", at)
		}
	})
}

func TestAPIKeyList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	ta := b.createTenant(t, "keys-list-a")
	tb := b.createTenant(t, "keys-list-b")
	// Created in this order, so ids (v7, time-ordered) ascend in it.
	p, _ := b.createKey(t, "p", admin.RolePlatformAdmin, "")
	a1, _ := b.createKey(t, "a1", admin.RoleTenantAdmin, "keys-list-a")
	a2, _ := b.createKey(t, "a2", admin.RoleTenantViewer, "keys-list-a")
	b1, _ := b.createKey(t, "b1", admin.RoleTenantOperator, "keys-list-b")

	names := func(t *testing.T, tenantID *int64, limit int, before *uuid.UUID) []string {
		t.Helper()
		ks, err := b.keys.List(ctx, tenantID, limit, before)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		out := []string{}
		for _, k := range ks {
			out = append(out, k.Name)
		}
		return out
	}
	for _, c := range []struct {
		name     string
		tenantID *int64
		limit    int
		before   *uuid.UUID
		want     []string
	}{
		{"all, newest first", nil, 50, nil, []string{"b1", "a2", "a1", "p"}},
		{"tenant a", &ta.ID, 50, nil, []string{"a2", "a1"}},
		{"tenant b", &tb.ID, 50, nil, []string{"b1"}},
		{"tenant without keys", ptr(ta.ID + tb.ID + 1000), 50, nil, []string{}},
		{"first page", nil, 2, nil, []string{"b1", "a2"}},
		{"second page", nil, 2, &a2.ID, []string{"a1", "p"}},
		{"past the last page", nil, 2, &p.ID, []string{}},
		{"tenant a after its first", &ta.ID, 1, &a2.ID, []string{"a1"}},
		{"tenant b before a newer key of a", &tb.ID, 50, &b1.ID, []string{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := names(t, c.tenantID, c.limit, c.before); !slices.Equal(got, c.want) {
				t.Fatalf("List = %v, want %v", got, c.want)
			}
		})
	}

	t.Run("fields", func(t *testing.T) {
		ks, err := b.keys.List(ctx, &tb.ID, 50, nil)
		if err != nil || len(ks) != 1 {
			t.Fatalf("List = %v, %v", ks, err)
		}
		got := ks[0]
		if got.ID != b1.ID || got.Role != admin.RoleTenantOperator || got.Tenant == nil || *got.Tenant != "keys-list-b" ||
			!got.CreatedAt.Equal(b1.CreatedAt) {
			t.Fatalf("listed %+v, want %+v", got, b1)
		}
	})

	t.Run("revoked keys drop out", func(t *testing.T) {
		if err := b.keys.Revoke(ctx, a1.ID); err != nil {
			t.Fatal(err)
		}
		if got := names(t, &ta.ID, 50, nil); !slices.Equal(got, []string{"a2"}) {
			t.Fatalf("tenant a after revoking a1: %v", got)
		}
		if got := names(t, nil, 50, nil); !slices.Equal(got, []string{"b1", "a2", "p"}) {
			t.Fatalf("all after revoking a1: %v", got)
		}
	})
}

func TestAPIKeyGetRevoke(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	k, _ := b.createKey(t, "get", admin.RolePlatformAdmin, "")

	t.Run("get", func(t *testing.T) {
		got, err := b.keys.Get(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != k.ID || got.Name != "get" || got.Role != admin.RolePlatformAdmin || got.Tenant != nil ||
			!got.CreatedAt.Equal(k.CreatedAt) {
			t.Fatalf("Get = %+v, want %+v", got, k)
		}
	})
	unknown := uuid.Must(uuid.NewV7())
	t.Run("get unknown", func(t *testing.T) {
		if got, err := b.keys.Get(ctx, unknown); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("Get(unknown) = %+v, %v; want ErrNotFound", got, err)
		}
	})
	t.Run("revoke unknown", func(t *testing.T) {
		if err := b.keys.Revoke(ctx, unknown); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("Revoke(unknown) = %v, want ErrNotFound", err)
		}
	})
	t.Run("revoke", func(t *testing.T) {
		if err := b.keys.Revoke(ctx, k.ID); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		var revoked bool
		if err := b.db.QueryRow(ctx, `SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = $1`, k.ID).Scan(&revoked); err != nil {
			t.Fatal(err)
		}
		if !revoked {
			t.Fatal("revoked_at not set; the row must stay, marked")
		}
		if got, err := b.keys.Get(ctx, k.ID); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("Get(revoked) = %+v, %v; want ErrNotFound", got, err)
		}
		if err := b.keys.Revoke(ctx, k.ID); !errors.Is(err, tenant.ErrNotFound) {
			t.Fatalf("second Revoke = %v, want ErrNotFound", err)
		}
	})
}
