package auth_test

import (
	"testing"

	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
)

func benchmarkIssue(b *testing.B, alg string) {
	rt := newRuntime("acme", genKey(b, alg))
	tokens := auth.NewTokens(publicURL)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tokens.Issue(rt, userID, sessionID); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkVerify(b *testing.B, alg string) {
	rt := newRuntime("acme", genKey(b, alg))
	tokens := auth.NewTokens(publicURL)
	raw := issue(b, tokens, rt, userID, sessionID)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tokens.Verify(rt, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// benchmarkVerifyFirst measures a token's first verification: the
// signature check, which later presentations of the same token skip.
func benchmarkVerifyFirst(b *testing.B, alg string) {
	rt := newRuntime("acme", genKey(b, alg))
	issuer := auth.NewTokens(publicURL)
	raw := issue(b, issuer, rt, userID, sessionID)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := auth.NewTokens(publicURL).Verify(rt, raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssueES256(b *testing.B)       { benchmarkIssue(b, tenant.AlgES256) }
func BenchmarkVerifyES256(b *testing.B)      { benchmarkVerify(b, tenant.AlgES256) }
func BenchmarkVerifyFirstES256(b *testing.B) { benchmarkVerifyFirst(b, tenant.AlgES256) }
func BenchmarkIssueEdDSA(b *testing.B)       { benchmarkIssue(b, tenant.AlgEdDSA) }
func BenchmarkVerifyEdDSA(b *testing.B)      { benchmarkVerify(b, tenant.AlgEdDSA) }
func BenchmarkVerifyFirstEdDSA(b *testing.B) { benchmarkVerifyFirst(b, tenant.AlgEdDSA) }
