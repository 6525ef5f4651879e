// Package metrics is the operators' view of a running instance, on the
// Prometheus client library: counters, gauges and histograms with labels,
// the Go runtime and process collectors, and collectors of the database and
// Redis pools (pools.go).
//
// Label values that come from outside a fixed vocabulary are bounded: the
// first Bounds[label] distinct values an instance sees keep their own
// series, and later ones are counted together under Other. So 5,000
// tenants cannot make 5,000 series of every tenant counter.
package metrics

import (
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Other is the label value of every value past a label's bound.
const Other = "_other"

// Registry holds an instance's collectors and serves them at /metrics.
type Registry struct {
	reg    *prometheus.Registry
	bounds map[string]*bound
}

// NewRegistry returns a registry with the Go runtime and process
// collectors; bounds caps the distinct values of the named labels (a
// label not named is not bounded: its values must come from the code).
func NewRegistry(bounds map[string]int) *Registry {
	r := &Registry{reg: prometheus.NewRegistry(), bounds: map[string]*bound{}}
	for label, n := range bounds {
		r.bounds[label] = &bound{max: n, seen: map[string]struct{}{}}
	}
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return r
}

// MustRegister adds collectors of the caller's own (the pool collectors).
func (r *Registry) MustRegister(cs ...prometheus.Collector) { r.reg.MustRegister(cs...) }

// Gatherer is what the registry collects, for tests and for the handler.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// bound admits the first max distinct values of one label.
type bound struct {
	mu   sync.RWMutex
	max  int
	seen map[string]struct{}
}

func (b *bound) value(v string) string {
	b.mu.RLock()
	_, ok := b.seen[v]
	full := len(b.seen) >= b.max
	b.mu.RUnlock()
	if ok {
		return v
	}
	if full {
		return Other
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[v]; ok || len(b.seen) < b.max {
		b.seen[v] = struct{}{}
		return v
	}
	return Other
}

// labels maps label values through the bounds of their labels.
type labels struct {
	bounded []*bound // per label position; nil where unbounded
}

func (r *Registry) labels(names []string) labels {
	l := labels{bounded: make([]*bound, len(names))}
	for i, n := range names {
		l.bounded[i] = r.bounds[n]
	}
	return l
}

func (l labels) values(vs []string) []string {
	out, cloned := vs, false
	for i, b := range l.bounded {
		if b == nil || i >= len(vs) {
			continue
		}
		if v := b.value(vs[i]); v != vs[i] {
			if !cloned {
				out, cloned = slices.Clone(vs), true
			}
			out[i] = v
		}
	}
	return out
}

// Counter is a monotonically increasing count, split by label values.
type Counter struct {
	vec    *prometheus.CounterVec
	labels labels
}

// Counter registers a counter.
func (r *Registry) Counter(name, help string, labelNames ...string) *Counter {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labelNames)
	r.reg.MustRegister(v)
	return &Counter{vec: v, labels: r.labels(labelNames)}
}

// Inc adds one for the given label values (in the order of the labels).
func (c *Counter) Inc(values ...string) {
	if c == nil {
		return
	}
	c.vec.WithLabelValues(c.labels.values(values)...).Inc()
}

// Zero makes the series of these label values visible before its first
// event, so a dashboard of a fresh instance shows zero, not no data.
func (c *Counter) Zero(values ...string) {
	if c == nil {
		return
	}
	c.vec.WithLabelValues(c.labels.values(values)...)
}

// Value returns the count for the given label values.
func (c *Counter) Value(values ...string) int64 {
	return int64(value(c.vec.WithLabelValues(c.labels.values(values)...)))
}

// Gauge is a value that goes up and down, split by label values.
type Gauge struct {
	vec    *prometheus.GaugeVec
	labels labels
}

// Gauge registers a gauge.
func (r *Registry) Gauge(name, help string, labelNames ...string) *Gauge {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labelNames)
	r.reg.MustRegister(v)
	return &Gauge{vec: v, labels: r.labels(labelNames)}
}

// Set sets the value for the given label values (in the order of the labels).
func (g *Gauge) Set(v int64, values ...string) {
	if g == nil {
		return
	}
	g.vec.WithLabelValues(g.labels.values(values)...).Set(float64(v))
}

// Zero makes the series of these label values visible, at zero, unless
// it is already set.
func (g *Gauge) Zero(values ...string) {
	if g == nil {
		return
	}
	g.vec.WithLabelValues(g.labels.values(values)...)
}

// Value returns the value for the given label values.
func (g *Gauge) Value(values ...string) int64 {
	return int64(value(g.vec.WithLabelValues(g.labels.values(values)...)))
}

// Histogram is a distribution of observations (durations, in seconds),
// split by label values.
type Histogram struct {
	vec    *prometheus.HistogramVec
	labels labels
}

// LatencyBuckets are the bucket bounds, in seconds, of every latency
// histogram: fine below 10 ms, where the platform's requests are, and
// coarse up to the 20 s a request may take at most.
var LatencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20}

// Histogram registers a histogram with LatencyBuckets.
func (r *Registry) Histogram(name, help string, labelNames ...string) *Histogram {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: LatencyBuckets}, labelNames)
	r.reg.MustRegister(v)
	return &Histogram{vec: v, labels: r.labels(labelNames)}
}

// Observe records one observation for the given label values.
func (h *Histogram) Observe(seconds float64, values ...string) {
	if h == nil {
		return
	}
	h.vec.WithLabelValues(h.labels.values(values)...).Observe(seconds)
}

// Zero makes the series of these label values visible before its first
// observation.
func (h *Histogram) Zero(values ...string) {
	if h == nil {
		return
	}
	h.vec.WithLabelValues(h.labels.values(values)...)
}

func value(m prometheus.Metric) float64 {
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		return 0
	}
	switch {
	case pb.Counter != nil:
		return pb.Counter.GetValue()
	case pb.Gauge != nil:
		return pb.Gauge.GetValue()
	}
	return 0
}

// Code is the label value of an integer code (an HTTP status, a WeChat
// errcode).
func Code(n int) string { return strconv.Itoa(n) }
