package web_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/miniauth/miniauth/web"
	"github.com/miniauth/miniauth/web/metrics"
)

// Past Max requests in flight, a request waits up to Wait for a slot and
// is then shed with 503 overloaded and Retry-After; exempt routes are
// never shed, and a freed slot admits again.
func TestAdmission(t *testing.T) {
	gin.SetMode(gin.TestMode)
	reg := metrics.NewRegistry(nil)
	shed := reg.Counter("shed_total", "shed", "route")
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	r := gin.New()
	r.Use(web.Admission{Max: 2, Wait: 200 * time.Millisecond, Exempt: []string{"/healthz"}, Shed: shed,
		InFlight: reg.Gauge("in_flight", "in flight")}.Handler())
	r.GET("/slow", func(c *gin.Context) { entered <- struct{}{}; <-release; c.Status(http.StatusNoContent) })
	r.GET("/fast", func(c *gin.Context) { c.Status(http.StatusNoContent) })
	r.GET("/healthz", func(c *gin.Context) { c.Status(http.StatusOK) })
	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		return w
	}

	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); get("/slow") }()
	}
	<-entered
	<-entered
	w := get("/fast")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "1" ||
		w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("at capacity: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if n := shed.Value("/fast"); n != 1 {
		t.Fatalf("shed count %d, want 1", n)
	}
	if w := get("/healthz"); w.Code != http.StatusOK {
		t.Fatalf("an exempt route at capacity: %d", w.Code)
	}
	// A slot freed while a request waits admits it.
	done := make(chan int)
	go func() { done <- get("/fast").Code }()
	time.Sleep(5 * time.Millisecond)
	release <- struct{}{}
	if code := <-done; code != http.StatusNoContent {
		t.Fatalf("a request waiting for a freed slot: %d", code)
	}
	close(release)
	wg.Wait()
	if w := get("/fast"); w.Code != http.StatusNoContent {
		t.Fatalf("below capacity: %d", w.Code)
	}
}
