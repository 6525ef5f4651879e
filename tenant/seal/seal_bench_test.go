package seal_test

import (
	"testing"
)

// A WeChat session_key is 16 bytes, base64 24: what Login seals per login.
var sessionKey = []byte("tiihtNczf5v6AKRyjwEUhQ==")

const sessionKeyContext = "session_key:42:oGZUI0egBJY1zhBYw2KhdUfwVJJE"

func BenchmarkSeal(b *testing.B) {
	s := newSealer(b, randomKey(b))
	b.SetBytes(int64(len(sessionKey)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(sessionKey, sessionKeyContext); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	s := newSealer(b, randomKey(b))
	sealed, err := s.Seal(sessionKey, sessionKeyContext)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(sessionKey)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Open(sealed, sessionKeyContext); err != nil {
			b.Fatal(err)
		}
	}
}
