package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// judge against the failure policy: allowed answers only inside a fault's
// window and recoverBound after it, nothing but success elsewhere, and a
// recovery slower than the bound is a failure of its own.
func TestJudge(t *testing.T) {
	s := time.Second
	windows := []window{{fault: "postgres", start: 10 * s, back: 13 * s}, {fault: "wechat-slow", start: 30 * s, back: 35 * s}}
	rec := func(at time.Duration, op string, status int, code string) outcomeRec {
		return outcomeRec{At: at, End: at + 100*time.Millisecond, Op: op, Inst: 1, Status: status, Code: code}
	}
	for _, tc := range []struct {
		name  string
		rec   outcomeRec
		fails int
	}{
		{"success before any fault", rec(2*s, "me", 200, ""), 0},
		{"a failure before any fault", rec(2*s, "me", 503, "unavailable"), 1},
		{"503 while Postgres is down", rec(11*s, "refresh", 503, "unavailable"), 0},
		{"500 while Postgres is down", rec(11*s, "refresh", 500, "internal_error"), 1},
		{"503 soon after Postgres is back", rec(15*s, "me", 503, "unavailable"), 0},
		{"503 past the recovery bound", rec(19*s, "me", 503, "unavailable"), 2}, // seen, and recovery too slow
		{"no response at all", outcomeRec{At: 11 * s, End: 11 * s, Op: "me", Err: "connection reset"}, 1},
		{"502 on a login while WeChat is slow", rec(31*s, "login", 502, "wechat_unavailable"), 0},
		{"502 on a refresh while WeChat is slow", rec(31*s, "refresh", 502, "wechat_unavailable"), 1},
		{"502 on a login 4 s after WeChat is back", rec(39*s, "login", 502, "wechat_unavailable"), 0},
		// Sent just before WeChat turned slow, answered after: it met the fault.
		{"502 on a login in flight when WeChat turns slow", outcomeRec{At: 30*s - time.Millisecond, End: 31 * s, Op: "login", Inst: 1, Status: 502, Code: "wechat_unavailable"}, 0},
		{"502 on a login answered before WeChat turns slow", outcomeRec{At: 29 * s, End: 30*s - time.Millisecond, Op: "login", Inst: 1, Status: 502, Code: "wechat_unavailable"}, 2}, // and a slow recovery from Postgres
	} {
		t.Run(tc.name, func(t *testing.T) {
			phases, fails := judge(windows, []outcomeRec{tc.rec}, 60*s)
			if len(fails) != tc.fails {
				t.Fatalf("failures %q, want %d", fails, tc.fails)
			}
			if len(phases) != 2 {
				t.Fatalf("%d phases", len(phases))
			}
		})
	}
	phases, _ := judge(windows, []outcomeRec{rec(14*s, "me", 503, "unavailable"), rec(12*s, "me", 503, "unavailable")}, 60*s)
	if got := phases[0].Recovery["me"]; got != 1100*time.Millisecond {
		t.Fatalf("recovery %s, want 1.1s (the last failure's end after the return)", got)
	}
	if n := phases[0].Seen["me"]["503 unavailable"]; n != 2 {
		t.Fatalf("seen %v", phases[0].Seen)
	}
}

// The fault run, short: the real binaries on a private Postgres and Redis
// that it starts, stops and restarts, three instances, every fault.
func TestFaultsEndToEnd(t *testing.T) {
	bin := t.TempDir()
	for _, cmd := range []string{"miniauth", "wxfake"} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, cmd), "../"+cmd).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", cmd, err, out)
		}
	}
	out := t.TempDir()
	// Few clients and a roomy WeChat timeout: make test shares the cores
	// with every other package, and a starved probe must not look like a
	// slow recovery.
	err := faults(context.Background(), []string{"-outage", "3s", "-settle", "1s", "-clients", "6", "-think", "20ms",
		"-wechat-timeout", "2s",
		"-server", filepath.Join(bin, "miniauth"), "-wxfake", filepath.Join(bin, "wxfake"),
		"-services", "../../deploy/local/services.sh", "-out", out})
	if err != nil {
		t.Fatal(err)
	}
	reports, _ := filepath.Glob(filepath.Join(out, "faults-*.json"))
	if len(reports) != 1 {
		t.Fatalf("reports %v", reports)
	}
	raw, err := os.ReadFile(reports[0])
	if err != nil {
		t.Fatal(err)
	}
	var rep faultReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ph := range rep.Phases {
		got = append(got, ph.Fault)
		if len(ph.Seen["me"]) == 0 || len(ph.Seen["login"]) == 0 {
			t.Errorf("%s: the load did not run through the fault: %v", ph.Fault, ph.Seen)
		}
	}
	if !slices.Equal(got, faultNames) {
		t.Fatalf("phases %v, want %v", got, faultNames)
	}
	// The faults were real: Postgres and the slow WeChat made clients see
	// what the policy allows them.
	for fault, want := range map[string]string{"postgres": "503 unavailable", "wechat-slow": "502 wechat_unavailable"} {
		ph := rep.Phases[slices.Index(got, fault)]
		seen := 0
		for _, outs := range ph.Seen {
			seen += outs[want]
		}
		if seen == 0 {
			t.Errorf("%s: no client saw %s: %v", fault, want, ph.Seen)
		}
	}
	// The log scan read the servers', Postgres's and Redis's logs and
	// looked for every refresh token the clients were given.
	if rep.LogScan.Files < 5 || rep.LogScan.Secrets < rep.Users {
		t.Errorf("log scan %+v: want the logs of three servers, Postgres and Redis, and at least a secret per user", rep.LogScan)
	}
	if rep.Users < 6 || rep.Requests < 1000 || len(rep.Failures) != 0 || !strings.Contains(rep.Phases[len(rep.Phases)-1].Note, "exited 0") {
		t.Fatalf("report: %d users, %d requests, failures %v, sigterm %q", rep.Users, rep.Requests, rep.Failures, rep.Phases[len(rep.Phases)-1].Note)
	}
}
