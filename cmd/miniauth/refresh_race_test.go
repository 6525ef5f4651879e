package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// refreshTrials is how many races TestRefreshRaces runs:
// MINIAUTH_REFRESH_TRIALS, or a short run for make test (make soak runs
// 100,000).
func refreshTrials(t *testing.T) int {
	s := os.Getenv("MINIAUTH_REFRESH_TRIALS")
	if s == "" {
		return 600
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("MINIAUTH_REFRESH_TRIALS=%q: want a positive count", s)
	}
	return n
}

// raceClient sends one request on a shared pool of connections.
type raceClient struct{ hc *http.Client }

// send returns the status and problem code ("" for a success) of one
// request; access, when set, is sent as the bearer token.
func (c raceClient) send(method, url string, body []byte, access string, out any) (int, string, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if access != "" {
		req.Header.Set("Authorization", "Bearer "+access)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, problemCode(response{Status: resp.StatusCode, Header: resp.Header, Body: raw}), nil
	}
	if out != nil {
		err = json.Unmarshal(raw, out)
	}
	return resp.StatusCode, "", err
}

// raceTally is what the trials saw, for the log.
type raceTally struct {
	winsOn                    [3]atomic.Int64 // the instance the winner was sent to
	byPresenters              [5]atomic.Int64 // trials by how many presented the token
	reusedLosers, failedTrial atomic.Int64
}

// Refresh races (RFC 9700 rotation and reuse detection under contention):
// each trial logs a user in, then presents the session's refresh token
// from two to four clients at once, spread over three instances. Exactly
// one presentation may win and every other must be told
// refresh_token_reused; the session is then over, as the README says
// (reuse revokes it, the winner's tokens included): the winner's refresh
// token is invalid_refresh_token and its access token invalid_token, on
// another instance. Afterwards the database must show, for every trial,
// one session revoked for reuse that issued exactly one successor token,
// and the user's other session untouched.
//
// MINIAUTH_REFRESH_TRIALS sets the number of trials (make soak: 100,000).
func TestRefreshRaces(t *testing.T) {
	t.Parallel()
	trials := refreshTrials(t)
	b := setup(t, func(c *Config) {
		for k := range c.RateLimits {
			c.RateLimits[k] = "100000000-M"
		}
	})
	srvs := []*testServer{b.srv, b.startInstance(), b.startInstance()}
	tt := b.createTenant("refresh-races", nil)
	base := func(i int) string { return srvs[i%len(srvs)].URL + "/v1/t/" + tt.Slug }
	c := raceClient{&http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}}
	t.Cleanup(c.hc.CloseIdleConnections)

	// Users log in again and again; each keeps one session that no trial
	// touches, which must survive every race of its user's other sessions.
	const users = 16
	bystanders := make([]tokens, users)
	for u := range users {
		bystanders[u] = b.login(srvs[u%3], tt, "racer-"+strconv.Itoa(u))
	}

	var tally raceTally
	var failMu sync.Mutex
	var fails []string
	fail := func(format string, args ...any) {
		tally.failedTrial.Add(1)
		failMu.Lock()
		defer failMu.Unlock()
		if len(fails) < 20 {
			fails = append(fails, fmt.Sprintf(format, args...))
		}
	}
	// A sample of the raced sessions' first access tokens, each used once
	// on an instance before its race: they must be refused everywhere once
	// the revocation has propagated.
	var sampleMu sync.Mutex
	var sample []string

	trial := func(n int) {
		user := "racer-" + strconv.Itoa(n%users)
		code, _ := json.Marshal(map[string]string{"code": b.wx.MintCode(tt.AppID, user)})
		var tok tokens
		if st, pc, err := c.send("POST", base(n)+"/login", code, "", &tok); st != http.StatusOK || err != nil {
			fail("trial %d: login %d %s %v", n, st, pc, err)
			return
		}
		if n < 8 {
			b.remember(tok.AccessToken, tok.RefreshToken)
		}
		if st, pc, err := c.send("GET", base(n+1)+"/me", nil, tok.AccessToken, nil); st != http.StatusOK || err != nil {
			fail("trial %d: me before the race %d %s %v", n, st, pc, err)
			return
		}
		if n%(trials/200+1) == 0 {
			sampleMu.Lock()
			sample = append(sample, tok.AccessToken)
			sampleMu.Unlock()
		}

		k := 2 + n%3 // 2, 3 or 4 presentations
		tally.byPresenters[k].Add(1)
		body, _ := json.Marshal(map[string]string{"refresh_token": tok.RefreshToken})
		type outcome struct {
			status int
			code   string
			err    error
			tok    tokens
		}
		outs := make([]outcome, k)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for j := range k {
			wg.Go(func() {
				<-start
				o := &outs[j]
				o.status, o.code, o.err = c.send("POST", base(n+j)+"/refresh", body, "", &o.tok)
			})
		}
		close(start)
		wg.Wait()

		winner := -1
		for j, o := range outs {
			switch {
			case o.err != nil || o.status >= 500:
				fail("trial %d: presentation %d on instance %d: %d %s %v", n, j, (n+j)%3+1, o.status, o.code, o.err)
				return
			case o.status == http.StatusOK && winner >= 0:
				fail("trial %d: presentations %d and %d both won: two successors", n, winner, j)
				return
			case o.status == http.StatusOK:
				winner = j
			case o.status == http.StatusUnauthorized && o.code == "refresh_token_reused":
				tally.reusedLosers.Add(1)
			default:
				fail("trial %d: a losing presentation answered %d %s, want 401 refresh_token_reused", n, o.status, o.code)
				return
			}
		}
		if winner < 0 {
			fail("trial %d: none of %d presentations won", n, k)
			return
		}
		tally.winsOn[(n+winner)%3].Add(1)
		w := outs[winner].tok
		if st, pc, _ := c.send("POST", base(n+winner+1)+"/refresh", []byte(`{"refresh_token":"`+w.RefreshToken+`"}`), "", nil); st != http.StatusUnauthorized || pc != "invalid_refresh_token" {
			fail("trial %d: the winner's refresh token answered %d %s after the race, want 401 invalid_refresh_token", n, st, pc)
		}
		if st, pc, _ := c.send("GET", base(n+winner+2)+"/me", nil, w.AccessToken, nil); st != http.StatusUnauthorized || pc != "invalid_token" {
			fail("trial %d: the winner's access token answered %d %s after the race, want 401 invalid_token", n, st, pc)
		}
	}

	// Each worker runs its trials one after another; the workers overlap,
	// so races of different sessions share the instances and the pools.
	began := time.Now()
	const workers = 8
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				n := int(next.Add(1)) - 1
				if n >= trials || tally.failedTrial.Load() >= 20 {
					return
				}
				trial(n)
			}
		})
	}
	wg.Wait()
	took := time.Since(began)
	for _, f := range fails {
		t.Error(f)
	}
	if t.Failed() {
		t.FailNow()
	}

	afterPropagation()
	for _, access := range sample {
		for i := range srvs {
			if st, pc, _ := c.send("GET", base(i)+"/me", nil, access, nil); st != http.StatusUnauthorized || pc != "invalid_token" {
				t.Errorf("a raced session's first access token answered %d %s on instance %d, want 401 invalid_token", st, pc, i+1)
			}
		}
	}
	for u, by := range bystanders {
		if st, pc, _ := c.send("POST", base(u)+"/refresh", []byte(`{"refresh_token":"`+by.RefreshToken+`"}`), "", nil); st != http.StatusOK {
			t.Errorf("user %d's other session: refresh answered %d %s, want 200", u, st, pc)
		}
	}

	// The database, every trial at once: no session gave out two
	// successors, and every raced session ended revoked for reuse.
	var sessions, revokedForReuse, notTwoTokens, notOneSpent int
	if err := b.db.QueryRow(t.Context(), `
		WITH raced AS (
			SELECT s.id, s.revoked_at IS NOT NULL AND s.revoke_reason = 'refresh_token_reused' AS reused,
				count(r.*) AS tokens, count(r.rotated_at) AS spent
			FROM sessions s JOIN refresh_tokens r ON r.session_id = s.id
			WHERE s.id <> ALL($1::uuid[])
			GROUP BY s.id, s.revoked_at, s.revoke_reason)
		SELECT count(*), count(*) FILTER (WHERE reused), count(*) FILTER (WHERE tokens <> 2),
			count(*) FILTER (WHERE spent <> 1)
		FROM raced`, bystanderSessions(t, bystanders)).Scan(&sessions, &revokedForReuse, &notTwoTokens, &notOneSpent); err != nil {
		t.Fatal(err)
	}
	if sessions != trials || revokedForReuse != trials || notTwoTokens != 0 || notOneSpent != 0 {
		t.Errorf("after %d trials: %d raced sessions, %d revoked for reuse, %d without exactly one successor, %d without exactly one spent token",
			trials, sessions, revokedForReuse, notTwoTokens, notOneSpent)
	}
	by := func(k int) int64 { return tally.byPresenters[k].Load() }
	t.Logf("%d refresh races (%d presentations; trials with 2/3/4 presenters: %d/%d/%d) in %s: one winner each (by instance %d/%d/%d), %d losers told refresh_token_reused, every session revoked with exactly one successor issued",
		by(2)+by(3)+by(4), 2*by(2)+3*by(3)+4*by(4), by(2), by(3), by(4),
		took.Round(time.Millisecond), tally.winsOn[0].Load(), tally.winsOn[1].Load(), tally.winsOn[2].Load(), tally.reusedLosers.Load())
}

// bystanderSessions are the session ids of the bystanders' tokens, from
// the sid claim their access tokens carry.
func bystanderSessions(t *testing.T, bs []tokens) []string {
	t.Helper()
	var ids []string
	for _, by := range bs {
		_, claims, _ := sessParts(t, by.AccessToken)
		sid, _ := claims["sid"].(string)
		ids = append(ids, sid)
	}
	return ids
}
