package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth/wechat/fake"
	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/cache"
	"github.com/miniauth/miniauth/tenant/changes"
)

// testBundle is one test's world: a fresh database, a private Redis key
// space, a fake WeChat and one or more real miniauth instances on :0 that
// share them, exactly like replicas behind a load balancer.
type testBundle struct {
	t      testing.TB
	cfg    Config
	db     *pgxpool.Pool
	wx     *fake.Server
	apiKey string // platform_admin
	srv    *testServer
	logs   *syncBuffer // every instance's log lines, at debug level

	mu      sync.Mutex
	secrets []string // what the bundle's tests handled that must never be logged
}

// remember adds secrets the bundle's logs are checked for when it ends.
func (b *testBundle) remember(secrets ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.secrets = append(b.secrets, secrets...)
}

// Credentials that have a shape: a signed JWT, an API key.
var secretShapes = regexp.MustCompile(`eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{16,}|` + admin.APIKeyPrefix + `[\w-]{16,}`)

// assertLogsClean fails the test when any secret the bundle knows, any the
// fake WeChat holds, or anything shaped like a token or API key appears in
// the logs of its instances. Every test of the package runs it as its
// bundle ends, so the whole suite's logs are checked.
func (b *testBundle) assertLogsClean() {
	logs := b.logs.String()
	b.mu.Lock()
	secrets := append(append([]string{b.apiKey, base64.StdEncoding.EncodeToString(b.cfg.MasterKey)}, b.secrets...), b.wx.Secrets()...)
	b.mu.Unlock()
	for _, s := range secrets {
		if len(s) >= 8 && strings.Contains(logs, s) {
			b.t.Errorf("a secret (%d bytes, starting %.4q) appears in the logs", len(s), s)
		}
		if raw, err := base64.StdEncoding.DecodeString(s); err == nil && len(raw) >= 16 && strings.Contains(logs, string(raw)) {
			b.t.Errorf("the raw bytes of a secret (starting %.4q) appear in the logs", s)
		}
	}
	if m := secretShapes.FindString(logs); m != "" {
		b.t.Errorf("something shaped like a token or API key appears in the logs: %.12s...", m)
	}
}

// syncBuffer collects log output from concurrent instances.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

type testServer struct {
	app *app
	URL string
	// OpsURL is the operations listener: /metrics and pprof.
	OpsURL string
}

type setupOption func(*Config)

func setup(t testing.TB, opts ...setupOption) *testBundle {
	t.Helper()
	dbURL := dbtest.Database(t)
	_, prefix := dbtest.Redis(t)
	wx := fake.New()
	wxSrv := httptest.NewServer(wx)
	t.Cleanup(wxSrv.Close)

	cfg := Config{
		DatabaseURL:   dbURL,
		RedisURL:      dbtest.RedisURL(),
		RedisPrefix:   prefix,
		MasterKey:     bytes.Repeat([]byte{7}, 32),
		Addr:          "127.0.0.1:0",
		PublicURL:     "http://miniauth.test",
		WeChatBaseURL: wxSrv.URL,
		WeChatTimeout: 2 * time.Second,
		Env:           "production",
		LogLevel:      "info",
		// Tests log in many users from 127.0.0.1: limits are high unless a
		// test lowers a tenant's own.
		RateLimits:          testRateDefaults(),
		ManagementRateLimit: "100000-M",
		AutoBanDuration:     15 * time.Minute,
		// Every tenant of the suite keeps its own series, unless a test
		// tries the bound.
		MetricsTenants: 10000,
		// Admission control as in production, far above what a test offers.
		MaxInFlight: 512, AdmissionWait: 100 * time.Millisecond,
		// The production bound on each statement.
		StatementTimeout: 5 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	db, err := pgxpool.New(context.Background(), cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	_, plain, err := admin.NewAPIKeys(db).Create(context.Background(), "test", admin.RolePlatformAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	b := &testBundle{t: t, cfg: cfg, db: db, wx: wx, apiKey: plain, logs: &syncBuffer{}}
	// Registered before the instances start, so it runs after they stop.
	t.Cleanup(b.assertLogsClean)
	b.srv = b.startInstance()
	return b
}

// testRateDefaults are the server-wide default limits in tests: high
// enough never to be hit unless a test lowers a tenant's own.
func testRateDefaults() map[string]string {
	out := map[string]string{}
	for k := range tenant.DefaultRateLimits() {
		out[k] = "100000-M"
	}
	return out
}

// logger writes to the bundle's buffer, and to stderr too when
// MINIAUTH_TEST_LOG is set.
func (b *testBundle) logger() *slog.Logger {
	var w io.Writer = b.logs
	if os.Getenv("MINIAUTH_TEST_LOG") != "" {
		w = io.MultiWriter(b.logs, os.Stderr)
	}
	return newLogger(w, "debug")
}

// startInstance starts one more miniauth instance on the bundle's shared
// Postgres and Redis and returns once it serves with a live change feed.
func (b *testBundle) startInstance() *testServer {
	b.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := b.logger()
	a, err := newApp(ctx, b.cfg, log)
	if err != nil {
		cancel()
		b.t.Fatalf("newApp: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.t.Fatal(err)
	}
	opsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := serve(ctx, a, ln, opsLn, log); err != nil {
			b.t.Errorf("serve: %v", err)
		}
	}()
	b.t.Cleanup(func() {
		cancel()
		wg.Wait()
		a.Close()
	})
	s := &testServer{app: a, URL: "http://" + ln.Addr().String(), OpsURL: "http://" + opsLn.Addr().String()}
	// serve waits for the change feed before accepting; poll /healthz so
	// the first request of a test never races the listener.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("instance did not come up: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// Code is the problem code of an error response.
func (r response) Code(t testing.TB) string {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("status %d with Content-Type %q, want a problem: %s", r.Status, ct, r.Body)
	}
	code, _ := r.JSON(t)["code"].(string)
	return code
}

// do sends a request; body may be nil, a string (sent verbatim) or a value
// encoded as JSON. headers alternate name, value.
func do(t testing.TB, method, url string, body any, headers ...string) response {
	t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	case []byte:
		rd = bytes.NewReader(v)
	default:
		buf, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: data}
}

// api calls the management API with the platform key.
func (b *testBundle) api(method, path string, body any) response {
	b.t.Helper()
	return do(b.t, method, b.srv.URL+"/api/v1"+path, body, "Authorization", "Bearer "+b.apiKey)
}

// testTenant is a tenant registered both in miniauth and in the fake.
type testTenant struct {
	Slug, AppID, Secret string
}

// createTenant registers an app in the fake and a tenant for it. extra
// fields are merged into the create request.
func (b *testBundle) createTenant(slug string, extra map[string]any) testTenant {
	b.t.Helper()
	tt := testTenant{Slug: slug, AppID: "wx" + strings.ReplaceAll(slug, "-", "") + "00000000", Secret: "secret-of-" + slug}
	b.remember(tt.Secret)
	b.wx.AddApp(tt.AppID, tt.Secret, "")
	req := map[string]any{"slug": slug, "name": "Tenant " + slug, "wechat_appid": tt.AppID, "wechat_secret": tt.Secret}
	for k, v := range extra {
		req[k] = v
	}
	if r := b.api("POST", "/tenants", req); r.Status != http.StatusCreated {
		b.t.Fatalf("create tenant %s: %d %s", slug, r.Status, r.Body)
	}
	return tt
}

// tokens is a login or refresh answer.
type tokens struct {
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

// login logs user in to tenant tt on srv (the bundle's first instance if nil).
func (b *testBundle) login(srv *testServer, tt testTenant, user string) tokens {
	b.t.Helper()
	if srv == nil {
		srv = b.srv
	}
	r := do(b.t, "POST", srv.URL+"/v1/t/"+tt.Slug+"/login", map[string]string{"code": b.wx.MintCode(tt.AppID, user)})
	if r.Status != http.StatusOK {
		b.t.Fatalf("login %s/%s: %d %s", tt.Slug, user, r.Status, r.Body)
	}
	var tok tokens
	if err := json.Unmarshal(r.Body, &tok); err != nil {
		b.t.Fatal(err)
	}
	b.remember(tok.AccessToken, tok.RefreshToken)
	return tok
}

// problemCode is the problem code of r, or "" when r is not a problem.
// Unlike response.Code it never fails the test, so it suits eventually
// conditions where a success may still come back.
func problemCode(r response) string {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/problem+json") {
		return ""
	}
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(r.Body, &p)
	return p.Code
}

// wantStatus asserts the status and, when code is not empty, the problem code.
func wantStatus(t testing.TB, what string, r response, status int, code string) response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.Status, status, r.Body)
	}
	if code != "" {
		if got := r.Code(t); got != code {
			t.Fatalf("%s: problem code %q, want %q: %s", what, got, code, r.Body)
		}
	}
	return r
}

// wantFields asserts a 400 invalid_request whose errors name exactly the
// wanted fields (order ignored; one field may carry several messages).
func wantFields(t testing.TB, what string, r response, fields ...string) {
	t.Helper()
	wantStatus(t, what, r, http.StatusBadRequest, "invalid_request")
	var p struct {
		Errors []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var got []string
	for _, e := range p.Errors {
		if e.Message == "" {
			t.Errorf("%s: field %s without a message", what, e.Field)
		}
		got = append(got, e.Field)
	}
	sort.Strings(got)
	got = slices.Compact(got)
	want := slices.Clone(fields)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: error fields %v, want %v: %s", what, got, want, r.Body)
	}
}

// afterPropagation waits out the bound within which every instance sees a
// change even while the change feed is down (see tenant/cache). It is the
// property under test, not a guess at machine speed.
func afterPropagation() { time.Sleep(cache.Propagation) }

// noticeTimeout bounds a wait for a change notice: far beyond the
// contract's 1 s, so a loaded machine does not fail a test, while a notice
// that never comes still does.
const noticeTimeout = 10 * time.Second

// noticeWaiter collects the change notices of one topic that reach one
// instance. Its handler is subscribed after the instance's caches
// subscribed theirs, and the bus runs handlers in that order, so when a
// notice is here the caches have already acted on it: the test asserts
// once, without polling.
type noticeWaiter struct {
	srv     *testServer
	topic   string
	match   func(payload string) bool
	mu      sync.Mutex
	got     []string      // matching payloads not yet waited for
	arrived chan struct{} // poked after each arrival; never blocks the bus
}

// notices starts collecting the notices of topic that reach s and whose
// payload satisfies match (nil: every one). Call it before making the
// change, since notices are not replayed; it first lets every notice
// already on its way to s arrive, so the waiter hears only of changes made
// after it.
func (s *testServer) notices(t testing.TB, topic string, match func(payload string) bool) *noticeWaiter {
	t.Helper()
	s.settle(t)
	w := &noticeWaiter{srv: s, topic: topic, match: match, arrived: make(chan struct{}, 1)}
	s.app.bus.Subscribe(topic, func(payload string) {
		if w.match != nil && !w.match(payload) {
			return
		}
		w.mu.Lock()
		w.got = append(w.got, payload)
		w.mu.Unlock()
		select {
		case w.arrived <- struct{}{}:
		default:
		}
	})
	return w
}

// wait returns once a notice has reached the instance (one per call:
// waiting twice needs two notices) and fails the test with what if none
// does within noticeTimeout.
func (w *noticeWaiter) wait(t testing.TB, what string) {
	t.Helper()
	deadline := time.NewTimer(noticeTimeout)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		if len(w.got) > 0 {
			w.got = w.got[1:]
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		select {
		case <-w.arrived:
		case <-deadline.C:
			t.Fatalf("no %q notice reached %s within %s: %s", w.topic, w.srv.URL, noticeTimeout, what)
		}
	}
}

// naming matches a notice payload that names id: the whole payload or one
// of its colon-separated parts (a slug, a tenant, user or session id).
func naming(id string) func(payload string) bool {
	return func(payload string) bool { return slices.Contains(strings.Split(payload, ":"), id) }
}

// settleTopic carries the markers of settle; no instance acts on it.
const settleTopic = "test.settle"

// settle returns once every notice published before the call has been
// delivered on s. Redis hands a subscriber its messages in the order it
// took them, so a marker published now arrives after all of them.
func (s *testServer) settle(t testing.TB) {
	t.Helper()
	marker := uuid.NewString()
	seen := make(chan struct{})
	var once sync.Once
	s.app.bus.Subscribe(settleTopic, func(payload string) {
		if payload == marker {
			once.Do(func() { close(seen) })
		}
	})
	// A bus of its own that never runs: s does not take the marker for its
	// own echo, and Publish sends straight to Redis.
	if err := changes.New(s.app.rdb, s.app.cfg.RedisPrefix, s.app.log).Publish(context.Background(), settleTopic, marker); err != nil {
		t.Fatalf("publish a marker to %s: %v", s.URL, err)
	}
	select {
	case <-seen:
	case <-time.After(noticeTimeout):
		t.Fatalf("the change feed of %s delivered no marker within %s", s.URL, noticeTimeout)
	}
}

// eventually polls cond every 20 ms until it holds or within expires.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
