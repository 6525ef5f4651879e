package api_test

// POST /v1/t/{tenant}/me/phone on one engine: the number is stored, codes
// are single use, a rejected WeChat access token is replaced once, and
// failed exchanges store nothing.

import (
	"net/http"
	"testing"

	"github.com/miniauth/miniauth/auth/wechat/fake"
)

func TestPhoneNumber(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.tenant(t, "phone")
	alice := b.login(t, tt, "alice")
	phone := func(t *testing.T, code string) response {
		t.Helper()
		return b.do(t, request{method: http.MethodPost, path: path(tt.Slug, "/me/phone"),
			body: map[string]string{"code": code}, bearer: alice.AccessToken})
	}
	answered := func(t *testing.T, r response) string {
		t.Helper()
		var got struct {
			Phone string `json:"phone"`
		}
		if r.status == http.StatusOK {
			r.decode(t, &got)
		}
		return got.Phone
	}
	stored := func(t *testing.T) (string, error) {
		t.Helper()
		var s string
		err := b.db.QueryRow(t.Context(), `SELECT phone FROM users WHERE openid = $1`, alice.User.OpenID).Scan(&s)
		return s, err
	}

	t.Run("stores the number", func(t *testing.T) {
		code := b.wx.MintPhoneCode(tt.WeChatAppID, "13800138000")
		r := phone(t, code)
		if r.status != http.StatusOK || answered(t, r) != "13800138000" {
			t.Fatalf("phone: %d %s", r.status, r.body)
		}
		if s, err := stored(t); err != nil || s != "13800138000" {
			t.Fatalf("stored phone %q, %v", s, err)
		}
		// A phone code is single use.
		r = phone(t, code)
		if r.status != http.StatusBadRequest || r.problem.Code != "invalid_code" {
			t.Fatalf("reused phone code: %d %s", r.status, r.body)
		}
	})

	t.Run("needs a token and a code", func(t *testing.T) {
		if r := b.do(t, request{method: http.MethodPost, path: path(tt.Slug, "/me/phone"), body: map[string]string{"code": "x"}}); r.status != http.StatusUnauthorized {
			t.Fatalf("no token: %d", r.status)
		}
		if r := b.do(t, request{method: http.MethodPost, path: path(tt.Slug, "/me/phone"), body: map[string]string{},
			bearer: alice.AccessToken}); r.status != http.StatusBadRequest {
			t.Fatalf("no code: %d %s", r.status, r.body)
		}
	})

	t.Run("a rejected access token is replaced once", func(t *testing.T) {
		b.wx.Inject(fake.Fault{Endpoint: fake.EndpointPhoneNumber, Errcode: 40001})
		before := b.wx.Calls(fake.EndpointStableToken)
		r := phone(t, b.wx.MintPhoneCode(tt.WeChatAppID, "13700000000"))
		if r.status != http.StatusOK || answered(t, r) != "13700000000" {
			t.Fatalf("after token rejection: %d %s", r.status, r.body)
		}
		if n := b.wx.Calls(fake.EndpointStableToken) - before; n != 1 {
			t.Fatalf("stable_token called %d times after a rejection, want 1", n)
		}
	})

	t.Run("wechat faults", func(t *testing.T) {
		for _, f := range []struct {
			fault  fake.Fault
			status int
			code   string
		}{
			{fake.Fault{Endpoint: fake.EndpointPhoneNumber, Errcode: -1}, http.StatusBadGateway, "wechat_unavailable"},
			{fake.Fault{Endpoint: fake.EndpointPhoneNumber, Errcode: 45011}, http.StatusTooManyRequests, "rate_limited"},
			{fake.Fault{Endpoint: fake.EndpointPhoneNumber, Garbage: true}, http.StatusBadGateway, "wechat_unavailable"},
			// A number issued to another app must not be stored.
			{fake.Fault{Endpoint: fake.EndpointPhoneNumber, Body: `{"errcode":0,"errmsg":"ok","phone_info":{"phoneNumber":"13500000000",` +
				`"purePhoneNumber":"13500000000","countryCode":86,"watermark":{"timestamp":1,"appid":"wxsomeoneelse0000"}}}`},
				http.StatusBadGateway, "wechat_unavailable"},
		} {
			b.wx.Inject(f.fault)
			r := phone(t, b.wx.MintPhoneCode(tt.WeChatAppID, "13600000000"))
			if r.status != f.status || r.problem.Code != f.code {
				t.Errorf("%+v: %d %s", f.fault, r.status, r.body)
			}
		}
		if s, err := stored(t); err != nil || s != "13700000000" {
			t.Fatalf("a failed exchange changed the stored phone to %q (%v)", s, err)
		}
	})
}
