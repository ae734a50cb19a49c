package k8s

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// scaledObject is the part of KEDA's keda.sh/v1alpha1 ScaledObject these manifests use. KEDA's
// Go module pulls in most of Kubernetes; a strict decode into this struct still refuses any
// field it does not name, so a misspelled field fails here as it would in the cluster.
type scaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		ScaleTargetRef struct {
			Name string `json:"name"`
		} `json:"scaleTargetRef"`
		MinReplicaCount int32 `json:"minReplicaCount"`
		MaxReplicaCount int32 `json:"maxReplicaCount"`
		PollingInterval int32 `json:"pollingInterval"`
		CooldownPeriod  int32 `json:"cooldownPeriod"`
		Triggers        []struct {
			Type     string            `json:"type"`
			Metadata map[string]string `json:"metadata"`
		} `json:"triggers"`
	} `json:"spec"`
}

// objects is one kustomize build, decoded.
type objects struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	jobs        []*batchv1.Job
	scaled      []*scaledObject
}

// decode decodes one object strictly (unknown or duplicate fields are errors) by its kind.
func (o *objects) decode(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	strict := func(into any) error { return yaml.UnmarshalStrict(doc, into) }
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		var d appsv1.Deployment
		if err := strict(&d); err != nil {
			return err
		}
		o.deployments[d.Name] = &d
	case "v1 Service":
		var s corev1.Service
		if err := strict(&s); err != nil {
			return err
		}
		o.services[s.Name] = &s
	case "v1 ConfigMap":
		var c corev1.ConfigMap
		if err := strict(&c); err != nil {
			return err
		}
		o.configMaps[c.Name] = &c
	case "v1 Secret":
		var s corev1.Secret
		if err := strict(&s); err != nil {
			return err
		}
		o.secrets[s.Name] = &s
	case "policy/v1 PodDisruptionBudget":
		var p policyv1.PodDisruptionBudget
		if err := strict(&p); err != nil {
			return err
		}
		o.pdbs = append(o.pdbs, &p)
	case "autoscaling/v2 HorizontalPodAutoscaler":
		var h autoscalingv2.HorizontalPodAutoscaler
		if err := strict(&h); err != nil {
			return err
		}
		o.hpas = append(o.hpas, &h)
	case "batch/v1 Job":
		var j batchv1.Job
		if err := strict(&j); err != nil {
			return err
		}
		o.jobs = append(o.jobs, &j)
	case "keda.sh/v1alpha1 ScaledObject":
		var s scaledObject
		if err := strict(&s); err != nil {
			return err
		}
		o.scaled = append(o.scaled, &s)
	default:
		return fmt.Errorf("kind %s %s is not one this test knows: add it", tm.APIVersion, tm.Kind)
	}
	return nil
}

func build(t *testing.T, dir string) *objects {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	o := &objects{
		deployments: map[string]*appsv1.Deployment{},
		services:    map[string]*corev1.Service{},
		configMaps:  map[string]*corev1.ConfigMap{},
		secrets:     map[string]*corev1.Secret{},
	}
	for _, r := range rm.Resources() {
		doc, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		if err := o.decode(doc); err != nil {
			t.Fatalf("%s: %s %s: %v", dir, r.GetKind(), r.GetName(), err)
		}
	}
	return o
}

// TestManifestFilesDecodeStrictly decodes every object of every manifest file on its own, so a
// file no kustomization lists is checked too.
func TestManifestFilesDecodeStrictly(t *testing.T) {
	var files []string
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == "secrets":
			return filepath.SkipDir // the secretGenerator's inputs, not manifests
		case d.IsDir(), filepath.Ext(path) != ".yaml", d.Name() == "kustomization.yaml":
			return nil
		}
		files = append(files, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
	o := &objects{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range bytes.Split(b, []byte("\n---\n")) {
			if err := o.decode(doc); err != nil {
				t.Errorf("%s, object %d: %v", f, i+1, err)
			}
		}
	}
}

// TestStrictDecodingRefusesUnknownFields shows that the decoding above would catch a typo.
func TestStrictDecodingRefusesUnknownFields(t *testing.T) {
	tests := []struct {
		name string
		give string
	}{
		{"misspelled probe", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers:\n        - name: x\n          readinesProbe: {}\n"},
		{"field of another kind", "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec:\n  replicas: 1\n"},
		{"keda typo", "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\nspec:\n  maxReplicas: 3\n"},
		{"unknown kind", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &objects{deployments: map[string]*appsv1.Deployment{}}
			if err := o.decode([]byte(tt.give)); err == nil {
				t.Fatal("decoded without error")
			}
		})
	}
}

func TestBaseInvariants(t *testing.T) {
	o := build(t, "base")
	checkWorkloads(t, o)
}

func TestExampleOverlayInvariants(t *testing.T) {
	o := build(t, "overlays/example")
	checkWorkloads(t, o)
	checkSecretRefs(t, o)

	cfg := configOf(t, o)
	partitions := mustAtoi(t, "TOPIC_PARTITIONS", cfg["TOPIC_PARTITIONS"])
	fwd := o.deployments["forwarder"]
	env := containerEnv(t, o, fwd.Spec.Template.Spec.Containers[0])
	if len(o.scaled) != 1 {
		t.Fatalf("want one KEDA ScaledObject for the forwarder, got %d", len(o.scaled))
	}
	so := o.scaled[0]
	if so.Spec.ScaleTargetRef.Name != fwd.Name {
		t.Errorf("ScaledObject scales %q, not the forwarder", so.Spec.ScaleTargetRef.Name)
	}
	if so.Spec.MaxReplicaCount > int32(partitions) || so.Spec.MinReplicaCount < 1 || so.Spec.MinReplicaCount > so.Spec.MaxReplicaCount {
		t.Errorf("ScaledObject replicas %d..%d: want 1 <= min <= max <= TOPIC_PARTITIONS (%d)",
			so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount, partitions)
	}
	if len(so.Spec.Triggers) != 1 || so.Spec.Triggers[0].Type != "kafka" {
		t.Fatalf("want one kafka trigger, got %+v", so.Spec.Triggers)
	}
	md := so.Spec.Triggers[0].Metadata
	for key, want := range map[string]string{
		"bootstrapServers":   env["KAFKA_BROKERS"],
		"consumerGroup":      env["CONSUMER_GROUP"],
		"topic":              env["EVENTS_TOPIC"],
		"allowIdleConsumers": "false",
	} {
		if md[key] != want {
			t.Errorf("KEDA trigger %s = %q, want %q (the forwarder's)", key, md[key], want)
		}
	}
	if n, err := strconv.Atoi(md["lagThreshold"]); err != nil || n <= 0 {
		t.Errorf("KEDA lagThreshold %q", md["lagThreshold"])
	}

	if len(o.jobs) != 1 {
		t.Fatalf("want one dlq replay Job example, got %d", len(o.jobs))
	}
	job := o.jobs[0]
	c := job.Spec.Template.Spec.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "replay" || !hasPrefixArg(c.Args, "--name=") {
		t.Errorf("Job args %v: want `replay --name=...`", c.Args)
	}
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("Job restartPolicy %q, want Never", job.Spec.Template.Spec.RestartPolicy)
	}
	checkResources(t, "job "+job.Name, c)
	checkEnvNames(t, "dlq", containerEnv(t, o, c))
}

// checkWorkloads checks the invariants of the ingress and forwarder Deployments.
func checkWorkloads(t *testing.T, o *objects) {
	t.Helper()
	cfg := configOf(t, o)
	partitions := mustAtoi(t, "TOPIC_PARTITIONS", cfg["TOPIC_PARTITIONS"])
	admin := map[string]string{"ingress": "INGRESS_ADMIN_ADDR", "forwarder": "FORWARDER_ADMIN_ADDR"}
	for name, adminEnv := range admin {
		d, ok := o.deployments[name]
		if !ok {
			t.Fatalf("no Deployment %q", name)
		}
		spec := d.Spec.Template.Spec
		if len(spec.Containers) != 1 {
			t.Fatalf("%s: want one container, got %d", name, len(spec.Containers))
		}
		c := spec.Containers[0]
		env := containerEnv(t, o, c)
		checkEnvNames(t, name, env)
		checkResources(t, name, c)

		// Probes and scraping go to the admin listener the binary is told to open.
		port := listenPort(t, name, adminEnv, env[adminEnv])
		for probeName, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			wantPath := map[string]string{"readiness": "/readyz", "liveness": "/healthz"}[probeName]
			if p == nil || p.HTTPGet == nil {
				t.Errorf("%s: no HTTP %s probe", name, probeName)
				continue
			}
			if p.HTTPGet.Path != wantPath {
				t.Errorf("%s: %s probe path %q, want %q", name, probeName, p.HTTPGet.Path, wantPath)
			}
			if got := resolvePort(t, c, p.HTTPGet.Port); got != port {
				t.Errorf("%s: %s probe on port %d, but %s=%q listens on %d", name, probeName, got, adminEnv, env[adminEnv], port)
			}
		}
		ann := d.Spec.Template.Annotations
		if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] != "/metrics" || ann["prometheus.io/port"] != strconv.Itoa(int(port)) {
			t.Errorf("%s: scrape annotations %v, want scrape on port %d path /metrics", name, ann, port)
		}

		// Security: non-root, read-only root, no privilege escalation.
		if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: pod must run as non-root", name)
		}
		if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: container must have a read-only root and no privilege escalation", name)
		}

		// Every Deployment has a PodDisruptionBudget that selects its pods.
		if !pdbCovers(o.pdbs, d) {
			t.Errorf("%s: no PodDisruptionBudget selects its pods", name)
		}
		// No secret is written into a manifest as a literal.
		for _, e := range c.Env {
			if secretName.MatchString(e.Name) && e.Value != "" {
				t.Errorf("%s: %s is a literal; take it from a Secret", name, e.Name)
			}
		}
	}

	// The forwarder: at most one member per partition, and SIGTERM's drain fits in the grace.
	fwd := o.deployments["forwarder"]
	if fwd.Spec.Replicas == nil || *fwd.Spec.Replicas < 1 || int(*fwd.Spec.Replicas) > partitions {
		t.Errorf("forwarder replicas %s: want 1..TOPIC_PARTITIONS (%d)", fmtInt32(fwd.Spec.Replicas), partitions)
	}
	fenv := containerEnv(t, o, fwd.Spec.Template.Spec.Containers[0])
	shutdown := mustDuration(t, "SHUTDOWN_TIMEOUT", fenv["SHUTDOWN_TIMEOUT"], 20*time.Second)
	// The forwarder stops its admin server for up to 5s after the drain.
	if grace := gracePeriod(fwd); grace <= shutdown+5*time.Second {
		t.Errorf("forwarder terminationGracePeriodSeconds %s, want more than SHUTDOWN_TIMEOUT %s + 5s", grace, shutdown)
	}
	// Memory (README "Benchmarks"): about 200 MiB with the adaptive limit at its ceiling, plus
	// 65-130 bytes per id in the dedupe window.
	ids := mustAtoi(t, "DEDUPE_CACHE_SIZE", or(fenv["DEDUPE_CACHE_SIZE"], "2000000"))
	need := resource.NewQuantity(200<<20+int64(ids)*130, resource.BinarySI)
	if limit := fwd.Spec.Template.Spec.Containers[0].Resources.Limits.Memory(); limit.Cmp(*need) < 0 {
		t.Errorf("forwarder memory limit %s is under %dMi for DEDUPE_CACHE_SIZE=%d", limit, need.Value()>>20, ids)
	}

	// The ingress: an HPA on CPU owns its replica count, and its Service reaches INGRESS_ADDR.
	ing := o.deployments["ingress"]
	ienv := containerEnv(t, o, ing.Spec.Template.Spec.Containers[0])
	if ing.Spec.Replicas != nil {
		t.Errorf("ingress sets replicas (%d) although its HPA owns them", *ing.Spec.Replicas)
	}
	produce := mustDuration(t, "PRODUCE_TIMEOUT", ienv["PRODUCE_TIMEOUT"], 5*time.Second)
	// The ingress lets requests finish for up to 10s after SIGTERM; each waits PRODUCE_TIMEOUT at most.
	if grace := gracePeriod(ing); grace <= 10*time.Second || grace <= produce {
		t.Errorf("ingress terminationGracePeriodSeconds %s, want more than its 10s drain and PRODUCE_TIMEOUT %s", grace, produce)
	}
	var hpa *autoscalingv2.HorizontalPodAutoscaler
	for _, h := range o.hpas {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == "ingress" {
			hpa = h
		}
	}
	if hpa == nil {
		t.Fatal("no HorizontalPodAutoscaler for the ingress")
	}
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
		t.Errorf("ingress HPA metrics %+v: want CPU", hpa.Spec.Metrics)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 2 {
		t.Errorf("ingress HPA minReplicas %v: want at least 2 (its PDB keeps one up)", hpa.Spec.MinReplicas)
	}
	for _, h := range o.hpas {
		if h.Spec.ScaleTargetRef.Name == "forwarder" {
			t.Errorf("an HPA scales the forwarder: scale it on lag with KEDA, capped at the partitions")
		}
	}
	svc, ok := o.services["ingress"]
	if !ok {
		t.Fatal("no Service ingress")
	}
	httpPort := listenPort(t, "ingress", "INGRESS_ADDR", ienv["INGRESS_ADDR"])
	for _, sp := range svc.Spec.Ports {
		if got := resolvePort(t, ing.Spec.Template.Spec.Containers[0], sp.TargetPort); got != httpPort {
			t.Errorf("Service ingress targets port %d, INGRESS_ADDR listens on %d", got, httpPort)
		}
	}
	if !selects(svc.Spec.Selector, ing.Spec.Template.Labels) {
		t.Errorf("Service ingress selector %v does not select the ingress pods", svc.Spec.Selector)
	}
}

var secretName = regexp.MustCompile(`SECRET|PASSWORD|API_KEY|_KEYS$`)

// checkSecretRefs checks that every Secret a workload names exists with the key it asks for.
func checkSecretRefs(t *testing.T, o *objects) {
	t.Helper()
	var specs []corev1.PodSpec
	for _, d := range o.deployments {
		specs = append(specs, d.Spec.Template.Spec)
	}
	for _, j := range o.jobs {
		specs = append(specs, j.Spec.Template.Spec)
	}
	for _, spec := range specs {
		for _, c := range spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				ref := e.ValueFrom.SecretKeyRef
				if _, ok := secretData(o, ref.Name)[ref.Key]; !ok {
					t.Errorf("%s: %s from Secret %s key %s, which the build lacks", c.Name, e.Name, ref.Name, ref.Key)
				}
			}
		}
		for _, v := range spec.Volumes {
			if v.Secret == nil {
				continue
			}
			data := secretData(o, v.Secret.SecretName)
			for _, it := range v.Secret.Items {
				if _, ok := data[it.Key]; !ok {
					t.Errorf("volume %s: Secret %s has no key %s", v.Name, v.Secret.SecretName, it.Key)
				}
			}
		}
	}
}

func secretData(o *objects, name string) map[string][]byte {
	s, ok := o.secrets[name]
	if !ok {
		return nil
	}
	data := map[string][]byte{}
	for k, v := range s.Data {
		data[k] = v
	}
	for k, v := range s.StringData {
		data[k] = []byte(v)
	}
	return data
}

// containerEnv is a container's environment as the binary sees it: its ConfigMaps, then its own
// env (Secret and field references as placeholders).
func containerEnv(t *testing.T, o *objects, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		if from.ConfigMapRef == nil {
			t.Fatalf("%s: envFrom other than a ConfigMap", c.Name)
		}
		cm, ok := o.configMaps[from.ConfigMapRef.Name]
		if !ok {
			t.Fatalf("%s: envFrom ConfigMap %s, which the build lacks", c.Name, from.ConfigMapRef.Name)
		}
		for k, v := range cm.Data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		env[e.Name] = or(e.Value, "(from "+e.Name+" reference)")
	}
	return env
}

func configOf(t *testing.T, o *objects) map[string]string {
	t.Helper()
	cm, ok := o.configMaps["eventfwd-config"]
	if !ok {
		t.Fatal("no ConfigMap eventfwd-config")
	}
	return cm.Data
}

// runtimeEnv are settings of the Go runtime, not of our binaries.
var runtimeEnv = map[string]bool{"GOMEMLIMIT": true}

// checkEnvNames checks that every variable a container is given is one its binary reads (a
// quoted name in its Go source or in libs/), so a misspelled setting is not silently ignored.
func checkEnvNames(t *testing.T, binary string, env map[string]string) {
	t.Helper()
	src := sourceOf(t, filepath.Join("..", "..", "services", binary)) + sourceOf(t, filepath.Join("..", "..", "libs"))
	for name := range env {
		if runtimeEnv[name] || strings.Contains(src, `"`+name+`"`) {
			continue
		}
		t.Errorf("%s is given %s, which it does not read", binary, name)
	}
}

var sources = map[string]string{}

func sourceOf(t *testing.T, dir string) string {
	t.Helper()
	if s, ok := sources[dir]; ok {
		return s
	}
	var b strings.Builder
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := os.ReadFile(path)
		b.Write(f)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sources[dir] = b.String()
	return sources[dir]
}

func checkResources(t *testing.T, what string, c corev1.Container) {
	t.Helper()
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[r]
		lim, okLim := c.Resources.Limits[r]
		if !okReq || !okLim {
			t.Errorf("%s: %s request and limit both required", what, r)
			continue
		}
		if req.Cmp(lim) > 0 {
			t.Errorf("%s: %s request %s over its limit %s", what, r, req.String(), lim.String())
		}
	}
}

// listenPort is the port of a host:port setting, which must not be loopback: the kubelet and
// Prometheus reach the pod from outside.
func listenPort(t *testing.T, who, name, addr string) int32 {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s: %s=%q: %v (set it: the default listens on loopback only)", who, name, addr, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		t.Errorf("%s: %s=%q listens on loopback, unreachable for probes", who, name, addr)
	}
	return int32(mustAtoi(t, name, port))
}

func resolvePort(t *testing.T, c corev1.Container, p intstr.IntOrString) int32 {
	t.Helper()
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	t.Fatalf("%s: no container port named %q", c.Name, p.StrVal)
	return 0
}

func pdbCovers(pdbs []*policyv1.PodDisruptionBudget, d *appsv1.Deployment) bool {
	for _, p := range pdbs {
		if p.Spec.Selector != nil && p.Namespace == d.Namespace && selects(p.Spec.Selector.MatchLabels, d.Spec.Template.Labels) &&
			(p.Spec.MinAvailable != nil || p.Spec.MaxUnavailable != nil) {
			return true
		}
	}
	return false
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func gracePeriod(d *appsv1.Deployment) time.Duration {
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second // Kubernetes' default
}

func fmtInt32(p *int32) string {
	if p == nil {
		return "unset"
	}
	return strconv.Itoa(int(*p))
}

func hasPrefixArg(args []string, prefix string) bool {
	for _, a := range args {
		if strings.HasPrefix(a, prefix) {
			return true
		}
	}
	return false
}

func mustAtoi(t *testing.T, name, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return n
}

func mustDuration(t *testing.T, name, s string, def time.Duration) time.Duration {
	t.Helper()
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, s, err)
	}
	return d
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
