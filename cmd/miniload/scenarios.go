package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

// world is the seeded system and the client state scenarios share.
type world struct {
	sys     *system
	p       params
	tenants []tenant
	hc      *http.Client
	console *http.Client // signed in to the console

	// profileDir, when set, receives a CPU profile of each duration-bound
	// scenario from instance 1.
	profileDir string

	mu       sync.Mutex
	sessions []*session // kept from login-new: what refresh and me use
	bestRPS  map[string]float64
}

// session is one logged-in user as a client holds it.
type session struct {
	tenant          int
	access, refresh string
}

func newWorld(sys *system, p params) *world {
	tr := &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 1024, DisableCompression: true}
	return &world{sys: sys, p: p, hc: &http.Client{Transport: tr}, bestRPS: map[string]float64{}}
}

// keepSessions is how many sessions login-new keeps for later scenarios:
// enough for every client of the largest run to own one.
func (w *world) keepSessions() int {
	n := max(w.p.Concurrency, 512)
	for _, c := range w.p.Sweep {
		n = max(n, c)
	}
	return n
}

func (w *world) seed() error {
	ts, err := w.sys.createTenants(w.p.Tenants)
	if err != nil {
		return fmt.Errorf("tenants: %w", err)
	}
	w.tenants = ts
	if w.p.Seed > 0 {
		if err := w.sys.seedUsers(context.Background(), ts, "u", w.p.Users, w.p.Seed); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	return w.signInConsole()
}

// base is the instance client c talks to: clients are spread over the
// instances as a load balancer spreads connections.
func (w *world) base(c int) string { return w.sys.urls[c%len(w.sys.urls)] }

var errExhausted = errors.New("out of prepared requests")

func (w *world) scenario(ctx context.Context, name string, s shape) (result, error) {
	var do op
	want := http.StatusOK
	switch name {
	case "login-new":
		codes, err := w.loginCodes("u", w.p.Users, w.p.Users)
		if err != nil {
			return result{}, err
		}
		s = shape{Concurrency: s.Concurrency, Rate: s.Rate, Count: len(codes)}
		w.sessions = make([]*session, min(len(codes), w.keepSessions()))
		do = w.login(codes, true)
	case "login-returning":
		// Codes for as many logins as the run could make at twice the best
		// rate seen, over the users already logged in.
		need := int(2*max(w.bestRPS["login-returning"], w.bestRPS["login-new"], 500)*s.Duration.Seconds()) + 1000
		if s.Rate > 0 {
			need = int(s.Rate*s.Duration.Seconds()) + 1000
		}
		codes, err := w.loginCodes("u", need/len(w.tenants)+1, w.p.Users+w.p.Seed)
		if err != nil {
			return result{}, err
		}
		do = w.login(codes, false)
	case "refresh":
		do = w.refresh()
	case "me":
		do = w.me()
	case "mgmt-list":
		do = w.get(func(c int) string {
			return "/api/v1/tenants/" + w.tenants[c%len(w.tenants)].Slug + "/users?limit=20"
		}, w.hc, "Bearer "+w.sys.apiKey)
	case "console-page":
		do = w.get(func(c int) string { return "/admin/tenants/" + w.tenants[c%len(w.tenants)].Slug + "/users" }, w.console, "")
	default:
		return result{}, fmt.Errorf("unknown scenario %q (want one of %s)", name, strings.Join(scenarioNames, ", "))
	}
	if (name == "refresh" || name == "me") && len(w.sessions) < max(s.Concurrency, 1) {
		return result{}, fmt.Errorf("%d sessions for %d clients: raise -users or -tenants", len(w.sessions), s.Concurrency)
	}
	u := watch(w.sys.pids())
	self := watch([]int{selfPid()})
	profiled := w.profile(name, s)
	o := drive(ctx, s, want, do)
	total, svc := u.machineCores(), u.serviceCores()
	cores, rss := u.end()
	selfCores, _ := self.end()
	if err := <-profiled; err != nil {
		return result{}, fmt.Errorf("profile: %w", err)
	}
	w.mu.Lock()
	w.bestRPS[name] = max(w.bestRPS[name], o.rps())
	w.mu.Unlock()
	r := newResult(name, s, o, cores, rss, selfCores[0])
	r.MachineCores = math.Round(total*100) / 100
	r.ServiceCores = svc
	for _, ops := range w.sys.ops {
		r.ServerGoroutines = append(r.ServerGoroutines, goroutines(ops))
	}
	return r, nil
}

// goroutines reads go_goroutines from an operations listener (-1 when it
// cannot).
func goroutines(ops string) int {
	resp, err := http.Get(ops + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			var n float64
			if _, err := fmt.Sscan(v, &n); err == nil {
				return int(n)
			}
		}
	}
	return -1
}

// profile fetches a CPU profile of instance 1 for most of the run.
func (w *world) profile(name string, s shape) <-chan error {
	done := make(chan error, 1)
	secs := int(s.Duration.Seconds()) - 1
	if w.profileDir == "" || secs < 1 {
		done <- nil
		return done
	}
	go func() {
		resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", w.sys.ops[0], secs))
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(w.profileDir, fmt.Sprintf("%s-c%d.cpu.pprof", name, s.Concurrency)))
		if err == nil {
			_, err = io.Copy(f, resp.Body)
			f.Close()
		}
		done <- err
	}()
	return done
}

// loginCode is one prepared login: request k logs in user k/T of tenant
// k%T (T tenants).
type loginCode struct {
	tenant int
	code   string
}

// loginCodes mints perTenant codes for users among prefix0 ...
// prefix(population-1) of every tenant, interleaved: all of them in order
// when perTenant covers them (login-new), else runs from random places, so
// returning logins spread over the whole population (seeded users
// included).
func (w *world) loginCodes(prefix string, perTenant, population int) ([]loginCode, error) {
	perTenant = max(1, perTenant)
	all := make([][]string, len(w.tenants))
	for i, t := range w.tenants {
		// Runs of consecutive users from random places, so a large
		// population is touched all over, not only at its start; users log
		// in again as often as the runs fall on them.
		for len(all[i]) < perTenant {
			first := len(all[i]) % population
			if perTenant < population {
				first = rand.IntN(population)
			}
			cs, err := w.sys.codes(t, prefix, first, min(1000, population-first, perTenant-len(all[i])))
			if err != nil {
				return nil, err
			}
			all[i] = append(all[i], cs...)
		}
	}
	out := make([]loginCode, 0, perTenant*len(w.tenants))
	for u := range perTenant {
		for t := range w.tenants {
			out = append(out, loginCode{t, all[t][u]})
		}
	}
	return out, nil
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func (w *world) login(codes []loginCode, keep bool) op {
	var next atomic.Int64
	return func(ctx context.Context, c int) (int, error) {
		k := int(next.Add(1) - 1)
		if k >= len(codes) {
			return 0, errExhausted
		}
		lc := codes[k]
		body := `{"code":"` + lc.code + `"}`
		req, _ := http.NewRequestWithContext(ctx, "POST", w.base(c)+"/v1/t/"+w.tenants[lc.tenant].Slug+"/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		var buf bytes.Buffer
		status, err := send(w.hc, req, &buf)
		if err == nil && status == http.StatusOK && keep && k < len(w.sessions) {
			var tr tokenResponse
			if json.Unmarshal(buf.Bytes(), &tr) == nil {
				w.sessions[k] = &session{tenant: lc.tenant, access: tr.AccessToken, refresh: tr.RefreshToken}
			}
		}
		return status, err
	}
}

// refresh rotates each client's own session's refresh token, in a chain.
func (w *world) refresh() op {
	return func(ctx context.Context, c int) (int, error) {
		s := w.sessions[c%len(w.sessions)]
		body := `{"refresh_token":"` + s.refresh + `"}`
		req, _ := http.NewRequestWithContext(ctx, "POST", w.base(c)+"/v1/t/"+w.tenants[s.tenant].Slug+"/refresh", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		var buf bytes.Buffer
		status, err := send(w.hc, req, &buf)
		if err == nil && status == http.StatusOK {
			var tr tokenResponse
			if json.Unmarshal(buf.Bytes(), &tr) == nil {
				s.access, s.refresh = tr.AccessToken, tr.RefreshToken
			}
		}
		return status, err
	}
}

// me is GET /me with each client's own access token, reused as an app
// reuses it until it expires.
func (w *world) me() op {
	return func(ctx context.Context, c int) (int, error) {
		s := w.sessions[c%len(w.sessions)]
		req, _ := http.NewRequestWithContext(ctx, "GET", w.base(c)+"/v1/t/"+w.tenants[s.tenant].Slug+"/me", nil)
		req.Header.Set("Authorization", "Bearer "+s.access)
		return send(w.hc, req, nil)
	}
}

func (w *world) get(path func(c int) string, hc *http.Client, auth string) op {
	return func(ctx context.Context, c int) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", w.base(c)+path(c), nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return send(hc, req, nil)
	}
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// signInConsole signs the benchmark's platform admin in to the console
// once; its cookie is valid on every instance.
func (w *world) signInConsole() error {
	jar, _ := cookiejar.New(nil)
	w.console = &http.Client{Transport: w.hc.Transport, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	base := w.sys.urls[0]
	resp, err := w.console.Get(base + "/admin/login")
	if err != nil {
		return err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(page)
	if m == nil {
		return errors.New("console sign-in page without a _csrf field")
	}
	form := url.Values{"email": {benchAdmin}, "password": {w.sys.password}, "_csrf": {string(m[1])}, "next": {"/admin/"}}
	req, _ := http.NewRequest("POST", base+"/admin/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err = w.console.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		return fmt.Errorf("console sign-in answered %d", resp.StatusCode)
	}
	return nil
}
