package main

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miniauth/miniauth/auth/wechat/fake"
)

// TestGracefulShutdown cancels a server while a login is waiting on WeChat:
// the login must still complete, and only then may serve return.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("drain", nil)
	code := b.wx.MintCode(tt.AppID, "alice")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := newApp(ctx, b.cfg, b.logger())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- serve(ctx, a, ln, opsLn, b.logger()) }()
	url := "http://" + ln.Addr().String()
	eventually(t, 5*time.Second, "server up", func() bool {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})

	b.wx.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, Delay: 500 * time.Millisecond})
	before := b.wx.Calls(fake.EndpointJSCode2Session)
	done := make(chan response, 1)
	go func() {
		done <- do(t, "POST", url+"/v1/t/drain/login", map[string]string{"code": code})
	}()
	eventually(t, 5*time.Second, "login reached WeChat", func() bool {
		return b.wx.Calls(fake.EndpointJSCode2Session) > before
	})
	cancel() // SIGTERM

	r := <-done
	if r.Status != http.StatusOK {
		t.Fatalf("in-flight login during shutdown: %d %s", r.Status, r.Body)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("server still accepting after shutdown")
	}
}

// TestLogsHoldNoSecrets drives logins, failures and refreshes at debug
// level and checks that no secret the server handled appears in its logs.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("logs", nil)
	tok := b.login(nil, tt, "alice")
	r := do(t, "POST", b.srv.URL+"/v1/t/logs/refresh", map[string]string{"refresh_token": tok.RefreshToken})
	if r.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.Status, r.Body)
	}
	for _, f := range []fake.Fault{{Errcode: -1}, {Garbage: true}, {HTTPStatus: 500}, {Errcode: 40125}} {
		b.wx.Inject(f)
		b.login2xxOrProblem(tt, "bob")
	}
	sessionKey, _ := b.wx.SessionKey(tt.AppID, "alice")
	rawKey, _ := base64.StdEncoding.DecodeString(sessionKey)
	logs := b.logs.String()
	if !strings.Contains(logs, `"route":"/v1/t/:tenant/login"`) {
		t.Fatalf("expected access log lines, got: %.500s", logs)
	}
	for name, secret := range map[string]string{
		"app secret": tt.Secret, "session key": sessionKey, "raw session key": string(rawKey),
		"refresh token": tok.RefreshToken, "access token": tok.AccessToken, "api key": b.apiKey,
	} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("%s appears in the logs", name)
		}
	}
}

// login2xxOrProblem attempts a login and only requires a well-formed answer.
func (b *testBundle) login2xxOrProblem(tt testTenant, user string) {
	b.t.Helper()
	r := do(b.t, "POST", b.srv.URL+"/v1/t/"+tt.Slug+"/login", map[string]string{"code": b.wx.MintCode(tt.AppID, user)})
	if r.Status != http.StatusOK {
		r.Code(b.t)
	}
}
