package api_test

// The audit log through GET /audit: an
// entry for every kind of change with its actor, request id and masked
// diff, the filters and paging, append-only storage, and no secret in any
// answer or row.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/miniauth/miniauth/admin"
)

func TestMgmtAudit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	c := b.mg(t)
	platformID := b.platformKeyID.String()
	var platformName string
	if err := b.db.QueryRow(context.Background(), `SELECT name FROM api_keys WHERE id = $1`, b.platformKeyID).Scan(&platformName); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now().Add(-time.Second)

	// Every kind of change, remembering the request id of each.
	want := map[string]string{} // action -> request id
	doing := func(action, what string, r reply, status int) reply {
		t.Helper()
		mgWant(t, what, r, status, "")
		id := r.Header.Get("X-Request-ID")
		if id == "" {
			t.Fatalf("%s: no X-Request-ID", what)
		}
		want[action] = id
		return r
	}
	secret1 := "original-app-secret-" + uuid.NewString()[:8]
	secret2 := "changed-app-secret-" + uuid.NewString()[:8]
	slug := "mau-audit"
	appID := "wxmauaudit00000000"
	doing("tenant.create", "create tenant", c.do(http.MethodPost, "/tenants", map[string]any{"slug": slug, "name": "Audited",
		"wechat_appid": appID, "wechat_secret": secret1}), http.StatusCreated)
	doing("tenant.update", "update tenant", c.do(http.MethodPatch, "/tenants/"+slug, map[string]any{"name": "Audited 2", "wechat_secret": secret2}), http.StatusOK)
	doing("key.rotate", "rotate", c.do(http.MethodPost, "/tenants/"+slug+"/keys/rotate", nil), http.StatusCreated)
	r := doing("apikey.create", "create key", c.do(http.MethodPost, "/api-keys", map[string]any{"name": "audited key", "role": "tenant_admin", "tenant": slug}), http.StatusCreated)
	keyID, _ := r.Body["id"].(string)
	tenantKey, _ := r.Body["key"].(string)
	c.log.issue(t, tenantKey)
	// The tenant key acts once, so there is a second actor.
	tk := c.as(tenantKey)
	r = mgWant(t, "rotate by the tenant key", tk.do(http.MethodPost, "/tenants/"+slug+"/keys/rotate", nil), http.StatusCreated, "")
	tenantKeyRequest := r.Header.Get("X-Request-ID")
	doing("apikey.revoke", "revoke key", c.do(http.MethodDelete, "/api-keys/"+keyID, nil), http.StatusNoContent)
	ten, err := b.tenants.Get(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	user := b.user(t, ten.ID, "someone")
	b.mgSession(t, ten.ID, user)
	doing("user.revoke_sessions", "revoke sessions", c.do(http.MethodPost, "/tenants/"+slug+"/users/"+user.String()+"/revoke-sessions", nil), http.StatusOK)
	doing("user.erase", "erase", c.do(http.MethodDelete, "/tenants/"+slug+"/users/"+user.String(), nil), http.StatusNoContent)
	adminPW, adminPW2 := "audited admin password", "audited admin password two"
	r = doing("admin.create", "create admin", c.do(http.MethodPost, "/admins", map[string]any{"email": "audit@example.com", "password": adminPW,
		"roles": []map[string]any{{"role": "tenant_viewer", "tenant": slug}}}), http.StatusCreated)
	adminID, _ := r.Body["id"].(string)
	doing("admin.update", "update admin", c.do(http.MethodPatch, "/admins/"+adminID, map[string]any{"password": adminPW2, "disabled": true}), http.StatusOK)

	type entry struct {
		ID         int64                     `json:"id"`
		At         time.Time                 `json:"at"`
		ActorType  string                    `json:"actor_type"`
		ActorID    string                    `json:"actor_id"`
		ActorName  string                    `json:"actor_name"`
		ActorRole  string                    `json:"actor_role"`
		Action     string                    `json:"action"`
		Tenant     *string                   `json:"tenant"`
		TargetType string                    `json:"target_type"`
		TargetID   string                    `json:"target_id"`
		IP         *string                   `json:"ip"`
		RequestID  string                    `json:"request_id"`
		Diff       map[string]map[string]any `json:"diff"`
	}
	list := func(query string) ([]entry, *string) {
		t.Helper()
		r := mgWant(t, "audit "+query, c.do(http.MethodGet, "/audit?"+query, nil), http.StatusOK, "")
		var l struct {
			Items []entry `json:"items"`
			Next  *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(r.Raw, &l); err != nil {
			t.Fatalf("audit %s: %v: %s", query, err, r.Raw)
		}
		if l.Items == nil {
			t.Fatalf("audit %s: items null: %s", query, r.Raw)
		}
		return l.Items, l.Next
	}
	actions := func(es []entry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Action)
		}
		return out
	}

	tenantEntries, next := list("tenant=" + slug)
	if next != nil {
		t.Fatalf("more than one page: %v", next)
	}
	if got, wantActs := actions(tenantEntries), []string{"user.erase", "user.revoke_sessions", "apikey.revoke", "key.rotate",
		"apikey.create", "key.rotate", "tenant.update", "tenant.create"}; !slices.Equal(got, wantActs) {
		t.Fatalf("actions of %s, newest first: %v, want %v", slug, got, wantActs)
	}
	byAction := map[string]entry{}
	for _, e := range tenantEntries {
		if e.Tenant == nil || *e.Tenant != slug {
			t.Errorf("%s: tenant %v", e.Action, e.Tenant)
		}
		if e.RequestID == tenantKeyRequest {
			if e.ActorType != "apikey" || e.ActorID != keyID || e.ActorRole != "tenant_admin" || e.ActorName != "audited key" {
				t.Errorf("entry made by the tenant key: %+v", e)
			}
			continue
		}
		byAction[e.Action] = e
	}
	admins, _ := list("action=admin.")
	for _, e := range admins {
		byAction[e.Action] = e
	}
	for action, reqID := range want {
		e, ok := byAction[action]
		if !ok {
			t.Errorf("no %s entry", action)
			continue
		}
		if e.ActorType != "apikey" || e.ActorID != platformID || e.ActorRole != "platform_admin" || e.ActorName != platformName {
			t.Errorf("%s: actor %s/%s/%s/%s, want apikey/%s/%s/platform_admin", action, e.ActorType, e.ActorID, e.ActorName, e.ActorRole, platformID, platformName)
		}
		if e.IP == nil || *e.IP != "192.0.2.1" {
			t.Errorf("%s: ip %v", action, e.IP)
		}
		if e.RequestID != reqID {
			t.Errorf("%s: request_id %q, want %q", action, e.RequestID, reqID)
		}
		if e.At.Before(start) || e.At.After(time.Now().Add(time.Second)) {
			t.Errorf("%s: at %v", action, e.At)
		}
	}
	if e := byAction["tenant.update"]; e.Diff["name"]["from"] != "Audited" || e.Diff["name"]["to"] != "Audited 2" ||
		e.Diff["wechat_secret"]["from"] != admin.Masked || e.Diff["wechat_secret"]["to"] != admin.Masked {
		t.Errorf("tenant.update diff: %v", e.Diff)
	}
	if e := byAction["user.erase"]; e.TargetType != "user" || e.TargetID != user.String() {
		t.Errorf("user.erase target: %s/%s", e.TargetType, e.TargetID)
	}
	if e := byAction["apikey.revoke"]; e.TargetID != keyID {
		t.Errorf("apikey.revoke target: %s", e.TargetID)
	}
	if e := byAction["admin.update"]; e.TargetID != adminID || e.Diff["disabled"]["to"] != true ||
		e.Diff["password"]["from"] != admin.Masked || e.Diff["password"]["to"] != admin.Masked {
		t.Errorf("admin.update: %+v", e)
	}
	if e := byAction["admin.create"]; e.TargetID != adminID || e.Tenant != nil {
		t.Errorf("admin.create: %+v", e)
	}

	// Filters.
	if got, _ := list("tenant=" + slug + "&action=tenant."); !slices.Equal(actions(got), []string{"tenant.update", "tenant.create"}) {
		t.Errorf("prefix tenant.: %v", actions(got))
	}
	if got, _ := list("action=tenant.update"); !slices.Equal(actions(got), []string{"tenant.update"}) {
		t.Errorf("exact tenant.update: %v", actions(got))
	}
	if got, _ := list("action=tenant"); len(got) != 0 {
		t.Errorf("action=tenant (neither exact nor a prefix with a dot): %v", actions(got))
	}
	if got, _ := list("action=key.rotate"); len(got) != 2 {
		t.Errorf("key.rotate: %v", actions(got))
	}
	if got, _ := list("actor=" + keyID); len(got) != 1 || got[0].Action != "key.rotate" || got[0].RequestID != tenantKeyRequest {
		t.Errorf("actor=tenant key: %+v", got)
	}
	if got, _ := list("actor=" + platformID + "&tenant=" + slug); len(got) != 7 {
		t.Errorf("actor=platform key: %v", actions(got))
	}
	if got, _ := list("actor=" + uuid.NewString()); len(got) != 0 {
		t.Errorf("unknown actor: %v", actions(got))
	}
	rfc := func(tm time.Time) string { return url.QueryEscape(tm.Format(time.RFC3339Nano)) }
	pivot := byAction["key.rotate"] // the first rotation
	if pivot.ID == 0 {
		t.Fatal("no key.rotate entry")
	}
	sinceGot, _ := list("tenant=" + slug + "&since=" + rfc(pivot.At))
	untilGot, _ := list("tenant=" + slug + "&until=" + rfc(pivot.At))
	if len(sinceGot)+len(untilGot) != len(tenantEntries) || len(untilGot) != 2 ||
		sinceGot[len(sinceGot)-1].ID != pivot.ID || untilGot[0].Action != "tenant.update" {
		t.Errorf("since/until %v: since %v, until %v", pivot.At, actions(sinceGot), actions(untilGot))
	}
	if got, _ := list("tenant=" + slug + "&since=" + rfc(pivot.At) + "&until=" + rfc(byAction["apikey.revoke"].At)); !slices.Equal(actions(got), []string{"key.rotate", "apikey.create", "key.rotate"}) {
		t.Errorf("since+until: %v", actions(got))
	}
	if got, _ := list("since=" + rfc(time.Now().Add(time.Hour))); len(got) != 0 {
		t.Errorf("since the future: %v", actions(got))
	}
	if got, _ := list("until=" + rfc(start.Add(-time.Hour))); len(got) != 0 {
		t.Errorf("until the past: %v", actions(got))
	}
	for _, q := range []string{"since=yesterday", "since=2024-01-01", "since=" + url.QueryEscape("2024-01-01 10:00:00")} {
		mgFields(t, q, c.do(http.MethodGet, "/audit?"+q, nil), "since")
	}
	mgFields(t, "bad until", c.do(http.MethodGet, "/audit?until=tomorrow", nil), "until")
	for _, q := range []string{"limit=0", "limit=201", "limit=x"} {
		mgFields(t, q, c.do(http.MethodGet, "/audit?"+q, nil), "limit")
	}
	for _, cur := range []string{"%25%25", base64.RawURLEncoding.EncodeToString([]byte("abc")), base64.RawURLEncoding.EncodeToString([]byte("-5"))} {
		mgFields(t, "cursor "+cur, c.do(http.MethodGet, "/audit?cursor="+cur, nil), "cursor")
	}
	mgFields(t, "unknown tenant", c.do(http.MethodGet, "/audit?tenant=mau-nobody", nil), "tenant")

	// Cursor paging.
	paged := mgAll(t, c, "/audit?tenant="+slug, 3, "id")
	var pagedIDs []float64
	for _, e := range paged {
		pagedIDs = append(pagedIDs, e["id"].(float64))
	}
	if len(paged) != len(tenantEntries) {
		t.Errorf("paged audit has %d entries, want %d", len(paged), len(tenantEntries))
	}
	for i := 1; i < len(pagedIDs); i++ {
		if pagedIDs[i] >= pagedIDs[i-1] {
			t.Errorf("audit paging not newest first: %v", pagedIDs)
			break
		}
	}
	everything := mgAll(t, c, "/audit", 2, "id")
	if n := b.count(t, `SELECT count(*) FROM audit_log`); len(everything) != n {
		t.Errorf("paged platform audit: %d entries, table has %d", len(everything), n)
	}

	// Append-only, whatever the connection may do.
	for _, q := range []string{`UPDATE audit_log SET action = 'x'`, `DELETE FROM audit_log`, `TRUNCATE audit_log`,
		`UPDATE audit_log SET diff = '{}' WHERE action = 'tenant.update'`} {
		if _, err := b.db.Exec(ctx, q); err == nil {
			t.Errorf("%s succeeded on the append-only audit log", q)
		}
	}
	if n := b.count(t, `SELECT count(*) FROM audit_log WHERE action = 'x'`); n != 0 {
		t.Errorf("%d audit rows rewritten", n)
	}
	if got, _ := list("tenant=" + slug); len(got) != len(tenantEntries) {
		t.Errorf("audit entries after delete attempts: %d, want %d", len(got), len(tenantEntries))
	}

	// No secret in any response or any audit row.
	secrets := []string{secret1, secret2, adminPW, adminPW2, tenantKey, b.platformKey}
	c.log.assertClean(t, secrets...)
	rows, err := b.db.Query(ctx, `SELECT a::text FROM audit_log a`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var row string
		if err := rows.Scan(&row); err != nil {
			t.Fatal(err)
		}
		n++
		for _, s := range secrets {
			if strings.Contains(row, s) {
				t.Errorf("audit row carries a secret (%.8s...): %s", s, row)
			}
		}
		if strings.Contains(row, "argon2") {
			t.Errorf("audit row carries a password hash: %s", row)
		}
	}
	if n < len(want) {
		t.Errorf("only %d audit rows", n)
	}
}
