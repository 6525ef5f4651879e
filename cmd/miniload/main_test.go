package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miniauth/miniauth/migrations/dbtest"
)

func TestQuantiles(t *testing.T) {
	o := outcome{Requests: 1000, Elapsed: 2 * time.Second}
	for i := 1; i <= 1000; i++ {
		o.Latencies = append(o.Latencies, time.Duration(i)*time.Millisecond)
	}
	for q, want := range map[float64]time.Duration{.5: 500 * time.Millisecond, .99: 990 * time.Millisecond, .999: 999 * time.Millisecond, 1: time.Second} {
		if got := o.quantile(q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if o.rps() != 500 {
		t.Errorf("rps = %v, want 500", o.rps())
	}
}

// The whole benchmark, small: the real binaries against the Postgres and
// Redis the tests use, every scenario, a sweep point, the JSON and the
// chart, and compare on its own output.
func TestBenchEndToEnd(t *testing.T) {
	t.Setenv("DATABASE_URL", dbtest.AdminURL())
	t.Setenv("REDIS_URL", dbtest.RedisURL())
	bin := t.TempDir()
	for _, cmd := range []string{"miniauth", "wxfake"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, cmd), "../"+cmd).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", cmd, err, out)
		}
	}
	out := t.TempDir()
	err := bench(context.Background(), []string{"-tenants", "2", "-users", "40", "-seed", "50", "-concurrency", "4", "-duration", "1s",
		"-sweep", "2", "-sweep-duration", "1s", "-server", filepath.Join(bin, "miniauth"), "-wxfake", filepath.Join(bin, "wxfake"), "-out", out})
	if err != nil {
		t.Fatal(err)
	}
	jsons, _ := filepath.Glob(filepath.Join(out, "*.json"))
	svgs, _ := filepath.Glob(filepath.Join(out, "*.svg"))
	if len(jsons) != 1 || len(svgs) != 1 {
		t.Fatalf("results %v, charts %v", jsons, svgs)
	}
	r, err := readReport(jsons[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Results) != len(scenarioNames) || len(r.Sweep) != 2 {
		t.Fatalf("%d results and %d sweep points", len(r.Results), len(r.Sweep))
	}
	for _, res := range append(r.Results, r.Sweep...) {
		if res.Requests == 0 || res.Errors != 0 || res.RPS <= 0 || res.P99ms <= 0 || len(res.ServerCores) != 1 ||
			len(res.ServerGoroutines) != 1 || res.ServerGoroutines[0] <= 0 {
			t.Errorf("%s: %+v", res.Scenario, res)
		}
	}
	if r.Results[0].Scenario != "login-new" || r.Results[0].Requests != 80 {
		t.Errorf("login-new made %d logins, want one per user (80)", r.Results[0].Requests)
	}
	svg, _ := os.ReadFile(svgs[0])
	if !strings.Contains(string(svg), "<svg") || !strings.Contains(string(svg), "polyline") {
		t.Errorf("chart: %.200s", svg)
	}
	raw, _ := json.Marshal(r)
	if !json.Valid(raw) {
		t.Fatal("report does not round-trip")
	}
	if err := compare([]string{jsons[0], jsons[0]}); err != nil {
		t.Fatal(err)
	}
}
