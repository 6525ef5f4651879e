package admin_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/miniauth/miniauth/admin"
)

func TestAuditRecordList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	ta := b.createTenant(t, "audit-a")
	tb := b.createTenant(t, "audit-b")

	key := admin.Actor{Type: "apikey", ID: "key-1", Name: "ci", Role: "platform_admin",
		IP: netip.MustParseAddr("203.0.113.7"), RequestID: "req-1"}
	console := admin.Actor{Type: "admin", ID: "admin-1", Name: "root@example.com", Role: "tenant_admin",
		IP: netip.MustParseAddr("::ffff:198.51.100.2"), RequestID: "req-2"}
	events := []struct {
		actor admin.Actor
		event admin.Event
	}{
		{key, admin.Event{Action: "tenant.create", TenantID: &ta.ID, TenantSlug: ta.Slug, TargetType: "tenant", TargetID: ta.Slug,
			Diff: map[string]admin.Change{"name": {From: nil, To: "A"}}}},
		{console, admin.Event{Action: "tenant.update", TenantID: &ta.ID, TenantSlug: ta.Slug, TargetType: "tenant", TargetID: ta.Slug,
			Diff: map[string]admin.Change{"status": {From: "active", To: "disabled"}}}},
		{key, admin.Event{Action: "ban.create", TenantID: &tb.ID, TenantSlug: tb.Slug, TargetType: "ban", TargetID: "ban-1"}},
		{admin.Actor{Type: "cli"}, admin.Event{Action: "apikey.create", TargetType: "apikey", TargetID: "key-2"}},
		{admin.Actor{Type: "system", ID: "pruner"}, admin.Event{Action: "tenants.export", TenantID: &ta.ID, TenantSlug: ta.Slug}},
	}
	for _, e := range events {
		if err := b.audit.Record(ctx, e.actor, e.event); err != nil {
			t.Fatalf("Record %s: %v", e.event.Action, err)
		}
	}

	all, err := b.audit.List(ctx, admin.AuditFilter{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(events) {
		t.Fatalf("List returned %d entries, want %d", len(all), len(events))
	}
	// rec[i] is the entry of events[i]; List is newest first.
	rec := slices.Clone(all)
	slices.Reverse(rec)
	for i := 1; i < len(rec); i++ {
		if rec[i].ID <= rec[i-1].ID || !rec[i].At.After(rec[i-1].At) {
			t.Fatalf("entries %d and %d not in order of id and time: %+v, %+v", i-1, i, rec[i-1], rec[i])
		}
	}

	t.Run("fields", func(t *testing.T) {
		for i, e := range events {
			r := rec[i]
			if r.Action != e.event.Action || r.ActorType != e.actor.Type || r.ActorID != e.actor.ID ||
				r.ActorName != e.actor.Name || r.ActorRole != e.actor.Role || r.RequestID != e.actor.RequestID ||
				r.TargetType != e.event.TargetType || r.TargetID != e.event.TargetID {
				t.Errorf("entry %d = %+v, want %+v / %+v", i, r, e.actor, e.event)
			}
			if e.event.TenantSlug == "" {
				if r.Tenant != nil {
					t.Errorf("entry %d: tenant %q, want none", i, *r.Tenant)
				}
			} else if r.Tenant == nil || *r.Tenant != e.event.TenantSlug {
				t.Errorf("entry %d: tenant %v, want %s", i, r.Tenant, e.event.TenantSlug)
			}
			if r.Diff == nil || len(r.Diff) != len(e.event.Diff) {
				t.Errorf("entry %d: diff %v, want %v", i, r.Diff, e.event.Diff)
			}
		}
		if rec[0].IP == nil || *rec[0].IP != "203.0.113.7" {
			t.Errorf("ip %v, want 203.0.113.7", rec[0].IP)
		}
		if rec[1].IP == nil || *rec[1].IP != "198.51.100.2" {
			t.Errorf("ip %v, want the IPv4-mapped address stored as plain IPv4", rec[1].IP)
		}
		if rec[3].IP != nil {
			t.Errorf("actor without an address has ip %q", *rec[3].IP)
		}
		if c := rec[1].Diff["status"]; c.From != "active" || c.To != "disabled" {
			t.Errorf("diff %+v", rec[1].Diff)
		}
		if c, ok := rec[0].Diff["name"]; !ok || c.From != nil || c.To != "A" {
			t.Errorf("diff %+v", rec[0].Diff)
		}
	})

	// want lists entries by their index in events, newest first.
	for _, c := range []struct {
		name string
		f    admin.AuditFilter
		want []int
	}{
		{"no filter", admin.AuditFilter{}, []int{4, 3, 2, 1, 0}},
		{"tenant a", admin.AuditFilter{TenantID: &ta.ID}, []int{4, 1, 0}},
		{"tenant b", admin.AuditFilter{TenantID: &tb.ID}, []int{2}},
		{"tenant without entries", admin.AuditFilter{TenantID: ptr(ta.ID + tb.ID + 1000)}, nil},
		{"actor key-1", admin.AuditFilter{ActorID: "key-1"}, []int{2, 0}},
		{"actor admin-1", admin.AuditFilter{ActorID: "admin-1"}, []int{1}},
		{"exact action", admin.AuditFilter{Action: "tenant.update"}, []int{1}},
		{"exact action is not a prefix", admin.AuditFilter{Action: "tenant"}, nil},
		{"action prefix", admin.AuditFilter{Action: "tenant."}, []int{1, 0}},
		{"another action prefix", admin.AuditFilter{Action: "ban."}, []int{2}},
		{"since is inclusive", admin.AuditFilter{Since: rec[2].At}, []int{4, 3, 2}},
		{"until is exclusive", admin.AuditFilter{Until: rec[2].At}, []int{1, 0}},
		{"since and until", admin.AuditFilter{Since: rec[1].At, Until: rec[3].At}, []int{2, 1}},
		{"before", admin.AuditFilter{Before: rec[2].ID}, []int{1, 0}},
		{"first page", admin.AuditFilter{Limit: 2}, []int{4, 3}},
		{"second page", admin.AuditFilter{Limit: 2, Before: rec[3].ID}, []int{2, 1}},
		{"last page", admin.AuditFilter{Limit: 2, Before: rec[1].ID}, []int{0}},
		{"past the last page", admin.AuditFilter{Before: rec[0].ID}, nil},
		{"filters combine", admin.AuditFilter{TenantID: &ta.ID, Action: "tenant.", ActorID: "admin-1"}, []int{1}},
		{"tenant and cursor", admin.AuditFilter{TenantID: &ta.ID, Before: rec[4].ID}, []int{1, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.f.Limit == 0 {
				c.f.Limit = 50
			}
			got, err := b.audit.List(ctx, c.f)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			var want, ids []int64
			for _, i := range c.want {
				want = append(want, rec[i].ID)
			}
			for _, r := range got {
				ids = append(ids, r.ID)
			}
			if !slices.Equal(ids, want) {
				t.Fatalf("List(%+v) = ids %v, want %v", c.f, ids, want)
			}
		})
	}
}

func TestAuditDiffMasksSecrets(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-value-0123"
	for _, c := range []struct {
		name          string
		before, after map[string]any
		field         string
		wantFrom      []any // any of these
		wantTo        any
	}{
		{"changed", map[string]any{"wechat_secret": "old-" + secret}, map[string]any{"wechat_secret": secret}, "wechat_secret",
			[]any{admin.Masked}, admin.Masked},
		// Nothing was there before: nil says so, Masked gives nothing away either.
		{"set", nil, map[string]any{"wechat_secret": secret}, "wechat_secret", []any{nil, admin.Masked}, admin.Masked},
		{"removed", map[string]any{"wechat_secret": secret}, nil, "wechat_secret", []any{admin.Masked}, nil},
		{"second secret field", map[string]any{"password": "a"}, map[string]any{"password": secret}, "password",
			[]any{admin.Masked}, admin.Masked},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := admin.Diff(c.before, c.after, "wechat_secret", "password")
			got, ok := d[c.field]
			if !ok {
				t.Fatalf("diff %v: a changed secret field must still show that it changed", d)
			}
			if !slices.Contains(c.wantFrom, got.From) || got.To != c.wantTo {
				t.Fatalf("%s = %+v, want from %v to %v", c.field, got, c.wantFrom, c.wantTo)
			}
		})
	}
	t.Run("unchanged secret left out", func(t *testing.T) {
		d := admin.Diff(map[string]any{"wechat_secret": secret, "name": "a"}, map[string]any{"wechat_secret": secret, "name": "b"}, "wechat_secret")
		if _, ok := d["wechat_secret"]; ok || len(d) != 1 {
			t.Fatalf("diff %v, want name only", d)
		}
		if d["name"].From != "a" || d["name"].To != "b" {
			t.Fatalf("a field not named secret was masked: %+v", d["name"])
		}
	})
	t.Run("not stored", func(t *testing.T) {
		b := setup(t)
		ctx := context.Background()
		diff := admin.Diff(map[string]any{"wechat_secret": "old-" + secret, "name": "n"}, map[string]any{"wechat_secret": secret, "name": "m"}, "wechat_secret")
		if err := b.audit.Record(ctx, admin.Actor{Type: "cli"}, admin.Event{Action: "tenant.update", Diff: diff}); err != nil {
			t.Fatal(err)
		}
		var row string
		if err := b.db.QueryRow(ctx, `SELECT a::text FROM audit_log a`).Scan(&row); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(row, secret) {
			t.Fatalf("audit row holds the secret: %s", row)
		}
		if !strings.Contains(row, admin.Masked) || !strings.Contains(row, `"m"`) {
			t.Fatalf("audit row %s lacks the masked field or the plain one", row)
		}
	})
}

func TestAuditAppendOnly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	if err := b.audit.Record(ctx, admin.Actor{Type: "cli", ID: "ops"}, admin.Event{Action: "tenant.create"}); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := b.db.QueryRow(ctx, `SELECT id FROM audit_log`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, sql string }{
		{"update", `UPDATE audit_log SET action = 'tenant.delete', actor_id = 'someone-else' WHERE id = $1`},
		{"delete", `DELETE FROM audit_log WHERE id = $1`},
		{"delete every row", `DELETE FROM audit_log WHERE id >= $1`},
		{"truncate", `TRUNCATE audit_log`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var args []any
			if strings.Contains(c.sql, "$1") {
				args = append(args, id)
			}
			_, err := b.db.Exec(ctx, c.sql, args...)
			var pg *pgconn.PgError
			if !errors.As(err, &pg) || pg.Code != "42501" || !strings.Contains(pg.Message, "append-only") {
				t.Fatalf("%s = %v, want refused as insufficient_privilege by the append-only trigger", c.sql, err)
			}
			got, err := b.audit.List(ctx, admin.AuditFilter{Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].ID != id || got[0].Action != "tenant.create" || got[0].ActorID != "ops" {
				t.Fatalf("after a refused %s: %+v", c.name, got)
			}
		})
	}
	t.Run("appending still works", func(t *testing.T) {
		if err := b.audit.Record(ctx, admin.Actor{Type: "system"}, admin.Event{Action: "tenant.update"}); err != nil {
			t.Fatal(err)
		}
		if got, err := b.audit.List(ctx, admin.AuditFilter{Limit: 10}); err != nil || len(got) != 2 {
			t.Fatalf("List = %d entries, %v; want 2", len(got), err)
		}
	})
}
