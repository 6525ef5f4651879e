// Command miniload measures a whole miniauth system as its users see it
// (make bench). It starts the fake WeChat API and one or more server
// instances on the Postgres and Redis of DATABASE_URL and REDIS_URL, seeds
// tenants, logs their users in, and drives each operation from this
// separate process, closed loop (a number of clients) or open loop (a
// request rate):
//
//	miniload bench [-tenants 10] [-users 1000] [-seed 0] [-concurrency 32] [-duration 10s] [-instances 1]
//	               [-rate 0] [-sweep 1,4,16,64] [-sweep-duration 3s] [-out .dev/bench]
//	miniload compare A.json B.json
//	miniload faults [-instances 3] [-clients 24] [-outage 10s] [-settle 5s] [-cycles 1] [-faults redis,postgres,...]
//
// It prints one table (requests/s, p50, p99, p99.9, errors, the servers'
// CPU and RSS, its own CPU) and writes the results as JSON and a chart of
// throughput and p99 against concurrency as SVG. faults runs the system on
// a private Postgres and Redis under a steady load while they, the fake
// WeChat API and one instance fail in turn (make soak), and checks what
// clients saw against the failure policy.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "bench":
		err = bench(ctx, os.Args[2:])
	case "compare":
		err = compare(os.Args[2:])
	case "faults":
		err = faults(ctx, os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "miniload:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: miniload bench [flags] | miniload compare A.json B.json | miniload faults [flags] (-h for the flags)")
	os.Exit(2)
}

// params are a run's parameters, recorded with its results.
type params struct {
	Tenants       int           `json:"tenants"`
	Users         int           `json:"users_per_tenant"`
	Seed          int           `json:"seeded_per_tenant"`
	Concurrency   int           `json:"concurrency"`
	Duration      time.Duration `json:"duration_ns"`
	Instances     int           `json:"instances"`
	Rate          float64       `json:"rate"`
	Sweep         []int         `json:"sweep"`
	SweepDuration time.Duration `json:"sweep_duration_ns"`
	Scenarios     []string      `json:"scenarios"`
}

// scenarioNames are every scenario, in the order they run.
var scenarioNames = []string{"login-new", "login-returning", "refresh", "me", "mgmt-list", "console-page"}

func bench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	p := params{}
	fs.IntVar(&p.Tenants, "tenants", 10, "tenants")
	fs.IntVar(&p.Users, "users", 1000, "users per tenant, each logged in once (the login-new scenario)")
	fs.IntVar(&p.Seed, "seed", 0, "more users per tenant, inserted straight into Postgres (a large population without a login each)")
	fs.IntVar(&p.Concurrency, "concurrency", 32, "closed-loop clients")
	fs.DurationVar(&p.Duration, "duration", 10*time.Second, "length of each duration-bound scenario")
	fs.IntVar(&p.Instances, "instances", 1, "server instances (clients are spread over them)")
	fs.Float64Var(&p.Rate, "rate", 0, "open loop: requests per second instead of closed-loop clients")
	sweep := fs.String("sweep", "1,4,16,64", "concurrency levels of the chart (login-returning and me); empty for none")
	fs.DurationVar(&p.SweepDuration, "sweep-duration", 3*time.Second, "length of each sweep point")
	scen := fs.String("scenarios", strings.Join(scenarioNames, ","), "scenarios to run (login-new always runs: it seeds the users)")
	server := fs.String("server", "bin/miniauth", "the miniauth binary")
	wxfake := fs.String("wxfake", "bin/wxfake", "the wxfake binary")
	out := fs.String("out", ".dev/bench", "directory of the JSON and SVG results")
	keep := fs.Bool("keep", false, "keep the servers' logs (their directory is printed)")
	profile := fs.Bool("profile", false, "save a CPU profile of instance 1 for each scenario (<out>/<scenario>.cpu.pprof; go tool pprof -top)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, f := range strings.Split(*sweep, ",") {
		if f = strings.TrimSpace(f); f != "" {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 {
				return fmt.Errorf("-sweep: %q is not a positive number", f)
			}
			p.Sweep = append(p.Sweep, n)
		}
	}
	p.Scenarios = strings.Split(*scen, ",")
	if p.Tenants < 1 || p.Users < 1 || p.Concurrency < 1 || p.Instances < 1 {
		return errors.New("-tenants, -users, -concurrency and -instances must be at least 1")
	}

	sys, err := start(ctx, *server, *wxfake, p.Instances, os.Getenv("DATABASE_URL"), os.Getenv("REDIS_URL"))
	if sys != nil {
		defer sys.stop(*keep)
		if *keep {
			fmt.Println("logs:", sys.dir)
		}
	}
	if err != nil {
		return err
	}
	rep := report{When: time.Now().UTC(), Machine: machine(), Params: p}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	w := newWorld(sys, p)
	if *profile {
		w.profileDir = *out
	}
	if err := w.seed(); err != nil {
		return err
	}
	fmt.Printf("miniload: %d tenants x %d users (+%d seeded), %d instance(s), %d cores, %s\n\n", p.Tenants, p.Users, p.Seed, p.Instances, runtime.NumCPU(), shapeText(p))
	printHeader()
	for _, name := range append([]string{"login-new"}, p.Scenarios...) {
		if name == "login-new" && len(rep.Results) > 0 {
			continue
		}
		r, err := w.scenario(ctx, name, shape{Concurrency: p.Concurrency, Rate: p.Rate, Duration: p.Duration})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		printRow(r)
		rep.Results = append(rep.Results, r)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if len(p.Sweep) > 0 {
		fmt.Println("\nsweep (closed loop):")
		printHeader()
		for _, name := range []string{"login-returning", "me"} {
			for _, c := range p.Sweep {
				r, err := w.scenario(ctx, name, shape{Concurrency: c, Duration: p.SweepDuration})
				if err != nil {
					return fmt.Errorf("sweep %s at %d: %w", name, c, err)
				}
				printRow(r)
				rep.Sweep = append(rep.Sweep, r)
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
	}
	stamp := rep.When.Format("20060102-150405")
	jsonPath, svgPath := filepath.Join(*out, "bench-"+stamp+".json"), filepath.Join(*out, "bench-"+stamp+".svg")
	if err := rep.write(jsonPath); err != nil {
		return err
	}
	if len(rep.Sweep) > 0 {
		if err := os.WriteFile(svgPath, chart(rep), 0o644); err != nil {
			return err
		}
		fmt.Println("\nchart:", svgPath)
	}
	fmt.Println("results:", jsonPath)
	return nil
}

func shapeText(p params) string {
	if p.Rate > 0 {
		return fmt.Sprintf("open loop at %.0f req/s, %s per scenario", p.Rate, p.Duration)
	}
	return fmt.Sprintf("closed loop, %d clients, %s per scenario", p.Concurrency, p.Duration)
}
