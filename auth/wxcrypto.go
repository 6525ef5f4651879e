package auth

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/miniauth/miniauth/tenant"
)

// ErrSessionKeyStale means the user's stored session_key cannot decrypt or
// verify what the client sent: WeChat has rotated it (a wx.login the
// server never saw), or the payload was altered. The client logs in again
// and asks WeChat for the data anew.
var ErrSessionKeyStale = errors.New("session_key stale")

// ErrForeignData means encrypted data decrypted but is not user data WeChat
// issued to this mini-program: its watermark names another AppID, it has
// none, or it is JSON but not an object.
var ErrForeignData = errors.New("encrypted data issued to another app")

// maxEncrypted bounds encrypted data (base64) the way the body limit does,
// so decoding never allocates more than a request can carry.
const maxEncrypted = 16 << 10

// DecryptData opens WeChat's encryptedData with a session_key: AES-128-CBC,
// key and IV base64 of 16 bytes each, strict PKCS#7, and the plaintext a
// JSON object whose watermark.appid is appID. Malformed input is a
// validation error; well-formed input that does not open is
// ErrSessionKeyStale; a watermark of another app is ErrForeignData.
func DecryptData(sessionKey, encryptedData, iv, appID string) (json.RawMessage, error) {
	var v tenant.ValidationError
	ct, err := base64.StdEncoding.DecodeString(encryptedData)
	if err != nil || len(encryptedData) > maxEncrypted || len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		v.Fields = append(v.Fields, tenant.FieldError{Field: "encrypted_data", Message: "must be base64 of whole AES blocks, as wx gives it"})
	}
	ivb, err := base64.StdEncoding.DecodeString(iv)
	if err != nil || len(ivb) != aes.BlockSize {
		v.Fields = append(v.Fields, tenant.FieldError{Field: "iv", Message: "must be base64 of 16 bytes, as wx gives it"})
	}
	if len(v.Fields) > 0 {
		return nil, &v
	}
	key, err := base64.StdEncoding.DecodeString(sessionKey)
	if err != nil || len(key) != 16 {
		return nil, fmt.Errorf("%w: stored key is not 16 bytes", ErrSessionKeyStale)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSessionKeyStale, err)
	}
	plain := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, ivb).CryptBlocks(plain, ct)
	plain, ok := unpad(plain)
	if !ok {
		return nil, fmt.Errorf("%w: bad padding", ErrSessionKeyStale)
	}
	// Not JSON: a wrong key whose output happened to end in valid padding.
	// JSON, but not an object: the key is right (a wrong one practically
	// never yields JSON), so the payload is simply not WeChat's user data.
	if !json.Valid(plain) {
		return nil, fmt.Errorf("%w: plaintext is not JSON", ErrSessionKeyStale)
	}
	// Maps, not a struct: member names match exactly, as they do for the
	// client reading the answer ("WATERMARK" would fill a struct's field).
	var doc, watermark map[string]json.RawMessage
	var wmAppID string
	if bytes.TrimSpace(plain)[0] != '{' || json.Unmarshal(plain, &doc) != nil {
		return nil, ErrForeignData
	}
	if json.Unmarshal(doc["watermark"], &watermark) != nil || json.Unmarshal(watermark["appid"], &wmAppID) != nil || wmAppID != appID {
		return nil, ErrForeignData
	}
	return json.RawMessage(plain), nil
}

// unpad strips PKCS#7 padding, refusing anything but 1..16 equal bytes.
func unpad(b []byte) ([]byte, bool) {
	if len(b) == 0 {
		return nil, false
	}
	n := int(b[len(b)-1])
	if n < 1 || n > aes.BlockSize || n > len(b) {
		return nil, false
	}
	for _, c := range b[len(b)-n:] {
		if int(c) != n {
			return nil, false
		}
	}
	return b[:len(b)-n], true
}

// RawDataSignature is WeChat's signature of rawData (getUserInfo):
// hex(sha1(rawData + session_key)).
func RawDataSignature(rawData, sessionKey string) string {
	sum := sha1.Sum([]byte(rawData + sessionKey))
	return hex.EncodeToString(sum[:])
}

// VerifyRawData checks a rawData signature in constant time. A signature
// that is not 40 hex digits is a validation error; one that does not
// match is ErrSessionKeyStale.
func VerifyRawData(rawData, signature, sessionKey string) error {
	var v tenant.ValidationError
	if rawData == "" || len(rawData) > maxEncrypted {
		v.Fields = append(v.Fields, tenant.FieldError{Field: "raw_data", Message: "must be the rawData wx gave, as is"})
	}
	if _, err := hex.DecodeString(signature); err != nil || len(signature) != 2*sha1.Size {
		v.Fields = append(v.Fields, tenant.FieldError{Field: "signature", Message: "must be the 40 hex digits wx gave"})
	}
	if len(v.Fields) > 0 {
		return &v
	}
	want := RawDataSignature(rawData, sessionKey)
	if subtle.ConstantTimeCompare([]byte(want), bytes.ToLower([]byte(signature))) != 1 {
		return ErrSessionKeyStale
	}
	return nil
}
