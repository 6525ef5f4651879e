package main

import (
	"bytes"
	"encoding/base64"
	"io"
	"strings"
	"testing"

	"github.com/miniauth/miniauth/tenant/seal"
)

// TestResealRetiresAnOldMasterKey rotates the master key: with the old key
// listed as previous, `miniauth reseal` rewrites every sealed value, after
// which a server holding only the new key serves the tenant.
func TestResealRetiresAnOldMasterKey(t *testing.T) {
	b := setup(t)
	tt := b.createTenant("reseal", nil)
	b.login(nil, tt, "alice")

	oldKey := b.cfg.MasterKey
	newKey := bytes.Repeat([]byte{9}, 32)
	t.Setenv("DATABASE_URL", b.cfg.DatabaseURL)
	t.Setenv("REDIS_URL", b.cfg.RedisURL)
	t.Setenv("MINIAUTH_MASTER_KEY", base64.StdEncoding.EncodeToString(newKey))
	t.Setenv("MINIAUTH_PREVIOUS_MASTER_KEYS", base64.StdEncoding.EncodeToString(oldKey))
	var stderr bytes.Buffer
	if err := run(t.Context(), []string{"reseal"}, strings.NewReader(""), io.Discard, &stderr); err != nil {
		t.Fatalf("reseal: %v: %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"tenant_secrets_and_keys":2`) || !strings.Contains(stderr.String(), `"session_keys":1`) {
		t.Fatalf("reseal should rewrite the secret, the signing key and alice's session key: %s", stderr.String())
	}

	// Every sealed value now names the new key.
	sealer, err := seal.New(newKey)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := b.db.Query(t.Context(), `SELECT wechat_secret_sealed FROM tenants
		UNION ALL SELECT private_key_sealed FROM signing_keys
		UNION ALL SELECT session_key_sealed FROM users`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v []byte
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		if !sealer.IsCurrent(v) {
			t.Error("a value is still sealed under the old master key")
		}
	}
	rows.Close()

	// A server that no longer knows the old key serves the tenant.
	b.cfg.MasterKey, b.cfg.PreviousKeys = newKey, nil
	srv := b.startInstance()
	tok := b.login(srv, tt, "alice")
	if tok.User.IsNew {
		t.Fatal("alice should be the same user after the reseal")
	}
	// A second run finds nothing left to do.
	stderr.Reset()
	if err := run(t.Context(), []string{"reseal"}, strings.NewReader(""), io.Discard, &stderr); err != nil ||
		!strings.Contains(stderr.String(), `"tenant_secrets_and_keys":0`) {
		t.Fatalf("second reseal: %v: %s", err, stderr.String())
	}
}
