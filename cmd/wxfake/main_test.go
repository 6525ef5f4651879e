package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miniauth/miniauth/auth/wechat"
)

func TestParseConfig(t *testing.T) {
	cfg, err := parseConfig([]string{"--addr", "127.0.0.1:0", "--app", "wx1:s1", "--app", "wx2:s2:op1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []appSpec{{"wx1", "s1", ""}, {"wx2", "s2", "op1"}}
	if cfg.addr != "127.0.0.1:0" || len(cfg.apps) != 2 || cfg.apps[0] != want[0] || cfg.apps[1] != want[1] {
		t.Errorf("cfg = %+v", cfg)
	}
	if cfg, _ := parseConfig(nil, io.Discard); cfg.addr != ":9480" {
		t.Errorf("default addr = %q", cfg.addr)
	}
	for _, args := range [][]string{{"--app", "wx1"}, {"--app", ":s"}, {"--app", "a:b:c:d"}, {"extra"}, {"--nope"}} {
		if _, err := parseConfig(args, io.Discard); err == nil {
			t.Errorf("parseConfig(%q) accepted", args)
		}
	}
}

// syncBuffer lets the test read the log while the server writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServe(t *testing.T) {
	const appID, secret = "wxdemo", "demo-secret-0123456789"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, ln, []appSpec{{appID, secret, "op"}}, slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	base := "http://" + ln.Addr().String()

	// The one-line demo flow: mint a code over HTTP, exchange it.
	resp, err := http.Get(base + "/_fake/code?appid=" + appID + "&user=alice")
	if err != nil {
		t.Fatal(err)
	}
	code, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /_fake/code = %d %s", resp.StatusCode, code)
	}
	c := wechat.New(base, nil)
	s, err := c.Code2Session(context.Background(), appID, secret, strings.TrimSpace(string(code)))
	if err != nil {
		t.Fatal(err)
	}
	if s.OpenID == "" || s.UnionID == "" {
		t.Errorf("session %v, want openid and unionid", s)
	}

	// A request stuck in a Delay fault must not hold up shutdown.
	resp, err = http.Post(base+"/_fake/faults", "application/json", strings.NewReader(`{"delay_ms":3600000}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	stuck := make(chan error, 1)
	go func() {
		_, err := c.StableToken(context.Background(), appID, secret, false)
		stuck <- err
	}()
	// Wait until the fake has received the stuck call, then stop the server.
	for deadline := time.Now().Add(10 * time.Second); !statsShow(t, base, `"stable_token":1`); {
		if time.Now().After(deadline) {
			t.Fatal("the delayed stable_token call never reached the fake")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	<-stuck

	log := logs.String()
	if !strings.Contains(log, "path=/sns/jscode2session") || !strings.Contains(log, "listening") {
		t.Errorf("log lacks the request or listen line:\n%s", log)
	}
	if strings.Contains(log, secret) || strings.Contains(log, strings.TrimSpace(string(code))) || strings.Contains(log, "js_code") {
		t.Errorf("log carries a credential:\n%s", log)
	}
}

func statsShow(t *testing.T, base, want string) bool {
	t.Helper()
	resp, err := http.Get(base + "/_fake/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(body), want)
}
