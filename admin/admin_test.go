package admin_test

import (
	"strings"
	"testing"

	"github.com/miniauth/miniauth/admin"
)

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	h, err := admin.HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=3,p=2$") {
		t.Fatalf("not a PHC argon2id hash: %s", h)
	}
	if h2, _ := admin.HashPassword("correct horse battery staple"); h2 == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for pw, want := range map[string]bool{
		"correct horse battery staple":  true,
		"correct horse battery staple ": false,
		"":                              false,
	} {
		ok, err := admin.CheckPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA", "$argon2id$v=19$m=x$a$b", h[:len(h)-50]} {
		if ok, err := admin.CheckPassword(bad, "x"); ok || err == nil {
			t.Errorf("CheckPassword accepted malformed hash %q", bad)
		}
	}
}

func TestDiffMasksSecrets(t *testing.T) {
	t.Parallel()
	d := admin.Diff(
		map[string]any{"name": "a", "status": "active", "secret": "old-secret", "gone": 1},
		map[string]any{"name": "b", "status": "active", "secret": "new-secret", "added": true},
		"secret",
	)
	if len(d) != 4 {
		t.Fatalf("diff %v: want name, secret, gone, added", d)
	}
	if d["name"].From != "a" || d["name"].To != "b" {
		t.Errorf("name: %+v", d["name"])
	}
	if _, ok := d["status"]; ok {
		t.Error("an unchanged field is in the diff")
	}
	if d["secret"].From != admin.Masked || d["secret"].To != admin.Masked {
		t.Errorf("secret not masked: %+v", d["secret"])
	}
	if d["gone"].From != 1 || d["gone"].To != nil || d["added"].From != nil || d["added"].To != true {
		t.Errorf("removed/added: %+v %+v", d["gone"], d["added"])
	}
}

func TestParseRole(t *testing.T) {
	t.Parallel()
	for _, r := range admin.Roles {
		got, ok := admin.ParseRole(string(r))
		if !ok || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, ok)
		}
		if got.TenantScoped() == (r == admin.RolePlatformAdmin) {
			t.Errorf("%s: TenantScoped = %v", r, got.TenantScoped())
		}
	}
	if _, ok := admin.ParseRole("root"); ok {
		t.Error("ParseRole accepted an unknown role")
	}
}

// BenchmarkHashPassword is the cost of one admin password hash (and so of
// one console login attempt).
//
//	go test -run '^$' -bench HashPassword -count 5 ./admin/
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := admin.HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
