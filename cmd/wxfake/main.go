// Command wxfake serves auth/wechat/fake over HTTP: a stand-in for
// api.weixin.qq.com for local development, end-to-end tests and benchmarks.
// Point MINIAUTH_WECHAT_BASE_URL at it. See README.md for the control
// endpoints that mint codes and inject faults.
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

	"github.com/miniauth/miniauth/auth/wechat/fake"
)

type config struct {
	addr string
	apps []appSpec
}

type appSpec struct {
	appID, secret, openPlatform string
}

func main() {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := parseConfig(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wxfake:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger); err != nil {
		logger.Error("wxfake stopped", "err", err)
		os.Exit(1)
	}
}

func parseConfig(args []string, usageOut io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("wxfake", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	fs.StringVar(&cfg.addr, "addr", ":9480", "listen address")
	fs.Func("app", "register `appid:secret[:open_platform]` at start (repeatable)", func(v string) error {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
			return errors.New("want appid:secret[:open_platform]")
		}
		a := appSpec{appID: parts[0], secret: parts[1]}
		if len(parts) == 3 {
			a.openPlatform = parts[2]
		}
		cfg.apps = append(cfg.apps, a)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return cfg, nil
}

func run(ctx context.Context, cfg config, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	return serve(ctx, ln, cfg.apps, logger)
}

// serve takes a listener so tests can bind :0 and learn the port.
func serve(ctx context.Context, ln net.Listener, apps []appSpec, logger *slog.Logger) error {
	f := fake.New()
	for _, a := range apps {
		f.AddApp(a.appID, a.secret, a.openPlatform)
		logger.Info("app registered", "appid", a.appID, "open_platform", a.openPlatform)
	}

	// Cancelled when shutdown starts, so handlers sleeping in a Delay fault
	// end at once instead of holding shutdown for the whole delay.
	baseCtx, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{
		Handler:           logRequests(logger, f),
		ReadHeaderTimeout: 5 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	cancelBase()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// A connection accepted but not yet read counts as busy for 5 s
		// (net/http), and a loaded machine can leave one so: a fake should
		// stop promptly, so what is left is closed.
		logger.Warn("connections still open after the grace period; closing them", "err", err)
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// logRequests logs the path only: WeChat queries carry the AppSecret, login
// codes and access tokens.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		logger.Info("request",
			"method", r.Method,
			"path", r.URL.Path,
			"status", rec.status,
			"duration", time.Since(start),
			"remote", r.RemoteAddr,
		)
	})
}
