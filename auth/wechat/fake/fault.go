package fake

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Fault makes the next matching calls answer abnormally instead of normally.
// Faults are checked before any other processing, so one answering an errcode
// does not consume the login or phone code of the request. The first pending
// fault that matches is used.
//
// What is answered, in order of precedence: HTTPStatus (with Body or a short
// HTML page); Garbage (an HTML page with HTTP 200, as a broken proxy would
// send); Body (HTTP 200, verbatim, for shapes the fake never produces, such
// as a success without openid); Errcode. A fault with only Delay waits, then
// answers normally. A Delay is cut short when the client goes away.
type Fault struct {
	Endpoint   string // "" matches every WeChat endpoint, else one of the Endpoint* names
	AppID      string // "" matches any app; token-taking endpoints match the token's app
	Errcode    int
	Delay      time.Duration
	HTTPStatus int
	Garbage    bool
	Body       string
	Times      int // how many calls it answers; <= 0 means once
}

func (f Fault) validate() error {
	if f.Endpoint != "" && !slices.Contains(endpoints, f.Endpoint) {
		return fmt.Errorf("unknown endpoint %q (want one of %v)", f.Endpoint, endpoints)
	}
	if f.HTTPStatus != 0 && (f.HTTPStatus < 100 || f.HTTPStatus > 599) {
		return fmt.Errorf("http_status %d out of range", f.HTTPStatus)
	}
	if f.Delay < 0 {
		return fmt.Errorf("negative delay")
	}
	if f.Errcode == 0 && f.Delay == 0 && f.HTTPStatus == 0 && !f.Garbage && f.Body == "" {
		return fmt.Errorf("fault does nothing: set errcode, delay, http_status, garbage or body")
	}
	return nil
}

// Inject queues f. It panics on an unknown endpoint name or a fault that does
// nothing: such a fault would silently never fire and the test would pass
// for the wrong reason.
func (s *Server) Inject(f Fault) {
	if err := f.validate(); err != nil {
		panic("fake: Inject: " + err.Error())
	}
	s.inject(f)
}

func (s *Server) inject(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// begin counts the call and applies a matching fault. It reports whether the
// request has been answered (or abandoned by the client) and the handler
// must stop.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, endpoint, appID string) bool {
	s.mu.Lock()
	s.calls[endpoint]++
	var f Fault
	matched := false
	for i, p := range s.faults {
		if (p.Endpoint == "" || p.Endpoint == endpoint) && (p.AppID == "" || p.AppID == appID) {
			f, matched = *p, true
			if p.Times--; p.Times <= 0 {
				s.faults = slices.Delete(s.faults, i, i+1)
			}
			break
		}
	}
	now := s.now()
	s.mu.Unlock()
	if !matched {
		return false
	}

	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true
		}
	}
	switch {
	case f.HTTPStatus != 0:
		if f.Body != "" {
			w.WriteHeader(f.HTTPStatus)
			_, _ = w.Write([]byte(f.Body))
			return true
		}
		writeHTML(w, f.HTTPStatus, f.HTTPStatus)
	case f.Garbage:
		writeHTML(w, http.StatusOK, http.StatusBadGateway)
	case f.Body != "":
		_, _ = w.Write([]byte(f.Body))
	case f.Errcode != 0:
		writeErr(w, now, endpoint, f.Errcode)
	default:
		return false
	}
	return true
}

// writeHTML writes an nginx-style error page saying pageStatus with HTTP
// status code status; Garbage uses 200 with a 502 page, as a misconfigured
// proxy in front of WeChat would.
func writeHTML(w http.ResponseWriter, status, pageStatus int) {
	text := http.StatusText(pageStatus)
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, "<html><head><title>%d %s</title></head><body><center><h1>%d %s</h1></center></body></html>\n",
		pageStatus, text, pageStatus, text)
}
