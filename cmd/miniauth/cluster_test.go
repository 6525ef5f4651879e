package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/miniauth/miniauth/auth"
)

// redisCluster starts a three-master Redis Cluster on loopback, from the
// redis-server and redis-cli on PATH, and returns its seed list as
// REDIS_URL takes it.
func redisCluster(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (Debian: redis-server, redis-tools)", tool)
		}
	}
	var addrs []string
	for i := range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		dir := t.TempDir()
		cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--dir", dir, "--save", "", "--appendonly", "no", "--logfile", filepath.Join(dir, "redis.log"))
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server %d: %v", i, err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		eventually(t, 10*time.Second, "redis-server "+addr+" answers", func() bool {
			c := redis.NewClient(&redis.Options{Addr: addr})
			defer c.Close()
			return c.Ping(context.Background()).Err() == nil
		})
		addrs = append(addrs, addr)
	}
	out, err := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer cc.Close()
	eventually(t, 20*time.Second, "the cluster is ok", func() bool {
		info, err := cc.ClusterInfo(context.Background()).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	})
	return strings.Join(addrs, ",")
}

// Everything that uses Redis works on a Redis Cluster, across two
// instances: logins (the code claim), refresh, /me, the rate limits, a ban
// reaching the other instance through the change feed, scan to sign in
// (its Lua script and image cache) and the phone number (the shared WeChat
// access token).
func TestRedisCluster(t *testing.T) {
	t.Parallel()
	seeds := redisCluster(t)
	b := setup(t, func(c *Config) { c.RedisURL = seeds })
	s2 := b.startInstance()
	tt := b.createTenant("cluster", map[string]any{"qr_login_page": "pages/qr/index"})

	// Limits are counted in the cluster and shared by the instances.
	limPatch(t, b, nil, tt.Slug, map[string]any{"login_per_ip": "2-M"})
	afterPropagation()
	wantStatus(t, "login 1 of 2", banLogin(t, b, nil, tt, "carol"), http.StatusOK, "")
	wantStatus(t, "login 2 of 2", banLogin(t, b, s2, tt, "carol"), http.StatusOK, "")
	wantStatus(t, "login 3 of 2", banLogin(t, b, nil, tt, "carol"), http.StatusTooManyRequests, "rate_limited")
	if n := limMetric(t, b.srv, "miniauth_ratelimit_fail_open_total"); n != 0 {
		t.Fatalf("%d limit decisions failed open on the cluster", n)
	}
	limPatch(t, b, nil, tt.Slug, map[string]any{"login_per_ip": nil})

	alice := b.login(nil, tt, "alice")
	wantStatus(t, "me on instance 2", banMe(t, s2, tt.Slug, alice.AccessToken), http.StatusOK, "")
	rotated := banTokens(t, "refresh on instance 2", banRefresh(t, s2, tt.Slug, alice.RefreshToken))
	b.remember(rotated.AccessToken, rotated.RefreshToken)
	wantStatus(t, "reuse", banRefresh(t, b.srv, tt.Slug, alice.RefreshToken), http.StatusUnauthorized, "refresh_token_reused")

	// A login code is claimed once, whichever instance sees it.
	code := b.wx.MintCode(tt.AppID, "bob")
	wantStatus(t, "login", do(t, "POST", banURL(b.srv, tt.Slug, "/login"), map[string]string{"code": code}), http.StatusOK, "")
	wantStatus(t, "the same code on instance 2", do(t, "POST", banURL(s2, tt.Slug, "/login"), map[string]string{"code": code}), http.StatusUnauthorized, "invalid_code")

	// A ban made on instance 1 holds on instance 2 once its notice arrives.
	w := s2.notices(t, auth.TopicBans, nil)
	banCreate(t, b, nil, "/tenants/"+tt.Slug+"/bans", map[string]any{"user_id": rotated.User.ID, "reason": "cluster test"})
	w.wait(t, "the ban's notice on instance 2")
	wantStatus(t, "me of a banned user on instance 2", banMe(t, s2, tt.Slug, rotated.AccessToken), http.StatusForbidden, "user_banned")

	// Scan to sign in: started on one instance, confirmed on the other.
	dave := b.login(s2, tt, "dave")
	q := qrStart(t, b.srv, tt.Slug)
	wantStatus(t, "image on instance 2", do(t, "GET", s2.URL+"/v1/t/"+tt.Slug+"/qr-login/"+q.Ticket+"/image", nil), http.StatusOK, "")
	wantStatus(t, "scan", qrAct(t, s2, tt.Slug, q.Ticket, "scan", dave.AccessToken), http.StatusOK, "")
	wantStatus(t, "confirm", qrAct(t, s2, tt.Slug, q.Ticket, "confirm", dave.AccessToken), http.StatusNoContent, "")
	web := banTokens(t, "redeem", qrPoll(t, b.srv, tt.Slug, q, "?status=scanned&wait=5"))
	b.remember(web.AccessToken, web.RefreshToken)

	// The phone number takes the app's access token, cached in the cluster.
	for _, srv := range []*testServer{b.srv, s2} {
		r := do(t, "POST", banURL(srv, tt.Slug, "/me/phone"), map[string]string{"code": b.wx.MintPhoneCode(tt.AppID, "13800138000")},
			"Authorization", "Bearer "+dave.AccessToken)
		wantStatus(t, "phone", r, http.StatusOK, "")
	}
}
