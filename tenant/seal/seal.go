// Package seal encrypts secrets at rest under the master key: tenants'
// AppSecrets and signing keys, and users' WeChat session keys.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// sealVersion is the first byte of every sealed value, so the format itself
// can change later without guessing.
const sealVersion = 1

// ErrUnseal means a sealed value could not be opened: wrong or missing key,
// tampering, or a value moved from another row (the context differs).
var ErrUnseal = errors.New("seal: sealed value cannot be opened")

// Sealer encrypts secrets at rest with AES-256-GCM under the master key.
// Each sealed value records the id of the key that sealed it, so the master
// key can rotate: values sealed under an older key still open while that key
// is listed as previous; everything written from then on (a changed secret,
// a new signing key, every login's session key) is sealed under the current
// one.
//
// Format: version(1) | key id(4) | nonce(12) | ciphertext+tag.
// The context (e.g. "tenant:42:wechat_secret") is bound as additional data,
// so a sealed value copied into another row or column does not open.
type Sealer struct {
	current [4]byte
	aeads   map[[4]byte]cipher.AEAD
}

// New takes the current master key and any previous ones, each raw 32 bytes.
func New(current []byte, previous ...[]byte) (*Sealer, error) {
	s := &Sealer{aeads: map[[4]byte]cipher.AEAD{}}
	for i, key := range append([][]byte{current}, previous...) {
		if len(key) != 32 {
			return nil, fmt.Errorf("master key %d: must be 32 bytes, got %d", i, len(key))
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		id := KeyID(key)
		if i == 0 {
			s.current = id
		}
		s.aeads[id] = aead
	}
	return s, nil
}

// ParseMasterKey decodes MINIAUTH_MASTER_KEY: standard padded base64 of 32 bytes.
func ParseMasterKey(b64 string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("must be standard base64")
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("must decode to 32 bytes, got %d", len(key))
	}
	return key, nil
}

// KeyID names a master key without revealing it.
func KeyID(key []byte) [4]byte {
	sum := sha256.Sum256(append([]byte("miniauth master key id\x00"), key...))
	return [4]byte(sum[:4])
}

// Seal encrypts plaintext bound to context.
func (s *Sealer) Seal(plaintext []byte, context string) ([]byte, error) {
	aead := s.aeads[s.current]
	out := make([]byte, 0, 1+4+aead.NonceSize()+len(plaintext)+aead.Overhead())
	out = append(out, sealVersion)
	out = append(out, s.current[:]...)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plaintext, []byte(context)), nil
}

// Open decrypts a value produced by Seal with the same context.
func (s *Sealer) Open(sealed []byte, context string) ([]byte, error) {
	if len(sealed) < 1+4+12+16 || sealed[0] != sealVersion {
		return nil, ErrUnseal
	}
	aead, ok := s.aeads[[4]byte(sealed[1:5])]
	if !ok {
		return nil, fmt.Errorf("%w: sealed under an unknown master key", ErrUnseal)
	}
	nonce := sealed[5 : 5+aead.NonceSize()]
	plain, err := aead.Open(nil, nonce, sealed[5+aead.NonceSize():], []byte(context))
	if err != nil {
		return nil, ErrUnseal
	}
	return plain, nil
}

// IsCurrent reports whether sealed was made with the current master key.
func (s *Sealer) IsCurrent(sealed []byte) bool {
	return len(sealed) > 5 && [4]byte(sealed[1:5]) == s.current
}

// Reseal opens a value (under any known master key) and seals it again
// under the current one, bound to the same context.
func (s *Sealer) Reseal(sealed []byte, context string) ([]byte, error) {
	plain, err := s.Open(sealed, context)
	if err != nil {
		return nil, err
	}
	return s.Seal(plain, context)
}
