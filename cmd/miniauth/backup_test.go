package main

import (
	"bytes"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/miniauth/miniauth/migrations/dbtest"
)

// The README's backup and restore, done: pg_dump of a live installation,
// pg_restore into an empty database, a new instance on it with the same
// master key and an empty Redis. Tokens issued before the backup still
// verify and refresh after the restore, and refresh reuse is still caught.
func TestBackupRestore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("backup", nil)
	tok := b.login(nil, tt, "alice")
	jwks := wantStatus(t, "jwks", do(t, "GET", b.srv.URL+"/v1/t/backup/.well-known/jwks.json", nil), http.StatusOK, "")

	dump := filepath.Join(t.TempDir(), "miniauth.dump")
	command(t, "pg_dump", "--format=custom", "--no-owner", "--file="+dump, b.cfg.DatabaseURL)
	restored := dbtest.EmptyDatabase(t)
	command(t, "pg_restore", "--no-owner", "--exit-on-error", "--dbname="+restored, dump)

	r := setup(t, func(c *Config) { c.DatabaseURL, c.MasterKey = restored, b.cfg.MasterKey })
	base := r.srv.URL + "/v1/t/" + tt.Slug
	after := wantStatus(t, "jwks after restore", do(t, "GET", base+"/.well-known/jwks.json", nil), http.StatusOK, "")
	if !bytes.Equal(jwks.Body, after.Body) {
		t.Fatalf("JWKS changed across the restore:\n%s\n%s", jwks.Body, after.Body)
	}
	wantStatus(t, "me with a token from before", do(t, "GET", base+"/me", nil, "Authorization", "Bearer "+tok.AccessToken), http.StatusOK, "")
	rotated := wantStatus(t, "refresh with a token from before", do(t, "POST", base+"/refresh", map[string]string{"refresh_token": tok.RefreshToken}), http.StatusOK, "")
	access, _ := rotated.JSON(t)["access_token"].(string)
	r.remember(access)
	wantStatus(t, "me with the rotated token", do(t, "GET", base+"/me", nil, "Authorization", "Bearer "+access), http.StatusOK, "")
	wantStatus(t, "reuse of the token from before", do(t, "POST", base+"/refresh", map[string]string{"refresh_token": tok.RefreshToken}), http.StatusUnauthorized, "refresh_token_reused")
	// The sealed AppSecret opened: a new login exchanges a code with WeChat.
	r.wx.AddApp(tt.AppID, tt.Secret, "")
	r.login(nil, tt, "bob")
}

// command runs a tool the test needs, failing with its output.
func command(t *testing.T, name string, args ...string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed (Debian: postgresql-client)", name)
	}
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}
