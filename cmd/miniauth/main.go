// Command miniauth is the miniauth server and its administrative CLI.
//
//	miniauth serve [--migrate]
//	miniauth migrate
//	miniauth apikey create --name NAME --role ROLE [--tenant SLUG]
//	miniauth admin create --email EMAIL --role ROLE [--tenant SLUG]  (password on stdin)
package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/migrations"
	"github.com/miniauth/miniauth/tenant"
	"github.com/miniauth/miniauth/tenant/changes"
	"github.com/miniauth/miniauth/tenant/seal"
	"github.com/miniauth/miniauth/web"
)

const usage = `usage:
  miniauth serve [--migrate]     run the server
  miniauth migrate               apply pending database migrations
  miniauth apikey create --name NAME --role ROLE [--tenant SLUG]
                                 create a management API key (printed on the last line)
  miniauth admin create --email EMAIL --role ROLE [--tenant SLUG]
                                 create a console admin; the password is read from stdin
  miniauth reseal                re-encrypt every secret under the current master key, so
                                 MINIAUTH_PREVIOUS_MASTER_KEYS can then be emptied
roles: platform_admin, tenant_admin, tenant_operator, tenant_viewer`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "miniauth:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stdout, usage)
		return nil
	}
	if err := loadDotEnv(".env"); err != nil {
		return err
	}
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel)
	switch {
	case args[0] == "serve":
		return cmdServe(ctx, cfg, log, args[1:])
	case args[0] == "migrate":
		return cmdMigrate(ctx, cfg, log)
	case len(args) >= 2 && args[0] == "apikey" && args[1] == "create":
		return cmdAPIKeyCreate(ctx, cfg, log, args[2:], stdout)
	case args[0] == "reseal":
		return cmdReseal(ctx, cfg, log)
	case len(args) >= 2 && args[0] == "admin" && args[1] == "create":
		return cmdAdminCreate(ctx, cfg, log, args[2:], stdin, stdout)
	}
	return fmt.Errorf("unknown command %q\n%s", strings.Join(args, " "), usage)
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(web.LogHandler{Handler: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})})
}

func cmdMigrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	db, err := openDB(ctx, cfg, 0)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := migrations.Apply(ctx, db)
	if err != nil {
		return err
	}
	log.Info("migrations applied", "count", len(applied), "names", applied)
	return nil
}

func cmdServe(ctx context.Context, cfg Config, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	migrate := fs.Bool("migrate", false, "apply pending migrations before serving")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *migrate {
		if err := cmdMigrate(ctx, cfg, log); err != nil {
			return err
		}
	}
	if cfg.Env == "development" && len(cfg.MasterKey) > 0 && string(cfg.MasterKey) == string(devMasterKey) {
		log.Warn("MINIAUTH_MASTER_KEY is not set: secrets are sealed with a public development key")
	}
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("MINIAUTH_ADDR: %w", err)
	}
	opsLn, err := net.Listen("tcp", cfg.OpsAddr)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("MINIAUTH_OPS_ADDR: %w", err)
	}
	return serve(ctx, a, ln, opsLn, log)
}

// The bounds on a client's sending a request, unless Config sets its own.
const (
	defaultReadHeaderTimeout = 10 * time.Second
	defaultReadTimeout       = 30 * time.Second
)

// serve runs the public HTTP server on ln and the operations server on
// opsLn until ctx ends, then lets in-flight requests finish (up to 20 s)
// before returning.
func serve(ctx context.Context, a *app, ln, opsLn net.Listener, log *slog.Logger) error {
	readHeader := cmp.Or(a.cfg.ReadHeaderTimeout, defaultReadHeaderTimeout)
	ops := &http.Server{Handler: a.ops, ReadHeaderTimeout: readHeader, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		if err := ops.Serve(web.ProblemListener(opsLn)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("operations listener stopped", "err", err)
		}
	}()
	log.Info("operations listener", "addr", opsLn.Addr().String())
	defer ops.Close()
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: readHeader,
		ReadTimeout:       cmp.Or(a.cfg.ReadTimeout, defaultReadTimeout),
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	a.waitFeed(waitCtx)
	cancel()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(web.ProblemListener(ln)) }()
	log.Info("listening", "addr", ln.Addr().String(), "public_url", a.cfg.PublicURL)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// cliChange records a change made from the command line in the audit log
// and tells running instances to reload the access policy.
func cliChange(ctx context.Context, cfg Config, db *pgxpool.Pool, log *slog.Logger, command string, e admin.Event) error {
	actor := admin.Actor{Type: "cli", Name: "miniauth " + command}
	if u, err := user.Current(); err == nil {
		actor.ID = u.Username
	}
	if err := admin.NewAudit(db).Record(ctx, actor, e); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	ropt, err := redisOptions(cfg.RedisURL)
	if err != nil {
		return err
	}
	rdb := redis.NewUniversalClient(ropt)
	defer rdb.Close()
	if err := changes.New(rdb, cfg.RedisPrefix, log).Publish(ctx, admin.TopicPolicy, ""); err != nil {
		log.Warn("running instances were not notified; they pick the change up when their change feed reconnects", "err", err)
	}
	return nil
}

func cmdAPIKeyCreate(ctx context.Context, cfg Config, log *slog.Logger, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	name := fs.String("name", "", "a name for the key")
	role := fs.String("role", "", "platform_admin, tenant_admin, tenant_operator or tenant_viewer")
	tenantSlug := fs.String("tenant", "", "the tenant of a tenant_* role")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := openDB(ctx, cfg, 0)
	if err != nil {
		return err
	}
	defer db.Close()
	k, plain, err := admin.NewAPIKeys(db).Create(ctx, *name, admin.Role(*role), *tenantSlug)
	if err != nil {
		return err
	}
	if err := cliChange(ctx, cfg, db, log, "apikey create", admin.Event{Action: "apikey.create", TenantID: k.TenantID, TenantSlug: *tenantSlug,
		TargetType: "apikey", TargetID: k.ID.String(),
		Diff: admin.Diff(nil, map[string]any{"name": k.Name, "role": k.Role, "tenant": k.Tenant})}); err != nil {
		return err
	}
	scope := "all tenants"
	if k.Tenant != nil {
		scope = "tenant " + *k.Tenant
	}
	fmt.Fprintf(stdout, "created API key %s (%q, %s, %s); it is shown only once:\n%s\n", k.ID, k.Name, k.Role, scope, plain)
	return nil
}

// cmdAdminCreate makes a console admin; the password is the first line of
// standard input, so it never appears in argv or shell history.
func cmdAdminCreate(ctx context.Context, cfg Config, log *slog.Logger, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("admin create", flag.ContinueOnError)
	email := fs.String("email", "", "the admin's email, used to sign in")
	role := fs.String("role", "", "platform_admin, tenant_admin, tenant_operator or tenant_viewer")
	tenantSlug := fs.String("tenant", "", "the tenant of a tenant_* role")
	if err := fs.Parse(args); err != nil {
		return err
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read password from stdin: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	db, err := openDB(ctx, cfg, 0)
	if err != nil {
		return err
	}
	defer db.Close()
	b := admin.Binding{Role: admin.Role(*role)}
	if *tenantSlug != "" {
		b.Tenant = tenantSlug
	}
	a, err := admin.NewAccounts(db, nil).Create(ctx, *email, password, []admin.Binding{b})
	if err != nil {
		return err
	}
	if err := cliChange(ctx, cfg, db, log, "admin create", admin.Event{Action: "admin.create", TargetType: "admin", TargetID: a.ID.String(),
		Diff: admin.Diff(nil, map[string]any{"email": a.Email, "role": *role, "tenant": *tenantSlug})}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created admin %s (%s, %s)\n", a.Email, a.ID, *role)
	return nil
}

// cmdReseal re-encrypts what an older master key sealed. Run it after
// moving the old key to MINIAUTH_PREVIOUS_MASTER_KEYS; when it reports
// nothing left, the old key can go.
func cmdReseal(ctx context.Context, cfg Config, log *slog.Logger) error {
	db, err := openDB(ctx, cfg, 0)
	if err != nil {
		return err
	}
	defer db.Close()
	sealer, err := seal.New(cfg.MasterKey, cfg.PreviousKeys...)
	if err != nil {
		return err
	}
	n, err := tenant.NewStore(db, sealer, nil).Reseal(ctx)
	if err != nil {
		return err
	}
	m, err := auth.ResealSessionKeys(ctx, db, sealer)
	if err != nil {
		return err
	}
	log.Info("resealed under the current master key", "tenant_secrets_and_keys", n, "session_keys", m)
	if n+m == 0 {
		return nil
	}
	return admin.NewAudit(db).Record(ctx, admin.Actor{Type: "cli", Name: "miniauth reseal"}, admin.Event{
		Action: "secrets.reseal", TargetType: "master_key",
		Diff: map[string]admin.Change{"tenant_secrets_and_keys": {To: n}, "session_keys": {To: m}},
	})
}
