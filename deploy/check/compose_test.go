package check

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

// Dummy values for the variables compose.yaml requires; each must come out
// of interpolation exactly where the file says.
var composeEnv = map[string]string{
	"POSTGRES_PASSWORD":      "dummy-postgres-password",
	"MINIAUTH_MASTER_KEY":    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	"GRAFANA_ADMIN_PASSWORD": "dummy-grafana-password",
}

func composeDir() string { return filepath.Join(RepoRoot(), "deploy", "compose") }

func loadCompose(t *testing.T, env map[string]string, extra ...cli.ProjectOptionsFn) (*types.Project, error) {
	t.Helper()
	var kv []string
	for k, v := range env {
		kv = append(kv, k+"="+v)
	}
	opts := append([]cli.ProjectOptionsFn{
		cli.WithWorkingDirectory(composeDir()),
		cli.WithEnv(kv), // the test's own environment and any .env file stay out
		cli.WithResolvedPaths(true),
	}, extra...)
	o, err := cli.NewProjectOptions([]string{filepath.Join(composeDir(), "compose.yaml")}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return o.LoadProject(context.Background())
}

func mustLoadCompose(t *testing.T) *types.Project {
	t.Helper()
	p, err := loadCompose(t, composeEnv)
	if err != nil {
		t.Fatalf("compose.yaml does not load (schema, interpolation or model): %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("compose: no service %q (have %v)", name, p.ServiceNames())
	}
	return s
}

func TestComposeServices(t *testing.T) {
	p := mustLoadCompose(t)
	want := []string{"blackbox", "grafana", "migrate", "miniauth", "postgres", "prometheus", "redis"}
	got := p.ServiceNames()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("compose services = %v, want %v", got, want)
	}
	for name, s := range p.Services {
		if strings.Contains(s.Image, "wxfake") || strings.Contains(strings.Join(s.Command, " "), "wxfake") {
			t.Errorf("service %s runs the fake WeChat API; it has no place in this stack", name)
		}
		// Third-party images are pinned to a release: a moving tag changes
		// what runs without a change here.
		if _, tag, _ := strings.Cut(s.Image, ":"); !strings.HasPrefix(s.Image, "miniauth") &&
			(tag == "" || tag == "latest" || !strings.ContainsAny(tag, ".")) {
			t.Errorf("service %s runs %q: pin the image to a release (name:1.2.3)", name, s.Image)
		}
	}

	pg := service(t, p, "postgres")
	if !strings.HasPrefix(pg.Image, "postgres:16") {
		t.Errorf("postgres image = %q, want postgres:16", pg.Image)
	}
	if pg.HealthCheck == nil || !strings.Contains(strings.Join(pg.HealthCheck.Test, " "), "pg_isready") {
		t.Errorf("postgres healthcheck = %+v, want pg_isready", pg.HealthCheck)
	}
	if !hasVolumeTarget(pg, "/var/lib/postgresql/data", types.VolumeTypeVolume) {
		t.Errorf("postgres keeps its data in no named volume: %+v", pg.Volumes)
	}
	rd := service(t, p, "redis")
	if !strings.HasPrefix(rd.Image, "redis:7") {
		t.Errorf("redis image = %q, want redis:7", rd.Image)
	}
	if rd.HealthCheck == nil || len(rd.HealthCheck.Test) == 0 {
		t.Errorf("redis has no healthcheck")
	}

	dockerfile := filepath.Join(RepoRoot(), "deploy", "docker", "Dockerfile")
	for _, name := range []string{"migrate", "miniauth"} {
		s := service(t, p, name)
		if s.Build == nil {
			t.Errorf("%s: no build section", name)
			continue
		}
		if filepath.Clean(s.Build.Context) != RepoRoot() {
			t.Errorf("%s: build context %q, want the repository root %q", name, s.Build.Context, RepoRoot())
		}
		df := s.Build.Dockerfile
		if !filepath.IsAbs(df) {
			df = filepath.Join(s.Build.Context, df)
		}
		if filepath.Clean(df) != dockerfile {
			t.Errorf("%s: dockerfile %q, want %q", name, df, dockerfile)
		}
		if v := s.Environment["MINIAUTH_OPS_ADDR"]; v == nil || *v != ":9090" {
			t.Errorf("%s: MINIAUTH_OPS_ADDR = %v, want :9090 (the loopback default is unreachable from Prometheus)", name, v)
		}
		if v := s.Environment["MINIAUTH_MASTER_KEY"]; v == nil || *v != composeEnv["MINIAUTH_MASTER_KEY"] {
			t.Errorf("%s: MINIAUTH_MASTER_KEY is not taken from the environment", name)
		}
		if v := s.Environment["DATABASE_URL"]; v == nil || !strings.Contains(*v, composeEnv["POSTGRES_PASSWORD"]) || !strings.Contains(*v, "@postgres:5432/") {
			t.Errorf("%s: DATABASE_URL = %v, want the postgres service with the interpolated password", name, v)
		}
		if v := s.Environment["REDIS_URL"]; v == nil || !strings.Contains(*v, "redis:6379") {
			t.Errorf("%s: REDIS_URL = %v, want the redis service", name, v)
		}
	}

	mg := service(t, p, "migrate")
	if !slices.Equal([]string(mg.Command), []string{"migrate"}) {
		t.Errorf("migrate command = %q, want [migrate]", mg.Command)
	}
	if mg.Restart != "no" {
		t.Errorf("migrate restart = %q, want \"no\"", mg.Restart)
	}
	dependsOn(t, mg, "postgres", types.ServiceConditionHealthy)

	ma := service(t, p, "miniauth")
	if !slices.Equal([]string(ma.Command), []string{"serve"}) {
		t.Errorf("miniauth command = %q, want [serve]", ma.Command)
	}
	dependsOn(t, ma, "migrate", types.ServiceConditionCompletedSuccessfully)
	dependsOn(t, ma, "redis", types.ServiceConditionHealthy)
	var public bool
	for _, port := range ma.Ports {
		if port.Target == 8080 && port.Published != "" {
			public = true
		}
		if port.Target == 9090 && port.Published != "" {
			t.Errorf("miniauth publishes the operations port 9090 (metrics, pprof) on the host")
		}
	}
	if !public {
		t.Errorf("miniauth does not publish 8080: %+v", ma.Ports)
	}
}

func dependsOn(t *testing.T, s types.ServiceConfig, on, condition string) {
	t.Helper()
	d, ok := s.DependsOn[on]
	if !ok {
		t.Errorf("%s does not depend on %s", s.Name, on)
		return
	}
	if d.Condition != condition {
		t.Errorf("%s depends on %s with condition %q, want %q", s.Name, on, d.Condition, condition)
	}
}

func hasVolumeTarget(s types.ServiceConfig, target, typ string) bool {
	for _, v := range s.Volumes {
		if v.Target == target && v.Type == typ {
			return true
		}
	}
	return false
}

func bindSource(t *testing.T, s types.ServiceConfig, target string) string {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Target == target {
			if v.Type != types.VolumeTypeBind {
				t.Fatalf("%s: %s is a %s mount, want a bind mount of a file in the repository", s.Name, target, v.Type)
			}
			return v.Source
		}
	}
	t.Fatalf("%s mounts nothing at %s", s.Name, target)
	return ""
}

// Every file or folder the stack bind-mounts is in the repository.
func TestComposeMountedFilesExist(t *testing.T) {
	p := mustLoadCompose(t)
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s mounts %s at %s, which is missing: %v", name, v.Source, v.Target, err)
			}
			if rel, err := filepath.Rel(RepoRoot(), v.Source); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s mounts %s from outside the repository", name, v.Source)
			}
		}
	}

	prom := service(t, p, "prometheus")
	var promCfg struct {
		RuleFiles     []string `json:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string              `json:"job_name"`
			MetricsPath   string              `json:"metrics_path"`
			Params        map[string][]string `json:"params"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	readYAML(t, bindSource(t, prom, "/etc/prometheus/prometheus.yml"), &promCfg)
	if filepath.Base(bindSource(t, prom, "/etc/prometheus/prometheus.yml")) != "prometheus.yml" {
		t.Errorf("prometheus config is not deploy/compose/prometheus.yml")
	}
	alerts := bindSource(t, prom, "/etc/prometheus/alerts.yml")
	if want := filepath.Join(RepoRoot(), "deploy", "prometheus", "alerts.yml"); alerts != want {
		t.Errorf("alert rules mounted from %s, want %s", alerts, want)
	}
	if !slices.Contains(promCfg.RuleFiles, "/etc/prometheus/alerts.yml") {
		t.Errorf("prometheus.yml rule_files = %v, want /etc/prometheus/alerts.yml", promCfg.RuleFiles)
	}
	var scraped, readyz bool
	for _, sc := range promCfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			if slices.Contains(st.Targets, "miniauth:9090") && (sc.MetricsPath == "" || sc.MetricsPath == "/metrics") {
				scraped = true
			}
			if slices.Contains(st.Targets, "http://miniauth:8080/readyz") && sc.MetricsPath == "/probe" && slices.Equal(sc.Params["module"], []string{"http_2xx"}) {
				readyz = true
			}
		}
	}
	if !scraped {
		t.Errorf("prometheus.yml does not scrape miniauth:9090/metrics")
	}
	if !readyz {
		t.Errorf("prometheus.yml does not probe http://miniauth:8080/readyz through blackbox (the container has no healthcheck)")
	}
	var rules struct {
		Groups []struct {
			Name  string            `json:"name"`
			Rules []json.RawMessage `json:"rules"`
		} `json:"groups"`
	}
	readYAML(t, alerts, &rules)
	if len(rules.Groups) == 0 {
		t.Errorf("%s has no rule groups", alerts)
	}

	gf := service(t, p, "grafana")
	dsDir := bindSource(t, gf, "/etc/grafana/provisioning/datasources")
	dbDir := bindSource(t, gf, "/etc/grafana/provisioning/dashboards")
	var prometheusDS bool
	for _, f := range yamlFiles(t, dsDir) {
		var ds struct {
			Datasources []struct {
				Type string `json:"type"`
				URL  string `json:"url"`
			} `json:"datasources"`
		}
		readYAML(t, f, &ds)
		for _, d := range ds.Datasources {
			if d.Type == "prometheus" && strings.Contains(d.URL, "prometheus:9090") {
				prometheusDS = true
			}
		}
	}
	if !prometheusDS {
		t.Errorf("no Grafana datasource of type prometheus at prometheus:9090 in %s", dsDir)
	}
	var providerPaths []string
	for _, f := range yamlFiles(t, dbDir) {
		var pr struct {
			Providers []struct {
				Type    string `json:"type"`
				Options struct {
					Path string `json:"path"`
				} `json:"options"`
			} `json:"providers"`
		}
		readYAML(t, f, &pr)
		for _, p := range pr.Providers {
			if p.Type == "file" {
				providerPaths = append(providerPaths, p.Options.Path)
			}
		}
	}
	var dashboard bool
	for _, v := range gf.Volumes {
		if v.Type != types.VolumeTypeBind || filepath.Base(v.Source) != "miniauth.json" {
			continue
		}
		if want := filepath.Join(RepoRoot(), "deploy", "grafana", "miniauth.json"); v.Source != want {
			t.Errorf("dashboard mounted from %s, want %s", v.Source, want)
		}
		if !slices.Contains(providerPaths, filepath.Dir(v.Target)) && !slices.Contains(providerPaths, v.Target) {
			t.Errorf("dashboard mounted at %s, outside every file provider path %v", v.Target, providerPaths)
		}
		b, err := os.ReadFile(v.Source)
		if err != nil {
			t.Fatal(err)
		}
		var d map[string]any
		if err := json.Unmarshal(b, &d); err != nil {
			t.Errorf("%s is not JSON: %v", v.Source, err)
		}
		dashboard = true
	}
	if !dashboard {
		t.Errorf("grafana does not mount deploy/grafana/miniauth.json")
	}
}

func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		out = append(out, m...)
	}
	if len(out) == 0 {
		t.Errorf("no provisioning file in %s", dir)
	}
	return out
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// Each required secret stops compose when it is missing.
func TestComposeRequiresSecrets(t *testing.T) {
	for name := range composeEnv {
		env := map[string]string{}
		for k, v := range composeEnv {
			if k != name {
				env[k] = v
			}
		}
		if _, err := loadCompose(t, env); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("compose loads without %s (err %v); it must refuse with ${%s:?...}", name, err, name)
		}
	}
}

var secretName = regexp.MustCompile(`(?i)(PASSWORD|SECRET|MASTER_KEY|TOKEN|API_KEY|DATABASE_URL|REDIS_URL)`)

// No literal secret value is committed: every secret-looking variable of every
// service is filled by interpolation (or names no password).
func TestComposeNoLiteralSecrets(t *testing.T) {
	o, err := cli.NewProjectOptions([]string{filepath.Join(composeDir(), "compose.yaml")},
		cli.WithWorkingDirectory(composeDir()), cli.WithEnv(nil), cli.WithInterpolation(false))
	if err != nil {
		t.Fatal(err)
	}
	model, err := o.LoadModel(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	services, _ := model["services"].(map[string]any)
	if len(services) == 0 {
		t.Fatal("no services in the raw model")
	}
	for name, s := range services {
		env, _ := s.(map[string]any)["environment"].(map[string]any)
		for k, v := range env {
			if !secretName.MatchString(k) {
				continue
			}
			val, _ := v.(string)
			if k == "REDIS_URL" && !strings.Contains(val, "@") {
				continue // no password in it
			}
			if strings.HasSuffix(k, "_USER") {
				continue
			}
			if !strings.Contains(val, "${") {
				t.Errorf("service %s: %s has a literal value %q; take it from the environment", name, k, val)
			}
		}
	}
	// The example env file documents the variables and carries no values.
	b, err := os.ReadFile(filepath.Join(composeDir(), "miniauth.env.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if ok && !strings.HasPrefix(k, "#") && secretName.MatchString(k) && v != "" {
			t.Errorf("miniauth.env.example sets %s; leave secrets empty", k)
		}
	}
	if _, err := os.Stat(filepath.Join(composeDir(), ".env")); err == nil {
		t.Logf("deploy/compose/.env exists locally (ignored by git); it was not read by these tests")
	}
}
