package main

// The phone number exchange across instances. Its single-instance
// behaviour is tested in auth/api.

import (
	"net/http"
	"sync"
	"testing"

	"github.com/miniauth/miniauth/auth/wechat/fake"
)

// TestPhoneAccessTokenSharedAcrossInstances shows the WeChat access token
// one instance fetched serves every instance: none fetches another.
func TestPhoneAccessTokenSharedAcrossInstances(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("phone", nil)
	alice := b.login(nil, tt, "alice")
	bearer := "Bearer " + alice.AccessToken
	url := b.srv.URL + "/v1/t/phone/me/phone"

	// The first exchange fetches and caches the token.
	r := do(t, "POST", url, map[string]string{"code": b.wx.MintPhoneCode(tt.AppID, "13800138000")}, "Authorization", bearer)
	if r.Status != http.StatusOK || r.JSON(t)["phone"] != "13800138000" {
		t.Fatalf("phone: %d %s", r.Status, r.Body)
	}

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
	if n := b.wx.Calls(fake.EndpointStableToken) - before; n != 0 {
		t.Fatalf("stable_token called %d more times; the cached token should serve every instance", n)
	}
}
