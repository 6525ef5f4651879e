package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/web/metrics"
)

// Admission bounds the requests an instance works on at once. Past the
// bound a request waits up to Wait for a slot, then is shed with 503
// overloaded and Retry-After, at once and without touching Postgres,
// Redis or WeChat: an instance offered more than it can do keeps
// answering what it admits at its usual latency instead of queueing
// everyone into timeouts. Probes and routes that wait on purpose (a
// scan-to-sign-in poll) are not counted.
type Admission struct {
	Max  int
	Wait time.Duration
	// Exempt are route patterns (gin's FullPath) never shed nor counted.
	Exempt []string
	// Shed counts refusals by route; InFlight is the admitted requests.
	Shed     *metrics.Counter
	InFlight *metrics.Gauge
}

// Handler is the middleware; with Max 0 it admits everything.
func (a Admission) Handler() gin.HandlerFunc {
	if a.Max <= 0 {
		return func(c *gin.Context) { c.Next() }
	}
	slots := make(chan struct{}, a.Max)
	exempt := map[string]bool{}
	for _, r := range a.Exempt {
		exempt[r] = true
	}
	return func(c *gin.Context) {
		if exempt[c.FullPath()] {
			c.Next()
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			t := time.NewTimer(a.Wait)
			select {
			case slots <- struct{}{}:
				t.Stop()
			case <-t.C:
				a.Shed.Inc(routeLabel(c))
				p := NewProblem(http.StatusServiceUnavailable, "overloaded", "The server is at capacity; retry after the time in Retry-After.")
				p.RetryAfter = time.Second
				Abort(c, p)
				return
			case <-c.Request.Context().Done():
				t.Stop()
				c.Abort()
				return
			}
		}
		a.InFlight.Set(int64(len(slots)))
		defer func() {
			<-slots
			a.InFlight.Set(int64(len(slots)))
		}()
		c.Next()
	}
}

// routeLabel is the route pattern, or Unmatched.
func routeLabel(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return Unmatched
}
