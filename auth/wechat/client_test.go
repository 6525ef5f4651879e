package wechat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/miniauth/miniauth/auth/wechat"
	"github.com/miniauth/miniauth/auth/wechat/fake"
)

const (
	appID    = "wx1111111111111111"
	secret   = "s3cr3t-0f-app-one-00000000000000"
	boundApp = "wx2222222222222222"
	boundSec = "s3cr3t-0f-app-two-00000000000000"
)

type testBundle struct {
	fake   *fake.Server
	srv    *httptest.Server
	client *wechat.Client
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	f := fake.New()
	f.AddApp(appID, secret, "")
	f.AddApp(boundApp, boundSec, "platform-1")
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	// The trailing slash checks that New trims it.
	return &testBundle{fake: f, srv: srv, client: wechat.New(srv.URL+"/", srv.Client())}
}

// assertNoLeak fails if any rendering of err shows one of secrets.
func assertNoLeak(t *testing.T, err error, secrets ...string) {
	t.Helper()
	for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				t.Errorf("error %q contains %q", text, s)
			}
		}
	}
}

func TestCode2Session(t *testing.T) {
	t.Run("unbound app: no unionid", func(t *testing.T) {
		b := setup(t)
		s, err := b.client.Code2Session(context.Background(), appID, secret, b.fake.MintCode(appID, "alice"))
		if err != nil {
			t.Fatal(err)
		}
		key, _ := b.fake.SessionKey(appID, "alice")
		if s.OpenID != b.fake.OpenID(appID, "alice") || s.SessionKey != key || s.UnionID != "" {
			t.Errorf("session = %#v", s)
		}
	})

	t.Run("bound app: unionid", func(t *testing.T) {
		b := setup(t)
		s, err := b.client.Code2Session(context.Background(), boundApp, boundSec, b.fake.MintCode(boundApp, "alice"))
		if err != nil {
			t.Fatal(err)
		}
		if s.UnionID == "" || s.UnionID != b.fake.UnionID(boundApp, "alice") {
			t.Errorf("unionid = %q, want %q", s.UnionID, b.fake.UnionID(boundApp, "alice"))
		}
	})

	t.Run("default http client", func(t *testing.T) {
		b := setup(t)
		c := wechat.New(b.srv.URL, nil)
		if _, err := c.Code2Session(context.Background(), appID, secret, b.fake.MintCode(appID, "alice")); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCode2SessionErrors(t *testing.T) {
	for _, tc := range []struct {
		name        string
		fault       *fake.Fault
		appID, sec  string
		code        func(b *testBundle) string
		client      func(b *testBundle) *wechat.Client
		ctxTimeout  time.Duration
		wantCode    int // 0: not an *APIError
		unavailable bool
	}{
		{name: "system busy", fault: &fake.Fault{Errcode: -1}, wantCode: wechat.CodeSystemBusy, unavailable: true},
		{name: "unknown code", code: func(*testBundle) string { return "0a1b2c" }, wantCode: wechat.CodeInvalidCode},
		{name: "used code", code: func(b *testBundle) string {
			code := b.fake.MintCode(appID, "alice")
			if _, err := b.client.Code2Session(context.Background(), appID, secret, code); err != nil {
				t.Fatal(err)
			}
			return code
		}, wantCode: wechat.CodeCodeUsed},
		{name: "high risk", fault: &fake.Fault{Errcode: 40226}, wantCode: wechat.CodeHighRisk},
		{name: "frequency limit", fault: &fake.Fault{Errcode: 45011}, wantCode: wechat.CodeFrequencyLimit},
		{name: "invalid appid", appID: "wx9999999999999999", wantCode: wechat.CodeInvalidAppID},
		{name: "invalid secret", sec: "not-the-secret", wantCode: wechat.CodeInvalidSecret},
		{name: "appid missing", appID: "-", wantCode: wechat.CodeAppIDMissing},
		{name: "client timeout", fault: &fake.Fault{Delay: time.Hour}, unavailable: true,
			client: func(b *testBundle) *wechat.Client {
				return wechat.New(b.srv.URL, &http.Client{Timeout: 50 * time.Millisecond})
			}},
		{name: "context deadline", fault: &fake.Fault{Delay: time.Hour}, unavailable: true, ctxTimeout: 50 * time.Millisecond},
		{name: "HTTP 500", fault: &fake.Fault{HTTPStatus: 500, Body: `{"errcode":0}`}, unavailable: true},
		{name: "HTTP 502 page", fault: &fake.Fault{HTTPStatus: 502}, unavailable: true},
		{name: "garbage body", fault: &fake.Fault{Garbage: true}, unavailable: true},
		{name: "errcode not a number", fault: &fake.Fault{Body: `{"errcode":"40029"}`}, unavailable: true},
		{name: "missing openid", fault: &fake.Fault{Body: `{"session_key":"bm90IGEgcmVhbCBrZXkhIQ=="}`}, unavailable: true},
		{name: "missing session_key", fault: &fake.Fault{Body: `{"openid":"oAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`}, unavailable: true},
		{name: "connection refused", unavailable: true, client: func(b *testBundle) *wechat.Client {
			dead := httptest.NewServer(http.NotFoundHandler())
			dead.Close()
			return wechat.New(dead.URL, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t)
			client, app, sec := b.client, appID, secret
			if tc.client != nil {
				client = tc.client(b)
			}
			if tc.appID == "-" {
				app = ""
			} else if tc.appID != "" {
				app = tc.appID
			}
			if tc.sec != "" {
				sec = tc.sec
			}
			code := b.fake.MintCode(appID, "alice")
			if tc.code != nil {
				code = tc.code(b)
			}
			b.fake.Reset() // count only the call under test
			if tc.fault != nil {
				f := *tc.fault
				f.Endpoint = fake.EndpointJSCode2Session
				b.fake.Inject(f)
			}
			ctx := context.Background()
			if tc.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxTimeout)
				defer cancel()
			}

			s, err := client.Code2Session(ctx, app, sec, code)
			if err == nil {
				t.Fatalf("no error, session %v", s)
			}
			if s != (wechat.Session{}) {
				t.Errorf("session %v returned with an error", s)
			}
			var ae *wechat.APIError
			if got := errors.As(err, &ae); got != (tc.wantCode != 0) {
				t.Errorf("errors.As APIError = %v for %v", got, err)
			}
			if tc.wantCode != 0 && (ae.Code != tc.wantCode || !wechat.IsCode(err, tc.wantCode)) {
				t.Errorf("err = %v, want errcode %d", err, tc.wantCode)
			}
			if got := errors.Is(err, wechat.ErrUnavailable); got != tc.unavailable {
				t.Errorf("errors.Is(ErrUnavailable) = %v for %v", got, err)
			}
			if tc.ctxTimeout > 0 && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want it to wrap context.DeadlineExceeded", err)
			}
			// The request URL's query holds the secret: no part of it may show.
			assertNoLeak(t, err, secret, boundSec, code, "secret=", "js_code=", "/sns/jscode2session")
			if tc.client == nil || tc.name == "client timeout" {
				// jscode2session is never retried: the code may be spent.
				// A request cut off by a timeout may not have reached the
				// server at all when the machine is busy, so there it is at
				// most once.
				timedOut := tc.fault != nil && tc.fault.Delay > 0
				if n := b.fake.Calls(fake.EndpointJSCode2Session); n > 1 || n == 0 && !timedOut {
					t.Errorf("jscode2session called %d times, want 1 (at most 1 when a timeout cut the request off)", n)
				}
			}
		})
	}
}

func TestCode2SessionFaultKeepsCode(t *testing.T) {
	b := setup(t)
	code := b.fake.MintCode(appID, "alice")
	b.fake.Inject(fake.Fault{Errcode: -1})
	if _, err := b.client.Code2Session(context.Background(), appID, secret, code); !wechat.IsCode(err, wechat.CodeSystemBusy) {
		t.Fatalf("err = %v, want -1", err)
	}
	if _, err := b.client.Code2Session(context.Background(), appID, secret, code); err != nil {
		t.Fatalf("code unusable after a -1: %v", err)
	}
}

// An upstream (or proxy) that echoes the request must not get the secret into
// the error text.
func TestErrmsgIsScrubbed(t *testing.T) {
	const token = "tok+en/with=specials"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"errcode": 40029,
			"errmsg":  "echo " + r.URL.RawQuery + " raw " + r.URL.Query().Get("secret") + " " + r.URL.Query().Get("access_token"),
		})
	}))
	defer srv.Close()
	c := wechat.New(srv.URL, srv.Client())

	_, err := c.Code2Session(context.Background(), appID, secret, "the-code")
	if !wechat.IsCode(err, wechat.CodeInvalidCode) {
		t.Fatalf("err = %v", err)
	}
	assertNoLeak(t, err, secret, "the-code")

	_, err = c.PhoneNumber(context.Background(), token, "phone-code")
	assertNoLeak(t, err, token, "tok%2Ben%2Fwith%3Dspecials", "phone-code")
}

func TestStableToken(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	first, err := b.client.StableToken(ctx, appID, secret, false)
	if err != nil {
		t.Fatal(err)
	}
	if first.Token == "" || first.ExpiresIn != 7200*time.Second {
		t.Fatalf("token = %v", first)
	}
	again, err := b.client.StableToken(ctx, appID, secret, false)
	if err != nil || again.Token != first.Token {
		t.Fatalf("second call: %v, %v; want the same token", again, err)
	}
	forced, err := b.client.StableToken(ctx, appID, secret, true)
	if err != nil || forced.Token == first.Token {
		t.Fatalf("forced refresh: %v, %v; want a new token", forced, err)
	}
	if n := b.fake.Calls(fake.EndpointStableToken); n != 3 {
		t.Errorf("stable_token calls = %d, want 3", n)
	}

	_, err = b.client.StableToken(ctx, appID, "wrong", false)
	if !wechat.IsCode(err, wechat.CodeInvalidSecret) {
		t.Errorf("err = %v, want 40125", err)
	}
	b.fake.Inject(fake.Fault{Body: `{"expires_in":7200}`})
	_, err = b.client.StableToken(ctx, appID, secret, false)
	if !errors.Is(err, wechat.ErrUnavailable) {
		t.Errorf("err = %v, want unavailable", err)
	}
	assertNoLeak(t, err, secret)
}

func TestPhoneNumber(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	tok, err := b.client.StableToken(ctx, appID, secret, false)
	if err != nil {
		t.Fatal(err)
	}

	code := b.fake.MintPhoneCode(appID, "13800138000")
	p, err := b.client.PhoneNumber(ctx, tok.Token, code)
	if err != nil {
		t.Fatal(err)
	}
	if p.PhoneNumber != "13800138000" || p.PurePhoneNumber != "13800138000" || p.CountryCode != "86" ||
		p.WatermarkAppID != appID || p.WatermarkTimestamp == 0 {
		t.Errorf("phone = %+v", p)
	}

	_, err = b.client.PhoneNumber(ctx, tok.Token, code)
	if !wechat.IsCode(err, wechat.CodeInvalidCode) {
		t.Errorf("reused code: err = %v, want 40029", err)
	}
	_, err = b.client.PhoneNumber(ctx, "forged", b.fake.MintPhoneCode(appID, "13800138000"))
	if !wechat.IsTokenInvalid(err) {
		t.Errorf("forged token: err = %v, want a token-invalid code", err)
	}
	assertNoLeak(t, err, tok.Token)

	t.Run("numeric countryCode", func(t *testing.T) {
		b.fake.Inject(fake.Fault{Body: `{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"+1 2025550123",` +
			`"purePhoneNumber":"2025550123","countryCode":1,"watermark":{"timestamp":1700000000,"appid":"` + appID + `"}}}`})
		p, err := b.client.PhoneNumber(ctx, tok.Token, "any")
		if err != nil {
			t.Fatal(err)
		}
		if p.CountryCode != "1" || p.PurePhoneNumber != "2025550123" || p.WatermarkTimestamp != 1700000000 {
			t.Errorf("phone = %+v", p)
		}
	})

	t.Run("success without phone_info", func(t *testing.T) {
		b.fake.Inject(fake.Fault{Body: `{"errcode":0,"errmsg":"ok"}`})
		if _, err := b.client.PhoneNumber(ctx, tok.Token, "any"); !errors.Is(err, wechat.ErrUnavailable) {
			t.Errorf("err = %v, want unavailable", err)
		}
	})
}

func TestCheckSession(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	tok, err := b.client.StableToken(ctx, appID, secret, false)
	if err != nil {
		t.Fatal(err)
	}
	old, err := b.client.Code2Session(ctx, appID, secret, b.fake.MintCode(appID, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.client.CheckSession(ctx, tok.Token, old.OpenID, old.SessionKey); err != nil {
		t.Fatalf("current key rejected: %v", err)
	}

	cur, err := b.client.Code2Session(ctx, appID, secret, b.fake.MintCode(appID, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	err = b.client.CheckSession(ctx, tok.Token, old.OpenID, old.SessionKey)
	if !wechat.IsCode(err, wechat.CodeInvalidSignature) {
		t.Fatalf("replaced key: err = %v, want 87009", err)
	}
	assertNoLeak(t, err, tok.Token, old.SessionKey, wechat.SessionSignature(old.SessionKey, ""))

	if err := b.client.CheckSession(ctx, "forged", cur.OpenID, cur.SessionKey); !wechat.IsTokenInvalid(err) {
		t.Errorf("forged token: err = %v, want token invalid", err)
	}

	reset, err := b.client.ResetSessionKey(ctx, tok.Token, cur.OpenID, cur.SessionKey)
	if err != nil {
		t.Fatal(err)
	}
	if reset.OpenID != cur.OpenID || reset.SessionKey == "" || reset.SessionKey == cur.SessionKey {
		t.Fatalf("reset = %#v", reset)
	}
	if err := b.client.CheckSession(ctx, tok.Token, reset.OpenID, reset.SessionKey); err != nil {
		t.Errorf("key from reset rejected: %v", err)
	}
	if err := b.client.CheckSession(ctx, tok.Token, cur.OpenID, cur.SessionKey); !wechat.IsCode(err, wechat.CodeInvalidSignature) {
		t.Errorf("key before reset: err = %v, want 87009", err)
	}
}

func TestSessionSignature(t *testing.T) {
	// The vector from WeChat's documentation: the key is the base64 text.
	got := wechat.SessionSignature("o0q0otL8aEzpcZL/FT9WsQ==", `{"foo":"bar"}`)
	const want = "654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b"
	if got != want || !strings.HasPrefix(got, "654571f7") || !strings.HasSuffix(got, "aa0b") {
		t.Errorf("SessionSignature = %s, want %s", got, want)
	}
}

func TestCredentialsStayOutOfLogs(t *testing.T) {
	s := wechat.Session{OpenID: "oOPENID", SessionKey: "S3SSIONKEY==", UnionID: "oUNION"}
	tok := wechat.AccessToken{Token: "T0KEN", ExpiresIn: time.Hour}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "session", s, "token", tok)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "session", s, "token", tok)
	for _, text := range []string{buf.String(), fmt.Sprint(s, tok), fmt.Sprintf("%+v %+v", s, tok), fmt.Sprintf("%#v %#v", s, tok)} {
		if strings.Contains(text, "S3SSIONKEY") || strings.Contains(text, "T0KEN") {
			t.Errorf("credential in %q", text)
		}
		if !strings.Contains(text, "oOPENID") {
			t.Errorf("openid missing from %q", text)
		}
	}
}

func TestAPIError(t *testing.T) {
	err := fmt.Errorf("login: %w", &wechat.APIError{Code: wechat.CodeCodeUsed, Msg: "code been used, rid: 1"})
	if !wechat.IsCode(err, wechat.CodeInvalidCode, wechat.CodeCodeUsed) || wechat.IsCode(err, wechat.CodeInvalidCode) {
		t.Error("IsCode does not match on the code alone")
	}
	if errors.Is(err, wechat.ErrUnavailable) {
		t.Error("40163 reported as unavailable")
	}
	if wechat.IsCode(errors.New("errcode 40163"), wechat.CodeCodeUsed) {
		t.Error("IsCode matched on text")
	}
}

func TestWXACodeUnlimit(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	at, err := b.client.StableToken(ctx, appID, secret, false)
	if err != nil {
		t.Fatal(err)
	}
	img, err := b.client.WXACodeUnlimit(ctx, at.Token, wechat.WXACodeRequest{Scene: "ticket0123", Page: "pages/qr/index"})
	if err != nil || img.ContentType != "image/png" {
		t.Fatalf("image %q, %v", img.ContentType, err)
	}
	if scene, err := fake.SceneOf(img.Data); err != nil || scene != "ticket0123" {
		t.Fatalf("scene %q, %v", scene, err)
	}
	// An error is JSON with HTTP 200.
	_, err = b.client.WXACodeUnlimit(ctx, at.Token, wechat.WXACodeRequest{Scene: "x", Page: "/pages/qr/index"})
	if !wechat.IsCode(err, wechat.CodeInvalidPage) {
		t.Fatalf("leading slash: %v, want 41030", err)
	}
	_, err = b.client.WXACodeUnlimit(ctx, "bad-token-0000000000", wechat.WXACodeRequest{Scene: "x"})
	if !wechat.IsTokenInvalid(err) || strings.Contains(err.Error(), "bad-token-0000000000") {
		t.Fatalf("bad token: %v", err)
	}
	// Neither an image nor JSON: unavailable.
	b.fake.Inject(fake.Fault{Endpoint: fake.EndpointWXACode, Garbage: true})
	if _, err := b.client.WXACodeUnlimit(ctx, at.Token, wechat.WXACodeRequest{Scene: "x"}); !errors.Is(err, wechat.ErrUnavailable) {
		t.Fatalf("garbage: %v", err)
	}
	b.fake.Inject(fake.Fault{Endpoint: fake.EndpointWXACode, Body: `{"errcode":0}`})
	if _, err := b.client.WXACodeUnlimit(ctx, at.Token, wechat.WXACodeRequest{Scene: "x"}); !errors.Is(err, wechat.ErrUnavailable) {
		t.Fatalf("JSON without an errcode: %v", err)
	}
}
