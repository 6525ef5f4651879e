package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// result is one scenario's line of the table.
type result struct {
	Scenario    string  `json:"scenario"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate,omitempty"`
	Requests    int     `json:"requests"`
	Seconds     float64 `json:"seconds"`
	RPS         float64 `json:"rps"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	P999ms      float64 `json:"p999_ms"`
	// P99OKms is the p99 of the successful requests alone (under overload,
	// of those admitted).
	P99OKms     float64        `json:"p99_ok_ms"`
	Errors      int            `json:"errors"`
	FirstError  string         `json:"first_error,omitempty"`
	Dropped     int            `json:"dropped,omitempty"`
	Statuses    map[string]int `json:"statuses"`
	ServerCores []float64      `json:"server_cores"`
	ServerRSSMB []float64      `json:"server_rss_mb"`
	// ServerGoroutines are each instance's goroutines once the run ended
	// (go_goroutines on its /metrics): across a long run they must not grow.
	ServerGoroutines []int   `json:"server_goroutines"`
	LoadCores        float64 `json:"loadgen_cores"`
	// MachineCores is every process's CPU: the servers, Postgres, Redis,
	// the fake and the load generator.
	MachineCores float64 `json:"machine_cores"`
	// ServiceCores are the cores Postgres (all its processes), Redis and
	// the fake WeChat API used.
	ServiceCores map[string]float64 `json:"service_cores"`
}

func newResult(name string, s shape, o outcome, cores, rss []float64, self float64) result {
	ms := func(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }
	st := map[string]int{}
	for k, v := range o.Statuses {
		st[strconv.Itoa(k)] = v
	}
	return result{
		Scenario: name, Concurrency: s.Concurrency, Rate: s.Rate, Requests: o.Requests, Seconds: o.Elapsed.Seconds(),
		RPS: math.Round(o.rps()), P50ms: ms(o.quantile(.5)), P99ms: ms(o.quantile(.99)), P999ms: ms(o.quantile(.999)), P99OKms: ms(quantile(o.OK, .99)),
		Errors: o.Errors, FirstError: o.FirstErr, Dropped: o.Dropped, Statuses: st,
		ServerCores: cores, ServerRSSMB: rss, LoadCores: math.Round(self*100) / 100,
	}
}

func printHeader() {
	fmt.Printf("%-16s %5s %9s %8s %8s %8s %7s %-14s %-12s %7s %6s %6s %6s %7s\n",
		"operation", "conc", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "errors", "server CPU", "server RSS", "loadgen", "pg", "redis", "wxfake", "machine")
}

func printRow(r result) {
	conc := strconv.Itoa(r.Concurrency)
	if r.Rate > 0 {
		conc = "open"
	}
	join := func(vs []float64, f string) string {
		var parts []string
		for _, v := range vs {
			parts = append(parts, fmt.Sprintf(f, v))
		}
		return strings.Join(parts, "+")
	}
	fmt.Printf("%-16s %5s %9.0f %8.2f %8.2f %8.2f %7d %-14s %-12s %7.2f %6.2f %6.2f %6.2f %7.2f\n",
		r.Scenario, conc, r.RPS, r.P50ms, r.P99ms, r.P999ms, r.Errors,
		join(r.ServerCores, "%.2f")+" cores", join(r.ServerRSSMB, "%.0f")+" MB", r.LoadCores,
		r.ServiceCores["postgres"], r.ServiceCores["redis-server"], r.ServiceCores["wxfake"], r.MachineCores)
	if r.Dropped > 0 {
		fmt.Printf("%16s %d requests not sent on time: the load generator could not keep the rate\n", "", r.Dropped)
	}
	if r.FirstError != "" {
		fmt.Printf("%16s first error: %s; p99 of the %d successes %.2f ms\n", "", r.FirstError, r.Requests-r.Errors, r.P99OKms)
	}
}

// report is a whole run, as JSON.
type report struct {
	When    time.Time `json:"when"`
	Machine struct {
		CPUs   int    `json:"cpus"`
		Go     string `json:"go"`
		Kernel string `json:"kernel"`
		Model  string `json:"cpu_model"`
	} `json:"machine"`
	Params  params   `json:"params"`
	Results []result `json:"results"`
	Sweep   []result `json:"sweep"`
}

func machine() (m struct {
	CPUs   int    `json:"cpus"`
	Go     string `json:"go"`
	Kernel string `json:"kernel"`
	Model  string `json:"cpu_model"`
}) {
	m.CPUs, m.Go = runtime.NumCPU(), runtime.Version()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.Model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return m
}

func selfPid() int { return os.Getpid() }

func (r report) write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func readReport(path string) (report, error) {
	var r report
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	return r, json.Unmarshal(b, &r)
}

// compare prints B against A, scenario by scenario.
func compare(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: miniload compare A.json B.json")
	}
	a, err := readReport(args[0])
	if err != nil {
		return err
	}
	b, err := readReport(args[1])
	if err != nil {
		return err
	}
	key := func(r result) string { return fmt.Sprintf("%s@%d", r.Scenario, r.Concurrency) }
	old := map[string]result{}
	for _, r := range append(a.Results, a.Sweep...) {
		old[key(r)] = r
	}
	pct := func(x, y float64) string {
		if x == 0 {
			return "   n/a"
		}
		return fmt.Sprintf("%+6.1f%%", (y-x)/x*100)
	}
	fmt.Printf("%-22s %9s %9s %8s %9s %9s %8s\n", "operation@clients", "req/s A", "req/s B", "delta", "p99 A", "p99 B", "delta")
	for _, r := range append(b.Results, b.Sweep...) {
		o, ok := old[key(r)]
		if !ok {
			continue
		}
		fmt.Printf("%-22s %9.0f %9.0f %8s %9.2f %9.2f %8s\n", key(r), o.RPS, r.RPS, pct(o.RPS, r.RPS), o.P99ms, r.P99ms, pct(o.P99ms, r.P99ms))
	}
	return nil
}

// chart draws throughput and p99 against concurrency for each swept
// scenario, side by side, as SVG.
func chart(r report) []byte {
	const w, h, pad = 420, 300, 56
	var b bytes.Buffer
	names := []string{}
	by := map[string][]result{}
	for _, s := range r.Sweep {
		if _, ok := by[s.Scenario]; !ok {
			names = append(names, s.Scenario)
		}
		by[s.Scenario] = append(by[s.Scenario], s)
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", w*len(names), h+30)
	fmt.Fprintf(&b, `<text x="8" y="%d" fill="#555">miniload sweep, %d CPUs (%s), %d instance(s), closed loop; load generator on the same cores</text>`+"\n",
		h+22, r.Machine.CPUs, r.Machine.Model, r.Params.Instances)
	for i, name := range names {
		pts := by[name]
		x0 := i * w
		maxRPS, maxP99 := 1.0, 0.1
		for _, p := range pts {
			maxRPS, maxP99 = math.Max(maxRPS, p.RPS), math.Max(maxP99, p.P99ms)
		}
		px := func(j int) float64 {
			if len(pts) == 1 {
				return float64(x0 + pad)
			}
			return float64(x0+pad) + float64(j)*float64(w-2*pad)/float64(len(pts)-1)
		}
		py := func(v, top float64) float64 { return float64(h-pad) - v/top*float64(h-2*pad) }
		fmt.Fprintf(&b, `<text x="%d" y="18" font-size="13" font-weight="bold">%s</text>`+"\n", x0+pad, name)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`+"\n", x0+pad, h-pad, x0+w-pad, h-pad)
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#1f77b4">req/s (solid), top %.0f</text>`+"\n", x0+4, pad-8, maxRPS)
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#d62728" text-anchor="end">p99 (dashed), top %.1f ms</text>`+"\n", x0+w-4, pad-8, maxP99)
		var rps, p99 []string
		for j, p := range pts {
			rps = append(rps, fmt.Sprintf("%.1f,%.1f", px(j), py(p.RPS, maxRPS)))
			p99 = append(p99, fmt.Sprintf("%.1f,%.1f", px(j), py(p.P99ms, maxP99)))
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", px(j), h-pad+14, p.Concurrency)
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="#1f77b4"><title>%d clients: %.0f req/s</title></circle>`+"\n", px(j), py(p.RPS, maxRPS), p.Concurrency, p.RPS)
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="#d62728"><title>%d clients: p99 %.2f ms</title></circle>`+"\n", px(j), py(p.P99ms, maxP99), p.Concurrency, p.P99ms)
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="%s"/>`+"\n", strings.Join(rps, " "))
		fmt.Fprintf(&b, `<polyline fill="none" stroke="#d62728" stroke-width="2" stroke-dasharray="4 3" points="%s"/>`+"\n", strings.Join(p99, " "))
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#555">clients</text>`+"\n", x0+w/2, h-pad+28)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
