// Package metrics is a minimal Prometheus text-format registry: counters
// with labels, enough for the events operators alert on (limits hit, bans,
// fail-open decisions) without pulling in a client library.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Registry holds counters and serves them at /metrics.
type Registry struct {
	mu       sync.Mutex
	counters []*Counter
	gauges   []*Gauge
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Counter is a monotonically increasing count, split by label values.
type Counter struct {
	name, help string
	labels     []string
	mu         sync.Mutex
	values     map[string]*atomic.Int64 // joined label values -> count
}

// Counter registers a counter.
func (r *Registry) Counter(name, help string, labels ...string) *Counter {
	c := &Counter{name: name, help: help, labels: labels, values: map[string]*atomic.Int64{}}
	r.mu.Lock()
	r.counters = append(r.counters, c)
	r.mu.Unlock()
	return c
}

// Inc adds one for the given label values (in the order of the labels).
func (c *Counter) Inc(values ...string) {
	if c == nil {
		return
	}
	key := strings.Join(values, "\x00")
	c.mu.Lock()
	v, ok := c.values[key]
	if !ok {
		v = &atomic.Int64{}
		c.values[key] = v
	}
	c.mu.Unlock()
	v.Add(1)
}

// Value returns the count for the given label values.
func (c *Counter) Value(values ...string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.values[strings.Join(values, "\x00")]; ok {
		return v.Load()
	}
	return 0
}

// Write writes every counter and gauge in the Prometheus text format.
func (r *Registry) Write(w io.Writer) {
	r.mu.Lock()
	counters := append([]*Counter(nil), r.counters...)
	gauges := append([]*Gauge(nil), r.gauges...)
	r.mu.Unlock()
	for _, c := range counters {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", c.name, c.help, c.name)
		c.mu.Lock()
		keys := make([]string, 0, len(c.values))
		for k := range c.values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "%s%s %d\n", c.name, labelString(c.labels, k), c.values[k].Load())
		}
		c.mu.Unlock()
	}
	for _, g := range gauges {
		g.write(w)
	}
}

func labelString(names []string, joined string) string {
	if len(names) == 0 {
		return ""
	}
	values := strings.Split(joined, "\x00")
	parts := make([]string, len(names))
	for i, n := range names {
		v := ""
		if i < len(values) {
			v = values[i]
		}
		v = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
		parts[i] = n + `="` + v + `"`
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// Handler serves the registry.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		r.Write(w)
	})
}

// Gauge is a value that goes up and down, split by label values.
type Gauge struct {
	name, help string
	labels     []string
	mu         sync.Mutex
	values     map[string]int64 // joined label values -> value
}

// Gauge registers a gauge.
func (r *Registry) Gauge(name, help string, labels ...string) *Gauge {
	g := &Gauge{name: name, help: help, labels: labels, values: map[string]int64{}}
	r.mu.Lock()
	r.gauges = append(r.gauges, g)
	r.mu.Unlock()
	return g
}

// Set sets the value for the given label values (in the order of the labels).
func (g *Gauge) Set(v int64, values ...string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.values[strings.Join(values, "\x00")] = v
	g.mu.Unlock()
}

// Value returns the value for the given label values.
func (g *Gauge) Value(values ...string) int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.values[strings.Join(values, "\x00")]
}

func (g *Gauge) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", g.name, g.help, g.name)
	g.mu.Lock()
	defer g.mu.Unlock()
	keys := make([]string, 0, len(g.values))
	for k := range g.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s%s %d\n", g.name, labelString(g.labels, k), g.values[k])
	}
}
