package main

import (
	"net/http"
	"sync"
	"testing"

	"github.com/miniauth/miniauth/auth/wechat/fake"
)

func TestPhoneNumber(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("phone", nil)
	alice := b.login(nil, tt, "alice")
	bearer := "Bearer " + alice.AccessToken
	url := b.srv.URL + "/v1/t/phone/me/phone"

	t.Run("stores the number", func(t *testing.T) {
		code := b.wx.MintPhoneCode(tt.AppID, "13800138000")
		r := do(t, "POST", url, map[string]string{"code": code}, "Authorization", bearer)
		if r.Status != http.StatusOK || r.JSON(t)["phone"] != "13800138000" {
			t.Fatalf("phone: %d %s", r.Status, r.Body)
		}
		var stored string
		if err := b.db.QueryRow(t.Context(), `SELECT phone FROM users WHERE openid = $1`, alice.User.OpenID).Scan(&stored); err != nil || stored != "13800138000" {
			t.Fatalf("stored phone %q, %v", stored, err)
		}
		// A phone code is single use.
		r = do(t, "POST", url, map[string]string{"code": code}, "Authorization", bearer)
		if r.Status != http.StatusBadRequest || r.Code(t) != "invalid_code" {
			t.Fatalf("reused phone code: %d %s", r.Status, r.Body)
		}
	})

	t.Run("needs a token and a code", func(t *testing.T) {
		if r := do(t, "POST", url, map[string]string{"code": "x"}); r.Status != http.StatusUnauthorized {
			t.Fatalf("no token: %d", r.Status)
		}
		if r := do(t, "POST", url, map[string]string{}, "Authorization", bearer); r.Status != http.StatusBadRequest {
			t.Fatalf("no code: %d %s", r.Status, r.Body)
		}
	})

	t.Run("one access token shared by every instance", func(t *testing.T) {
		other := b.startInstance()
		before := b.wx.Calls(fake.EndpointStableToken)
		var wg sync.WaitGroup
		for i, srv := range []*testServer{b.srv, other, b.srv, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code := b.wx.MintPhoneCode(tt.AppID, "1390000000"+string(rune('0'+i)))
				r := do(t, "POST", srv.URL+"/v1/t/phone/me/phone", map[string]string{"code": code}, "Authorization", bearer)
				if r.Status != http.StatusOK {
					t.Errorf("phone via instance: %d %s", r.Status, r.Body)
				}
			}()
		}
		wg.Wait()
		// The first subtest already cached the token: no instance fetches again.
		if n := b.wx.Calls(fake.EndpointStableToken) - before; n != 0 {
			t.Fatalf("stable_token called %d more times; the cached token should serve every instance", n)
		}
	})

	t.Run("a rejected access token is replaced once", func(t *testing.T) {
		b.wx.Inject(fake.Fault{Endpoint: fake.EndpointPhoneNumber, Errcode: 40001})
		before := b.wx.Calls(fake.EndpointStableToken)
		code := b.wx.MintPhoneCode(tt.AppID, "13700000000")
		r := do(t, "POST", url, map[string]string{"code": code}, "Authorization", bearer)
		if r.Status != http.StatusOK || r.JSON(t)["phone"] != "13700000000" {
			t.Fatalf("after token rejection: %d %s", r.Status, r.Body)
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
			r := do(t, "POST", url, map[string]string{"code": b.wx.MintPhoneCode(tt.AppID, "13600000000")}, "Authorization", bearer)
			if r.Status != f.status || r.Code(t) != f.code {
				t.Errorf("%+v: %d %s", f.fault, r.Status, r.Body)
			}
		}
		var stored string
		if err := b.db.QueryRow(t.Context(), `SELECT phone FROM users WHERE openid = $1`, alice.User.OpenID).Scan(&stored); err != nil || stored != "13700000000" {
			t.Fatalf("a failed exchange changed the stored phone to %q (%v)", stored, err)
		}
	})
}
