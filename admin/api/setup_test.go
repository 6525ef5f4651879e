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
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/admin/api"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/migrations/dbtest"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/changes"
	"github.com/miniauth/miniauth/tenant/seal"
	"github.com/miniauth/miniauth/web"
)

func TestMain(m *testing.M) {
	// gin's mode is a process global: set it once, before any test runs in
	// parallel, so the engine does not print its debug route table.
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

// testBundle is one management API wired as cmd/miniauth wires it, on a
// fresh database and a private Redis key space, served in-process.
type testBundle struct {
	db      *pgxpool.Pool
	tenants *tenant.Store
	apiKeys *admin.APIKeys
	authz   *admin.Authorizer
	engine  *gin.Engine

	// platformKey is a platform_admin API key, created through the store
	// as `miniauth apikey create` does.
	platformKey   string
	platformKeyID uuid.UUID
}

// setup builds a bundle; change adjusts the handler's Deps before the
// routes are registered (say, a tighter per-key limit).
func setup(t *testing.T, change ...func(*api.Deps)) *testBundle {
	t.Helper()
	ctx := context.Background()
	db := dbtest.Pool(t)
	rdb, prefix := dbtest.Redis(t)
	log := slog.New(web.LogHandler{Handler: slog.NewTextHandler(io.Discard, nil)})

	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		t.Fatal(err)
	}
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
	// Registered after the pool and Redis client, so it runs before they
	// close.
	t.Cleanup(func() { stop(); wg.Wait() })
	// Limits fail open while the feed is down, and a per-key limit test
	// needs them counting: wait for the subscription itself.
	deadline := time.Now().Add(10 * time.Second)
	for !bus.Healthy() {
		if time.Now().After(deadline) {
			t.Fatal("change feed did not subscribe within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}

	apiKeys := admin.NewAPIKeys(db)
	deps := api.Deps{
		Tenants: store, Users: auth.NewUsers(db, sessions), Bans: auth.NewBans(db, bus, sessions, log),
		APIKeys: apiKeys, Accounts: admin.NewAccountsAt(db, bus, cheapPasswords), Audit: admin.NewAudit(db), Authz: authz, Limits: limits,
		RateDefaults: tenant.DefaultRateLimits(), KeyRate: "10000-M", Log: log,
	}
	for _, c := range change {
		c(&deps)
	}

	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(web.Middleware(log, nil))
	r.NoRoute(web.NotFound)
	r.NoMethod(web.MethodNotAllowed)
	api.New(deps).Routes(r)

	b := &testBundle{db: db, tenants: store, apiKeys: apiKeys, authz: authz, engine: r}
	b.platformKey, b.platformKeyID = b.key(t, admin.RolePlatformAdmin, "")
	return b
}

// key creates an API key of role (for tenant slug, "" for platform_admin)
// directly in the store and returns its plaintext and id.
func (b *testBundle) key(t *testing.T, role admin.Role, slug string) (string, uuid.UUID) {
	t.Helper()
	k, plain, err := b.apiKeys.Create(context.Background(), string(role)+" "+slug, role, slug)
	if err != nil {
		t.Fatalf("create %s key for %q: %v", role, slug, err)
	}
	return plain, k.ID
}

// tenant creates a tenant directly in the store.
func (b *testBundle) tenant(t *testing.T, slug string) tenant.Tenant {
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
func (b *testBundle) user(t *testing.T, tenantID int64, openid string) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	if _, err := b.db.Exec(context.Background(),
		`INSERT INTO users (tenant_id, id, openid, nickname) VALUES ($1, $2, $3, $4)`,
		tenantID, id, openid, "nick "+openid); err != nil {
		t.Fatalf("insert user: %v", err)
	}
	return id
}

// count runs a SELECT count(*) query.
func (b *testBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := b.db.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// reply is one response of the API.
type reply struct {
	Status int
	Header http.Header
	Raw    []byte
	// Body is the decoded JSON object, nil when the body is not one.
	Body map[string]any
	// Problem is set when the response is application/problem+json.
	Problem *web.Problem
}

// into decodes the body into v.
func (r reply) into(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Raw, v); err != nil {
		t.Fatalf("decode %s: %v", r.Raw, err)
	}
}

// want fails the test unless the reply has status and, for an error,
// the problem code.
func (r reply) want(t *testing.T, what string, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.Status, status, r.Raw)
	}
	if code == "" {
		return
	}
	if r.Problem == nil {
		t.Fatalf("%s: not a problem response (Content-Type %q): %s", what, r.Header.Get("Content-Type"), r.Raw)
	}
	if r.Problem.Code != code || r.Problem.Status != status {
		t.Fatalf("%s: problem %s/%d, want %s/%d: %s", what, r.Problem.Code, r.Problem.Status, code, status, r.Raw)
	}
}

// do calls /api/v1+path with key as the Bearer token ("" sends no
// Authorization); headers are name/value pairs set after it. body is sent
// as is when it is a string, as JSON otherwise. No answer of the API may be
// a 5xx, whatever the input.
func (b *testBundle) do(t *testing.T, key, method, path string, body any, headers ...string) reply {
	t.Helper()
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, "/api/v1"+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	b.engine.ServeHTTP(w, req)

	r := reply{Status: w.Code, Header: w.Header(), Raw: w.Body.Bytes()}
	if r.Status >= 500 {
		t.Errorf("%s %s: status %d: %s", method, path, r.Status, r.Raw)
	}
	var obj map[string]any
	if json.Unmarshal(r.Raw, &obj) == nil {
		r.Body = obj
	}
	if r.Header.Get("Content-Type") == "application/problem+json" {
		var p web.Problem
		if err := json.Unmarshal(r.Raw, &p); err != nil {
			t.Fatalf("%s %s: undecodable problem: %v: %s", method, path, err, r.Raw)
		}
		r.Problem = &p
	}
	return r
}

// page is one page of a list answer.
type page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

type banView struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Target    string     `json:"target"`
	Reason    string     `json:"reason"`
	ExpiresAt *time.Time `json:"expires_at"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
}

type tenantView struct {
	Slug            string            `json:"slug"`
	Name            string            `json:"name"`
	Status          string            `json:"status"`
	WeChatAppID     string            `json:"wechat_appid"`
	WeChatSecretSet bool              `json:"wechat_secret_set"`
	RateLimits      map[string]string `json:"rate_limits"`
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// cheapPasswords hashes test passwords in microseconds instead of the
// default's tenth of a second (far more under -race): the tests are about
// accounts, not argon2's cost, which admin_test.go checks.
var cheapPasswords = admin.PasswordCost{Time: 1, MemoryKiB: 64, Threads: 1}
