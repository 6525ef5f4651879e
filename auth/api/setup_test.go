package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/auth/api"
	"github.com/miniauth/miniauth/auth/wechat"
	"github.com/miniauth/miniauth/auth/wechat/fake"
	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/changes"
	"github.com/miniauth/miniauth/tenant/seal"
	"github.com/miniauth/miniauth/web"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

// wechatTimeout is the WeChat client's timeout; a fault delaying longer
// reads as WeChat timing out.
const wechatTimeout = 500 * time.Millisecond

// testBundle is one test's mini-program API: a fresh database, a private
// Redis key space with a live change feed, a fake WeChat, and the gin
// engine wired as cmd/miniauth wires it. Requests go straight to the
// engine; nothing listens for miniauth.
type testBundle struct {
	db     *pgxpool.Pool
	wx     *fake.Server
	engine *gin.Engine
	store  *tenant.Store
	dir    *tenant.Directory
	bans   *auth.Bans
	// stats holds what the API counted; nothing flushes it but a test.
	stats *auth.Stats
	// tenantQueries counts statements reading the tenants table.
	tenantQueries *queryCounter
}

// queryCounter is a pgx tracer counting the statements whose SQL contains
// a fragment, every statement, and the round trips they took (a batch is
// one).
type queryCounter struct {
	fragment     string
	n, all, trip atomic.Int64
}

func (q *queryCounter) count(sql string) {
	q.all.Add(1)
	if strings.Contains(sql, q.fragment) {
		q.n.Add(1)
	}
}

func (q *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	q.trip.Add(1)
	q.count(d.SQL)
	return ctx
}

func (q *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (q *queryCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	q.trip.Add(1)
	return ctx
}

func (q *queryCounter) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	q.count(d.SQL)
}

func (q *queryCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// resetTrips zeroes the round trips and returns how many there were.
func (q *queryCounter) resetTrips() int64 { return q.trip.Swap(0) }

// reset zeroes the count and returns what it was.
func (q *queryCounter) reset() int64 { return q.n.Swap(0) }

// resetAll zeroes the count of every statement and returns what it was.
func (q *queryCounter) resetAll() int64 { return q.all.Swap(0) }

func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(t.Output(), nil))

	counter := &queryCounter{fragment: "FROM tenants"}
	pcfg, err := pgxpool.ParseConfig(dbtest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	pcfg.ConnConfig.Tracer = counter
	db, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	rdb, prefix := dbtest.Redis(t)

	wx := fake.New()
	wxSrv := httptest.NewServer(wx)
	t.Cleanup(wxSrv.Close)

	bus := changes.New(rdb, prefix, log)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); bus.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	// Caches trust their entries and limits count only once the feed is
	// subscribed, as in a serving instance.
	for deadline := time.Now().Add(10 * time.Second); !bus.Healthy(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("change feed did not subscribe")
		}
	}

	sealer, err := seal.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	store := tenant.NewStore(db, sealer, bus)
	dir := tenant.NewDirectory(store, bus)
	tokens := auth.NewTokens("http://miniauth.test")
	// Every test logs in from a handful of addresses: the defaults are
	// high, so only a tenant's own lowered limit is ever hit.
	defaults := map[string]string{}
	for k := range tenant.DefaultRateLimits() {
		defaults[k] = "100000-M"
	}
	limits := auth.NewLimits(auth.LimitsConfig{Redis: rdb, Prefix: prefix, Defaults: defaults, Healthy: bus.Healthy, Log: log})
	sessions := auth.NewSessions(db, bus)
	bans := auth.NewBans(db, bus, sessions, log)
	stats := auth.NewStats(db, log)
	svc := auth.NewService(auth.Deps{
		DB: db, WeChat: wechat.New(wxSrv.URL, &http.Client{Timeout: wechatTimeout}), Sealer: sealer, Tokens: tokens,
		Sessions: sessions, BanViews: auth.NewBanViews(db, bus), Bans: bans, Limits: limits,
		Redis: rdb, RedisPrefix: prefix, Log: log, AutoBan: auth.AutoBan{Duration: 15 * time.Minute}, Stats: stats,
		Profiles: auth.NewProfiles(db, bus),
	})

	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	if err := r.SetTrustedProxies(nil); err != nil {
		t.Fatal(err)
	}
	r.Use(web.Middleware(log, nil))
	r.NoRoute(web.NotFound)
	r.NoMethod(web.MethodNotAllowed)
	api.New(svc, dir, tokens, limits, api.Metrics{}).Routes(r)

	return &testBundle{db: db, wx: wx, engine: r, store: store, dir: dir, bans: bans, stats: stats, tenantQueries: counter}
}

// testTenant is a tenant whose app the fake WeChat knows.
type testTenant struct {
	tenant.Tenant
	secret string
}

// tenant creates an active tenant through the store and registers its app
// with the fake WeChat.
func (b *testBundle) tenant(t *testing.T, slug string) testTenant {
	t.Helper()
	appID, secret := "wx"+randomHex(8), "secret-"+randomHex(8)
	ten, err := b.store.Create(context.Background(), tenant.NewTenant{
		Slug: slug, Name: slug, WeChatAppID: appID, WeChatSecret: secret,
	})
	if err != nil {
		t.Fatalf("create tenant %s: %v", slug, err)
	}
	b.wx.AddApp(appID, secret, "")
	return testTenant{Tenant: ten, secret: secret}
}

func randomHex(n int) string {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return hex.EncodeToString(p)
}

// request is one call to the API.
type request struct {
	method string
	path   string
	body   any    // nil: no body; a string is sent verbatim, anything else as JSON
	bearer string // access token for the Authorization header
	ip     string // client address; "" is httptest's 192.0.2.1
}

type response struct {
	status  int
	header  http.Header
	body    []byte
	problem problem // set when the answer is application/problem+json
}

type problem struct {
	Type        string     `json:"type"`
	Title       string     `json:"title"`
	Status      int        `json:"status"`
	Code        string     `json:"code"`
	Detail      string     `json:"detail"`
	Errors      []field    `json:"errors"`
	BannedUntil *time.Time `json:"banned_until"`
}

type field struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// do serves one request on the bundle's engine.
func (b *testBundle) do(t *testing.T, r request) response {
	t.Helper()
	var body io.Reader
	switch v := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(v)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(r.method, r.path, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	if r.ip != "" {
		req.RemoteAddr = r.ip + ":40000"
	}
	rec := httptest.NewRecorder()
	b.engine.ServeHTTP(rec, req)

	resp := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if strings.HasPrefix(resp.header.Get("Content-Type"), "application/problem+json") {
		if err := json.Unmarshal(resp.body, &resp.problem); err != nil {
			t.Fatalf("%s %s: problem body %q: %v", r.method, r.path, resp.body, err)
		}
	}
	return resp
}

// wantProblem fails unless the response is a problem with this status and code.
func (r response) wantProblem(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status || r.problem.Status != status || r.problem.Code != code {
		t.Fatalf("got %d %q, want a %d %s problem; body %s", r.status, r.header.Get("Content-Type"), status, code, r.body)
	}
}

// decode reads a JSON success body into v.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d, body %q: %v", r.status, r.body, err)
	}
}

func path(slug, rest string) string { return "/v1/t/" + slug + rest }

type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int    `json:"refresh_expires_in"`
	User             struct {
		ID      string  `json:"id"`
		OpenID  string  `json:"openid"`
		UnionID *string `json:"unionid"`
		IsNew   bool    `json:"is_new"`
	} `json:"user"`
}

// login signs user in to a tenant with a fresh code and returns the tokens.
func (b *testBundle) login(t *testing.T, tt testTenant, user string) tokenResponse {
	t.Helper()
	r := b.do(t, request{method: http.MethodPost, path: path(tt.Slug, "/login"),
		body: map[string]string{"code": b.wx.MintCode(tt.WeChatAppID, user)}})
	if r.status != http.StatusOK {
		t.Fatalf("login %s to %s: %d %s", user, tt.Slug, r.status, r.body)
	}
	var tok tokenResponse
	r.decode(t, &tok)
	return tok
}
