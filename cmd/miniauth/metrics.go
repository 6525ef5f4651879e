package main

import (
	"errors"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth/wechat"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/web/metrics"
)

// instruments are every series an instance exports at /metrics on the
// operations listener (README "Metrics"). Tenant labels are bounded by
// MINIAUTH_METRICS_TENANTS, WeChat errcodes by maxErrcodes.
type instruments struct {
	reg *metrics.Registry

	requests           *metrics.Histogram
	logins, refreshes  *metrics.Counter
	bansEnforced       *metrics.Counter
	verifications      *metrics.Counter
	wechatLatency      *metrics.Histogram
	wechatResponses    *metrics.Counter
	failOpen, limited  *metrics.Counter
	quota, autoBans    *metrics.Counter
	breakerState       *metrics.Gauge
	breakerTransitions *metrics.Counter
	shed               *metrics.Counter
	inFlight           *metrics.Gauge
}

// maxErrcodes bounds the errcode label: WeChat documents a few dozen.
const maxErrcodes = 64

func newInstruments(tenants int) *instruments {
	reg := metrics.NewRegistry(map[string]int{"tenant": tenants, "errcode": maxErrcodes})
	return &instruments{
		reg: reg,
		requests: reg.Histogram("miniauth_http_request_duration_seconds",
			"Time to answer an HTTP request on the public port, by method, route pattern and status.", "method", "route", "status"),
		logins: reg.Counter("miniauth_logins_total",
			"Logins by tenant and result: ok, or the problem code of a refused one.", "tenant", "result"),
		refreshes: reg.Counter("miniauth_refreshes_total",
			"Refresh token rotations by tenant and result: ok, or the problem code (refresh_token_reused is a detected reuse).", "tenant", "result"),
		bansEnforced: reg.Counter("miniauth_bans_enforced_total",
			"Requests refused because the user or address is banned.", "tenant"),
		verifications: reg.Counter("miniauth_token_verifications_total",
			"Access token verifications, by cache (hit: the signature was checked before) and result.", "cache", "result"),
		wechatLatency: reg.Histogram("miniauth_wechat_request_duration_seconds",
			"Time WeChat took to answer, by endpoint.", "endpoint"),
		wechatResponses: reg.Counter("miniauth_wechat_responses_total",
			"WeChat answers by endpoint and errcode (0 for success, unavailable when there was no usable answer).", "endpoint", "errcode"),
		failOpen: reg.Counter("miniauth_ratelimit_fail_open_total",
			"Requests allowed because Redis could not count them.", "limit"),
		limited: reg.Counter("miniauth_ratelimit_limited_total",
			"Requests refused by a rate limit.", "limit"),
		quota: reg.Counter("miniauth_wechat_quota_exceeded_total",
			"WeChat calls refused for the app's daily quota (45009).", "tenant"),
		autoBans: reg.Counter("miniauth_autoban_total", "Automatic IP bans.", "tenant", "reason"),
		breakerState: reg.Gauge("miniauth_wechat_breaker_state",
			"State of the tenant's WeChat circuit breaker on this instance: 0 closed, 1 half-open, 2 open.", "tenant"),
		breakerTransitions: reg.Counter("miniauth_wechat_breaker_transitions_total",
			"Changes of a tenant's WeChat circuit breaker state.", "tenant", "state"),
		shed: reg.Counter("miniauth_http_shed_total",
			"Requests refused with 503 overloaded because MINIAUTH_MAX_IN_FLIGHT were in flight.", "route"),
		inFlight: reg.Gauge("miniauth_http_in_flight", "Requests being worked on (those admission control counts)."),
	}
}

// observeWeChat is the WeChat client's observer.
func (m *instruments) observeWeChat(endpoint string, took time.Duration, err error) {
	m.wechatLatency.Observe(took.Seconds(), endpoint)
	m.wechatResponses.Inc(endpoint, errcode(err))
}

func errcode(err error) string {
	var apiErr *wechat.APIError
	switch {
	case err == nil:
		return "0"
	case errors.As(err, &apiErr):
		return strconv.Itoa(apiErr.Code)
	}
	return "unavailable"
}

// The results zeroed for every tenant, so each panel and alert has its
// series from the first scrape.
var (
	loginResults   = []string{"ok", "invalid_code", "wechat_unavailable", "wechat_risk_blocked", "rate_limited", "user_banned"}
	refreshResults = []string{"ok", "invalid_refresh_token", "refresh_token_reused", "rate_limited", "user_banned"}
	limitNames     = append(append([]string(nil), tenant.RateLimitKeys...),
		admin.LimitSignInAccount, admin.LimitSignInIP, "management_per_key")
)

// zero makes the known label sets visible at zero: every route, limit,
// WeChat endpoint and the results of the tenants that exist now; a tenant
// made later gets its series with its first request (zeroTenant).
func (m *instruments) zero(routes gin.RoutesInfo, tenants []string) {
	for _, r := range routes {
		m.requests.Zero(r.Method, r.Path, "200")
		m.shed.Zero(r.Path)
	}
	m.inFlight.Zero()
	for _, cached := range []string{"hit", "miss"} {
		m.verifications.Zero(cached, "valid")
		m.verifications.Zero(cached, "invalid")
	}
	for _, e := range wechat.Endpoints {
		m.wechatLatency.Zero(e)
		m.wechatResponses.Zero(e, "0")
	}
	for _, l := range limitNames {
		m.failOpen.Zero(l)
		m.limited.Zero(l)
	}
	for _, slug := range tenants {
		m.zeroTenant(slug)
	}
}

// zeroTenant makes a tenant's series visible at zero.
func (m *instruments) zeroTenant(slug string) {
	for _, r := range loginResults {
		m.logins.Zero(slug, r)
	}
	for _, r := range refreshResults {
		m.refreshes.Zero(slug, r)
	}
	m.bansEnforced.Zero(slug)
	m.quota.Zero(slug)
	m.breakerState.Zero(slug)
	for _, l := range []string{tenant.LimitAutoBanBadCode, tenant.LimitAutoBanReuse} {
		m.autoBans.Zero(slug, l)
	}
}
