package tenant

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"time"
)

// KeyStatus of a signing key. Only the active key signs; retiring keys still
// verify and are published until retire_at; retired keys do neither.
type KeyStatus string

const (
	KeyActive   KeyStatus = "active"
	KeyRetiring KeyStatus = "retiring"
	KeyRetired  KeyStatus = "retired"
)

// Key is a tenant signing key's public part and state.
type Key struct {
	KID       string
	Alg       string
	Status    KeyStatus
	Public    crypto.PublicKey
	CreatedAt time.Time
	RetireAt  *time.Time
}

// SigningKey is the active key with its private half, held only in memory.
type SigningKey struct {
	KID     string
	Alg     string
	Private crypto.Signer
}

// generateKey makes a new key pair for alg. The kid is the RFC 7638 JWK
// thumbprint, so it is stable, unique and tells nothing about the tenant.
func generateKey(alg string) (kid string, priv crypto.Signer, err error) {
	switch alg {
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgEdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return "", nil, fmt.Errorf("unknown signing alg %q", alg)
	}
	if err != nil {
		return "", nil, err
	}
	return Thumbprint(priv.Public()), priv, nil
}

// JWK is a public JSON Web Key as published in a tenant's JWKS.
type JWK struct {
	KID string `json:"kid"`
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// PublicJWK renders a public key; it never carries private members.
func PublicJWK(kid, alg string, pub crypto.PublicKey) JWK {
	j := JWK{KID: kid, Alg: alg, Use: "sig"}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		j.Kty, j.Crv = "EC", "P-256"
		j.X = b64(pad32(k.X))
		j.Y = b64(pad32(k.Y))
	case ed25519.PublicKey:
		j.Kty, j.Crv = "OKP", "Ed25519"
		j.X = b64(k)
	}
	return j
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint of a public key.
func Thumbprint(pub crypto.PublicKey) string {
	var members any
	j := PublicJWK("", "", pub)
	switch j.Kty {
	case "EC":
		members = struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
			Y   string `json:"y"`
		}{j.Crv, j.Kty, j.X, j.Y}
	default:
		members = struct {
			Crv string `json:"crv"`
			Kty string `json:"kty"`
			X   string `json:"x"`
		}{j.Crv, j.Kty, j.X}
	}
	b, _ := json.Marshal(members)
	sum := sha256.Sum256(b)
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func pad32(n *big.Int) []byte {
	out := make([]byte, 32)
	return n.FillBytes(out)
}

func marshalPublic(pub crypto.PublicKey) ([]byte, error) { return x509.MarshalPKIXPublicKey(pub) }

func parsePublic(der []byte) (crypto.PublicKey, error) { return x509.ParsePKIXPublicKey(der) }

func parsePrivate(der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("private key of type %T cannot sign", k)
	}
	return s, nil
}

func keyContext(tenantID int64, kid string) string {
	return fmt.Sprintf("signing_key:%d:%s", tenantID, kid)
}

func secretContext(tenantID int64) string {
	return fmt.Sprintf("tenant:%d:wechat_secret", tenantID)
}
