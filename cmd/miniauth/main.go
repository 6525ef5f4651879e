// Command miniauth is the miniauth server and its administrative CLI.
//
//	miniauth serve [--migrate]
//	miniauth migrate
//	miniauth apikey create --name NAME --role ROLE [--tenant SLUG]
package main

import (
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
	"strings"
	"syscall"
	"time"

	"github.com/miniauth/miniauth/admin"
	"github.com/miniauth/miniauth/migrations"
	"github.com/miniauth/miniauth/web"
)

const usage = `usage:
  miniauth serve [--migrate]     run the server
  miniauth migrate               apply pending database migrations
  miniauth apikey create --name NAME --role ROLE [--tenant SLUG]
                                 create a management API key (printed on the last line)
roles: platform_admin, tenant_admin, tenant_operator, tenant_viewer`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "miniauth:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
		return cmdAPIKeyCreate(ctx, cfg, args[2:], stdout)
	}
	return fmt.Errorf("unknown command %q\n%s", strings.Join(args, " "), usage)
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(web.LogHandler{Handler: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})})
}

func cmdMigrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	db, err := openDB(ctx, cfg)
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
	return serve(ctx, a, ln, log)
}

// serve runs the HTTP server until ctx ends, then lets in-flight requests
// finish (up to 20 s) before returning.
func serve(ctx context.Context, a *app, ln net.Listener, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	a.waitFeed(waitCtx)
	cancel()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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

func cmdAPIKeyCreate(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	name := fs.String("name", "", "a name for the key")
	role := fs.String("role", "", "platform_admin, tenant_admin, tenant_operator or tenant_viewer")
	tenantSlug := fs.String("tenant", "", "the tenant of a tenant_* role")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	k, plain, err := admin.NewAPIKeys(db).Create(ctx, *name, admin.Role(*role), *tenantSlug)
	if err != nil {
		return err
	}
	scope := "all tenants"
	if k.Tenant != nil {
		scope = "tenant " + *k.Tenant
	}
	fmt.Fprintf(stdout, "created API key %s (%q, %s, %s); it is shown only once:\n%s\n", k.ID, k.Name, k.Role, scope, plain)
	return nil
}
