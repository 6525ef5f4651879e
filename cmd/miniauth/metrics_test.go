package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/miniauth/miniauth/web/metrics"
)

// families scrapes an instance's /metrics and parses it as Prometheus does.
type families map[string]*dto.MetricFamily

func scrape(t testing.TB, srv *testServer) families {
	t.Helper()
	r := wantStatus(t, "scrape", do(t, "GET", srv.OpsURL+"/metrics", nil), http.StatusOK, "")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// series returns the samples of a family whose labels include want
// (label=value pairs); their value is a counter's or gauge's value, or a
// histogram's count.
func (f families) series(name string, want ...string) []float64 {
	fam := f[name]
	if fam == nil {
		return nil
	}
	var out []float64
	for _, m := range fam.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		ok := true
		for _, kv := range want {
			k, v, _ := strings.Cut(kv, "=")
			if labels[k] != v {
				ok = false
			}
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			out = append(out, m.Counter.GetValue())
		case m.Gauge != nil:
			out = append(out, m.Gauge.GetValue())
		case m.Histogram != nil:
			out = append(out, float64(m.Histogram.GetSampleCount()))
		case m.Untyped != nil:
			out = append(out, m.Untyped.GetValue())
		}
	}
	return out
}

// value is the one sample of name with the labels, failing when there is
// none or several.
func (f families) value(t testing.TB, name string, want ...string) float64 {
	t.Helper()
	s := f.series(name, want...)
	if len(s) != 1 {
		t.Fatalf("%s%v: %d series, want 1", name, want, len(s))
	}
	return s[0]
}

func (f families) want(t testing.TB, v float64, name string, labels ...string) {
	t.Helper()
	if got := f.value(t, name, labels...); got != v {
		t.Errorf("%s%v = %v, want %v", name, labels, got, v)
	}
}

// Real flows move the series operators watch: logins and refreshes by
// result, token verifications by cache, WeChat calls by endpoint and
// errcode, request latency by route, and the pools'.
func TestMetricsCountFlows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("met-flows", nil)
	tok := b.login(nil, tt, "o-met-1")
	base := b.srv.URL + "/v1/t/" + tt.Slug
	wantStatus(t, "bad code", do(t, "POST", base+"/login", map[string]string{"code": "not-a-code"}), http.StatusUnauthorized, "invalid_code")
	for range 2 {
		wantStatus(t, "me", do(t, "GET", base+"/me", nil, "Authorization", "Bearer "+tok.AccessToken), http.StatusOK, "")
	}
	wantStatus(t, "refresh", do(t, "POST", base+"/refresh", map[string]string{"refresh_token": tok.RefreshToken}), http.StatusOK, "")
	wantStatus(t, "reuse", do(t, "POST", base+"/refresh", map[string]string{"refresh_token": tok.RefreshToken}), http.StatusUnauthorized, "refresh_token_reused")

	f := scrape(t, b.srv)
	ten := "tenant=" + tt.Slug
	f.want(t, 1, "miniauth_logins_total", ten, "result=ok")
	f.want(t, 1, "miniauth_logins_total", ten, "result=invalid_code")
	f.want(t, 1, "miniauth_refreshes_total", ten, "result=ok")
	f.want(t, 1, "miniauth_refreshes_total", ten, "result=refresh_token_reused")
	// Made after the instance started, the tenant got the rest of its
	// series at zero with its first request.
	f.want(t, 0, "miniauth_logins_total", ten, "result=wechat_unavailable")
	f.want(t, 0, "miniauth_bans_enforced_total", ten)
	f.want(t, 0, "miniauth_wechat_breaker_state", ten)
	f.want(t, 1, "miniauth_token_verifications_total", "cache=miss", "result=valid")
	f.want(t, 1, "miniauth_token_verifications_total", "cache=hit", "result=valid")
	// The good code and the bad one: WeChat answers 40029 for the latter.
	f.want(t, 1, "miniauth_wechat_responses_total", "endpoint=jscode2session", "errcode=0")
	f.want(t, 1, "miniauth_wechat_responses_total", "endpoint=jscode2session", "errcode=40029")
	f.want(t, 2, "miniauth_wechat_request_duration_seconds", "endpoint=jscode2session")
	f.want(t, 2, "miniauth_http_request_duration_seconds", "method=GET", "route=/v1/t/:tenant/me", "status=200")
	f.want(t, 1, "miniauth_http_request_duration_seconds", "method=POST", "route=/v1/t/:tenant/refresh", "status=401")
	if n := f.value(t, "miniauth_db_pool_acquires_total"); n < 1 {
		t.Errorf("miniauth_db_pool_acquires_total = %v, want some", n)
	}
	if n := f.value(t, "miniauth_redis_pool_total_conns"); n < 1 {
		t.Errorf("miniauth_redis_pool_total_conns = %v, want some", n)
	}
	for _, name := range []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "process_resident_memory_bytes", "process_cpu_seconds_total"} {
		if f[name] == nil {
			t.Errorf("no %s", name)
		}
	}
}

// An instance's first scrape already has the series of every known label
// set at zero: the routes, limits and WeChat endpoints, and the results of
// the tenants that exist when it starts.
func TestMetricsFirstScrape(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("met-zero", nil)
	f := scrape(t, b.startInstance())
	ten := "tenant=" + tt.Slug
	for _, r := range loginResults {
		f.want(t, 0, "miniauth_logins_total", ten, "result="+r)
	}
	for _, r := range refreshResults {
		f.want(t, 0, "miniauth_refreshes_total", ten, "result="+r)
	}
	f.want(t, 0, "miniauth_bans_enforced_total", ten)
	f.want(t, 0, "miniauth_wechat_quota_exceeded_total", ten)
	f.want(t, 0, "miniauth_wechat_breaker_state", ten)
	f.want(t, 0, "miniauth_autoban_total", ten, "reason=autoban_invalid_code")
	f.want(t, 0, "miniauth_http_request_duration_seconds", "method=POST", "route=/v1/t/:tenant/login", "status=200")
	f.want(t, 0, "miniauth_http_request_duration_seconds", "method=GET", "route=/api/v1/tenants", "status=200")
	f.want(t, 0, "miniauth_wechat_responses_total", "endpoint=getuserphonenumber", "errcode=0")
	f.want(t, 0, "miniauth_wechat_request_duration_seconds", "endpoint=stable_token")
	f.want(t, 0, "miniauth_ratelimit_fail_open_total", "limit=login_per_ip")
	f.want(t, 0, "miniauth_ratelimit_limited_total", "limit=management_per_key")
	for _, c := range []string{"cache=hit", "cache=miss"} {
		f.want(t, 0, "miniauth_token_verifications_total", c, "result=valid")
	}
}

// Tenant labels are bounded: past MINIAUTH_METRICS_TENANTS distinct
// tenants, an instance counts the rest together as tenant="_other".
func TestMetricsTenantBound(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.MetricsTenants = 2 })
	var slugs []string
	for _, s := range []string{"met-bound-a", "met-bound-b", "met-bound-c", "met-bound-d"} {
		tt := b.createTenant(s, nil)
		b.login(nil, tt, "o-bound")
		slugs = append(slugs, tt.Slug)
	}
	f := scrape(t, b.srv)
	seen := map[string]bool{}
	for _, m := range f["miniauth_logins_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "tenant" {
				seen[l.GetValue()] = true
			}
		}
	}
	if len(seen) != 3 || !seen[metrics.Other] {
		t.Fatalf("tenant label values %v: want 2 tenants and %q", seen, metrics.Other)
	}
	f.want(t, 2, "miniauth_logins_total", "tenant="+metrics.Other, "result=ok")
	f.want(t, 1, "miniauth_logins_total", "tenant="+slugs[0], "result=ok")
}
