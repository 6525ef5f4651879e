package main

import (
	"net/http"
	"testing"
)

func TestLoginSmoke(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("smoke", nil)
	tok := b.login(nil, tt, "alice")
	if !tok.User.IsNew || tok.TokenType != "Bearer" || tok.ExpiresIn != 900 {
		t.Fatalf("unexpected token response: %+v", tok)
	}
	r := do(t, "GET", b.srv.URL+"/v1/t/smoke/me", nil, "Authorization", "Bearer "+tok.AccessToken)
	if r.Status != http.StatusOK || r.JSON(t)["openid"] != b.wx.OpenID(tt.AppID, "alice") {
		t.Fatalf("me: %d %s", r.Status, r.Body)
	}
}
