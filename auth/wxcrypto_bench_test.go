package auth

import "testing"

// BenchmarkDecryptData is the cost of opening WeChat's published sample
// (about 700 bytes of ciphertext) on /me/decrypt, without the request.
func BenchmarkDecryptData(b *testing.B) {
	for b.Loop() {
		if _, err := DecryptData(demoSessionKey, demoEncrypted, demoIV, demoAppID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRawData(b *testing.B) {
	for b.Loop() {
		if err := VerifyRawData(docRawData, docSignature, docSessionKey); err != nil {
			b.Fatal(err)
		}
	}
}
