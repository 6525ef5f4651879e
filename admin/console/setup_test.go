package console_test

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/console"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/changes"
	"github.com/miniauth/miniauth/tenant/seal"
	"github.com/miniauth/miniauth/web"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

// cheapPasswords hashes test passwords in microseconds instead of the
// production cost's tens of milliseconds.
var cheapPasswords = admin.PasswordCost{Time: 1, MemoryKiB: 64, Threads: 1}

// testPassword is every test admin's password.
const testPassword = "correct horse battery staple"

// testBundle is the console wired as cmd/miniauth wires it, on a fresh
// database and a private Redis key space, served on a real loopback
// listener so a browser can reach it too.
type testBundle struct {
	db       *pgxpool.Pool
	tenants  *tenant.Store
	accounts *admin.Accounts
	audit    *admin.Audit
	authz    *admin.Authorizer
	deps     console.Deps
	stats    *auth.Stats
	rdb      redis.UniversalClient
	prefix   string
	srv      *httptest.Server
	// URL is the server's base URL, also its PublicURL.
	URL string
}

var admins atomic.Int64

// setup builds a bundle on a fresh database; change adjusts the
// console's Deps before the routes are registered.
func setup(t testing.TB, change ...func(*console.Deps)) *testBundle {
	t.Helper()
	return setupOn(t, dbtest.Pool(t), change...)
}

// setupOn is setup on a migrated database of the caller's, such as a
// benchmark's scale fixture (authtest.ScaleDB).
func setupOn(t testing.TB, db *pgxpool.Pool, change ...func(*console.Deps)) *testBundle {
	t.Helper()
	ctx := context.Background()
	rdb, prefix := dbtest.Redis(t)
	log := slog.New(web.LogHandler{Handler: slog.NewTextHandler(io.Discard, nil)})
	if os.Getenv("CONSOLE_TEST_LOG") != "" {
		log = slog.New(web.LogHandler{Handler: slog.NewTextHandler(os.Stderr, nil)})
	}

	master := make([]byte, 32)
	_, _ = rand.Read(master)
	sealer, err := seal.New(master)
	if err != nil {
		t.Fatal(err)
	}
	bus := changes.New(rdb, prefix, log)
	store := tenant.NewStore(db, sealer, bus)
	limits := auth.NewLimits(auth.LimitsConfig{Redis: rdb, Prefix: prefix, Defaults: tenant.DefaultRateLimits(),
		Healthy: bus.Healthy, Log: log})
	sessions := auth.NewSessions(db, bus)
	authz, err := admin.NewAuthorizer(db, bus, log)
	if err != nil {
		t.Fatalf("authorizer: %v", err)
	}
	bg, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); bus.Run(bg) }()
	go func() { defer wg.Done(); authz.Run(bg) }()
	t.Cleanup(func() { stop(); wg.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for !bus.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("change feed did not subscribe within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}

	b := &testBundle{db: db, tenants: store, accounts: admin.NewAccountsAt(db, bus, cheapPasswords),
		audit: admin.NewAudit(db), authz: authz, rdb: rdb, prefix: prefix, stats: auth.NewStats(db, log)}
	var engine atomic.Pointer[gin.Engine]
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		engine.Load().ServeHTTP(w, r)
	}))
	t.Cleanup(b.srv.Close)
	b.URL = b.srv.URL

	b.deps = console.Deps{
		Tenants: store, Users: auth.NewUsers(db, sessions), Bans: auth.NewBans(db, bus, sessions, log),
		APIKeys: admin.NewAPIKeys(db), Accounts: b.accounts, Audit: b.audit, Authz: authz,
		Sessions: admin.NewConsoleSessions(db, bus), SignIn: admin.NewSignInGuard(limits, rdb, prefix), Stats: b.stats,
		RateDefaults: tenant.DefaultRateLimits(), PublicURL: b.URL, Log: log,
	}
	for _, c := range change {
		c(&b.deps)
	}
	h := console.New(b.deps)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(web.Middleware(log, nil))
	web.ServeAssets(r)
	h.Routes(r)
	r.NoRoute(h.NotFound)
	engine.Store(r)
	return b
}

// tenant creates a tenant directly in the store.
func (b *testBundle) tenant(t testing.TB, slug string) tenant.Tenant {
	t.Helper()
	ten, err := b.tenants.Create(context.Background(), tenant.NewTenant{
		Slug: slug, Name: "Tenant " + slug, WeChatAppID: "wx" + strings.ReplaceAll(slug, "-", "") + "0123456789",
		WeChatSecret: "secret-of-" + slug,
	})
	if err != nil {
		t.Fatalf("create tenant %s: %v", slug, err)
	}
	return ten
}

// user inserts an end user of a tenant, as a first login would.
func (b *testBundle) user(t testing.TB, tenantID int64, openid string) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	if _, err := b.db.Exec(context.Background(),
		`INSERT INTO users (tenant_id, id, openid, nickname) VALUES ($1, $2, $3, $4)`,
		tenantID, id, openid, "nick "+openid); err != nil {
		t.Fatalf("insert user: %v", err)
	}
	return id
}

// adminAccount creates an admin with one role (tenantSlug "" for
// platform_admin) and returns its e-mail; the password is testPassword.
func (b *testBundle) adminAccount(t testing.TB, role admin.Role, tenantSlug string) admin.Account {
	t.Helper()
	email := "admin" + strconv.FormatInt(admins.Add(1), 10) + "@example.com"
	bind := admin.Binding{Role: role}
	if tenantSlug != "" {
		bind.Tenant = &tenantSlug
	}
	a, err := b.accounts.Create(context.Background(), email, testPassword, []admin.Binding{bind})
	if err != nil {
		t.Fatalf("create admin: %v", err)
	}
	return a
}

// signIn creates an admin of role and signs them in through the sign-in
// form, returning a browser-like client holding the session.
func (b *testBundle) signIn(t testing.TB, role admin.Role, tenantSlug string) *client {
	t.Helper()
	a := b.adminAccount(t, role, tenantSlug)
	c := b.client(t)
	c.Account = a
	page := c.get(t, "/admin/login")
	page.want(t, http.StatusOK)
	res := c.post(t, "/admin/login", url.Values{"email": {a.Email}, "password": {testPassword}}, page.csrf(t))
	if res.Status != http.StatusSeeOther || res.Header.Get("Location") != "/admin/" {
		t.Fatalf("sign in as %s: status %d, Location %q: %s", role, res.Status, res.Header.Get("Location"), res.Body)
	}
	c.CSRF = c.get(t, "/admin/").csrf(t)
	return c
}

// client is a browser: a cookie jar, the console's Origin on every
// request, and redirects left to the test.
type client struct {
	b       *testBundle
	http    *http.Client
	CSRF    string
	Account admin.Account
}

func (b *testBundle) client(t testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	return &client{b: b, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// page is one response, its HTML parsed.
type page struct {
	Status int
	Header http.Header
	Body   string
	Doc    *goquery.Document
}

// want fails the test unless the page has status.
func (p page) want(t testing.TB, status int) page {
	t.Helper()
	if p.Status != status {
		t.Fatalf("status %d, want %d: %s", p.Status, status, p.Body)
	}
	return p
}

// find is the selection of elements with this data-testid.
func (p page) find(testid string) *goquery.Selection {
	return p.Doc.Find(`[data-testid="` + testid + `"]`)
}

// csrf is the page's CSRF token (the meta tag, or a form's hidden field).
func (p page) csrf(t testing.TB) string {
	t.Helper()
	if v, ok := p.Doc.Find(`meta[name="csrf-token"]`).Attr("content"); ok && v != "" {
		return v
	}
	if v, ok := p.Doc.Find(`input[name="_csrf"]`).Attr("value"); ok && v != "" {
		return v
	}
	t.Fatalf("no CSRF token on the page: %s", p.Body)
	return ""
}

func (c *client) do(t testing.TB, req *http.Request) page {
	t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode >= 500 {
		t.Errorf("%s %s: status %d: %s", req.Method, req.URL, res.StatusCode, raw)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("parse %s: %v", req.URL, err)
	}
	return page{Status: res.StatusCode, Header: res.Header, Body: string(raw), Doc: doc}
}

// get fetches a console path.
func (c *client) get(t testing.TB, path string, headers ...string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.b.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return c.do(t, req)
}

// post submits a form from the console's origin with the client's CSRF
// token (or csrf, when given); headers are name/value pairs.
func (c *client) post(t testing.TB, path string, form url.Values, csrf ...string) page {
	t.Helper()
	return c.postWith(t, path, form, append([]string{"Origin", c.b.URL}, c.csrfHeader(csrf)...)...)
}

// htmx submits a form as htmx does (X-CSRF-Token and HX-Request headers).
func (c *client) htmx(t testing.TB, method, path string, form url.Values) page {
	t.Helper()
	if method == http.MethodGet {
		return c.get(t, path+"?"+form.Encode(), "HX-Request", "true")
	}
	return c.postWith(t, path, form, "Origin", c.b.URL, "HX-Request", "true", "X-CSRF-Token", c.CSRF)
}

func (c *client) csrfHeader(csrf []string) []string {
	tok := c.CSRF
	if len(csrf) > 0 {
		tok = csrf[0]
	}
	return []string{"X-Form-CSRF", tok}
}

// postWith posts a form with exactly these headers; an X-Form-CSRF pseudo
// header becomes the form's _csrf field.
func (c *client) postWith(t testing.TB, path string, form url.Values, headers ...string) page {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "X-Form-CSRF" && form.Get("_csrf") == "" && headers[i+1] != "" {
			form.Set("_csrf", headers[i+1])
		}
	}
	req, err := http.NewRequest(http.MethodPost, c.b.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] != "X-Form-CSRF" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	return c.do(t, req)
}

// auditCount counts audit entries of an action.
func (b *testBundle) auditCount(t testing.TB, action string) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = $1`, action).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// captchaAnswer reads the digits of a CAPTCHA from Redis, as a person
// would read them off the image.
func (b *testBundle) captchaAnswer(t testing.TB, id string) string {
	t.Helper()
	v, err := b.rdb.Get(context.Background(), b.prefix+"captcha:"+id).Result()
	if err != nil {
		t.Fatalf("captcha %s: %v", id, err)
	}
	return v
}

// wantRedirect fails the test unless p is a 303 to location.
func wantRedirect(t testing.TB, p page, location string) {
	t.Helper()
	if p.Status != http.StatusSeeOther || p.Header.Get("Location") != location {
		t.Fatalf("status %d, Location %q; want 303 to %s: %s", p.Status, p.Header.Get("Location"), location, p.Body)
	}
}
