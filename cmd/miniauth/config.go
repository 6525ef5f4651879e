package main

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/seal"
)

// Config is the server's validated configuration, read once at start.
type Config struct {
	DatabaseURL  string
	RedisURL     string
	RedisPrefix  string
	MasterKey    []byte
	PreviousKeys [][]byte
	Addr         string
	// OpsAddr is the operations listener (/metrics, pprof).
	OpsAddr       string
	PublicURL     string
	WeChatBaseURL string
	WeChatTimeout time.Duration
	// BreakerFailures in a row open a tenant's WeChat circuit for
	// BreakerOpenFor.
	BreakerFailures int
	BreakerOpenFor  time.Duration
	// MaxInFlight bounds the requests an instance works on at once;
	// AdmissionWait is how long one past it waits before 503 overloaded.
	MaxInFlight   int
	AdmissionWait time.Duration
	// StatementTimeout bounds each SQL statement of the serving pool, so a
	// stuck query or lock frees its connection (0: no bound).
	StatementTimeout time.Duration
	// ReadHeaderTimeout and ReadTimeout cut off a client that sends a
	// request's headers, or the whole request, too slowly; 0 is the
	// production bound (defaultReadHeaderTimeout, defaultReadTimeout).
	// Not read from the environment: tests shorten them.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	// MetricsTenants is how many tenants get series of their own in
	// /metrics; the rest are counted together as tenant="_other".
	MetricsTenants int
	// QRLoginTTL is how long a scan-to-sign-in ticket lives.
	QRLoginTTL     time.Duration
	TrustedProxies []string
	Env            string
	LogLevel       string
	// RateLimits are the default tenant rate limits (and auto-ban
	// thresholds); ManagementRateLimit limits each API key.
	RateLimits          map[string]string
	ManagementRateLimit string
	AutoBanDuration     time.Duration
}

// devMasterKey seals secrets only in MINIAUTH_ENV=development when no key
// is configured; it is public, so nothing sealed with it is secret.
var devMasterKey = make([]byte, 32)

// loadConfig reads the environment (after an optional .env file). Any
// problem is returned as one line naming the variable.
func loadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		DatabaseURL:   getenv("DATABASE_URL"),
		RedisURL:      getenv("REDIS_URL"),
		RedisPrefix:   orDefault(getenv("MINIAUTH_REDIS_PREFIX"), "miniauth:"),
		Addr:          orDefault(getenv("MINIAUTH_ADDR"), ":8080"),
		OpsAddr:       orDefault(getenv("MINIAUTH_OPS_ADDR"), "127.0.0.1:9090"),
		PublicURL:     strings.TrimRight(orDefault(getenv("MINIAUTH_PUBLIC_URL"), "http://localhost:8080"), "/"),
		WeChatBaseURL: strings.TrimRight(orDefault(getenv("MINIAUTH_WECHAT_BASE_URL"), "https://api.weixin.qq.com"), "/"),
		Env:           orDefault(getenv("MINIAUTH_ENV"), "production"),
		LogLevel:      orDefault(getenv("MINIAUTH_LOG_LEVEL"), "info"),
	}
	if c.DatabaseURL == "" {
		return c, errors.New("DATABASE_URL is required (a postgres:// URL)")
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return c, errors.New("DATABASE_URL must be a postgres:// URL")
	}
	if c.RedisURL == "" {
		return c, errors.New("REDIS_URL is required (a redis:// or rediss:// URL)")
	}
	if _, err := redisOptions(c.RedisURL); err != nil {
		return c, fmt.Errorf("REDIS_URL: %v", err)
	}
	if c.Env != "production" && c.Env != "development" {
		return c, errors.New("MINIAUTH_ENV must be production or development")
	}
	if k := getenv("MINIAUTH_MASTER_KEY"); k != "" {
		key, err := seal.ParseMasterKey(k)
		if err != nil {
			return c, fmt.Errorf("MINIAUTH_MASTER_KEY %v", err)
		}
		c.MasterKey = key
	} else if c.Env == "development" {
		c.MasterKey = devMasterKey
	} else {
		return c, errors.New("MINIAUTH_MASTER_KEY is required: standard base64 of 32 random bytes (head -c32 /dev/urandom | base64)")
	}
	for i, k := range splitList(getenv("MINIAUTH_PREVIOUS_MASTER_KEYS")) {
		key, err := seal.ParseMasterKey(k)
		if err != nil {
			return c, fmt.Errorf("MINIAUTH_PREVIOUS_MASTER_KEYS entry %d %v", i+1, err)
		}
		c.PreviousKeys = append(c.PreviousKeys, key)
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, errors.New("MINIAUTH_PUBLIC_URL must be an absolute http(s) URL")
	}
	if u, err := url.Parse(c.WeChatBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, errors.New("MINIAUTH_WECHAT_BASE_URL must be an absolute http(s) URL")
	}
	var err error
	if c.WeChatTimeout, err = durationEnv(getenv, "MINIAUTH_WECHAT_TIMEOUT", 5*time.Second, time.Nanosecond, time.Minute, "a duration up to 1m, e.g. 5s"); err != nil {
		return c, err
	}
	if c.BreakerFailures, err = intEnv(getenv, "MINIAUTH_WECHAT_BREAKER_FAILURES", 5, 1, 1000); err != nil {
		return c, err
	}
	if c.MetricsTenants, err = intEnv(getenv, "MINIAUTH_METRICS_TENANTS", 100, 0, 10000); err != nil {
		return c, err
	}
	if c.MaxInFlight, err = intEnv(getenv, "MINIAUTH_MAX_IN_FLIGHT", 256*runtime.GOMAXPROCS(0), 0, 1000000); err != nil {
		return c, err
	}
	if c.AdmissionWait, err = durationEnv(getenv, "MINIAUTH_ADMISSION_WAIT", 100*time.Millisecond, 0, 10*time.Second, "a duration up to 10s, e.g. 100ms"); err != nil {
		return c, err
	}
	if c.BreakerOpenFor, err = durationEnv(getenv, "MINIAUTH_WECHAT_BREAKER_OPEN", 3*time.Second, 100*time.Millisecond, 10*time.Minute, "a duration from 100ms to 10m, e.g. 3s"); err != nil {
		return c, err
	}
	if c.StatementTimeout, err = durationEnv(getenv, "MINIAUTH_DB_STATEMENT_TIMEOUT", 5*time.Second, 0, 10*time.Minute, "a duration up to 10m, e.g. 5s"); err != nil {
		return c, err
	}
	if c.QRLoginTTL, err = durationEnv(getenv, "MINIAUTH_QR_LOGIN_TTL", 3*time.Minute, 10*time.Second, 30*time.Minute, "a duration from 10s to 30m, e.g. 3m"); err != nil {
		return c, err
	}
	for _, p := range splitList(getenv("MINIAUTH_TRUSTED_PROXIES")) {
		if _, err := netip.ParsePrefix(p); err != nil {
			if _, err := netip.ParseAddr(p); err != nil {
				return c, fmt.Errorf("MINIAUTH_TRUSTED_PROXIES: %q is not an address or CIDR", p)
			}
		}
		c.TrustedProxies = append(c.TrustedProxies, p)
	}
	c.RateLimits = tenant.DefaultRateLimits()
	for _, kv := range splitList(getenv("MINIAUTH_RATE_LIMITS")) {
		k, v, _ := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if _, known := c.RateLimits[k]; !known {
			return c, fmt.Errorf("MINIAUTH_RATE_LIMITS: unknown limit %q (known: %s)", k, strings.Join(tenant.RateLimitKeys, ", "))
		}
		if _, _, err := tenant.ParseRate(v); err != nil {
			return c, fmt.Errorf("MINIAUTH_RATE_LIMITS: %s %v", k, err)
		}
		c.RateLimits[k] = v
	}
	c.ManagementRateLimit = orDefault(getenv("MINIAUTH_MANAGEMENT_RATE_LIMIT"), "600-M")
	if _, _, err := tenant.ParseRate(c.ManagementRateLimit); err != nil {
		return c, fmt.Errorf("MINIAUTH_MANAGEMENT_RATE_LIMIT %v", err)
	}
	if c.AutoBanDuration, err = durationEnv(getenv, "MINIAUTH_AUTOBAN_DURATION", 15*time.Minute, time.Minute, 30*24*time.Hour, "a duration from 1m to 720h, e.g. 15m"); err != nil {
		return c, err
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return c, errors.New("MINIAUTH_LOG_LEVEL must be debug, info, warn or error")
	}
	return c, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// loadDotEnv sets variables from a .env file that are not already set.
func loadDotEnv(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			return fmt.Errorf("%s:%d: expected KEY=VALUE", path, n)
		}
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"'`)
		if _, set := os.LookupEnv(k); !set {
			os.Setenv(k, v)
		}
	}
	return sc.Err()
}

// durationEnv reads a duration variable: def when unset, else a value in
// [lo, hi]; must says what a valid value is.
// intEnv reads a whole number from lo to hi, def when unset.
func intEnv(getenv func(string) string, name string, def, lo, hi int) (int, error) {
	s := getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s must be a number from %d to %d", name, lo, hi)
	}
	return n, nil
}

func durationEnv(getenv func(string) string, name string, def, lo, hi time.Duration, must string) (time.Duration, error) {
	s := getenv(name)
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < lo || d > hi {
		return 0, errors.New(name + " must be " + must)
	}
	return d, nil
}
