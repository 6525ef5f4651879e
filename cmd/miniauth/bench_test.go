package main

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
)

// BenchmarkLogin measures the whole login path over HTTP: tenant lookup,
// the WeChat exchange (in-process fake over loopback), the user upsert,
// session and refresh token inserts, and signing.
//
//	go test -run '^$' -bench Login -benchtime 2000x ./cmd/miniauth/
func BenchmarkLogin(b *testing.B) {
	tb := setup(b)
	tt := tb.createTenant("bench", nil)
	codes := make([]string, b.N)
	for i := range codes {
		codes[i] = tb.wx.MintCode(tt.AppID, fmt.Sprintf("user-%d", i%1000))
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			code := codes[next.Add(1)-1]
			r := do(b, "POST", tb.srv.URL+"/v1/t/bench/login", map[string]string{"code": code})
			if r.Status != http.StatusOK {
				b.Fatalf("login: %d %s", r.Status, r.Body)
			}
		}
	})
}

// BenchmarkAuthenticatedMe measures a request carrying an access token:
// JWT verification plus the cached session check plus one user read.
//
//	go test -run '^$' -bench AuthenticatedMe ./cmd/miniauth/
func BenchmarkAuthenticatedMe(b *testing.B) {
	tb := setup(b)
	tt := tb.createTenant("bench", nil)
	tok := tb.login(nil, tt, "alice")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := do(b, "GET", tb.srv.URL+"/v1/t/bench/me", nil, "Authorization", "Bearer "+tok.AccessToken)
			if r.Status != http.StatusOK {
				b.Fatalf("me: %d %s", r.Status, r.Body)
			}
		}
	})
}
