package check

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"sigs.k8s.io/kustomize/api/krusty"
	kusttypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const k8sBase = "deploy/k8s/base"

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		autoscalingv2.AddToScheme, policyv1.AddToScheme, networkingv1.AddToScheme,
	} {
		utilruntime.Must(add(s))
	}
	return s
}()

// strictDecoder fails on an unknown, misspelled or duplicated field and on a
// kind outside the registered groups.
var strictDecoder = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()

// buildKustomize runs kustomize build on dir of fs and decodes every resource
// strictly into its typed object.
func buildKustomize(fs filesys.FileSystem, dir string) ([]runtime.Object, error) {
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	var objs []runtime.Object
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		obj, gvk, err := strictDecoder.Decode(y, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", r.GetKind(), r.GetName(), err)
		}
		if gvk.Kind == "" {
			return nil, fmt.Errorf("%s %s: no kind", r.GetKind(), r.GetName())
		}
		objs = append(objs, obj)
	}
	return objs, nil
}

type k8sObjects struct {
	all         []runtime.Object
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	pdbs        []*policyv1.PodDisruptionBudget
	jobs        []*batchv1.Job
	netpols     []*networkingv1.NetworkPolicy
	sas         []*corev1.ServiceAccount
	configMaps  []*corev1.ConfigMap
	secrets     []*corev1.Secret
}

func loadK8s(t *testing.T) k8sObjects {
	t.Helper()
	objs, err := buildKustomize(filesys.MakeFsOnDisk(), filepath.Join(RepoRoot(), k8sBase))
	if err != nil {
		t.Fatal(err)
	}
	var k k8sObjects
	k.all = objs
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			k.deployments = append(k.deployments, o)
		case *corev1.Service:
			k.services = append(k.services, o)
		case *autoscalingv2.HorizontalPodAutoscaler:
			k.hpas = append(k.hpas, o)
		case *policyv1.PodDisruptionBudget:
			k.pdbs = append(k.pdbs, o)
		case *batchv1.Job:
			k.jobs = append(k.jobs, o)
		case *networkingv1.NetworkPolicy:
			k.netpols = append(k.netpols, o)
		case *corev1.ServiceAccount:
			k.sas = append(k.sas, o)
		case *corev1.ConfigMap:
			k.configMaps = append(k.configMaps, o)
		case *corev1.Secret:
			k.secrets = append(k.secrets, o)
		default:
			t.Errorf("unexpected object %T", o)
		}
	}
	one := func(kind string, n int) {
		if n != 1 {
			t.Fatalf("kustomize base has %d %s, want 1", n, kind)
		}
	}
	one("Deployment", len(k.deployments))
	one("Service", len(k.services))
	one("HorizontalPodAutoscaler", len(k.hpas))
	one("PodDisruptionBudget", len(k.pdbs))
	one("Job", len(k.jobs))
	one("NetworkPolicy", len(k.netpols))
	one("ServiceAccount", len(k.sas))
	one("ConfigMap", len(k.configMaps))
	return k
}

func selector(t *testing.T, ls *metav1.LabelSelector) labels.Selector {
	t.Helper()
	if ls == nil {
		t.Fatal("nil label selector")
	}
	s, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func container(t *testing.T, spec corev1.PodSpec, name string) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no container %q", name)
	return corev1.Container{}
}

// checkHardened asserts the pod and its containers run as non-root with a
// read-only root filesystem, no privilege escalation, no capabilities and
// the runtime's seccomp profile.
func checkHardened(t *testing.T, what string, spec corev1.PodSpec) {
	t.Helper()
	psc := spec.SecurityContext
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken is not false", what)
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			t.Errorf("%s/%s: no securityContext", what, c.Name)
			continue
		}
		nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
		if !nonRoot {
			t.Errorf("%s/%s: runAsNonRoot is not true", what, c.Name)
		}
		if uid := sc.RunAsUser; uid != nil && *uid == 0 || uid == nil && psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0 {
			t.Errorf("%s/%s: runs as uid 0", what, c.Name)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s/%s: readOnlyRootFilesystem is not true", what, c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s/%s: allowPrivilegeEscalation is not false", what, c.Name)
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Errorf("%s/%s: privileged", what, c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) != 0 {
			t.Errorf("%s/%s: capabilities = %+v, want drop [ALL] and nothing added", what, c.Name, sc.Capabilities)
		}
		seccomp := sc.SeccompProfile
		if seccomp == nil && psc != nil {
			seccomp = psc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s/%s: seccompProfile = %+v, want RuntimeDefault", what, c.Name, seccomp)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Requests[res]; !ok || q.IsZero() {
				t.Errorf("%s/%s: no %s request", what, c.Name, res)
			}
			if q, ok := c.Resources.Limits[res]; !ok || q.IsZero() {
				t.Errorf("%s/%s: no %s limit", what, c.Name, res)
			}
		}
		if strings.Contains(c.Image, "wxfake") || slices.Contains(c.Args, "wxfake") {
			t.Errorf("%s/%s: runs the fake WeChat API", what, c.Name)
		}
	}
}

// checkEnv asserts the server's secrets come from Secret "miniauth" under the
// agreed keys, nothing secret is a literal, and the ConfigMap references exist.
func checkEnv(t *testing.T, what string, c corev1.Container, k k8sObjects) {
	t.Helper()
	want := map[string]string{"DATABASE_URL": "database-url", "REDIS_URL": "redis-url", "MINIAUTH_MASTER_KEY": "master-key"}
	for _, e := range c.Env {
		if key, ok := want[e.Name]; ok {
			if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Errorf("%s: %s is not taken from a Secret", what, e.Name)
				continue
			}
			if got := e.ValueFrom.SecretKeyRef.Key; got != key {
				t.Errorf("%s: %s reads key %q, want %q", what, e.Name, got, key)
			}
			delete(want, e.Name)
		}
		if secretName.MatchString(e.Name) && e.Value != "" {
			t.Errorf("%s: %s has a literal value", what, e.Name)
		}
	}
	for name := range want {
		t.Errorf("%s: %s is not set", what, name)
	}
	for _, ef := range c.EnvFrom {
		if ef.ConfigMapRef != nil && !slices.ContainsFunc(k.configMaps, func(cm *corev1.ConfigMap) bool { return cm.Name == ef.ConfigMapRef.Name }) {
			t.Errorf("%s: envFrom ConfigMap %q is not in the base", what, ef.ConfigMapRef.Name)
		}
	}
	if !slices.ContainsFunc(c.EnvFrom, func(ef corev1.EnvFromSource) bool { return ef.ConfigMapRef != nil }) {
		t.Errorf("%s: no settings from a ConfigMap", what)
	}
}

// secretRefs lists the Secret names a pod spec refers to, wherever.
func secretRefs(spec corev1.PodSpec) []string {
	var out []string
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				out = append(out, e.ValueFrom.SecretKeyRef.Name)
			}
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef != nil {
				out = append(out, ef.SecretRef.Name)
			}
		}
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			out = append(out, v.Secret.SecretName)
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.Secret != nil {
					out = append(out, s.Secret.Name)
				}
			}
		}
	}
	for _, s := range spec.ImagePullSecrets {
		out = append(out, s.Name)
	}
	return out
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func httpGet(t *testing.T, what string, p *corev1.Probe, path string, c corev1.Container) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: no httpGet probe", what)
		return
	}
	if p.HTTPGet.Path != path {
		t.Errorf("%s: path %q, want %q", what, p.HTTPGet.Path, path)
	}
	port := p.HTTPGet.Port.IntVal
	if p.HTTPGet.Port.StrVal != "" {
		port = containerPort(c, p.HTTPGet.Port.StrVal)
	}
	if port != 8080 {
		t.Errorf("%s: port %s is not 8080", what, p.HTTPGet.Port.String())
	}
}

func TestK8sBase(t *testing.T) {
	k := loadK8s(t)
	for _, o := range k.all {
		m, err := metaOf(o)
		if err != nil {
			t.Fatal(err)
		}
		if m.GetNamespace() != "" {
			t.Errorf("%T %s sets namespace %q; the base is namespace-agnostic", o, m.GetName(), m.GetNamespace())
		}
	}
	if len(k.secrets) != 0 {
		t.Errorf("the base contains %d Secret(s); the Secret is created outside it", len(k.secrets))
	}

	d := k.deployments[0]
	pod := d.Spec.Template
	podLabels := labels.Set(pod.Labels)
	if !selector(t, d.Spec.Selector).Matches(podLabels) {
		t.Errorf("Deployment selector does not match its pod labels")
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("Deployment replicas = %v, want 2", d.Spec.Replicas)
	}
	if ru := d.Spec.Strategy.RollingUpdate; d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("Deployment strategy = %+v, want RollingUpdate with maxUnavailable 0", d.Spec.Strategy)
	}
	checkHardened(t, "Deployment", pod.Spec)
	c := container(t, pod.Spec, "miniauth")
	if !slices.Equal(c.Args, []string{"serve"}) && !slices.Equal(c.Command, []string{"/miniauth", "serve"}) {
		t.Errorf("Deployment container runs %q %q, want serve", c.Command, c.Args)
	}
	httpGet(t, "livenessProbe", c.LivenessProbe, "/healthz", c)
	httpGet(t, "readinessProbe", c.ReadinessProbe, "/readyz", c)
	if c.StartupProbe == nil {
		t.Errorf("Deployment has no startupProbe")
	}
	if containerPort(c, "http") != 8080 || containerPort(c, "ops") != 9090 {
		t.Errorf("container ports = %+v, want http 8080 and ops 9090", c.Ports)
	}
	checkEnv(t, "Deployment", c, k)
	if a := pod.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != "9090" {
		t.Errorf("pod annotations = %v, want prometheus.io/scrape true on port 9090", a)
	}
	if len(pod.Spec.TopologySpreadConstraints) == 0 {
		t.Errorf("no topologySpreadConstraints")
	}
	for _, tsc := range pod.Spec.TopologySpreadConstraints {
		if !selector(t, tsc.LabelSelector).Matches(podLabels) {
			t.Errorf("topology spread on %s does not select the pods", tsc.TopologyKey)
		}
	}
	sa := k.sas[0]
	if pod.Spec.ServiceAccountName != sa.Name {
		t.Errorf("pods use service account %q, the base has %q", pod.Spec.ServiceAccountName, sa.Name)
	}
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Errorf("ServiceAccount automountServiceAccountToken is not false")
	}
	cm := k.configMaps[0].Data
	if cm["MINIAUTH_OPS_ADDR"] != ":9090" {
		t.Errorf("ConfigMap MINIAUTH_OPS_ADDR = %q, want :9090", cm["MINIAUTH_OPS_ADDR"])
	}
	for key := range cm {
		if secretName.MatchString(key) {
			t.Errorf("ConfigMap carries %s; secrets belong in the Secret", key)
		}
	}

	j := k.jobs[0]
	jobLabels := labels.Set(j.Spec.Template.Labels)
	checkHardened(t, "Job", j.Spec.Template.Spec)
	jc := j.Spec.Template.Spec.Containers
	if len(jc) != 1 || !(slices.Equal(jc[0].Args, []string{"migrate"}) || slices.Equal(jc[0].Command, []string{"/miniauth", "migrate"})) {
		t.Errorf("Job does not run migrate: %+v", jc)
	} else {
		checkEnv(t, "Job", jc[0], k)
		if jc[0].Image != c.Image {
			t.Errorf("Job image %q differs from the Deployment's %q", jc[0].Image, c.Image)
		}
	}
	if j.Spec.BackoffLimit == nil || j.Spec.TTLSecondsAfterFinished == nil {
		t.Errorf("Job backoffLimit = %v, ttlSecondsAfterFinished = %v; want both set", j.Spec.BackoffLimit, j.Spec.TTLSecondsAfterFinished)
	}
	if rp := j.Spec.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyNever && rp != corev1.RestartPolicyOnFailure {
		t.Errorf("Job restartPolicy = %q", rp)
	}

	for what, spec := range map[string]corev1.PodSpec{"Deployment": pod.Spec, "Job": j.Spec.Template.Spec} {
		for _, name := range secretRefs(spec) {
			if name != "miniauth" {
				t.Errorf("%s refers to Secret %q; only \"miniauth\" exists", what, name)
			}
		}
	}

	h := k.hpas[0]
	if ref := h.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != d.Name || ref.APIVersion != "apps/v1" {
		t.Errorf("HPA targets %+v, want apps/v1 Deployment %s", ref, d.Name)
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != 2 || h.Spec.MaxReplicas != 10 {
		t.Errorf("HPA replicas %v..%d, want 2..10", h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	var cpu bool
	for _, m := range h.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == corev1.ResourceCPU &&
			m.Resource.Target.Type == autoscalingv2.UtilizationMetricType && m.Resource.Target.AverageUtilization != nil && *m.Resource.Target.AverageUtilization == 70 {
			cpu = true
		}
	}
	if !cpu {
		t.Errorf("HPA does not scale on 70%% CPU utilisation: %+v", h.Spec.Metrics)
	}

	pdb := k.pdbs[0]
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
		t.Errorf("PDB minAvailable = %v, want 1", pdb.Spec.MinAvailable)
	}
	if s := selector(t, pdb.Spec.Selector); !s.Matches(podLabels) || s.Matches(jobLabels) {
		t.Errorf("PDB selector %s must match the server pods and not the migrate pods", s)
	}

	svc := k.services[0]
	if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("Service type %q, want ClusterIP", svc.Spec.Type)
	}
	if s := labels.SelectorFromSet(svc.Spec.Selector); len(svc.Spec.Selector) == 0 || !s.Matches(podLabels) || s.Matches(jobLabels) {
		t.Errorf("Service selector %v must match the server pods and not the migrate pods", svc.Spec.Selector)
	}
	var http bool
	for _, p := range svc.Spec.Ports {
		target := p.TargetPort.IntVal
		if p.TargetPort.StrVal != "" {
			target = containerPort(c, p.TargetPort.StrVal)
		}
		if p.Port == 80 && target == 8080 {
			http = true
		}
	}
	if !http {
		t.Errorf("Service does not route port 80 to 8080: %+v", svc.Spec.Ports)
	}

	np := k.netpols[0]
	if s := selector(t, &np.Spec.PodSelector); !s.Matches(podLabels) {
		t.Errorf("NetworkPolicy does not select the server pods")
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Errorf("NetworkPolicy policyTypes = %v, want Ingress and Egress", np.Spec.PolicyTypes)
	}
	ingress := map[int32][]networkingv1.NetworkPolicyPeer{}
	for _, r := range np.Spec.Ingress {
		for _, p := range r.Ports {
			if p.Port != nil {
				ingress[portNumber(c, p.Port.IntVal, p.Port.StrVal)] = r.From
			}
		}
	}
	if _, ok := ingress[8080]; !ok {
		t.Errorf("NetworkPolicy admits nothing on 8080")
	}
	if from, ok := ingress[9090]; !ok {
		t.Errorf("NetworkPolicy admits nothing on 9090")
	} else if len(from) == 0 || slices.ContainsFunc(from, func(p networkingv1.NetworkPolicyPeer) bool {
		return p.PodSelector == nil || len(p.PodSelector.MatchLabels)+len(p.PodSelector.MatchExpressions) == 0
	}) {
		t.Errorf("NetworkPolicy opens 9090 beyond Prometheus' pods: %+v", from)
	}
	egress := map[string]bool{}
	for _, r := range np.Spec.Egress {
		for _, p := range r.Ports {
			proto := corev1.ProtocolTCP
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			if p.Port != nil {
				egress[fmt.Sprintf("%d/%s", p.Port.IntVal, proto)] = true
			}
		}
	}
	for _, want := range []string{"53/UDP", "53/TCP", "5432/TCP", "6379/TCP", "443/TCP"} {
		if !egress[want] {
			t.Errorf("NetworkPolicy egress lacks %s (have %v)", want, egress)
		}
	}
	if s := selector(t, &np.Spec.PodSelector); !s.Matches(jobLabels) {
		t.Errorf("NetworkPolicy does not cover the migrate pods")
	}
}

func portNumber(c corev1.Container, n int32, name string) int32 {
	if name != "" {
		return containerPort(c, name)
	}
	return n
}

func metaOf(o runtime.Object) (metav1.Object, error) {
	m, ok := o.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", o)
	}
	return m, nil
}

// The example Secret is not part of the base and holds no real value.
func TestK8sSecretExampleNotInBase(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(RepoRoot(), k8sBase, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var kust kusttypes.Kustomization
	if err := yaml.UnmarshalStrict(b, &kust); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	for _, list := range [][]string{kust.Resources, kust.Components, kust.Generators, kust.Transformers} {
		for _, r := range list {
			if strings.Contains(r, "secret") {
				t.Errorf("kustomization.yaml lists %s; the Secret stays out of the base", r)
			}
		}
	}
	for _, g := range kust.SecretGenerator {
		t.Errorf("kustomization.yaml generates Secret %s; the Secret stays out of the base", g.Name)
	}
	ex, err := os.ReadFile(filepath.Join(RepoRoot(), k8sBase, "secret.example.yaml"))
	if err != nil {
		t.Skip("no secret.example.yaml")
	}
	obj, _, err := strictDecoder.Decode(ex, nil, nil)
	if err != nil {
		t.Fatalf("secret.example.yaml: %v", err)
	}
	s := obj.(*corev1.Secret)
	if s.Name != "miniauth" {
		t.Errorf("example Secret is named %q, want miniauth", s.Name)
	}
	for _, key := range []string{"database-url", "redis-url", "master-key"} {
		v, ok := s.StringData[key]
		if !ok {
			t.Errorf("example Secret lacks %s", key)
		}
		if !strings.Contains(v, "CHANGE_ME") {
			t.Errorf("example Secret %s looks like a real value; use CHANGE_ME", key)
		}
	}
}

// The strict decoding is what catches a misspelt field, which kustomize
// passes through: a copy of the base with one field misspelt must fail.
func TestK8sStrictDecodingCatchesMisspelling(t *testing.T) {
	for _, c := range []struct{ file, from, to string }{
		{"deployment.yaml", "readinessProbe:", "readinesProbe:"},
		{"deployment.yaml", "readOnlyRootFilesystem:", "readOnlyRootFileSystem:"},
		{"networkpolicy.yaml", "podSelector:", "podselector:"},
		{"hpa.yaml", "averageUtilization:", "averageUtilisation:"},
	} {
		t.Run(c.file+"/"+c.to, func(t *testing.T) {
			fs := filesys.MakeFsInMemory()
			src := filepath.Join(RepoRoot(), k8sBase)
			entries, err := os.ReadDir(src)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				b, err := os.ReadFile(filepath.Join(src, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				if e.Name() == c.file {
					if !strings.Contains(string(b), c.from) {
						t.Fatalf("%s has no %q", c.file, c.from)
					}
					b = []byte(strings.Replace(string(b), c.from, c.to, 1))
				}
				if err := fs.WriteFile(filepath.Join("/base", e.Name()), b); err != nil {
					t.Fatal(err)
				}
			}
			_, err = buildKustomize(fs, "/base")
			if err == nil || !strings.Contains(err.Error(), strings.TrimSuffix(c.to, ":")) {
				t.Fatalf("a base with %q decoded without the expected error (err %v)", c.to, err)
			}
		})
	}
}
