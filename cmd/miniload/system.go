package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/miniauth/miniauth/auth/wechat/fake"
)

// system is a whole miniauth installation started for one benchmark: a
// fresh database on the Postgres of DATABASE_URL, a private prefix on the
// Redis of REDIS_URL, the fake WeChat API and N server instances.
type system struct {
	dir       string // logs and the like
	adminURL  string
	db        string
	dbURL     string // the benchmark database
	env       []string
	wxURL     string
	urls      []string // one per instance
	ops       []string // their operations listeners
	servers   []*exec.Cmd
	wxfake    *exec.Cmd
	apiKey    string
	password  string
	masterKey string
}

const benchAdmin = "bench@example.com"

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomBase64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// start brings the system up on the Postgres of dbURL and the Redis of
// redisURL, each server with extra in its environment; stop must be called
// whatever it returns.
func start(ctx context.Context, server, wxfake string, instances int, dbURL, redisURL string, extra ...string) (*system, error) {
	if dbURL == "" || redisURL == "" {
		return nil, fmt.Errorf("DATABASE_URL and REDIS_URL are required (make bench finds or starts Postgres and Redis)")
	}
	dir, err := os.MkdirTemp("", "miniload-")
	if err != nil {
		return nil, err
	}
	s := &system{dir: dir, adminURL: dbURL, db: fmt.Sprintf("miniauth_bench_%d", os.Getpid()), password: randomBase64(18), masterKey: randomBase64(32)}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return s, fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+s.db)
	conn.Close(ctx)
	if err != nil {
		return s, fmt.Errorf("create the benchmark database: %w", err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return s, err
	}
	u.Path = "/" + s.db
	s.dbURL = u.String()

	wxPort, err := freePort()
	if err != nil {
		return s, err
	}
	s.wxURL = fmt.Sprintf("http://127.0.0.1:%d", wxPort)
	if s.wxfake, err = spawn(filepath.Join(dir, "wxfake.log"), nil, wxfake, "--addr", fmt.Sprintf("127.0.0.1:%d", wxPort)); err != nil {
		return s, err
	}
	if err := waitHTTP(ctx, s.wxURL+"/_fake/stats"); err != nil {
		return s, fmt.Errorf("wxfake: %w", err)
	}

	// Limits high enough never to refuse the benchmark's one address, but
	// counted in Redis on every request as in production.
	var limits []string
	for _, k := range []string{"login_per_ip", "login_per_tenant", "refresh_per_ip", "api_per_user", "autoban_invalid_code", "autoban_refresh_reuse"} {
		limits = append(limits, k+"=100000000-M")
	}
	s.env = append(os.Environ(),
		"DATABASE_URL="+u.String(),
		"REDIS_URL="+redisURL,
		fmt.Sprintf("MINIAUTH_REDIS_PREFIX=bench:%d:", os.Getpid()),
		"MINIAUTH_MASTER_KEY="+s.masterKey,
		"MINIAUTH_WECHAT_BASE_URL="+s.wxURL,
		"MINIAUTH_RATE_LIMITS="+strings.Join(limits, ","),
		"MINIAUTH_MANAGEMENT_RATE_LIMIT=100000000-M",
		"MINIAUTH_LOG_LEVEL=info",
		"MINIAUTH_ENV=production",
	)
	s.env = append(s.env, extra...)
	if out, err := run(ctx, s.env, nil, server, "migrate"); err != nil {
		return s, fmt.Errorf("miniauth migrate: %w\n%s", err, out)
	}
	out, err := run(ctx, s.env, nil, server, "apikey", "create", "--name", "bench", "--role", "platform_admin")
	if err != nil {
		return s, fmt.Errorf("miniauth apikey create: %w\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	s.apiKey = lines[len(lines)-1]
	if out, err := run(ctx, s.env, strings.NewReader(s.password+"\n"), server, "admin", "create", "--email", benchAdmin, "--role", "platform_admin"); err != nil {
		return s, fmt.Errorf("miniauth admin create: %w\n%s", err, out)
	}
	for i := range instances {
		port, err := freePort()
		if err != nil {
			return s, err
		}
		ops, err := freePort()
		if err != nil {
			return s, err
		}
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		if i == 0 {
			// One public URL for every instance, as behind a load balancer:
			// it is the tokens' issuer, and the console's origin.
			s.env = append(s.env, "MINIAUTH_PUBLIC_URL="+base)
		}
		env := append(append([]string(nil), s.env...),
			fmt.Sprintf("MINIAUTH_ADDR=127.0.0.1:%d", port), fmt.Sprintf("MINIAUTH_OPS_ADDR=127.0.0.1:%d", ops))
		cmd, err := spawn(filepath.Join(dir, fmt.Sprintf("miniauth-%d.log", i+1)), env, server, "serve")
		if err != nil {
			return s, err
		}
		s.servers = append(s.servers, cmd)
		s.urls = append(s.urls, base)
		s.ops = append(s.ops, fmt.Sprintf("http://127.0.0.1:%d", ops))
	}
	for _, base := range s.urls {
		if err := waitHTTP(ctx, base+"/readyz"); err != nil {
			return s, fmt.Errorf("miniauth at %s: %w (logs in %s)", base, err, dir)
		}
	}
	return s, nil
}

func (s *system) pids() []int {
	var out []int
	for _, c := range s.servers {
		out = append(out, c.Process.Pid)
	}
	return out
}

// stop ends the processes and drops the database; keep leaves the logs.
func (s *system) stop(keep bool) {
	for _, c := range append(append([]*exec.Cmd(nil), s.servers...), s.wxfake) {
		if c != nil && c.Process != nil {
			_ = c.Process.Signal(os.Interrupt)
			_ = c.Wait()
		}
	}
	if s.db != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, s.adminURL); err == nil {
			_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+s.db+" WITH (FORCE)")
			conn.Close(ctx)
		}
	}
	if !keep && s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

func spawn(logPath string, env []string, name string, args ...string) (*exec.Cmd, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return cmd, nil
}

func run(ctx context.Context, env []string, stdin io.Reader, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env, cmd.Stdin = env, stdin
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return errOut.String(), err
	}
	return out.String(), nil
}

func waitHTTP(ctx context.Context, u string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("no 200 from %s within 20s", u)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// api calls the management API of the first instance.
func (s *system) api(method, path string, body any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, s.urls[0]+"/api/v1"+path, rd)
	req.Header.Set("Authorization", "Bearer "+s.apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return nil
}

// fake calls a control endpoint of the fake WeChat API.
func (s *system) fake(path string, in, out any) error {
	b, _ := json.Marshal(in)
	resp, err := http.Post(s.wxURL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		raw, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, raw)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// tenant is one benchmark tenant.
type tenant struct {
	Slug, AppID, Secret string
}

func benchTenant(i int) tenant {
	return tenant{Slug: fmt.Sprintf("bench-%05d", i), AppID: fmt.Sprintf("wx%016x", 0xbe0000+i), Secret: "bench-secret-" + strconv.Itoa(i)}
}

// createTenants makes n tenants through the management API and tells the
// fake about their apps.
func (s *system) createTenants(n int) ([]tenant, error) {
	var out []tenant
	for i := range n {
		t := benchTenant(i)
		if err := s.fake("/_fake/apps", map[string]string{"appid": t.AppID, "secret": t.Secret}, nil); err != nil {
			return nil, err
		}
		if err := s.api("POST", "/tenants", map[string]any{"slug": t.Slug, "name": "Bench " + t.Slug, "wechat_appid": t.AppID, "wechat_secret": t.Secret}); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// seedUsers inserts n users per tenant straight into Postgres, the users
// prefix+first ... prefix+(first+n-1) with the openids the fake gives
// them, so a large population exists without a login each.
func (s *system) seedUsers(ctx context.Context, tenants []tenant, prefix string, first, n int) error {
	conn, err := pgx.Connect(ctx, s.dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, t := range tenants {
		var id int64
		if err := conn.QueryRow(ctx, `SELECT id FROM tenants WHERE slug = $1`, t.Slug).Scan(&id); err != nil {
			return err
		}
		i := 0
		_, err := conn.CopyFrom(ctx, pgx.Identifier{"users"}, []string{"tenant_id", "id", "openid"},
			pgx.CopyFromFunc(func() ([]any, error) {
				if i == n {
					return nil, nil
				}
				uid, err := uuid.NewV7()
				row := []any{id, uid, fake.OpenIDOf(t.AppID, prefix+strconv.Itoa(first+i))}
				i++
				return row, err
			}))
		if err != nil {
			return fmt.Errorf("seed %s: %w", t.Slug, err)
		}
	}
	_, err = conn.Exec(ctx, `ANALYZE users`)
	return err
}

// codes mints n login codes for users prefix+first... of t.
func (s *system) codes(t tenant, prefix string, first, n int) ([]string, error) {
	var out struct {
		Codes []string `json:"codes"`
	}
	err := s.fake("/_fake/codes/batch", map[string]any{"appid": t.AppID, "user_prefix": prefix, "first": first, "n": n}, &out)
	return out.Codes, err
}
