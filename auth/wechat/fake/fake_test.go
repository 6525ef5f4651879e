package fake_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miniauth/miniauth/auth/wechat/fake"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type testBundle struct {
	f     *fake.Server
	srv   *httptest.Server
	clock *clock
}

const (
	appA     = "wxa000000000000001"
	secretA  = "secret-a-0123456789abcdef"
	appB     = "wxb000000000000002" // bound to the same open platform as appC
	secretB  = "secret-b-0123456789abcdef"
	appC     = "wxc000000000000003"
	secretC  = "secret-c-0123456789abcdef"
	platform = "open-platform-1"
)

func setup(t *testing.T) *testBundle {
	t.Helper()
	c := &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
	f := fake.New(fake.WithClock(c.Now))
	f.AddApp(appA, secretA, "")
	f.AddApp(appB, secretB, platform)
	f.AddApp(appC, secretC, platform)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &testBundle{f: f, srv: srv, clock: c}
}

// answer is a decoded body; numbers stay json.Number so errcodes compare exactly.
type answer map[string]any

func (a answer) errcode() int {
	n, ok := a["errcode"].(json.Number)
	if !ok {
		return 0
	}
	i, _ := n.Int64()
	return int(i)
}

func (a answer) str(k string) string {
	s, _ := a[k].(string)
	return s
}

func (b *testBundle) do(t *testing.T, req *http.Request) (int, answer) {
	t.Helper()
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{}
	if len(bytes.TrimSpace(raw)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&a); err != nil {
			t.Fatalf("%s %s: body %q is not a JSON object: %v", req.Method, req.URL.Path, raw, err)
		}
	}
	return resp.StatusCode, a
}

func (b *testBundle) get(t *testing.T, path string, q url.Values) (int, answer) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.srv.URL+path+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.do(t, req)
}

func (b *testBundle) post(t *testing.T, path string, q url.Values, body any) (int, answer) {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	target := b.srv.URL + path
	if q != nil {
		target += "?" + q.Encode()
	}
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return b.do(t, req)
}

// wget and wpost call WeChat endpoints and assert their invariant: every
// answer is HTTP 200, errors are reported in the body.
func (b *testBundle) wget(t *testing.T, path string, q url.Values) answer {
	t.Helper()
	status, a := b.get(t, path, q)
	if status != http.StatusOK {
		t.Fatalf("GET %s: status = %d, want 200", path, status)
	}
	return a
}

func (b *testBundle) wpost(t *testing.T, path string, q url.Values, body any) answer {
	t.Helper()
	status, a := b.post(t, path, q, body)
	if status != http.StatusOK {
		t.Fatalf("POST %s: status = %d, want 200", path, status)
	}
	return a
}

func (b *testBundle) login(t *testing.T, appID, secret, code string) answer {
	t.Helper()
	return b.wget(t, "/sns/jscode2session", url.Values{
		"appid": {appID}, "secret": {secret}, "js_code": {code}, "grant_type": {"authorization_code"},
	})
}

func wantErrcode(t *testing.T, a answer, want int) {
	t.Helper()
	if got := a.errcode(); got != want {
		t.Fatalf("errcode = %d, want %d (body %v)", got, want, a)
	}
	if want != 0 && !strings.Contains(a.str("errmsg"), "rid: ") {
		t.Errorf("errmsg %q lacks a rid", a.str("errmsg"))
	}
}

func TestJSCode2Session(t *testing.T) {
	t.Run("success has no errcode and no unionid when unbound", func(t *testing.T) {
		b := setup(t)
		a := b.login(t, appA, secretA, b.f.MintCode(appA, "alice"))
		if _, ok := a["errcode"]; ok {
			t.Errorf("success body carries errcode: %v", a)
		}
		if _, ok := a["unionid"]; ok {
			t.Errorf("unbound app answered a unionid: %v", a)
		}
		openID := a.str("openid")
		if openID != b.f.OpenID(appA, "alice") || len(openID) != 28 || openID[0] != 'o' {
			t.Errorf("openid = %q, want 28 chars starting with o, equal to OpenID()", openID)
		}
		key := a.str("session_key")
		raw, err := base64.StdEncoding.DecodeString(key)
		if len(key) != 24 || err != nil || len(raw) != 16 {
			t.Errorf("session_key %q is not 16 bytes of padded base64", key)
		}
		if got, _ := b.f.SessionKey(appA, "alice"); got != key {
			t.Errorf("SessionKey() = %q, want the one just issued", got)
		}
	})

	t.Run("same user keeps openid, gets a new session_key", func(t *testing.T) {
		b := setup(t)
		first := b.login(t, appA, secretA, b.f.MintCode(appA, "alice"))
		second := b.login(t, appA, secretA, b.f.MintCode(appA, "alice"))
		if first.str("openid") != second.str("openid") {
			t.Error("openid changed between logins")
		}
		if first.str("session_key") == second.str("session_key") {
			t.Error("session_key not rotated by a new login")
		}
		other := b.login(t, appA, secretA, b.f.MintCode(appA, "bob"))
		if other.str("openid") == first.str("openid") {
			t.Error("two users share an openid")
		}
	})

	t.Run("bound apps share the unionid, not the openid", func(t *testing.T) {
		b := setup(t)
		inB := b.login(t, appB, secretB, b.f.MintCode(appB, "alice"))
		inC := b.login(t, appC, secretC, b.f.MintCode(appC, "alice"))
		if inB.str("unionid") == "" || inB.str("unionid") != inC.str("unionid") {
			t.Errorf("unionids %q and %q, want equal and non-empty", inB.str("unionid"), inC.str("unionid"))
		}
		if inB.str("unionid") != b.f.UnionID(appB, "alice") {
			t.Error("UnionID() disagrees with the answer")
		}
		if inB.str("openid") == inC.str("openid") {
			t.Error("openid is shared across apps")
		}
		if b.f.UnionID(appA, "alice") != "" {
			t.Error("UnionID() of an unbound app is not empty")
		}
	})

	t.Run("codes are single use", func(t *testing.T) {
		b := setup(t)
		code := b.f.MintCode(appA, "alice")
		wantErrcode(t, b.login(t, appA, secretA, code), 0)
		wantErrcode(t, b.login(t, appA, secretA, code), 40163)
	})

	t.Run("codes expire after five minutes", func(t *testing.T) {
		b := setup(t)
		fresh := b.f.MintCode(appA, "alice")
		stale := b.f.MintCode(appA, "alice")
		b.clock.Advance(5*time.Minute - time.Second)
		wantErrcode(t, b.login(t, appA, secretA, fresh), 0)
		b.clock.Advance(time.Second)
		wantErrcode(t, b.login(t, appA, secretA, stale), 40029)
		// A spent code past its life reads as expired, before and after sweeping.
		wantErrcode(t, b.login(t, appA, secretA, fresh), 40029)
		b.clock.Advance(time.Hour)
		b.f.MintCode(appA, "sweep")
		wantErrcode(t, b.login(t, appA, secretA, fresh), 40029)
	})

	t.Run("errors", func(t *testing.T) {
		b := setup(t)
		code := b.f.MintCode(appA, "alice")
		for _, tc := range []struct {
			name, appID, secret, code string
			want                      int
		}{
			{"unknown code", appA, secretA, "nope", 40029},
			{"another app's code", appB, secretB, code, 40029},
			{"unknown appid", "wxunknown", secretA, code, 40013},
			{"wrong secret", appA, "wrong", code, 40125},
			// Credentials are judged before the code: a credentials check
			// with a made-up code relies on it.
			{"wrong secret, unknown code", appA, "wrong", "nope", 40125},
			{"unknown appid, unknown code", "wxunknown", secretA, "nope", 40013},
			{"missing appid", "", secretA, code, 41002},
			{"missing secret", appA, "", code, 41004},
			{"missing code", appA, secretA, "", 41008},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantErrcode(t, b.login(t, tc.appID, tc.secret, tc.code), tc.want)
			})
		}
		// None of the failures above spent the code.
		wantErrcode(t, b.login(t, appA, secretA, code), 0)
	})
}

func TestFaults(t *testing.T) {
	t.Run("errcode fault does not consume the code", func(t *testing.T) {
		b := setup(t)
		code := b.f.MintCode(appA, "alice")
		b.f.Inject(fake.Fault{Endpoint: fake.EndpointJSCode2Session, Errcode: -1})
		wantErrcode(t, b.login(t, appA, secretA, code), -1)
		wantErrcode(t, b.login(t, appA, secretA, code), 0)
	})

	t.Run("times and filters", func(t *testing.T) {
		b := setup(t)
		b.f.Inject(fake.Fault{AppID: appB, Errcode: 45011, Times: 2})
		b.f.Inject(fake.Fault{Endpoint: fake.EndpointToken, Errcode: 40226})
		wantErrcode(t, b.login(t, appA, secretA, b.f.MintCode(appA, "u")), 0)
		wantErrcode(t, b.login(t, appB, secretB, "x"), 45011)
		wantErrcode(t, b.login(t, appB, secretB, "x"), 45011)
		wantErrcode(t, b.login(t, appB, secretB, "x"), 40029)
		wantErrcode(t, b.login(t, appA, secretA, "x"), 40029)
		_, a := b.get(t, "/cgi-bin/token", url.Values{"grant_type": {"client_credential"}, "appid": {appA}, "secret": {secretA}})
		wantErrcode(t, a, 40226)
	})

	t.Run("http status, garbage and body", func(t *testing.T) {
		b := setup(t)
		b.f.Inject(fake.Fault{HTTPStatus: 500})
		b.f.Inject(fake.Fault{Garbage: true})
		b.f.Inject(fake.Fault{Body: `{"session_key":"x"}`})
		q := url.Values{"appid": {appA}, "secret": {secretA}, "js_code": {"c"}, "grant_type": {"authorization_code"}}
		for _, want := range []struct {
			status int
			prefix string
		}{{500, "<html>"}, {200, "<html>"}, {200, `{"session_key":"x"}`}} {
			resp, err := b.srv.Client().Get(b.srv.URL + "/sns/jscode2session?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want.status || !strings.HasPrefix(string(body), want.prefix) {
				t.Errorf("got %d %q, want %d %s...", resp.StatusCode, body, want.status, want.prefix)
			}
		}
	})

	t.Run("delay then normal answer", func(t *testing.T) {
		b := setup(t)
		b.f.Inject(fake.Fault{Delay: time.Millisecond})
		wantErrcode(t, b.login(t, appA, secretA, b.f.MintCode(appA, "alice")), 0)
	})

	t.Run("delay gives up when the client does", func(t *testing.T) {
		b := setup(t)
		b.f.Inject(fake.Fault{Delay: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.srv.URL+"/sns/jscode2session", nil)
		_, err := b.srv.Client().Do(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want deadline exceeded", err)
		}
		// srv.Close in Cleanup would hang for an hour if the handler ignored
		// the cancellation.
	})

	t.Run("inject refuses faults that could never fire", func(t *testing.T) {
		for _, f := range []fake.Fault{{Endpoint: "jscode2sesion", Errcode: -1}, {Endpoint: fake.EndpointToken}} {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("Inject(%+v) did not panic", f)
					}
				}()
				fake.New().Inject(f)
			}()
		}
	})
}

func (b *testBundle) stableToken(t *testing.T, appID, secret string, force bool) answer {
	t.Helper()
	return b.wpost(t, "/cgi-bin/stable_token", nil, map[string]any{
		"grant_type": "client_credential", "appid": appID, "secret": secret, "force_refresh": force,
	})
}

func (b *testBundle) token(t *testing.T) answer {
	t.Helper()
	return b.wget(t, "/cgi-bin/token", url.Values{
		"grant_type": {"client_credential"}, "appid": {appA}, "secret": {secretA},
	})
}

// tokenValid probes a token-taking endpoint: a valid token gets past the
// token check to the (bogus) phone code.
func (b *testBundle) tokenValid(t *testing.T, tok string) bool {
	t.Helper()
	a := b.wpost(t, "/wxa/business/getuserphonenumber", url.Values{"access_token": {tok}}, map[string]string{"code": "bogus"})
	switch a.errcode() {
	case 40029:
		return true
	case 40001:
		return false
	}
	t.Fatalf("unexpected answer %v", a)
	return false
}

func TestStableToken(t *testing.T) {
	t.Run("same token while valid, rotated in the last five minutes", func(t *testing.T) {
		b := setup(t)
		first := b.stableToken(t, appA, secretA, false)
		if _, ok := first["errcode"]; ok || first.str("access_token") == "" || first["expires_in"] != json.Number("7200") {
			t.Fatalf("first answer %v", first)
		}
		tok := first.str("access_token")
		b.clock.Advance(time.Hour)
		again := b.stableToken(t, appA, secretA, false)
		if again.str("access_token") != tok || again["expires_in"] != json.Number("3600") {
			t.Fatalf("an hour later got %v, want the same token with 3600 s left", again)
		}
		b.clock.Advance(time.Hour - 5*time.Minute + time.Second)
		rotated := b.stableToken(t, appA, secretA, false)
		if rotated.str("access_token") == tok {
			t.Fatal("not rotated with less than five minutes left")
		}
		if !b.tokenValid(t, tok) {
			t.Error("old token invalid before its own expiry")
		}
		b.clock.Advance(5 * time.Minute)
		if b.tokenValid(t, tok) {
			t.Error("old token valid after its expiry")
		}
		if !b.tokenValid(t, rotated.str("access_token")) {
			t.Error("new token invalid")
		}
	})

	t.Run("force refresh keeps the old token five minutes", func(t *testing.T) {
		b := setup(t)
		old := b.stableToken(t, appA, secretA, false).str("access_token")
		fresh := b.stableToken(t, appA, secretA, true).str("access_token")
		if fresh == old || fresh == "" {
			t.Fatal("force_refresh did not issue a new token")
		}
		if got := b.stableToken(t, appA, secretA, false).str("access_token"); got != fresh {
			t.Error("stable_token did not keep the forced token")
		}
		b.clock.Advance(5*time.Minute - time.Second)
		if !b.tokenValid(t, old) {
			t.Error("old token invalid within the overlap")
		}
		b.clock.Advance(time.Second)
		if b.tokenValid(t, old) {
			t.Error("old token valid after the overlap")
		}
		if !b.tokenValid(t, fresh) {
			t.Error("new token invalid")
		}
	})

	t.Run("apps are isolated", func(t *testing.T) {
		b := setup(t)
		if b.stableToken(t, appA, secretA, false).str("access_token") == b.stableToken(t, appB, secretB, false).str("access_token") {
			t.Error("two apps share a token")
		}
	})

	t.Run("errors", func(t *testing.T) {
		b := setup(t)
		wantErrcode(t, b.stableToken(t, appA, "wrong", false), 40125)
		wantErrcode(t, b.stableToken(t, "wxunknown", secretA, false), 40013)
		wantErrcode(t, b.stableToken(t, "", secretA, false), 41002)
		wantErrcode(t, b.wpost(t, "/cgi-bin/stable_token", nil, "not an object"), 47001)
		if b.tokenValid(t, "made-up") {
			t.Error("unknown token accepted")
		}
	})
}

func TestToken(t *testing.T) {
	b := setup(t)
	first := b.token(t).str("access_token")
	second := b.token(t).str("access_token")
	if first == "" || first == second {
		t.Fatal("cgi-bin/token did not issue a new token per call")
	}
	b.clock.Advance(5*time.Minute - time.Second)
	if !b.tokenValid(t, first) {
		t.Error("previous token invalid within the overlap")
	}
	b.clock.Advance(time.Second)
	if b.tokenValid(t, first) {
		t.Error("previous token valid after the overlap")
	}
	b.clock.Advance(7200*time.Second - 5*time.Minute - time.Second)
	if !b.tokenValid(t, second) {
		t.Error("latest token invalid before 7200 s")
	}
	b.clock.Advance(time.Second)
	if b.tokenValid(t, second) {
		t.Error("latest token valid after 7200 s")
	}
	if b.f.Calls(fake.EndpointToken) != 2 || b.f.Calls(fake.EndpointStableToken) != 0 {
		t.Errorf("calls token=%d stable_token=%d", b.f.Calls(fake.EndpointToken), b.f.Calls(fake.EndpointStableToken))
	}
}

func TestPhoneNumber(t *testing.T) {
	b := setup(t)
	tok := b.stableToken(t, appA, secretA, false).str("access_token")
	phone := func(tok, code string) answer {
		return b.wpost(t, "/wxa/business/getuserphonenumber", url.Values{"access_token": {tok}}, map[string]string{"code": code})
	}

	code := b.f.MintPhoneCode(appA, "13800138000")
	a := phone(tok, code)
	if a.errcode() != 0 || a.str("errmsg") != "ok" {
		t.Fatalf("answer %v", a)
	}
	info, _ := a["phone_info"].(map[string]any)
	mark, _ := info["watermark"].(map[string]any)
	if info["phoneNumber"] != "13800138000" || info["purePhoneNumber"] != "13800138000" || info["countryCode"] != "86" {
		t.Errorf("phone_info %v", info)
	}
	if mark["appid"] != appA || mark["timestamp"] != json.Number("1735787045") {
		t.Errorf("watermark %v", mark)
	}

	wantErrcode(t, phone(tok, code), 40029)
	wantErrcode(t, phone(tok, "unknown"), 40029)
	other := b.stableToken(t, appB, secretB, false).str("access_token")
	wantErrcode(t, phone(other, b.f.MintPhoneCode(appA, "13800138001")), 40029)
	wantErrcode(t, phone("", b.f.MintPhoneCode(appA, "13800138002")), 41001)
	wantErrcode(t, phone("forged", b.f.MintPhoneCode(appA, "13800138003")), 40001)

	expired := b.f.MintPhoneCode(appA, "13800138004")
	b.clock.Advance(5 * time.Minute)
	wantErrcode(t, phone(tok, expired), 40029)
}

func sign(key string) string {
	m := hmac.New(sha256.New, []byte(key))
	return hex.EncodeToString(m.Sum(nil))
}

func TestCheckSession(t *testing.T) {
	b := setup(t)
	tok := b.stableToken(t, appA, secretA, false).str("access_token")
	login := b.login(t, appA, secretA, b.f.MintCode(appA, "alice"))
	openID, key := login.str("openid"), login.str("session_key")
	check := func(path, openID, sig, method string) answer {
		return b.wget(t, path, url.Values{
			"access_token": {tok}, "openid": {openID}, "signature": {sig}, "sig_method": {method},
		})
	}

	wantErrcode(t, check("/wxa/checksession", openID, sign(key), "hmac_sha256"), 0)
	wantErrcode(t, check("/wxa/checksession", openID, sign("wrong"), "hmac_sha256"), 87009)
	wantErrcode(t, check("/wxa/checksession", openID, sign(key), "md5"), 87008)
	wantErrcode(t, check("/wxa/checksession", b.f.OpenID(appA, "nobody"), sign(key), "hmac_sha256"), 87009)

	// A new login replaces the key: only one is valid at a time.
	key2 := b.login(t, appA, secretA, b.f.MintCode(appA, "alice")).str("session_key")
	wantErrcode(t, check("/wxa/checksession", openID, sign(key), "hmac_sha256"), 87009)
	wantErrcode(t, check("/wxa/checksession", openID, sign(key2), "hmac_sha256"), 0)

	reset := check("/wxa/resetusersessionkey", openID, sign(key2), "hmac_sha256")
	wantErrcode(t, reset, 0)
	key3 := reset.str("session_key")
	if key3 == "" || key3 == key2 || reset.str("openid") != openID {
		t.Fatalf("reset answer %v", reset)
	}
	wantErrcode(t, check("/wxa/checksession", openID, sign(key2), "hmac_sha256"), 87009)
	wantErrcode(t, check("/wxa/checksession", openID, sign(key3), "hmac_sha256"), 0)
	if got, _ := b.f.SessionKey(appA, "alice"); got != key3 {
		t.Error("SessionKey() does not follow the reset")
	}
	if n := b.f.Calls(fake.EndpointCheckSession); n != 8 {
		t.Errorf("checksession calls = %d, want 8", n)
	}
}

func TestCallsAndReset(t *testing.T) {
	b := setup(t)
	b.f.Inject(fake.Fault{Errcode: -1, Times: 5})
	b.login(t, appA, secretA, "x")
	b.login(t, appA, secretA, "x")
	b.stableToken(t, appA, secretA, false)
	if b.f.Calls(fake.EndpointJSCode2Session) != 2 || b.f.Calls(fake.EndpointStableToken) != 1 {
		t.Fatalf("calls before reset: %d, %d", b.f.Calls(fake.EndpointJSCode2Session), b.f.Calls(fake.EndpointStableToken))
	}
	b.f.Reset()
	if b.f.Calls(fake.EndpointJSCode2Session) != 0 {
		t.Error("Reset kept the counters")
	}
	// The remaining faults are gone; apps are not.
	wantErrcode(t, b.login(t, appA, secretA, b.f.MintCode(appA, "alice")), 0)
}

func TestControlEndpoints(t *testing.T) {
	b := setup(t)
	const app, secret = "wxctl", "ctl-secret"

	if status, _ := b.post(t, "/_fake/apps", nil, map[string]string{"appid": app, "secret": secret, "open_platform": platform}); status != http.StatusNoContent {
		t.Fatalf("POST /_fake/apps = %d", status)
	}
	status, minted := b.post(t, "/_fake/codes", nil, map[string]string{"appid": app, "user": "carol"})
	if status != http.StatusOK || minted.str("openid") != b.f.OpenID(app, "carol") || minted.str("unionid") != b.f.UnionID(app, "carol") || minted.str("unionid") == "" {
		t.Fatalf("POST /_fake/codes = %d %v", status, minted)
	}
	if a := b.login(t, app, secret, minted.str("code")); a.str("openid") != minted.str("openid") {
		t.Fatalf("minted code answered %v", a)
	}

	resp, err := b.srv.Client().Get(b.srv.URL + "/_fake/code?appid=" + app + "&user=carol")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /_fake/code = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	wantErrcode(t, b.login(t, app, secret, strings.TrimSpace(string(text))), 0)

	status, batch := b.post(t, "/_fake/codes/batch", nil, map[string]any{"appid": app, "user_prefix": "load-", "first": 5, "n": 3})
	codes, _ := batch["codes"].([]any)
	if status != http.StatusOK || len(codes) != 3 {
		t.Fatalf("POST /_fake/codes/batch = %d %v", status, batch)
	}
	if a := b.login(t, app, secret, codes[2].(string)); a.str("openid") != b.f.OpenID(app, "load-7") {
		t.Fatalf("the third code of a batch from load-5 answered %v, want load-7's openid", a)
	}

	status, pc := b.post(t, "/_fake/phone-codes", nil, map[string]string{"appid": app, "phone": "13900139000"})
	if status != http.StatusOK || pc.str("code") == "" {
		t.Fatalf("POST /_fake/phone-codes = %d %v", status, pc)
	}

	if status, _ := b.post(t, "/_fake/faults", nil, map[string]any{"endpoint": "jscode2session", "appid": app, "errcode": 40226, "times": 2}); status != http.StatusNoContent {
		t.Fatalf("POST /_fake/faults = %d", status)
	}
	wantErrcode(t, b.login(t, app, secret, "c"), 40226)
	wantErrcode(t, b.login(t, app, secret, "c"), 40226)
	wantErrcode(t, b.login(t, app, secret, "c"), 40029)

	status, stats := b.get(t, "/_fake/stats", nil)
	if status != http.StatusOK || stats["jscode2session"] != json.Number("6") || stats["stable_token"] != json.Number("0") || len(stats) != 7 {
		t.Fatalf("GET /_fake/stats = %d %v", status, stats)
	}
	status, listed := b.get(t, "/_fake/secrets", nil)
	secrets, _ := listed["secrets"].([]any)
	if status != http.StatusOK || len(secrets) != len(b.f.Secrets()) || !slices.Contains(secrets, any(secret)) {
		t.Fatalf("GET /_fake/secrets = %d %v, want the app's secret among %d", status, listed, len(b.f.Secrets()))
	}
	if status, _ := b.post(t, "/_fake/reset", nil, nil); status != http.StatusNoContent {
		t.Fatalf("POST /_fake/reset = %d", status)
	}
	if _, stats := b.get(t, "/_fake/stats", nil); stats["jscode2session"] != json.Number("0") {
		t.Fatalf("stats after reset %v", stats)
	}

	t.Run("bad requests", func(t *testing.T) {
		for _, tc := range []struct {
			path string
			body any
			want int
		}{
			{"/_fake/apps", map[string]string{"app_id": "x", "secret": "y"}, 400},
			{"/_fake/apps", map[string]string{"appid": "x"}, 400},
			{"/_fake/codes", map[string]string{"appid": "wxnope", "user": "u"}, 404},
			{"/_fake/codes", map[string]string{"appid": app}, 400},
			{"/_fake/codes/batch", map[string]any{"appid": app, "user_prefix": "u", "n": 0}, 400},
			{"/_fake/codes/batch", map[string]any{"appid": app, "user_prefix": "u", "n": 100001}, 400},
			{"/_fake/codes/batch", map[string]any{"appid": app, "n": 1}, 400},
			{"/_fake/phone-codes", map[string]string{"appid": "wxnope", "phone": "1"}, 404},
			{"/_fake/faults", map[string]any{"endpoint": "login", "errcode": -1}, 400},
			{"/_fake/faults", map[string]any{"appid": app}, 400},
		} {
			if status, a := b.post(t, tc.path, nil, tc.body); status != tc.want || a.str("error") == "" {
				t.Errorf("POST %s %v = %d %v, want %d with an error", tc.path, tc.body, status, a, tc.want)
			}
		}
	})

	t.Run("fault delay_ms", func(t *testing.T) {
		b.post(t, "/_fake/faults", nil, map[string]any{"delay_ms": 1})
		wantErrcode(t, b.login(t, app, secret, b.f.MintCode(app, "dave")), 0)
	})
}

func TestConcurrentLogins(t *testing.T) {
	b := setup(t)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := "user" + string(rune('a'+i%26))
			code := b.f.MintCode(appB, user)
			resp, err := b.srv.Client().Get(b.srv.URL + "/sns/jscode2session?" + url.Values{
				"appid": {appB}, "secret": {secretB}, "js_code": {code}, "grant_type": {"authorization_code"},
			}.Encode())
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			var a struct{ OpenID string }
			if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || a.OpenID != b.f.OpenID(appB, user) {
				errs <- "bad answer for " + user
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if got := b.f.Calls(fake.EndpointJSCode2Session); got != n {
		t.Errorf("calls = %d, want %d", got, n)
	}
}

// Encrypted data, rawData signatures and key rotation use the user's
// current session_key, through the Go API and the control endpoints alike.
func TestEncryptedDataAndSignature(t *testing.T) {
	b := setup(t)
	if status, _ := b.post(t, "/_fake/encrypted-data", nil, map[string]any{"appid": appA, "user": "dora", "data": map[string]any{"a": 1}}); status != http.StatusNotFound {
		t.Fatalf("encrypted data before any login: %d, want 404", status)
	}
	key := b.login(t, appA, secretA, b.f.MintCode(appA, "dora")).str("session_key")

	status, enc := b.post(t, "/_fake/encrypted-data", nil, map[string]any{"appid": appA, "user": "dora", "data": map[string]any{"a": 1}})
	if status != http.StatusOK {
		t.Fatalf("POST /_fake/encrypted-data = %d %v", status, enc)
	}
	k, _ := base64.StdEncoding.DecodeString(key)
	iv, _ := base64.StdEncoding.DecodeString(enc.str("iv"))
	ct, _ := base64.StdEncoding.DecodeString(enc.str("encrypted_data"))
	block, err := aes.NewCipher(k)
	if err != nil || len(iv) != aes.BlockSize || len(ct)%aes.BlockSize != 0 {
		t.Fatalf("key %d bytes (%v), iv %d bytes, ciphertext %d bytes", len(k), err, len(iv), len(ct))
	}
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(ct, ct)
	plain := ct[:len(ct)-int(ct[len(ct)-1])]
	var doc struct {
		A         int `json:"a"`
		Watermark struct {
			AppID     string `json:"appid"`
			Timestamp int64  `json:"timestamp"`
		} `json:"watermark"`
	}
	if err := json.Unmarshal(plain, &doc); err != nil || doc.A != 1 || doc.Watermark.AppID != appA || doc.Watermark.Timestamp != b.clock.Now().Unix() {
		t.Fatalf("plaintext %q (%v)", plain, err)
	}

	status, sig := b.post(t, "/_fake/signature", nil, map[string]string{"appid": appA, "user": "dora", "raw_data": `{"x":1}`})
	sum := sha1.Sum([]byte(`{"x":1}` + key))
	if status != http.StatusOK || sig.str("signature") != hex.EncodeToString(sum[:]) {
		t.Fatalf("POST /_fake/signature = %d %v", status, sig)
	}

	if status, _ := b.post(t, "/_fake/rotate-session-key", nil, map[string]string{"appid": appA, "user": "dora"}); status != http.StatusNoContent {
		t.Fatalf("POST /_fake/rotate-session-key = %d", status)
	}
	if now, _ := b.f.SessionKey(appA, "dora"); now == key || now == "" {
		t.Fatalf("session key %q after rotation, was %q", now, key)
	}
	if status, _ := b.post(t, "/_fake/rotate-session-key", nil, map[string]string{"appid": appA, "user": "nobody"}); status != http.StatusNotFound {
		t.Fatalf("rotating the key of a user who never logged in: %d, want 404", status)
	}
}

// getwxacodeunlimit answers a real PNG carrying its scene, and WeChat's
// errcodes (always with HTTP 200) for what it refuses.
func TestWXACodeUnlimit(t *testing.T) {
	b := setup(t)
	_, tok := b.post(t, "/cgi-bin/stable_token", nil, map[string]any{"grant_type": "client_credential", "appid": appA, "secret": secretA})
	token := tok.str("access_token")
	call := func(token string, body string) (*http.Response, []byte) {
		t.Helper()
		resp, err := b.srv.Client().Post(b.srv.URL+"/wxa/getwxacodeunlimit?access_token="+url.QueryEscape(token), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp, raw
	}
	resp, img := call(token, `{"scene":"abc123XYZ","page":"pages/qr/index","width":280}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if scene, err := fake.SceneOf(img); err != nil || scene != "abc123XYZ" {
		t.Fatalf("SceneOf = %q, %v", scene, err)
	}
	if s, p, check := b.f.LastCodeRequest(); s != "abc123XYZ" || p != "pages/qr/index" || !check {
		t.Fatalf("LastCodeRequest = %q %q %v", s, p, check)
	}
	// Released pages, set through the control endpoint.
	if status, _ := b.post(t, "/_fake/apps", nil, map[string]any{"appid": appA, "secret": secretA, "pages": []string{"pages/index/index"}}); status != http.StatusNoContent {
		t.Fatalf("POST /_fake/apps with pages = %d", status)
	}
	for name, tc := range map[string]struct {
		token, body string
		errcode     int
	}{
		"unknown token":        {"nope", `{"scene":"a"}`, 40001},
		"not JSON":             {token, `scene=a`, 40169},
		"no scene":             {token, `{"page":"pages/index/index"}`, 40169},
		"scene too long":       {token, `{"scene":"` + strings.Repeat("a", 33) + `"}`, 40169},
		"scene with %":         {token, `{"scene":"a%20b"}`, 40129},
		"leading slash":        {token, `{"scene":"a","page":"/pages/index/index"}`, 41030},
		"unreleased page":      {token, `{"scene":"a","page":"pages/new/index"}`, 41030},
		"query in page":        {token, `{"scene":"a","page":"pages/index/index?x=1"}`, 41030},
		"unreleased unchecked": {token, `{"scene":"a","page":"pages/new/index","check_path":false}`, 0},
	} {
		resp, raw := call(tc.token, tc.body)
		if tc.errcode == 0 {
			if resp.Header.Get("Content-Type") != "image/png" {
				t.Errorf("%s: %s", name, raw)
			}
			continue
		}
		var e struct {
			Errcode int `json:"errcode"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(raw, &e) != nil || e.Errcode != tc.errcode {
			t.Errorf("%s: status %d body %s, want errcode %d", name, resp.StatusCode, raw, tc.errcode)
		}
	}
	if _, err := fake.SceneOf([]byte("not a png")); err == nil {
		t.Fatal("SceneOf accepted garbage")
	}
}
