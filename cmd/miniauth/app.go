package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/miniauth/miniauth/admin"
	mgmtapi "github.com/miniauth/miniauth/admin/api"
	"github.com/miniauth/miniauth/admin/console"
	"github.com/miniauth/miniauth/auth"
	miniapi "github.com/miniauth/miniauth/auth/api"
	"github.com/miniauth/miniauth/auth/wechat"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/changes"
	"github.com/miniauth/miniauth/tenant/seal"
	"github.com/miniauth/miniauth/web"
	"github.com/miniauth/miniauth/web/metrics"
)

// app is one running miniauth instance: its connections, background work
// and HTTP handler. Several can run in one process (the tests do), sharing
// nothing but Postgres and Redis, exactly like replicas.
type app struct {
	cfg     Config
	log     *slog.Logger
	db      *pgxpool.Pool
	rdb     redis.UniversalClient
	bus     *changes.Bus
	handler http.Handler
	// ops serves /metrics and pprof on the operations listener, never on
	// the public one.
	ops http.Handler

	stop context.CancelFunc
	wg   sync.WaitGroup
}

func redisOptions(raw string) (*redis.UniversalOptions, error) {
	if strings.Contains(raw, "://") && !strings.Contains(raw, ",") {
		opt, err := redis.ParseURL(raw)
		if err != nil {
			return nil, err
		}
		return &redis.UniversalOptions{
			Addrs: []string{opt.Addr}, DB: opt.DB, Username: opt.Username, Password: opt.Password,
			TLSConfig: opt.TLSConfig, Protocol: opt.Protocol, ContextTimeoutEnabled: true,
		}, nil
	}
	// host:port,host:port — a Redis Cluster's seed nodes.
	addrs := splitList(raw)
	for _, a := range addrs {
		if !strings.Contains(a, ":") {
			return nil, fmt.Errorf("%q is not host:port", a)
		}
	}
	return &redis.UniversalOptions{Addrs: addrs, IsClusterMode: len(addrs) > 1, ContextTimeoutEnabled: true}, nil
}

// openDB opens the pool of cfg.DatabaseURL. A statement timeout, when not
// 0 and not already set in the URL, applies to every statement of the pool:
// serving requests set one, the CLI's long jobs (migrations, resealing) not.
func openDB(ctx context.Context, cfg Config, statementTimeout time.Duration) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	pcfg.ConnConfig.RuntimeParams["application_name"] = "miniauth"
	if _, set := pcfg.ConnConfig.RuntimeParams["statement_timeout"]; !set && statementTimeout > 0 {
		pcfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(statementTimeout.Milliseconds(), 10)
	}
	// pgxpool's default (the larger of 4 and the CPU count) is too few for
	// requests that wait on WeChat between queries; pool_max_conns in the
	// URL still wins.
	if !strings.Contains(cfg.DatabaseURL, "pool_max_conns") {
		pcfg.MaxConns = int32(max(20, 4*runtime.NumCPU()))
	}
	return pgxpool.NewWithConfig(ctx, pcfg)
}

// newApp connects and wires everything; it does not listen.
func newApp(ctx context.Context, cfg Config, log *slog.Logger) (*app, error) {
	sealer, err := seal.New(cfg.MasterKey, cfg.PreviousKeys...)
	if err != nil {
		return nil, err
	}
	ropt, err := redisOptions(cfg.RedisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	db, err := openDB(ctx, cfg, cfg.StatementTimeout)
	if err != nil {
		return nil, err
	}
	rdb := redis.NewUniversalClient(ropt)
	abandon := func(err error) (*app, error) {
		_ = rdb.Close()
		db.Close()
		return nil, err
	}

	a := &app{cfg: cfg, log: log, db: db, rdb: rdb}
	a.bus = changes.New(rdb, cfg.RedisPrefix, log)
	store := tenant.NewStore(db, sealer, a.bus)
	dir := tenant.NewDirectory(store, a.bus)
	tokens := auth.NewTokens(cfg.PublicURL)
	m := newInstruments(cfg.MetricsTenants)
	m.reg.MustRegister(metrics.PGXPool(db), metrics.RedisPool(rdb))
	wx := wechat.New(cfg.WeChatBaseURL, &http.Client{Timeout: cfg.WeChatTimeout})
	wx.Observe(m.observeWeChat)
	tokens.CountVerifications(m.verifications)
	limits := auth.NewLimits(auth.LimitsConfig{
		Redis: rdb, Prefix: cfg.RedisPrefix, Defaults: cfg.RateLimits, Healthy: a.bus.Healthy, Log: log,
		FailOpen: m.failOpen, Limited: m.limited,
	})
	audit := admin.NewAudit(db)
	sessions := auth.NewSessions(db, a.bus)
	bans := auth.NewBans(db, a.bus, sessions, log)
	stats := auth.NewStats(db, log)
	breakers := auth.NewBreakers(auth.BreakerConfig{
		Failures: uint32(cfg.BreakerFailures), OpenFor: cfg.BreakerOpenFor, Log: log,
		State: m.breakerState, Transitions: m.breakerTransitions,
	})
	svc := auth.NewService(auth.Deps{
		DB: db, WeChat: wx, Sealer: sealer, Tokens: tokens, Sessions: sessions, BanViews: auth.NewBanViews(db, a.bus),
		Bans: bans, Limits: limits, Redis: rdb, RedisPrefix: cfg.RedisPrefix, Log: log, Stats: stats, Profiles: auth.NewProfiles(db, a.bus),
		Breakers:      breakers,
		QRLoginTTL:    cfg.QRLoginTTL,
		QuotaExceeded: m.quota,
		AutoBan: auth.AutoBan{
			Duration: cfg.AutoBanDuration,
			Count:    m.autoBans,
			OnBan: func(ctx context.Context, slug string, tenantID int64, b auth.Ban) {
				err := audit.Record(ctx, admin.Actor{Type: "system", Name: "auto-ban"}, admin.BanEvent("ban.create", slug, b))
				if err != nil {
					log.ErrorContext(ctx, "audit entry not written", "action", "ban.create", "err", err)
				}
			},
		},
	})

	authz, err := admin.NewAuthorizer(db, a.bus, log)
	if err != nil {
		return abandon(err)
	}

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// A path with a trailing slash is another path, answered 404 like any
	// unknown one, not redirected: an API client gets a problem, never a
	// redirect it may follow with its credentials.
	r.RedirectTrailingSlash = false
	r.ContextWithFallback = true
	if err := r.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return abandon(fmt.Errorf("MINIAUTH_TRUSTED_PROXIES: %w", err))
	}
	r.Use(web.Middleware(log, m.requests), web.Admission{
		Max: cfg.MaxInFlight, Wait: cfg.AdmissionWait, Shed: m.shed, InFlight: m.inFlight,
		// Probes must answer, and a scan-to-sign-in poll mostly sleeps.
		Exempt: []string{"/healthz", "/readyz", "/v1/t/:tenant/qr-login/:ticket"},
	}.Handler())
	r.NoMethod(web.MethodNotAllowed)
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", a.ready)
	miniapi.New(svc, dir, tokens, limits, miniapi.Metrics{
		Logins: m.logins, Refreshes: m.refreshes, BansEnforced: m.bansEnforced, FirstSeen: m.zeroTenant,
	}).Routes(r)
	users, apiKeys, accounts := auth.NewUsers(db, sessions), admin.NewAPIKeys(db), admin.NewAccounts(db, a.bus)
	mgmtapi.New(mgmtapi.Deps{
		Tenants: store, Users: users, Bans: bans, APIKeys: apiKeys, Accounts: accounts,
		Audit: audit, Authz: authz, Limits: limits, RateDefaults: cfg.RateLimits, KeyRate: cfg.ManagementRateLimit, Log: log,
		Breakers: breakers, Directory: dir, SessionKeys: svc,
	}).Routes(r)
	consoleSessions := admin.NewConsoleSessions(db, a.bus)
	ui := console.New(console.Deps{
		Tenants: store, Users: users, Bans: bans, APIKeys: apiKeys, Accounts: accounts, Audit: audit, Authz: authz,
		Sessions: consoleSessions, SignIn: admin.NewSignInGuard(limits, rdb, cfg.RedisPrefix), Stats: stats,
		Credentials: auth.NewCredentials(wx, dir), Breakers: breakers, RateDefaults: cfg.RateLimits, PublicURL: cfg.PublicURL, Log: log,
	})
	web.ServeAssets(r)
	web.ServeSDK(r)
	ui.Routes(r)
	r.NoRoute(func(c *gin.Context) {
		if strings.HasPrefix(c.Request.URL.Path, "/admin/") {
			ui.NotFound(c)
			return
		}
		web.NotFound(c)
	})
	a.handler = r
	// The first tenants get their series at zero; failing to list them
	// only leaves those series to appear with their first event.
	var slugs []string
	if cfg.MetricsTenants > 0 {
		ts, err := store.List(ctx, cfg.MetricsTenants, "")
		if err != nil {
			log.WarnContext(ctx, "tenants not listed for metrics", "err", err)
		}
		for _, t := range ts {
			slugs = append(slugs, t.Slug)
		}
	}
	m.zero(r.Routes(), slugs)
	a.ops = opsHandler(m.reg)

	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stop = stop
	a.wg.Add(5)
	go func() { defer a.wg.Done(); a.bus.Run(bg) }()
	// Dead sessions, refresh tokens and lapsed bans go every ten minutes.
	// Keys past retire_at are retired every minute: the notice that
	// publishes drops them from every instance's cached JWKS at once.
	go func() {
		defer a.wg.Done()
		a.keep(bg, housekeeping{"pruned dead sessions, refresh tokens and bans", 10 * time.Minute, sessions.Prune})
	}()
	go func() {
		defer a.wg.Done()
		a.keep(bg, housekeeping{"retired signing keys", time.Minute, store.RetireKeys})
	}()
	go func() {
		defer a.wg.Done()
		a.keep(bg, housekeeping{"pruned ended console sessions", 10 * time.Minute, consoleSessions.Prune})
	}()
	go func() { defer a.wg.Done(); authz.Run(bg) }()
	// Login counts reach Postgres every 5 s; Close ends bg, and Run's last
	// flush keeps the final counts.
	a.wg.Go(func() { stats.Run(bg, 5*time.Second) })
	a.wg.Go(func() {
		a.keep(bg, housekeeping{"recounted users and pruned old login stats", time.Hour, stats.Maintain})
	})
	return a, nil
}

// ready answers 200 only while Postgres and Redis both answer.
func (a *app) ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := gin.H{"postgres": "ok", "redis": "ok"}
	status := http.StatusOK
	if err := a.db.Ping(ctx); err != nil {
		checks["postgres"], status = "unavailable", http.StatusServiceUnavailable
	}
	if err := a.rdb.Ping(ctx).Err(); err != nil {
		checks["redis"], status = "unavailable", http.StatusServiceUnavailable
	}
	c.JSON(status, checks)
}

// waitFeed blocks until the change feed is subscribed, so an instance
// starts serving with its cross-instance caches already trustworthy.
func (a *app) waitFeed(ctx context.Context) {
	for !a.bus.Healthy() && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
}

// housekeeping is periodic work every instance runs; each job is
// idempotent, so replicas need no leader.
type housekeeping struct {
	what  string        // the log message of a run that did something
	every time.Duration // how often
	run   func(context.Context) (int64, error)
}

// keep runs a housekeeping job until ctx ends, logging what it did.
func (a *app) keep(ctx context.Context, job housekeeping) {
	t := time.NewTicker(job.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			n, err := job.run(ctx)
			if err != nil && ctx.Err() == nil {
				a.log.Warn("housekeeping failed", "job", job.what, "err", err)
			} else if n > 0 {
				a.log.Info(job.what, "rows", n)
			}
		}
	}
}

func (a *app) Close() {
	a.stop()
	a.wg.Wait()
	_ = a.rdb.Close()
	a.db.Close()
}

// opsHandler is the operations listener's: Prometheus metrics and the
// runtime profiles of net/http/pprof. It is served on MINIAUTH_OPS_ADDR
// (loopback by default), so neither is reachable from the public port.
// Its errors are problems, as on the public port.
func opsHandler(reg *metrics.Registry) http.Handler {
	m := http.NewServeMux()
	m.Handle("GET /metrics", reg.Handler())
	m.HandleFunc("GET /debug/pprof/", pprof.Index)
	m.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	// go tool pprof posts the addresses it looks up.
	m.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return web.ProblemErrors(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux would redirect these to the cleaned path; as on the
		// public port, they are unknown paths.
		if p := r.URL.Path; strings.Contains(p, "//") || strings.Contains(p+"/", "/./") || strings.Contains(p+"/", "/../") {
			web.WriteProblem(w, web.NewProblem(http.StatusNotFound, "not_found", "No such endpoint."))
			return
		}
		m.ServeHTTP(w, r)
	}))
}
