package seal_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/miniauth/miniauth/tenant/seal"
)

func randomKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func newSealer(t testing.TB, current []byte, previous ...[]byte) *seal.Sealer {
	t.Helper()
	s, err := seal.New(current, previous...)
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	return s
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	s := newSealer(t, randomKey(t))
	for _, tc := range []struct {
		name  string
		plain []byte
	}{
		{"empty", nil},
		{"session key", []byte("0123456789abcdef01234567")},
		{"binary", []byte{0, 1, 2, 0xff, 0xfe}},
		{"large", bytes.Repeat([]byte("x"), 64<<10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sealed, err := s.Seal(tc.plain, "tenant:1:wechat_secret")
			if err != nil {
				t.Fatalf("Seal: %v", err)
			}
			if len(tc.plain) > 0 && bytes.Contains(sealed, tc.plain) {
				t.Fatal("sealed value contains the plaintext")
			}
			got, err := s.Open(sealed, "tenant:1:wechat_secret")
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, tc.plain) {
				t.Fatalf("Open = %q, want %q", got, tc.plain)
			}
		})
	}
}

func TestSealWrongContextFails(t *testing.T) {
	t.Parallel()
	s := newSealer(t, randomKey(t))
	sealed, err := s.Seal([]byte("app-secret"), "tenant:1:wechat_secret")
	if err != nil {
		t.Fatal(err)
	}
	for _, ctx := range []string{"tenant:2:wechat_secret", "tenant:1:wechat_secret ", "", "signing_key:1:abc"} {
		t.Run(ctx, func(t *testing.T) {
			t.Parallel()
			if got, err := s.Open(sealed, ctx); !errors.Is(err, seal.ErrUnseal) {
				t.Fatalf("Open with context %q = %q, %v; want ErrUnseal", ctx, got, err)
			}
		})
	}
}

func TestSealTamperedByteFails(t *testing.T) {
	t.Parallel()
	s := newSealer(t, randomKey(t))
	sealed, err := s.Seal([]byte("app-secret"), "ctx")
	if err != nil {
		t.Fatal(err)
	}
	// Every byte matters: version, key id, nonce, ciphertext and tag.
	for i := range sealed {
		tampered := bytes.Clone(sealed)
		tampered[i] ^= 0x01
		if got, err := s.Open(tampered, "ctx"); !errors.Is(err, seal.ErrUnseal) {
			t.Errorf("byte %d flipped: Open = %q, %v; want ErrUnseal", i, got, err)
		}
	}
	for _, n := range []int{0, 1, 5, 17, 32, len(sealed) - 1} {
		if _, err := s.Open(sealed[:n], "ctx"); !errors.Is(err, seal.ErrUnseal) {
			t.Errorf("truncated to %d bytes: err = %v, want ErrUnseal", n, err)
		}
	}
	if _, err := s.Open(append(bytes.Clone(sealed), 0), "ctx"); !errors.Is(err, seal.ErrUnseal) {
		t.Errorf("extra trailing byte: err = %v, want ErrUnseal", err)
	}
}

func TestSealPreviousKey(t *testing.T) {
	t.Parallel()
	oldKey, newKey := randomKey(t), randomKey(t)
	old := newSealer(t, oldKey)
	sealedOld, err := old.Seal([]byte("secret"), "ctx")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("opens when listed as previous", func(t *testing.T) {
		t.Parallel()
		rotated := newSealer(t, newKey, oldKey)
		got, err := rotated.Open(sealedOld, "ctx")
		if err != nil || string(got) != "secret" {
			t.Fatalf("Open = %q, %v; want secret", got, err)
		}
		if rotated.IsCurrent(sealedOld) {
			t.Fatal("IsCurrent is true for a value sealed under a previous key")
		}
	})
	t.Run("fails without it", func(t *testing.T) {
		t.Parallel()
		only := newSealer(t, newKey)
		if got, err := only.Open(sealedOld, "ctx"); !errors.Is(err, seal.ErrUnseal) {
			t.Fatalf("Open = %q, %v; want ErrUnseal", got, err)
		}
	})
	t.Run("new seals use the current key", func(t *testing.T) {
		t.Parallel()
		rotated := newSealer(t, newKey, oldKey)
		sealedNew, err := rotated.Seal([]byte("secret"), "ctx")
		if err != nil {
			t.Fatal(err)
		}
		if !rotated.IsCurrent(sealedNew) {
			t.Fatal("IsCurrent is false for a fresh seal")
		}
		if _, err := old.Open(sealedNew, "ctx"); !errors.Is(err, seal.ErrUnseal) {
			t.Fatalf("old-key-only sealer opened a value sealed under the new key: %v", err)
		}
	})
}

func TestSealIsCurrent(t *testing.T) {
	t.Parallel()
	s := newSealer(t, randomKey(t))
	other := newSealer(t, randomKey(t))
	mine, _ := s.Seal([]byte("x"), "c")
	theirs, _ := other.Seal([]byte("x"), "c")
	for _, tc := range []struct {
		name   string
		sealed []byte
		want   bool
	}{
		{"own seal", mine, true},
		{"other key", theirs, false},
		{"nil", nil, false},
		{"too short", mine[:5], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := s.IsCurrent(tc.sealed); got != tc.want {
				t.Fatalf("IsCurrent = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSealNonceIsRandom(t *testing.T) {
	t.Parallel()
	s := newSealer(t, randomKey(t))
	a, err := s.Seal([]byte("same plaintext"), "ctx")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Seal([]byte("same plaintext"), "ctx")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
	// The nonce follows version(1) and key id(4).
	if bytes.Equal(a[5:17], b[5:17]) {
		t.Fatal("two seals share a nonce")
	}
}

func TestNewSealerRejectsBadKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		current  []byte
		previous [][]byte
	}{
		{"short current", make([]byte, 16), nil},
		{"long current", make([]byte, 33), nil},
		{"nil current", nil, nil},
		{"short previous", make([]byte, 32), [][]byte{make([]byte, 31)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if s, err := seal.New(tc.current, tc.previous...); err == nil {
				t.Fatalf("NewSealer = %v, nil; want an error", s)
			}
		})
	}
}

func TestParseMasterKey(t *testing.T) {
	t.Parallel()
	key := randomKey(t)
	ones := bytes.Repeat([]byte{0xff}, 32) // encodes with '/' in std and '_' in URL alphabet
	for _, tc := range []struct {
		name  string
		in    string
		want  []byte
		valid bool
	}{
		{"padded standard base64 of 32 bytes", base64.StdEncoding.EncodeToString(key), key, true},
		{"standard alphabet with slash", base64.StdEncoding.EncodeToString(ones), ones, true},
		{"not base64", "this is not base64!!", nil, false},
		{"empty", "", nil, false},
		{"unpadded", base64.RawStdEncoding.EncodeToString(key), nil, false},
		{"url alphabet", base64.URLEncoding.EncodeToString(ones), nil, false},
		{"16 bytes", base64.StdEncoding.EncodeToString(key[:16]), nil, false},
		{"31 bytes", base64.StdEncoding.EncodeToString(key[:31]), nil, false},
		{"33 bytes", base64.StdEncoding.EncodeToString(append(bytes.Clone(key), 1)), nil, false},
		{"64 bytes", base64.StdEncoding.EncodeToString(append(bytes.Clone(key), key...)), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := seal.ParseMasterKey(tc.in)
			if !tc.valid {
				if err == nil {
					t.Fatalf("ParseMasterKey(%q) = %x, nil; want an error", tc.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMasterKey: %v", err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("ParseMasterKey = %x, want %x", got, tc.want)
			}
			if _, err := seal.New(got); err != nil {
				t.Fatalf("parsed key does not make a sealer: %v", err)
			}
		})
	}
}

func TestKeyIDIsStableAndDistinct(t *testing.T) {
	t.Parallel()
	a, b := randomKey(t), randomKey(t)
	if seal.KeyID(a) != seal.KeyID(bytes.Clone(a)) {
		t.Fatal("KeyID differs for the same key")
	}
	if seal.KeyID(a) == seal.KeyID(b) {
		t.Fatal("KeyID equal for different keys")
	}
	id := seal.KeyID(a)
	if bytes.Equal(id[:], a[:4]) {
		t.Fatal("KeyID reveals the key's first bytes")
	}
}
