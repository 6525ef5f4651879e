package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// privateServices are a private Postgres and Redis that deploy/local/services.sh
// starts for one run, so a fault run can stop and restart them without
// touching anyone else's.
type privateServices struct {
	script string
	dir    string
	env    []string
	// DatabaseURL and RedisURL as the script printed them.
	DatabaseURL, RedisURL string
}

func startServices(ctx context.Context, script string) (*privateServices, error) {
	dir, err := os.MkdirTemp("", "miniload-privateServices-")
	if err != nil {
		return nil, err
	}
	// Postgres runs as the postgres user when we are root; it must reach
	// the directory.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	pg, err := freePort()
	if err != nil {
		return nil, err
	}
	rd, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &privateServices{script: script, dir: dir, env: append(os.Environ(),
		"MINIAUTH_FORCE_PRIVATE=1", "MINIAUTH_DEV_DIR="+filepath.Join(dir, "dev"),
		"MINIAUTH_DEV_PG_PORT="+strconv.Itoa(pg), "MINIAUTH_DEV_REDIS_PORT="+strconv.Itoa(rd))}
	out, err := s.run(ctx, "env")
	if err != nil {
		return s, err
	}
	for line := range strings.SplitSeq(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, "'")
		switch k {
		case "DATABASE_URL":
			s.DatabaseURL = v
		case "REDIS_URL":
			s.RedisURL = v
		}
	}
	if s.DatabaseURL == "" || s.RedisURL == "" {
		return s, fmt.Errorf("%s env printed no URLs: %q", script, out)
	}
	return s, nil
}

// stop stops "postgres" or "redis"; restart starts whichever is stopped.
func (s *privateServices) stop(ctx context.Context, which string) error {
	_, err := s.run(ctx, "stop", which)
	return err
}

func (s *privateServices) restart(ctx context.Context) error {
	_, err := s.run(ctx, "env")
	return err
}

// close stops both and removes their data.
func (s *privateServices) close() {
	_, _ = s.run(context.Background(), "stop")
	_ = os.RemoveAll(s.dir)
}

func (s *privateServices) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", append([]string{s.script}, args...)...)
	cmd.Env = s.env
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", s.script, strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}
