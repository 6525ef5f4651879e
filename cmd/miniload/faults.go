package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/miniauth/miniauth/auth/wechat/fake"
)

// recoverBound is how soon after a dependency returns every request must
// succeed again.
const recoverBound = 5 * time.Second

// faultNames are the faults of a run, in order; sigterm ends an instance,
// so it comes last.
var faultNames = []string{"redis", "postgres", "pool", "wechat-slow", "wechat-flap", "wechat-garbage", "sigterm"}

// faultParams are a fault run's parameters.
type faultParams struct {
	Instances int           `json:"instances"`
	Tenants   int           `json:"tenants"`
	Clients   int           `json:"clients"`
	Think     time.Duration `json:"think_ns"`
	Outage    time.Duration `json:"outage_ns"`
	Settle    time.Duration `json:"settle_ns"`
	Cycles    int           `json:"cycles"`
	Faults    []string      `json:"faults"`
	// WeChatTimeout and StatementTimeout are the servers' settings.
	WeChatTimeout    time.Duration `json:"wechat_timeout_ns"`
	StatementTimeout time.Duration `json:"statement_timeout_ns"`
}

// faults is `miniload faults`: the system under a steady mixed load
// (logins, refreshes, /me over every instance) while its dependencies
// fail one after another. For each fault it checks that clients saw only
// what the failure policy allows, that every request succeeds again within
// recoverBound of the dependency's return, and at the end that goroutines
// did not grow, nothing panicked, and the data holds its invariants.
func faults(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("faults", flag.ContinueOnError)
	p := faultParams{}
	fs.IntVar(&p.Instances, "instances", 3, "server instances")
	fs.IntVar(&p.Tenants, "tenants", 4, "tenants")
	fs.IntVar(&p.Clients, "clients", 24, "clients, each logging in, refreshing and calling /me in turn")
	fs.DurationVar(&p.Think, "think", 10*time.Millisecond, "each client's pause between requests")
	fs.DurationVar(&p.Outage, "outage", 10*time.Second, "how long each fault lasts")
	fs.DurationVar(&p.Settle, "settle", 5*time.Second, "steady load before the first fault and after each recovery")
	fs.IntVar(&p.Cycles, "cycles", 1, "times the faults are repeated (sigterm only in the last)")
	names := fs.String("faults", strings.Join(faultNames, ","), "faults to provoke, in order")
	fs.DurationVar(&p.WeChatTimeout, "wechat-timeout", time.Second, "the servers' MINIAUTH_WECHAT_TIMEOUT (wechat-slow delays twice as long)")
	fs.DurationVar(&p.StatementTimeout, "statement-timeout", 2*time.Second, "the servers' MINIAUTH_DB_STATEMENT_TIMEOUT")
	server := fs.String("server", "bin/miniauth", "the miniauth binary")
	wxfake := fs.String("wxfake", "bin/wxfake", "the wxfake binary")
	script := fs.String("services", "deploy/local/services.sh", "the script that starts private Postgres and Redis")
	out := fs.String("out", ".dev/faults", "directory of the JSON report")
	keep := fs.Bool("keep", false, "keep the servers' logs (their directory is printed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p.Faults = strings.Split(*names, ",")
	for _, f := range p.Faults {
		if !slices.Contains(faultNames, f) {
			return fmt.Errorf("-faults: unknown fault %q (want some of %s)", f, strings.Join(faultNames, ","))
		}
	}
	if p.Instances < 2 || p.Clients < p.Instances || p.Tenants < 1 || p.Cycles < 1 {
		return errors.New("-instances must be at least 2, -clients at least -instances, -tenants and -cycles at least 1")
	}

	svc, err := startServices(ctx, *script)
	if svc != nil {
		defer svc.close()
	}
	if err != nil {
		return err
	}
	sys, err := start(ctx, *server, *wxfake, p.Instances, svc.DatabaseURL, svc.RedisURL,
		"MINIAUTH_WECHAT_TIMEOUT="+p.WeChatTimeout.String(), "MINIAUTH_DB_STATEMENT_TIMEOUT="+p.StatementTimeout.String())
	if sys != nil {
		defer sys.stop(*keep)
		if *keep {
			fmt.Println("logs:", sys.dir)
		}
	}
	if err != nil {
		return err
	}
	r := &faultRun{p: p, svc: svc, sys: sys, users: map[string]bool{},
		hc:       &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		draining: make([]atomic.Bool, p.Instances), gone: make([]atomic.Bool, p.Instances)}
	if r.tenants, err = sys.createTenants(p.Tenants); err != nil {
		return fmt.Errorf("tenants: %w", err)
	}
	rep, err := r.run(ctx)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	path := filepath.Join(*out, "faults-"+rep.When.Format("20060102-150405")+".json")
	if err := writeJSON(path, rep); err != nil {
		return err
	}
	fmt.Println("\nreport:", path)
	if n := len(rep.Failures); n > 0 {
		return fmt.Errorf("%d check(s) failed:\n  %s", n, strings.Join(rep.Failures, "\n  "))
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// faultRun is one run's system, load and record.
type faultRun struct {
	p       faultParams
	svc     *privateServices
	sys     *system
	tenants []tenant
	hc      *http.Client
	t0      time.Time
	// draining marks an instance sent SIGTERM, gone one that refused a
	// request at the door since: clients keep sending to a draining
	// instance until it refuses them, then move to another, as behind a
	// load balancer.
	draining, gone []atomic.Bool

	mu     sync.Mutex
	recs   []outcomeRec
	users  map[string]bool // ids of the users logins returned
	issued []string        // the refresh tokens clients were given
	moved  int
}

// outcomeRec is one request as its client saw it.
type outcomeRec struct {
	At, End time.Duration // since the run began
	Op      string
	Inst    int    // the instance, from 1
	Status  int    // 0 when no response came
	Code    string // the problem code, if any
	Err     string
}

func (o outcomeRec) outcome() string {
	switch {
	case o.Err != "":
		return "error"
	case o.Code != "":
		return strconv.Itoa(o.Status) + " " + o.Code
	}
	return strconv.Itoa(o.Status)
}

// faultReport is what a run found, also written as JSON.
type faultReport struct {
	When       time.Time      `json:"when"`
	Params     faultParams    `json:"params"`
	Phases     []phaseReport  `json:"phases"`
	Requests   int            `json:"requests"`
	Moved      int            `json:"moved"`
	Outcomes   map[string]int `json:"outcomes"`
	Goroutines [2][]int       `json:"goroutines"` // before the load and after it, per instance
	Users      int            `json:"users"`
	LogScan    logScan        `json:"log_scan"`
	Failures   []string       `json:"failures"`
}

// phaseReport is one fault: when it began, when the dependency was back,
// what each operation saw from the fault to recoverBound after it, and
// how long after the return the last failure ended.
type phaseReport struct {
	Fault    string                    `json:"fault"`
	Start    time.Duration             `json:"start_ns"`
	Back     time.Duration             `json:"back_ns"`
	Seen     map[string]map[string]int `json:"seen"`
	Recovery map[string]time.Duration  `json:"recovery_ns"`
	Note     string                    `json:"note,omitempty"`
}

// allowed is the failure policy (README "Bans, rate limits and abuse
// defences"), per fault and operation: what a client may see besides 200
// while the fault lasts and until recoverBound after it.
func allowed(fault, op string) []string {
	switch fault {
	case "postgres", "pool":
		return []string{"503 unavailable"}
	case "wechat-slow", "wechat-flap", "wechat-garbage":
		if op == "login" {
			return []string{"502 wechat_unavailable"}
		}
	}
	return nil
}

func (r *faultRun) run(ctx context.Context) (faultReport, error) {
	rep := faultReport{When: time.Now().UTC(), Params: r.p, Outcomes: map[string]int{}}
	for _, ops := range r.sys.ops {
		rep.Goroutines[0] = append(rep.Goroutines[0], goroutines(ops))
	}
	held, err := r.prepareHeld(ctx)
	if err != nil {
		return rep, err
	}
	fmt.Printf("miniload faults: %d instances, %d clients (%s think), %s outages, private Postgres and Redis\n\n",
		r.p.Instances, r.p.Clients, r.p.Think, r.p.Outage)
	fmt.Printf("%-15s %9s  %-58s %s\n", "fault", "recovery", "seen during the fault (operation: outcome x count)", "")

	r.t0 = time.Now()
	lctx, stopLoad := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for c := range r.p.Clients {
		wg.Add(1)
		go func() { defer wg.Done(); r.client(lctx, c) }()
	}
	sleep(ctx, r.p.Settle)
	var schedule []string
	for cycle := range r.p.Cycles {
		for _, f := range r.p.Faults {
			if f != "sigterm" || cycle == r.p.Cycles-1 {
				schedule = append(schedule, f)
			}
		}
	}
	slices.SortStableFunc(schedule, func(a, b string) int { // sigterm last
		return boolInt(a == "sigterm") - boolInt(b == "sigterm")
	})
	var windows []window
	for _, f := range schedule {
		if ctx.Err() != nil {
			break
		}
		start := time.Since(r.t0)
		note, err := r.provoke(ctx, f)
		if err != nil {
			stopLoad()
			wg.Wait()
			return rep, fmt.Errorf("%s: %w", f, err)
		}
		windows = append(windows, window{f, start, time.Since(r.t0), note})
		sleep(ctx, recoverBound+r.p.Settle)
		for _, fail := range r.checkHeld(ctx, held) {
			rep.Failures = append(rep.Failures, f+": "+fail)
		}
	}
	stopLoad()
	wg.Wait()
	end := time.Since(r.t0)

	r.mu.Lock()
	recs := slices.Clone(r.recs)
	rep.Moved, rep.Users = r.moved, len(r.users)
	r.mu.Unlock()
	slices.SortFunc(recs, func(a, b outcomeRec) int { return int(a.At - b.At) })
	rep.Requests = len(recs)
	for _, o := range recs {
		rep.Outcomes[o.Op+": "+o.outcome()]++
	}

	phases, fails := judge(windows, recs, end)
	rep.Phases, rep.Failures = phases, append(rep.Failures, fails...)
	for _, ph := range phases {
		printPhase(ph)
	}

	r.hc.CloseIdleConnections()
	time.Sleep(2 * time.Second)
	for i, ops := range r.sys.ops {
		n := -1
		if !r.draining[i].Load() {
			n = goroutines(ops)
			if before := rep.Goroutines[0][i]; n < 0 || n > before+20 {
				rep.Failures = append(rep.Failures, fmt.Sprintf("instance %d: %d goroutines after the run, %d before it", i+1, n, before))
			}
		}
		rep.Goroutines[1] = append(rep.Goroutines[1], n)
	}
	logFails, scanned := r.checkLogs()
	rep.Failures, rep.LogScan = append(rep.Failures, logFails...), scanned
	rep.Failures = append(rep.Failures, r.checkData(ctx, held, rep.Users)...)
	fmt.Printf("\n%d requests (%d refused at the door of the stopping instance, then sent to another), %d users; goroutines before %v, after %v\n",
		rep.Requests, rep.Moved, rep.Users, rep.Goroutines[0], rep.Goroutines[1])
	fmt.Printf("%d log files (%d MB) searched for %d secrets and for token shapes\n", scanned.Files, scanned.Bytes>>20, scanned.Secrets)
	return rep, nil
}

// window is one fault: when it began, when its dependency was back.
type window struct {
	fault       string
	start, back time.Duration
	note        string
}

// judge holds each request against the failure policy. A request falls in
// the window of the last fault begun before it ended (one in flight when
// a fault begins meets the fault): from the fault's start to recoverBound
// after its dependency returned it may see what allowed says, and
// otherwise only success. Before the first fault, only success.
func judge(windows []window, recs []outcomeRec, end time.Duration) ([]phaseReport, []string) {
	var phases []phaseReport
	var fails []string
	for i, w := range windows {
		next := end
		if i+1 < len(windows) {
			next = windows[i+1].start
		}
		ph := phaseReport{Fault: w.fault, Start: w.start, Back: w.back, Note: w.note,
			Seen: map[string]map[string]int{}, Recovery: map[string]time.Duration{}}
		for _, o := range recs {
			if o.End <= w.start || o.End > next {
				continue
			}
			out := o.outcome()
			ok := out == "200"
			if o.At < w.back+recoverBound {
				if ph.Seen[o.Op] == nil {
					ph.Seen[o.Op] = map[string]int{}
				}
				ph.Seen[o.Op][out]++
				ok = ok || slices.Contains(allowed(w.fault, o.Op), out)
			}
			if out != "200" && o.End > w.back {
				ph.Recovery[o.Op] = max(ph.Recovery[o.Op], o.End-w.back)
			}
			if !ok {
				fails = append(fails, fmt.Sprintf("%s: %s at %s on instance %d saw %s %s", w.fault, o.Op, o.At.Round(time.Millisecond), o.Inst, out, o.Err))
			}
		}
		for op, d := range ph.Recovery {
			if d > recoverBound {
				fails = append(fails, fmt.Sprintf("%s: %s failed until %s after the dependency returned", w.fault, op, d.Round(time.Millisecond)))
			}
		}
		phases = append(phases, ph)
	}
	for _, o := range recs {
		if (len(windows) == 0 || o.End <= windows[0].start) && o.outcome() != "200" {
			fails = append(fails, fmt.Sprintf("steady load: %s at %s on instance %d saw %s %s", o.Op, o.At.Round(time.Millisecond), o.Inst, o.outcome(), o.Err))
		}
	}
	return phases, fails
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}

func printPhase(ph phaseReport) {
	var seen []string
	for _, op := range []string{"login", "refresh", "me"} {
		var outs []string
		for out, n := range ph.Seen[op] {
			outs = append(outs, fmt.Sprintf("%s x%d", out, n))
		}
		slices.Sort(outs)
		seen = append(seen, op+": "+strings.Join(outs, ", "))
	}
	var rec time.Duration
	for _, d := range ph.Recovery {
		rec = max(rec, d)
	}
	fmt.Printf("%-15s %9s  %s %s\n", ph.Fault, rec.Round(10*time.Millisecond), strings.Join(seen, "; "), ph.Note)
}

// provoke makes one fault and returns once its dependency is back.
func (r *faultRun) provoke(ctx context.Context, f string) (string, error) {
	jscode := func(fault map[string]any) error {
		fault["endpoint"] = fake.EndpointJSCode2Session
		fault["times"] = 1 << 30
		return r.sys.fake("/_fake/faults", fault, nil)
	}
	clear := func() error { return r.sys.fake("/_fake/reset", struct{}{}, nil) }
	switch f {
	case "redis":
		if err := r.svc.stop(ctx, "redis"); err != nil {
			return "", err
		}
		sleep(ctx, r.p.Outage)
		return "", r.svc.restart(ctx)
	case "postgres":
		if err := r.svc.stop(ctx, "postgres"); err != nil {
			return "", err
		}
		sleep(ctx, r.p.Outage/3)
		return "", r.svc.restart(ctx)
	case "pool":
		// Every statement on sessions waits for the lock until the
		// statement timeout: the pools fill with waiting requests.
		conn, err := pgx.Connect(ctx, r.sys.dbURL)
		if err != nil {
			return "", err
		}
		defer conn.Close(context.Background())
		tx, err := conn.Begin(ctx)
		if err != nil {
			return "", err
		}
		if _, err := tx.Exec(ctx, `LOCK TABLE sessions, refresh_tokens IN ACCESS EXCLUSIVE MODE`); err != nil {
			return "", err
		}
		sleep(ctx, r.p.Outage)
		return "", tx.Rollback(ctx)
	case "wechat-slow":
		if err := jscode(map[string]any{"delay_ms": (2 * r.p.WeChatTimeout).Milliseconds()}); err != nil {
			return "", err
		}
		sleep(ctx, r.p.Outage)
		return "", clear()
	case "wechat-flap":
		for end := time.Now().Add(r.p.Outage); time.Now().Before(end) && ctx.Err() == nil; {
			if err := jscode(map[string]any{"http_status": http.StatusBadGateway}); err != nil {
				return "", err
			}
			sleep(ctx, time.Second)
			if err := clear(); err != nil {
				return "", err
			}
			sleep(ctx, time.Second)
		}
		return "", nil
	case "wechat-garbage":
		if err := jscode(map[string]any{"garbage": true}); err != nil {
			return "", err
		}
		sleep(ctx, r.p.Outage)
		return "", clear()
	case "sigterm":
		i := len(r.sys.servers) - 1
		sleep(ctx, r.p.Outage/2)
		r.draining[i].Store(true)
		cmd := r.sys.servers[i]
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			return "", err
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				return "", fmt.Errorf("instance %d after SIGTERM: %w", i+1, err)
			}
		case <-time.After(30 * time.Second):
			return "", fmt.Errorf("instance %d still runs 30 s after SIGTERM", i+1)
		}
		r.gone[i].Store(true)
		r.sys.servers[i].Process = nil // stop must not signal it again
		return fmt.Sprintf("(instance %d drained and exited 0)", i+1), nil
	}
	return "", fmt.Errorf("unknown fault %q", f)
}

// client is one mini-program user's app: it logs in, then calls /me and
// now and then refreshes, and logs in again every so often, as a new user
// or as one it was before. A session it loses (a refresh answered with an
// error) is replaced by a new login.
func (r *faultRun) client(ctx context.Context, c int) {
	t := r.tenants[c%len(r.tenants)]
	prefix := fmt.Sprintf("c%d-", c)
	var access, refresh string
	users := 0
	for n := 0; ctx.Err() == nil; n++ {
		switch {
		case access == "" || n%50 == 0:
			k := users
			if users > 0 && n%100 == 0 {
				k = rand.IntN(users)
			}
			codes, err := r.sys.codes(t, prefix, k, 1)
			if err != nil || len(codes) != 1 {
				break
			}
			var tr tokenResponseUser
			if r.call(ctx, c, "login", "POST", "/v1/t/"+t.Slug+"/login", `{"code":"`+codes[0]+`"}`, "", &tr) {
				access, refresh = tr.AccessToken, tr.RefreshToken
				if k == users {
					users++
				}
				r.mu.Lock()
				r.users[tr.User.ID] = true
				r.issued = append(r.issued, refresh)
				r.mu.Unlock()
			}
		case n%10 == 0:
			var tr tokenResponseUser
			if r.call(ctx, c, "refresh", "POST", "/v1/t/"+t.Slug+"/refresh", `{"refresh_token":"`+refresh+`"}`, "", &tr) {
				access, refresh = tr.AccessToken, tr.RefreshToken
				r.mu.Lock()
				r.issued = append(r.issued, refresh)
				r.mu.Unlock()
			}
		default:
			r.call(ctx, c, "me", "GET", "/v1/t/"+t.Slug+"/me", "", access, nil)
		}
		sleep(ctx, r.p.Think)
	}
}

type tokenResponseUser struct {
	tokenResponse
	User struct {
		ID string `json:"id"`
	} `json:"user"`
}

// call sends one request to client c's instance and records what came
// back; it reports a 200 whose body decoded into out.
func (r *faultRun) call(ctx context.Context, c int, op, method, path, body, access string, out any) bool {
	n := len(r.sys.urls)
	for try := range n {
		inst := (c + try) % n
		if r.gone[inst].Load() {
			continue
		}
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		// Not cancelled when the run ends: a request sent is seen through,
		// so every user a login made is one the client was told of.
		req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), method, r.sys.urls[inst]+path, rd)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if access != "" {
			req.Header.Set("Authorization", "Bearer "+access)
		}
		at := time.Since(r.t0)
		resp, err := r.hc.Do(req)
		rec := outcomeRec{At: at, Op: op, Inst: inst + 1}
		var raw []byte
		if err == nil {
			raw, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			rec.Status = resp.StatusCode
		}
		rec.End = time.Since(r.t0)
		if err != nil && r.draining[inst].Load() && refusedAtTheDoor(err) {
			r.gone[inst].Store(true)
			r.mu.Lock()
			r.moved++
			r.mu.Unlock()
			continue
		}
		if err != nil {
			rec.Err = err.Error()
		} else if rec.Status >= 400 {
			var p struct {
				Code string `json:"code"`
			}
			_ = json.Unmarshal(raw, &p)
			rec.Code = p.Code
		}
		r.mu.Lock()
		r.recs = append(r.recs, rec)
		r.mu.Unlock()
		return err == nil && rec.Status == http.StatusOK && (out == nil || json.Unmarshal(raw, out) == nil)
	}
	return false
}

// refusedAtTheDoor is an error of a request a stopping server never took:
// the connection was refused, or closed while idle.
func refusedAtTheDoor(err error) bool {
	s := err.Error()
	return errors.Is(err, syscall.ECONNREFUSED) || strings.Contains(s, "server closed idle connection") ||
		errors.Is(err, io.EOF) && !strings.Contains(s, "unexpected")
}

// held are a banned user's and a revoked user's tokens, made before the
// faults: every fault must leave both refused.
type held struct {
	tenant                   tenant
	banned, revoked, refresh string // access tokens, and the revoked user's refresh token
	mutations                int    // audit entries the run's own changes must have left
}

func (r *faultRun) prepareHeld(ctx context.Context) (held, error) {
	h := held{tenant: r.tenants[0]}
	login := func(user string) (tokenResponseUser, error) {
		cs, err := r.sys.codes(h.tenant, user, 0, 1)
		if err != nil {
			return tokenResponseUser{}, err
		}
		var tr tokenResponseUser
		req, _ := http.NewRequestWithContext(ctx, "POST", r.sys.urls[0]+"/v1/t/"+h.tenant.Slug+"/login", strings.NewReader(`{"code":"`+cs[0]+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := r.hc.Do(req)
		if err != nil {
			return tr, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return tr, fmt.Errorf("login %s: %d", user, resp.StatusCode)
		}
		return tr, json.NewDecoder(resp.Body).Decode(&tr)
	}
	b, err := login("held-banned")
	if err != nil {
		return h, err
	}
	v, err := login("held-revoked")
	if err != nil {
		return h, err
	}
	h.banned, h.revoked, h.refresh = b.AccessToken, v.AccessToken, v.RefreshToken
	if err := r.sys.api("POST", "/tenants/"+h.tenant.Slug+"/bans", map[string]any{"user_id": b.User.ID, "reason": "held across faults"}); err != nil {
		return h, err
	}
	if err := r.sys.api("POST", "/tenants/"+h.tenant.Slug+"/users/"+v.User.ID+"/revoke-sessions", nil); err != nil {
		return h, err
	}
	h.mutations = 2
	r.users[b.User.ID], r.users[v.User.ID] = true, true
	return h, nil
}

// checkHeld asks every running instance about the held tokens.
func (r *faultRun) checkHeld(ctx context.Context, h held) []string {
	var fails []string
	for i, base := range r.sys.urls {
		if r.draining[i].Load() {
			continue
		}
		for _, c := range []struct {
			what, method, path, body, access string
			status                           int
			code                             string
		}{
			{"the banned user's token", "GET", "/me", "", h.banned, http.StatusForbidden, "user_banned"},
			{"the revoked session's token", "GET", "/me", "", h.revoked, http.StatusUnauthorized, "invalid_token"},
			{"the revoked session's refresh token", "POST", "/refresh", `{"refresh_token":"` + h.refresh + `"}`, "", http.StatusUnauthorized, ""},
		} {
			var rd io.Reader
			if c.body != "" {
				rd = strings.NewReader(c.body)
			}
			req, _ := http.NewRequestWithContext(ctx, c.method, base+"/v1/t/"+h.tenant.Slug+c.path, rd)
			req.Header.Set("Content-Type", "application/json")
			if c.access != "" {
				req.Header.Set("Authorization", "Bearer "+c.access)
			}
			resp, err := r.hc.Do(req)
			if err != nil {
				fails = append(fails, fmt.Sprintf("instance %d: %s: %v", i+1, c.what, err))
				continue
			}
			var p struct {
				Code string `json:"code"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&p)
			resp.Body.Close()
			if resp.StatusCode != c.status || c.code != "" && p.Code != c.code {
				fails = append(fails, fmt.Sprintf("instance %d: %s answered %d %s, want %d %s", i+1, c.what, resp.StatusCode, p.Code, c.status, c.code))
			}
		}
	}
	return fails
}

// checkLogs reads every log of the run once: the servers' must not
// mention a panic, and none (the servers', Postgres's, Redis's) may hold a
// secret.
func (r *faultRun) checkLogs() (fails []string, scanned logScan) {
	search, err := r.sys.secrets(r.tenants)
	if err != nil {
		fails = append(fails, "secrets: "+err.Error())
	}
	r.mu.Lock()
	search.add("a refresh token", false, r.issued...)
	r.mu.Unlock()
	scanned.Secrets = search.size()
	scanned.Files, scanned.Bytes, err = eachLog(func(name, text string) {
		if strings.HasPrefix(name, "miniauth-") && strings.Contains(text, "panic") {
			fails = append(fails, name+" mentions a panic")
		}
		for _, kind := range search.find(text) {
			fails = append(fails, name+" holds "+kind)
		}
	}, r.sys.dir, r.svc.dir)
	if err != nil {
		fails = append(fails, "reading the logs: "+err.Error())
	}
	return fails, scanned
}

// checkData checks the database after the run: one user per (tenant,
// openid), and exactly the users logins returned (a login that failed
// wrote nothing); no session with two live refresh tokens; the held
// changes audited.
func (r *faultRun) checkData(ctx context.Context, h held, users int) []string {
	conn, err := pgx.Connect(ctx, r.sys.dbURL)
	if err != nil {
		return []string{"invariants: " + err.Error()}
	}
	defer conn.Close(context.Background())
	var fails []string
	for _, c := range []struct {
		what  string
		query string
		want  int
	}{
		{"(tenant, openid) pairs with more than one user", `SELECT count(*) FROM (SELECT 1 FROM users GROUP BY tenant_id, openid HAVING count(*) > 1) d`, 0},
		{"users", `SELECT count(*) FROM users`, users},
		{"sessions with two live refresh tokens", `SELECT count(*) FROM (SELECT 1 FROM refresh_tokens WHERE rotated_at IS NULL AND expires_at > now() GROUP BY session_id HAVING count(*) > 1) d`, 0},
		{"audit entries of the held ban and revocation", `SELECT count(*) FROM audit_log WHERE action IN ('ban.create', 'user.revoke_sessions')`, h.mutations},
	} {
		var n int
		if err := conn.QueryRow(ctx, c.query).Scan(&n); err != nil {
			fails = append(fails, c.what+": "+err.Error())
		} else if n != c.want {
			fails = append(fails, fmt.Sprintf("%s: %d, want %d", c.what, n, c.want))
		}
	}
	return fails
}
