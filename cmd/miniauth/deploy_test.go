package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
)

// The dashboard and the alert rules query only series an instance really
// exports: a metric renamed in code fails here, not on an operator's blank
// panel or silent alert.
func TestDeployQueries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tt := b.createTenant("deploy-queries", nil)
	b.login(nil, tt, "o-dashboard")
	exported := scrape(t, b.srv)

	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	raw, err := os.ReadFile("../../deploy/grafana/miniauth.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	queries := map[string]string{} // query -> where
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			queries[tg.Expr] = "dashboard panel " + p.Title
		}
	}
	for _, v := range dash.Templating.List {
		if v.Definition != "" {
			queries[v.Definition] = "dashboard variable"
		}
	}
	if len(queries) < 20 {
		t.Fatalf("the dashboard has %d queries; did its shape change?", len(queries))
	}
	for _, f := range []string{"../../deploy/prometheus/alerts.yml", "../../deploy/prometheus/alerts_test.yml"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		queries[string(raw)] = f
	}

	for q, where := range queries {
		names := seriesNames(q)
		if len(names) == 0 && !strings.Contains(q, "up{") {
			t.Errorf("%s: no series in %q", where, q)
		}
		for _, n := range names {
			if !exports(exported, n) {
				t.Errorf("%s queries %s, which /metrics does not export", where, n)
			}
		}
	}
}

// Series names as the queries write them: ours, the Go runtime's and the
// process's; up is Prometheus's own.
var seriesName = regexp.MustCompile(`\b(?:miniauth|go|process)_[a-z0-9_]+\b`)

func seriesNames(q string) []string {
	names := seriesName.FindAllString(q, -1)
	slices.Sort(names)
	return slices.Compact(names)
}

// exports reports whether name is a family of the scrape, or a histogram's
// _bucket, _sum or _count series.
func exports(f families, name string) bool {
	if f[name] != nil {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && f[base] != nil && f[base].GetType() == dto.MetricType_HISTOGRAM {
			return true
		}
	}
	return false
}
