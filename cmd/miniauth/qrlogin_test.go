package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miniauth/miniauth/auth/wechat/fake"
)

// qrTicket is the answer of POST /qr-login.
type qrTicket struct {
	Ticket    string `json:"ticket"`
	PollToken string `json:"poll_token"`
	ImageURL  string `json:"image_url"`
	ExpiresIn int    `json:"expires_in"`
}

func qrStart(t *testing.T, srv *testServer, slug string) qrTicket {
	t.Helper()
	r := wantStatus(t, "start qr login", do(t, "POST", srv.URL+"/v1/t/"+slug+"/qr-login", nil, "User-Agent", "Mozilla/5.0 (test browser)"), http.StatusCreated, "")
	var q qrTicket
	if err := json.Unmarshal(r.Body, &q); err != nil || len(q.Ticket) != 32 || q.PollToken == "" || q.ExpiresIn <= 0 {
		t.Fatalf("qr-login answer %s (%v)", r.Body, err)
	}
	return q
}

func qrPoll(t *testing.T, srv *testServer, slug string, q qrTicket, query string) response {
	t.Helper()
	return do(t, "GET", srv.URL+"/v1/t/"+slug+"/qr-login/"+q.Ticket+query, nil, "Authorization", "Bearer "+q.PollToken)
}

func qrAct(t *testing.T, srv *testServer, slug, ticket, action, access string) response {
	t.Helper()
	return do(t, "POST", srv.URL+"/v1/t/"+slug+"/qr-login/"+ticket+"/"+action, nil, "Authorization", "Bearer "+access)
}

// The whole flow across three instances: a page starts on one, waits on
// another, the mini-program scans and confirms on a third; the page gets
// its own web session for the confirming user, once.
func TestQRLoginAcrossInstances(t *testing.T) {
	t.Parallel()
	b := setup(t)
	srv1, srv2, srv3 := b.srv, b.startInstance(), b.startInstance()
	tt := b.createTenant("qr-flow", map[string]any{"qr_login_page": "pages/qr/index"})
	alice := b.login(srv3, tt, "alice")

	q := qrStart(t, srv1, tt.Slug)
	if scene, page, check := b.wx.LastCodeRequest(); scene != q.Ticket || page != "pages/qr/index" || !check {
		t.Fatalf("WeChat was asked for scene %q page %q check_path %v", scene, page, check)
	}
	// The image is cached: fetched twice, made once.
	if !strings.HasPrefix(q.ImageURL, "http://miniauth.test/v1/t/"+tt.Slug+"/qr-login/"+q.Ticket+"/image") {
		t.Fatalf("image_url %s", q.ImageURL)
	}
	imagePath := strings.TrimPrefix(q.ImageURL, "http://miniauth.test")
	for _, s := range []*testServer{srv2, srv3} {
		resp, err := http.Get(s.URL + imagePath)
		if err != nil {
			t.Fatal(err)
		}
		img, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if scene, err := fake.SceneOf(img); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || err != nil || scene != q.Ticket {
			t.Fatalf("image: %d %q scene %q (%v)", resp.StatusCode, resp.Header.Get("Content-Type"), scene, err)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "private, max-age=") {
			t.Fatalf("image Cache-Control %q", cc)
		}
	}
	if n := b.wx.Calls(fake.EndpointWXACode); n != 1 {
		t.Fatalf("getwxacodeunlimit calls = %d, want 1", n)
	}

	r := wantStatus(t, "first poll", qrPoll(t, srv2, tt.Slug, q, ""), http.StatusOK, "")
	if r.JSON(t)["status"] != "pending" {
		t.Fatalf("first poll: %s", r.Body)
	}
	// The scan tells the mini-program where the request comes from.
	r = wantStatus(t, "scan", qrAct(t, srv3, tt.Slug, q.Ticket, "scan", alice.AccessToken), http.StatusOK, "")
	if m := r.JSON(t); m["status"] != "scanned" || m["user_agent"] != "Mozilla/5.0 (test browser)" || m["ip"] != "127.0.0.1" || m["requested_at"] == nil {
		t.Fatalf("scan answer %s", r.Body)
	}

	// A long poll that starts before the confirm returns after it, with
	// tokens; several polls at once redeem exactly once.
	var wg sync.WaitGroup
	polls := make([]response, 4)
	for i := range polls {
		wg.Go(func() {
			polls[i] = qrPoll(t, []*testServer{srv1, srv2}[i%2], tt.Slug, q, "?status=scanned&wait=10")
		})
	}
	time.Sleep(300 * time.Millisecond)
	wantStatus(t, "confirm", qrAct(t, srv3, tt.Slug, q.Ticket, "confirm", alice.AccessToken), http.StatusNoContent, "")
	wg.Wait()
	var web tokens
	winners := 0
	for _, p := range polls {
		if p.Status == http.StatusOK {
			if err := json.Unmarshal(p.Body, &web); err != nil || web.AccessToken == "" {
				t.Fatalf("poll answer %s", p.Body)
			}
			if p.JSON(t)["status"] != "confirmed" {
				t.Fatalf("poll with tokens says %s", p.Body)
			}
			winners++
			continue
		}
		wantStatus(t, "poll after redemption", p, http.StatusNotFound, "qr_ticket_not_found")
	}
	if winners != 1 {
		t.Fatalf("%d polls got tokens, want exactly 1", winners)
	}
	if web.User.ID != alice.User.ID || web.RefreshToken == alice.RefreshToken {
		t.Fatalf("web session for %s (alice is %s)", web.User.ID, alice.User.ID)
	}
	wantStatus(t, "me with the web token", do(t, "GET", srv3.URL+"/v1/t/"+tt.Slug+"/me", nil, "Authorization", "Bearer "+web.AccessToken), http.StatusOK, "")
	var client string
	if err := b.db.QueryRow(t.Context(), `SELECT client FROM sessions WHERE user_id = $1 ORDER BY created_at DESC LIMIT 1`, alice.User.ID).Scan(&client); err != nil || client != "web" {
		t.Fatalf("web session's client = %q (%v)", client, err)
	}
	wantStatus(t, "poll after redemption", qrPoll(t, srv1, tt.Slug, q, ""), http.StatusNotFound, "qr_ticket_not_found")
	wantStatus(t, "image after redemption", do(t, "GET", srv1.URL+imagePath, nil), http.StatusOK, "")
}

// Every refusal of the flow is a clear 4xx, and changes nothing.
func TestQRLoginRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.QRLoginTTL = 10 * time.Second })
	tt := b.createTenant("qr-refuse", nil)
	alice := b.login(nil, tt, "alice")
	bob := b.login(nil, tt, "bob")
	slug := tt.Slug

	// The integrator's page is on another origin: preflights pass.
	pre := do(t, "OPTIONS", b.srv.URL+"/v1/t/"+slug+"/qr-login/"+strings.Repeat("a", 32), nil,
		"Origin", "https://shop.example", "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "authorization")
	if pre.Status != http.StatusNoContent || pre.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: %d %v", pre.Status, pre.Header)
	}
	q := qrStart(t, b.srv, slug)
	wantStatus(t, "poll without the poll token", do(t, "GET", b.srv.URL+"/v1/t/"+slug+"/qr-login/"+q.Ticket, nil), http.StatusUnauthorized, "invalid_poll_token")
	wantStatus(t, "poll with the ticket as token", do(t, "GET", b.srv.URL+"/v1/t/"+slug+"/qr-login/"+q.Ticket, nil, "Authorization", "Bearer "+q.Ticket), http.StatusUnauthorized, "invalid_poll_token")
	wantStatus(t, "scan without a token", do(t, "POST", b.srv.URL+"/v1/t/"+slug+"/qr-login/"+q.Ticket+"/scan", nil), http.StatusUnauthorized, "invalid_token")
	wantStatus(t, "alice scans", qrAct(t, b.srv, slug, q.Ticket, "scan", alice.AccessToken), http.StatusOK, "")
	wantStatus(t, "bob confirms alice's scan", qrAct(t, b.srv, slug, q.Ticket, "confirm", bob.AccessToken), http.StatusConflict, "qr_ticket_taken")
	wantStatus(t, "bob scans too", qrAct(t, b.srv, slug, q.Ticket, "scan", bob.AccessToken), http.StatusConflict, "qr_ticket_taken")
	wantStatus(t, "alice cancels", qrAct(t, b.srv, slug, q.Ticket, "cancel", alice.AccessToken), http.StatusNoContent, "")
	wantStatus(t, "confirm after cancel", qrAct(t, b.srv, slug, q.Ticket, "confirm", alice.AccessToken), http.StatusConflict, "qr_ticket_cancelled")
	if r := wantStatus(t, "poll after cancel", qrPoll(t, b.srv, slug, q, ""), http.StatusOK, ""); r.JSON(t)["status"] != "cancelled" {
		t.Fatalf("poll after cancel: %s", r.Body)
	}

	// The page gives up.
	q2 := qrStart(t, b.srv, slug)
	wantStatus(t, "page cancels with a wrong token", do(t, "DELETE", b.srv.URL+"/v1/t/"+slug+"/qr-login/"+q2.Ticket, nil, "Authorization", "Bearer wrong"), http.StatusUnauthorized, "invalid_poll_token")
	wantStatus(t, "page cancels", do(t, "DELETE", b.srv.URL+"/v1/t/"+slug+"/qr-login/"+q2.Ticket, nil, "Authorization", "Bearer "+q2.PollToken), http.StatusNoContent, "")
	wantStatus(t, "scan after the page cancelled", qrAct(t, b.srv, slug, q2.Ticket, "scan", alice.AccessToken), http.StatusConflict, "qr_ticket_cancelled")

	// Malformed and unknown tickets.
	for _, ticket := range []string{"short", strings.Repeat("a", 31) + "!", strings.Repeat("A", 32), strings.Repeat("x", 200)} {
		wantStatus(t, "scan of "+ticket, qrAct(t, b.srv, slug, ticket, "scan", alice.AccessToken), http.StatusNotFound, "qr_ticket_not_found")
		wantStatus(t, "image of "+ticket, do(t, "GET", b.srv.URL+"/v1/t/"+slug+"/qr-login/"+ticket+"/image", nil), http.StatusNotFound, "qr_ticket_not_found")
	}
	wantStatus(t, "bad wait", qrPoll(t, b.srv, slug, q, "?status=pending&wait=99"), http.StatusBadRequest, "invalid_request")
	wantStatus(t, "bad status", qrPoll(t, b.srv, slug, q, "?status=confirmed"), http.StatusBadRequest, "invalid_request")

	// A banned user can neither confirm nor be redeemed into a web session.
	q3 := qrStart(t, b.srv, slug)
	wantStatus(t, "bob confirms", qrAct(t, b.srv, slug, q3.Ticket, "confirm", bob.AccessToken), http.StatusNoContent, "")
	wantStatus(t, "ban bob", b.api("POST", "/tenants/"+slug+"/bans", map[string]any{"user_id": bob.User.ID, "reason": "test"}), http.StatusCreated, "")
	afterPropagation()
	wantStatus(t, "redeem for a banned user", qrPoll(t, b.srv, slug, q3, ""), http.StatusForbidden, "user_banned")
	wantStatus(t, "banned user scans", qrAct(t, b.srv, slug, q3.Ticket, "scan", bob.AccessToken), http.StatusForbidden, "user_banned")

	// Expiry: an unscanned ticket expires for the page and for the scanner.
	q4 := qrStart(t, b.srv, slug)
	r := qrPoll(t, b.srv, slug, q4, "?status=pending&wait=15")
	if wantStatus(t, "long poll until expiry", r, http.StatusOK, ""); r.JSON(t)["status"] != "expired" {
		t.Fatalf("poll at expiry: %s", r.Body)
	}
	wantStatus(t, "scan after expiry", qrAct(t, b.srv, slug, q4.Ticket, "scan", alice.AccessToken), http.StatusGone, "qr_ticket_expired")

	// WeChat refusing the page, and a disabled tenant.
	wantStatus(t, "set an unreleased page", b.api("PATCH", "/tenants/"+slug, map[string]any{"qr_login_page": "pages/unreleased/index"}), http.StatusOK, "")
	b.wx.SetPages(tt.AppID, []string{"pages/index/index"})
	afterPropagation()
	r = wantStatus(t, "start with an unreleased page", do(t, "POST", b.srv.URL+"/v1/t/"+slug+"/qr-login", nil), http.StatusBadGateway, "wechat_unavailable")
	if !strings.Contains(r.JSON(t)["detail"].(string), "qr_login_page") {
		t.Fatalf("detail does not name qr_login_page: %s", r.Body)
	}
	b.wx.Inject(fake.Fault{Endpoint: fake.EndpointWXACode, Errcode: 45009})
	wantStatus(t, "start over the daily quota", do(t, "POST", b.srv.URL+"/v1/t/"+slug+"/qr-login", nil), http.StatusServiceUnavailable, "wechat_quota_exceeded")
	wantStatus(t, "disable", b.api("PATCH", "/tenants/"+slug, map[string]any{"status": "disabled"}), http.StatusOK, "")
	afterPropagation()
	wantStatus(t, "start on a disabled tenant", do(t, "POST", b.srv.URL+"/v1/t/"+slug+"/qr-login", nil), http.StatusForbidden, "tenant_disabled")
}
