package main

import (
	"net/http"
	"testing"

	"github.com/miniauth/miniauth/auth"
)

// GET /me is served from each instance's profile cache: an edit made on
// one instance is seen on the other once its notice arrives, and a login
// is seen at once on the instance that made it.
func TestProfileCacheAcrossInstances(t *testing.T) {
	t.Parallel()
	b := setup(t)
	s2 := b.startInstance()
	tt := b.createTenant("profiles", nil)
	tok := b.login(nil, tt, "alice")
	me := func(srv *testServer, access string) map[string]any {
		t.Helper()
		return wantStatus(t, "me", do(t, "GET", srv.URL+"/v1/t/"+tt.Slug+"/me", nil, "Authorization", "Bearer "+access), http.StatusOK, "").JSON(t)
	}
	if m := me(s2, tok.AccessToken); m["nickname"] != nil {
		t.Fatalf("nickname before the edit: %v", m["nickname"])
	}

	w := s2.notices(t, auth.TopicUserChanged, nil)
	wantStatus(t, "edit", do(t, "PATCH", b.srv.URL+"/v1/t/"+tt.Slug+"/me", map[string]string{"nickname": "Ann"},
		"Authorization", "Bearer "+tok.AccessToken), http.StatusOK, "")
	w.wait(t, "the profile notice on instance 2")
	if m := me(s2, tok.AccessToken); m["nickname"] != "Ann" {
		t.Fatalf("instance 2 after the edit's notice: nickname %v", m["nickname"])
	}

	before := me(b.srv, tok.AccessToken)["last_login_at"]
	again := b.login(nil, tt, "alice")
	if after := me(b.srv, again.AccessToken)["last_login_at"]; after == before {
		t.Fatalf("last_login_at %v unchanged on the instance that logged in", after)
	}
}
