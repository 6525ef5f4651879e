package api_test

// Helpers of the endpoint tests: a client that
// records every answer so a test can assert no secret leaked into one,
// paging through a list, and API keys made through the API.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
)

// mgLog keeps every response body a test received.
type mgLog struct {
	mu      sync.Mutex
	entries []mgLogged
	issued  map[string]int // secret -> index of the one response allowed to carry it
}

type mgLogged struct {
	what string
	body string
}

func (l *mgLog) add(what string, body []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, mgLogged{what: what, body: string(body)})
}

// issue marks the last recorded response as the one that may show secret
// (the create answer of an API key).
func (l *mgLog) issue(t *testing.T, secret string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.issued == nil {
		l.issued = map[string]int{}
	}
	last := len(l.entries) - 1
	if last < 0 || !strings.Contains(l.entries[last].body, secret) {
		t.Fatalf("issue: the last response does not carry the secret")
	}
	l.issued[secret] = last
}

// assertClean fails the test if any recorded response carries one of
// secrets, except the one response that issued it.
func (l *mgLog) assertClean(t *testing.T, secrets ...string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) == 0 {
		t.Fatal("no management responses were recorded")
	}
	for _, s := range secrets {
		if len(s) < 6 {
			t.Fatalf("secret %q is too short to search for", s)
		}
		allowed, isIssued := l.issued[s]
		for i, e := range l.entries {
			if isIssued && i == allowed {
				continue
			}
			if strings.Contains(e.body, s) {
				t.Errorf("response %d (%s) carries a secret (%.8s...): %s", i, e.what, s, e.body)
			}
		}
	}
}

// mgClient calls the bundle's API with one key and records every response
// in a shared log.
type mgClient struct {
	t   *testing.T
	b   *testBundle
	key string
	log *mgLog
}

// mg is a client with the bundle's platform key and a new log.
func (b *testBundle) mg(t *testing.T) *mgClient {
	return &mgClient{t: t, b: b, key: b.platformKey, log: &mgLog{}}
}

// as returns a client using another key, sharing the log.
func (c *mgClient) as(key string) *mgClient {
	return &mgClient{t: c.t, b: c.b, key: key, log: c.log}
}

func (c *mgClient) do(method, path string, body any, headers ...string) reply {
	c.t.Helper()
	r := c.b.do(c.t, c.key, method, path, body, headers...)
	c.log.add(method+" "+path, r.Raw)
	return r
}

// mgPage is one page of a list answer.
type mgPage struct {
	Items []map[string]any `json:"items"`
	Next  *string          `json:"next_cursor"`
}

func mgList(t *testing.T, what string, r reply) mgPage {
	t.Helper()
	r.want(t, what, http.StatusOK, "")
	if !strings.Contains(string(r.Raw), `"next_cursor"`) || !strings.Contains(string(r.Raw), `"items"`) {
		t.Fatalf("%s: not a list answer: %s", what, r.Raw)
	}
	var p mgPage
	r.into(t, &p)
	if p.Items == nil {
		t.Fatalf("%s: items is null: %s", what, r.Raw)
	}
	return p
}

// mgAll pages through path (which may carry a query) with limit and
// returns every item, failing on a repeated id.
func mgAll(t *testing.T, c *mgClient, path string, limit int, idKey string) []map[string]any {
	t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	var all []map[string]any
	seen := map[string]bool{}
	cursor := ""
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatalf("%s: pagination does not end", path)
		}
		p := fmt.Sprintf("%s%slimit=%d", path, sep, limit)
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		l := mgList(t, p, c.do(http.MethodGet, p, nil))
		if len(l.Items) > limit {
			t.Fatalf("%s: %d items over limit %d", p, len(l.Items), limit)
		}
		if l.Next != nil && len(l.Items) != limit {
			t.Fatalf("%s: short page (%d of %d) with a next cursor", p, len(l.Items), limit)
		}
		for _, it := range l.Items {
			id := fmt.Sprint(it[idKey])
			if seen[id] {
				t.Fatalf("%s: %s %s appears twice", path, idKey, id)
			}
			seen[id] = true
			all = append(all, it)
		}
		if l.Next == nil {
			return all
		}
		cursor = *l.Next
	}
}

func mgIDs(items []map[string]any, key string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = fmt.Sprint(it[key])
	}
	return out
}

func mgSorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// mgCreateKey creates an API key through c and returns its id and key.
func mgCreateKey(t *testing.T, c *mgClient, name, role, tenantSlug string) (id, key string) {
	t.Helper()
	body := map[string]any{"name": name, "role": role}
	if tenantSlug != "" {
		body["tenant"] = tenantSlug
	}
	r := c.do(http.MethodPost, "/api-keys", body)
	r.want(t, "create API key "+name, http.StatusCreated, "")
	id, _ = r.Body["id"].(string)
	key, _ = r.Body["key"].(string)
	if id == "" || !strings.HasPrefix(key, admin.APIKeyPrefix) {
		t.Fatalf("create API key %s: %s", name, r.Raw)
	}
	c.log.issue(t, key)
	return id, key
}

// mgFields asserts a 400 invalid_request whose errors name exactly the
// wanted fields (order ignored; one field may carry several messages).
func mgFields(t *testing.T, what string, r reply, fields ...string) {
	t.Helper()
	r.want(t, what, http.StatusBadRequest, "invalid_request")
	var got []string
	for _, e := range r.Problem.Errors {
		if e.Message == "" {
			t.Errorf("%s: field %s without a message", what, e.Field)
		}
		got = append(got, e.Field)
	}
	slices.Sort(got)
	got = slices.Compact(got)
	want := mgSorted(fields)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: error fields %v, want %v: %s", what, got, want, r.Raw)
	}
}

// mgSession inserts a live session of a user, as a login would, and
// returns its id.
func (b *testBundle) mgSession(t *testing.T, tenantID int64, userID uuid.UUID) uuid.UUID {
	t.Helper()
	sid := uuid.Must(uuid.NewV7())
	if _, err := b.db.Exec(context.Background(),
		`INSERT INTO sessions (id, tenant_id, user_id, expires_at) VALUES ($1, $2, $3, $4)`,
		sid, tenantID, userID, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("insert session: %v", err)
	}
	return sid
}

// mgLive counts the user's sessions that are not revoked.
func (b *testBundle) mgLive(t *testing.T, userID uuid.UUID) int {
	t.Helper()
	return b.count(t, `SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL`, userID)
}

// mgWant is reply.want that returns the reply.
func mgWant(t *testing.T, what string, r reply, status int, code string) reply {
	t.Helper()
	r.want(t, what, status, code)
	return r
}
