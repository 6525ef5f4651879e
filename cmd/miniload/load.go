package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// op is one request of a scenario, made by worker w; it returns the HTTP
// status, or an error when there was no answer. ok reports whether the
// status is the scenario's success.
type op func(ctx context.Context, w int) (status int, err error)

// shape is how load is offered: closed loop (Concurrency workers, each
// sending its next request when the last one is answered) or open loop
// (Rate requests a second on a fixed schedule, whatever the answers take;
// latency then counts from when a request was due, so a stalled server
// is not hidden by the load generator waiting for it).
type shape struct {
	Concurrency int
	Rate        float64
	Duration    time.Duration
	// Count, when set, ends the run after that many requests instead.
	Count int
}

// outcome is what one run measured.
type outcome struct {
	Requests  int
	Errors    int
	Statuses  map[int]int
	FirstErr  string
	Elapsed   time.Duration
	Latencies []time.Duration // sorted
	// OK are the latencies of the successful requests alone, sorted: under
	// overload, what the requests that were admitted saw.
	OK      []time.Duration
	Dropped int // open loop: requests the workers could not start on time
}

func (o outcome) rps() float64 { return float64(o.Requests) / o.Elapsed.Seconds() }

func (o outcome) quantile(q float64) time.Duration { return quantile(o.Latencies, q) }

// quantile of sorted latencies.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// drive runs op under the shape; want is the success status.
func drive(ctx context.Context, s shape, want int, do op) outcome {
	type sample struct {
		lat    time.Duration
		status int
		err    error
	}
	// Open loop: enough workers that a slow server, not the pool, is what
	// holds requests back (those it cannot start on time are Dropped).
	workers := s.Concurrency
	if s.Rate > 0 {
		workers = max(workers, 1024)
	}
	results := make([][]sample, workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var issued atomic.Int64
	next := func() bool {
		n := issued.Add(1)
		return s.Count == 0 || n <= int64(s.Count)
	}
	var due chan time.Time
	var dropped atomic.Int64
	if s.Rate > 0 {
		due = make(chan time.Time, workers)
		go func() {
			defer close(due)
			interval := time.Duration(float64(time.Second) / s.Rate)
			start := time.Now()
			for i := 0; ; i++ {
				at := start.Add(time.Duration(i) * interval)
				if d := time.Until(at); d > 0 {
					select {
					case <-time.After(d):
					case <-ctx.Done():
						return
					}
				}
				if ctx.Err() != nil || !next() {
					return
				}
				select {
				case due <- at:
				default:
					dropped.Add(1)
				}
			}
		}()
	}

	start := time.Now()
	if s.Duration > 0 {
		time.AfterFunc(s.Duration, cancel)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				var t0 time.Time
				if due != nil {
					at, ok := <-due
					if !ok {
						return
					}
					t0 = at
				} else {
					if ctx.Err() != nil || !next() {
						return
					}
					t0 = time.Now()
				}
				status, err := do(ctx, w)
				if errors.Is(err, errExhausted) {
					return
				}
				if ctx.Err() != nil && err != nil {
					return // cut off by the end of the run, not a failure
				}
				results[w] = append(results[w], sample{time.Since(t0), status, err})
			}
		}()
	}
	wg.Wait()
	o := outcome{Elapsed: time.Since(start), Statuses: map[int]int{}, Dropped: int(dropped.Load())}
	for _, rs := range results {
		for _, r := range rs {
			o.Requests++
			o.Latencies = append(o.Latencies, r.lat)
			o.Statuses[r.status]++
			if r.err == nil && r.status == want {
				o.OK = append(o.OK, r.lat)
			}
			if r.err != nil || r.status != want {
				o.Errors++
				if o.FirstErr == "" {
					if r.err != nil {
						o.FirstErr = r.err.Error()
					} else {
						o.FirstErr = fmt.Sprintf("HTTP %d", r.status)
					}
				}
			}
		}
	}
	slices.Sort(o.Latencies)
	slices.Sort(o.OK)
	return o
}

// send makes one request and reads its body to the end (into buf when
// not nil), so the connection is reused.
func send(hc *http.Client, req *http.Request, buf io.Writer) (int, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if buf == nil {
		buf = io.Discard
	}
	if _, err := io.Copy(buf, resp.Body); err != nil {
		return resp.StatusCode, err
	}
	return resp.StatusCode, nil
}
