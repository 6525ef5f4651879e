package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/miniauth/miniauth/auth"
	"github.com/miniauth/miniauth/tenant"
)

// sessNo5xx fails the test on a server error; while Redis is down the
// mini-program endpoints must still answer 2xx/4xx.
func sessNo5xx(t *testing.T, what string, r response) response {
	t.Helper()
	if r.Status >= 500 {
		t.Fatalf("%s: %d while Redis is down: %s", what, r.Status, r.Body)
	}
	return r
}

func TestOutageRedisRestart(t *testing.T) {
	t.Parallel()
	rs := startPrivateRedis(t)
	b := setup(t, func(c *Config) { c.RedisURL = rs.url() })
	tt := b.createTenant("sess-outage", nil)
	srv1, srv2 := b.srv, b.startInstance()
	srvs := []*testServer{srv1, srv2}
	slug := tt.Slug

	for _, s := range srvs {
		wantStatus(t, "readyz with Redis up", do(t, "GET", s.URL+"/readyz", nil), http.StatusOK, "")
	}
	alice := b.login(srv1, tt, "alice")
	bob := b.login(srv1, tt, "bob")
	carol := b.login(srv2, tt, "carol")
	dave := b.login(srv1, tt, "dave")
	// Cached as live on instance 2 while the feed works.
	for _, tok := range []tokens{alice, bob, carol, dave} {
		wantStatus(t, "me on instance 2", sessMe(t, srv2, slug, tok.AccessToken), http.StatusOK, "")
	}

	// --- Redis goes away.
	rs.stop()
	// A wait, not a contract bound: each instance learns from its broken
	// subscription that notices may be lost and stops trusting its caches.
	eventually(t, 15*time.Second, "both instances notice the change feed is down", func() bool {
		return !srv1.app.bus.Healthy() && !srv2.app.bus.Healthy()
	})

	for _, s := range srvs {
		wantStatus(t, "healthz with Redis down", do(t, "GET", s.URL+"/healthz", nil), http.StatusOK, "")
		r := do(t, "GET", s.URL+"/readyz", nil)
		wantStatus(t, "readyz with Redis down", r, http.StatusServiceUnavailable, "")
		if m := r.JSON(t); m["redis"] == "ok" || m["postgres"] != "ok" {
			t.Fatalf("readyz with Redis down: %s", r.Body)
		}
	}

	// Login, refresh and the token check need only Postgres.
	erin := sessTokens(t, "login on instance 1", sessNo5xx(t, "login", sessLoginResp(t, b, srv1, tt, "erin")))
	frank := sessTokens(t, "login on instance 2", sessNo5xx(t, "login", sessLoginResp(t, b, srv2, tt, "frank")))
	alice2 := sessTokens(t, "refresh on instance 2", sessNo5xx(t, "refresh", sessRefresh(t, srv2, slug, alice.RefreshToken)))
	for _, s := range srvs {
		for _, tok := range []tokens{erin, frank, alice2, bob, carol} {
			wantStatus(t, "me with Redis down", sessNo5xx(t, "me", sessMe(t, s, slug, tok.AccessToken)), http.StatusOK, "")
		}
		for _, p := range []string{"/.well-known/jwks.json", "/.well-known/openid-configuration"} {
			wantStatus(t, p+" with Redis down", sessNo5xx(t, p, do(t, "GET", sessURL(s, slug, p), nil)), http.StatusOK, "")
		}
	}
	wantStatus(t, "patch me with Redis down", sessNo5xx(t, "patch me", do(t, "PATCH", sessURL(srv2, slug, "/me"),
		map[string]string{"nickname": "Erin"}, "Authorization", "Bearer "+erin.AccessToken)), http.StatusOK, "")
	wantStatus(t, "bad code with Redis down", sessNo5xx(t, "login", do(t, "POST", sessURL(srv1, slug, "/login"),
		map[string]string{"code": "not-a-code"})), http.StatusUnauthorized, "invalid_code")

	// A logout on instance 1 is honoured there at once, and on instance 2
	// within the propagation bound, although instance 2 had the session
	// cached as live and no notice can arrive: while the feed is down it
	// serves cached answers no older than that.
	wantStatus(t, "logout on instance 1", sessNo5xx(t, "logout", sessLogout(t, srv1, slug, bob.AccessToken, nil)), http.StatusNoContent, "")
	wantStatus(t, "logged-out token on instance 1", sessNo5xx(t, "me", sessMe(t, srv1, slug, bob.AccessToken)), http.StatusUnauthorized, "invalid_token")
	afterPropagation()
	wantStatus(t, "logged-out token on instance 2", sessNo5xx(t, "me", sessMe(t, srv2, slug, bob.AccessToken)), http.StatusUnauthorized, "invalid_token")
	wantStatus(t, "logged-out refresh on instance 2", sessNo5xx(t, "refresh", sessRefresh(t, srv2, slug, bob.RefreshToken)),
		http.StatusUnauthorized, "invalid_refresh_token")
	// The same holds for a change whose notice is lost for good, written
	// straight to Postgres as an instance whose publish failed leaves it:
	// instance 2 has carol cached as live (just now) and must still refuse
	// her within the bound. (A logout through the API is slow to publish
	// while Redis is down, long enough for a feed reconnect attempt to
	// flush the cache, so only this direct write tells the bound from a
	// lucky flush.)
	wantStatus(t, "carol on instance 2", sessMe(t, srv2, slug, carol.AccessToken), http.StatusOK, "")
	if _, err := b.db.Exec(context.Background(), `UPDATE sessions SET revoked_at = now(), revoke_reason = 'test'
		WHERE user_id = $1 AND revoked_at IS NULL`, carol.User.ID); err != nil {
		t.Fatal(err)
	}
	afterPropagation()
	wantStatus(t, "carol revoked in Postgres, on instance 2", sessNo5xx(t, "me", sessMe(t, srv2, slug, carol.AccessToken)),
		http.StatusUnauthorized, "invalid_token")
	wantStatus(t, "frank on instance 2", sessMe(t, srv2, slug, frank.AccessToken), http.StatusOK, "")
	if _, err := b.db.Exec(context.Background(), `UPDATE tenants SET status = 'disabled' WHERE slug = $1`, slug); err != nil {
		t.Fatal(err)
	}
	afterPropagation()
	wantStatus(t, "tenant disabled in Postgres, on instance 2", sessNo5xx(t, "me", sessMe(t, srv2, slug, frank.AccessToken)),
		http.StatusForbidden, "tenant_disabled")
	if _, err := b.db.Exec(context.Background(), `UPDATE tenants SET status = 'active' WHERE slug = $1`, slug); err != nil {
		t.Fatal(err)
	}
	afterPropagation()
	wantStatus(t, "tenant enabled in Postgres, on instance 2", sessNo5xx(t, "me", sessMe(t, srv2, slug, frank.AccessToken)),
		http.StatusOK, "")
	// Refresh-token reuse on instance 1 revokes the session on instance 2.
	wantStatus(t, "reuse on instance 1", sessNo5xx(t, "refresh", sessRefresh(t, srv1, slug, alice.RefreshToken)),
		http.StatusUnauthorized, "refresh_token_reused")
	afterPropagation()
	wantStatus(t, "reuse-revoked token on instance 2", sessNo5xx(t, "me", sessMe(t, srv2, slug, alice2.AccessToken)),
		http.StatusUnauthorized, "invalid_token")
	// Tenant status, too, reaches every instance within the bound.
	wantStatus(t, "disable with Redis down", b.api("PATCH", "/tenants/"+slug, map[string]string{"status": "disabled"}), http.StatusOK, "")
	afterPropagation()
	for _, s := range srvs {
		wantStatus(t, "disabled tenant with Redis down", sessNo5xx(t, "me", sessMe(t, s, slug, dave.AccessToken)), http.StatusForbidden, "tenant_disabled")
		wantStatus(t, "login to disabled tenant with Redis down", sessNo5xx(t, "login", sessLoginResp(t, b, s, tt, "gina")),
			http.StatusForbidden, "tenant_disabled")
	}

	// --- Redis comes back on the same address.
	rs.start()
	eventually(t, 15*time.Second, "readyz 200 and a live change feed on both instances", func() bool {
		for _, s := range srvs {
			if do(t, "GET", s.URL+"/readyz", nil).Status != http.StatusOK || !s.app.bus.Healthy() {
				return false
			}
		}
		return true
	})

	// What changed while the feed was down is not forgotten: the caches
	// were flushed on reconnect, not refilled from before the outage.
	for _, s := range srvs {
		wantStatus(t, "still disabled after recovery", sessMe(t, s, slug, dave.AccessToken), http.StatusForbidden, "tenant_disabled")
	}
	// Tenant changes propagate through the feed again.
	changed := srv2.notices(t, tenant.TopicTenant, naming(slug))
	wantStatus(t, "enable after recovery", b.api("PATCH", "/tenants/"+slug, map[string]string{"status": "active"}), http.StatusOK, "")
	changed.wait(t, "instance 2 hears the tenant was enabled after Redis returned")
	wantStatus(t, "re-enabled tenant on instance 2", sessMe(t, srv2, slug, dave.AccessToken), http.StatusOK, "")
	// Sessions revoked during the outage stay refused everywhere.
	for _, s := range srvs {
		wantStatus(t, "bob after recovery", sessMe(t, s, slug, bob.AccessToken), http.StatusUnauthorized, "invalid_token")
		wantStatus(t, "alice after recovery", sessMe(t, s, slug, alice2.AccessToken), http.StatusUnauthorized, "invalid_token")
	}
	// Revocations propagate through the feed again: instance 2 caches
	// dave's session as live, instance 1 logs it out.
	for range 2 {
		wantStatus(t, "dave on instance 2", sessMe(t, srv2, slug, dave.AccessToken), http.StatusOK, "")
	}
	loggedOut := srv2.notices(t, auth.TopicSessionRevoked, naming(dave.User.ID))
	wantStatus(t, "logout after recovery", sessLogout(t, srv1, slug, dave.AccessToken, nil), http.StatusNoContent, "")
	loggedOut.wait(t, "instance 2 hears dave logged out after Redis returned")
	wantStatus(t, "dave logged out on instance 1, on instance 2", sessMe(t, srv2, slug, dave.AccessToken), http.StatusUnauthorized, "invalid_token")
	// And in the other direction.
	wantStatus(t, "erin on instance 1", sessMe(t, srv1, slug, erin.AccessToken), http.StatusOK, "")
	loggedOut = srv1.notices(t, auth.TopicSessionRevoked, naming(erin.User.ID))
	wantStatus(t, "logout on instance 2 after recovery", sessLogout(t, srv2, slug, erin.AccessToken, nil), http.StatusNoContent, "")
	loggedOut.wait(t, "instance 1 hears erin logged out after Redis returned")
	wantStatus(t, "erin logged out on instance 2, on instance 1", sessMe(t, srv1, slug, erin.AccessToken), http.StatusUnauthorized, "invalid_token")
	// Tenant changes propagate again: a key rotated through instance 1 is
	// used by instance 2 within 1 s, although instance 2 caches the tenant.
	oldKid := sessKid(t, b.login(srv2, tt, "hank").AccessToken)
	rotation := srv2.notices(t, tenant.TopicTenant, naming(slug))
	r := b.api("POST", "/tenants/"+slug+"/keys/rotate", nil)
	wantStatus(t, "rotate after recovery", r, http.StatusCreated, "")
	newKid, _ := r.JSON(t)["kid"].(string)
	if newKid == "" || newKid == oldKid {
		t.Fatalf("rotate: %s", r.Body)
	}
	rotation.wait(t, "instance 2 hears the key was rotated after Redis returned")
	if k := sessKid(t, b.login(srv2, tt, "ivan").AccessToken); k != newKid {
		t.Fatalf("login on instance 2 after the rotation signed with %s, want %s", k, newKid)
	}
	wantStatus(t, "frank still logged in", sessMe(t, srv2, slug, frank.AccessToken), http.StatusOK, "")
}
