package chart

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/heraldlb/herald/webhook"
)

func render(t *testing.T, o Options) *Rendered {
	t.Helper()
	r, err := Render(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// convert decodes an unstructured object into a typed one.
func convert[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	if u == nil {
		t.Fatal("object not rendered")
	}
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

// With the release named herald in metallb-system the chart names every
// object as the herald binaries' flag defaults do, so the lab and a
// cluster agree even where a flag is left out.
func TestDefaultsNameWhatTheBinariesExpect(t *testing.T) {
	r := render(t, Options{})
	for _, want := range []struct{ kind, name string }{
		{"ServiceAccount", "herald-controller"},
		{"ServiceAccount", "herald-speaker"},
		{"ClusterRole", "herald-controller"},
		{"ClusterRole", "herald-speaker"},
		{"Role", "herald-controller"},
		{"Role", "herald-speaker"},
		{"Deployment", "herald-controller"},
		{"DaemonSet", "herald-speaker"},
		{"Service", "herald-webhook"},
		{"ValidatingWebhookConfiguration", webhook.DefaultConfigurationName},
		{"PodDisruptionBudget", "herald-controller"},
		{"Service", "herald-controller-metrics"},
		{"Service", "herald-speaker-metrics"},
	} {
		o := r.Find(want.kind, want.name)
		if o == nil {
			t.Errorf("no %s %s", want.kind, want.name)
			continue
		}
		if ns := o.GetNamespace(); want.kind != "ClusterRole" && want.kind != "ValidatingWebhookConfiguration" && ns != Namespace {
			t.Errorf("%s %s in namespace %q, want %s", want.kind, want.name, ns, Namespace)
		}
	}
	// Off by default: the objects of kinds a cluster may not have.
	for _, kind := range []string{"ServiceMonitor", "PodMonitor", "PrometheusRule", "NetworkPolicy", "ConfigMap"} {
		if got := r.Select(Kinds(kind)); len(got) > 0 {
			t.Errorf("%d %s by default, want none", len(got), kind)
		}
	}
	args, err := ContainerArgs(r.Find("Deployment", "herald-controller"), "controller")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"--namespace=metallb-system", "--lease-name=herald-controller",
		"--webhook-configuration=" + webhook.DefaultConfigurationName, "--webhook-secret=" + webhook.DefaultSecretName,
		"--webhook-service=herald-webhook", "--webhook-addr=:9443", "--metrics-addr=:7472"} {
		if !slices.Contains(args, want) {
			t.Errorf("controller args %q lack %q", args, want)
		}
	}
}

// Install order: CRDs and RBAC before the workloads that need them, the
// webhook configuration (a kind Helm does not order) last, so a write is
// never sent to a webhook whose Deployment does not exist yet.
func TestInstallOrder(t *testing.T) {
	r := render(t, Options{})
	pos := map[string]int{}
	for i, o := range r.Objects {
		if _, seen := pos[o.GetKind()]; !seen {
			pos[o.GetKind()] = i
		}
	}
	for _, before := range [][2]string{{"CustomResourceDefinition", "Deployment"}, {"ClusterRole", "Deployment"},
		{"ServiceAccount", "DaemonSet"}, {"Deployment", "ValidatingWebhookConfiguration"}} {
		if pos[before[0]] >= pos[before[1]] {
			t.Errorf("%s at %d, not before %s at %d", before[0], pos[before[0]], before[1], pos[before[1]])
		}
	}
	if last := r.Objects[len(r.Objects)-1]; last.GetKind() != "ValidatingWebhookConfiguration" {
		t.Errorf("last object %s, want the ValidatingWebhookConfiguration", last.GetKind())
	}
}

// The chart's webhook configuration is webhook.NewConfiguration's with the
// chart's labels, and templates/webhook.yaml (the plain copy the webhook
// package's own test reads) is too.
func TestWebhookConfigurationMatchesConstructor(t *testing.T) {
	want := webhook.NewConfiguration(webhook.DefaultConfigurationName, webhook.ServiceClientConfig(Namespace, "herald-webhook", 443))
	got := convert[admissionregistrationv1.ValidatingWebhookConfiguration](t, render(t, Options{}).Find("ValidatingWebhookConfiguration", webhook.DefaultConfigurationName))
	if got.Labels["app.kubernetes.io/component"] != "controller" {
		t.Errorf("labels %v", got.Labels)
	}
	got.Labels = nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rendered chart (-constructor +chart):\n%s", diff)
	}
	data, err := ChartFile("templates/webhook.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var plain admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(data, &plain); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, &plain); diff != "" {
		t.Errorf("templates/webhook.yaml (-constructor +file):\n%s", diff)
	}
}

func TestControllerPod(t *testing.T) {
	d := convert[appsv1.Deployment](t, render(t, Options{}).Find("Deployment", "herald-controller"))
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2", *d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot ||
		pod.SecurityContext.RunAsUser == nil || *pod.SecurityContext.RunAsUser == 0 {
		t.Errorf("pod security context %+v, want a non-root user", pod.SecurityContext)
	}
	sc := c.SecurityContext
	if sc == nil || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("container security context %+v, want read-only root, no escalation, every capability dropped", sc)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.StrVal != "metrics" {
		t.Errorf("liveness probe %+v, want /healthz on the metrics port", p)
	}
	if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" || p.HTTPGet.Port.StrVal != "metrics" {
		t.Errorf("readiness probe %+v, want /readyz on the metrics port", p)
	}
	if pod.Affinity == nil || pod.Affinity.PodAntiAffinity == nil {
		t.Error("no pod anti-affinity: both replicas may land on one node")
	}
}

func TestSpeakerPod(t *testing.T) {
	cases := []struct {
		name       string
		listenPort int
		wantCaps   []corev1.Capability
	}{
		{"dial only", 0, []corev1.Capability{"NET_RAW"}},
		{"listening on 179", 179, []corev1.Capability{"NET_RAW", "NET_BIND_SERVICE"}},
		{"listening on 1023", 1023, []corev1.Capability{"NET_RAW", "NET_BIND_SERVICE"}},
		{"listening on 1024", 1024, []corev1.Capability{"NET_RAW"}},
		{"listening on 1790", 1790, []corev1.Capability{"NET_RAW"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := render(t, Options{Values: map[string]any{"speaker": map[string]any{"bgp": map[string]any{"listenPort": tc.listenPort}}}})
			ds := convert[appsv1.DaemonSet](t, r.Find("DaemonSet", "herald-speaker"))
			pod := ds.Spec.Template.Spec
			c := pod.Containers[0]
			if !pod.HostNetwork {
				t.Error("not on the host network")
			}
			sc := c.SecurityContext
			if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || !slices.Equal(sc.Capabilities.Add, tc.wantCaps) {
				t.Errorf("capabilities drop %v add %v, want drop ALL add %v", sc.Capabilities.Drop, sc.Capabilities.Add, tc.wantCaps)
			}
			if !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation {
				t.Errorf("security context %+v, want a read-only root and no escalation", sc)
			}
			if _, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
				t.Errorf("a CPU limit (%v): throttling would delay ARP replies and BFD packets", c.Resources.Limits)
			}
			if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
				t.Error("no memory limit")
			}
			var cp bool
			for _, tol := range pod.Tolerations {
				cp = cp || (tol.Key == "node-role.kubernetes.io/control-plane" && tol.Operator == corev1.TolerationOpExists)
			}
			if !cp {
				t.Errorf("tolerations %v do not admit control-plane nodes", pod.Tolerations)
			}
			// A speaker withdraws and closes within 2 s of SIGTERM
			// (TestSpeakerBinary); the grace period must leave it that and
			// more for a slow API server or peer.
			if g := pod.TerminationGracePeriodSeconds; g == nil || *g < 10 {
				t.Errorf("terminationGracePeriodSeconds %v, want at least 10", g)
			}
			args, _ := ContainerArgs(r.Find("DaemonSet", "herald-speaker"), "speaker")
			if want := "--bgp-listen-port=" + itoa(tc.listenPort); !slices.Contains(args, want) {
				t.Errorf("args %q lack %s", args, want)
			}
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// The liveness mesh's flags are always passed (the chart's defaults are
// the speaker's: port 4785, 100ms, 3) and its two UDP ports, the BFD port
// and the next one for the statuses, are the container's; port 0 turns the
// mesh off and declares no port. --l2-exclude is passed only when set, as
// its list replaces the speaker's own. The graceful restart time and the
// metrics TLS files are passed only when set, so the binary's defaults
// stay the chart's.
func TestSpeakerLivenessAndOptionalFlags(t *testing.T) {
	speaker := func(values map[string]any) ([]string, []corev1.ContainerPort) {
		r := render(t, Options{Values: values})
		a, err := ContainerArgs(r.Find("DaemonSet", "herald-speaker"), "speaker")
		if err != nil {
			t.Fatal(err)
		}
		ds := convert[appsv1.DaemonSet](t, r.Find("DaemonSet", "herald-speaker"))
		return a, ds.Spec.Template.Spec.Containers[0].Ports
	}
	udp := func(ports []corev1.ContainerPort) []int32 {
		var got []int32
		for _, p := range ports {
			if p.Protocol == corev1.ProtocolUDP {
				got = append(got, p.ContainerPort)
			}
		}
		return got
	}
	args, ports := speaker(nil)
	for _, want := range []string{"--liveness-port=4785", "--liveness-interval=100ms", "--liveness-multiplier=3", "--liveness-start-hold=3s"} {
		if !slices.Contains(args, want) {
			t.Errorf("default args %q lack %s", args, want)
		}
	}
	for _, a := range args {
		for _, flag := range []string{"--l2-exclude", "--graceful-restart-time", "--metrics-tls"} {
			if strings.HasPrefix(a, flag) {
				t.Errorf("default args pass %s", a)
			}
		}
	}
	if got := udp(ports); !slices.Equal(got, []int32{4785, 4786}) {
		t.Errorf("default UDP ports %v, want the mesh's 4785 and 4786", got)
	}
	args, ports = speaker(map[string]any{"speaker": map[string]any{
		"liveness": map[string]any{"port": 0},
	}})
	if !slices.Contains(args, "--liveness-port=0") || len(udp(ports)) != 0 {
		t.Errorf("mesh off: args %q, UDP ports %v; want --liveness-port=0 and none", args, udp(ports))
	}
	args, ports = speaker(map[string]any{"speaker": map[string]any{
		"liveness": map[string]any{"port": 3790, "interval": "50ms", "multiplier": 5, "startHold": "0s"},
		"l2":       map[string]any{"exclude": []any{"cali*", "veth*"}},
		"bgp":      map[string]any{"gracefulRestart": map[string]any{"restartTime": "90s"}},
	}})
	for _, want := range []string{"--liveness-port=3790", "--liveness-interval=50ms", "--liveness-multiplier=5", "--liveness-start-hold=0s",
		"--l2-exclude=cali*", "--l2-exclude=veth*", "--graceful-restart-time=90s"} {
		if !slices.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
	if got := udp(ports); !slices.Equal(got, []int32{3790, 3791}) {
		t.Errorf("UDP ports %v, want 3790 and 3791", got)
	}
}

// The speakers' NetworkPolicy, when asked for, admits both ports of the
// liveness mesh (from livenessFrom) and BFD; it is off by default, also
// when the controller's is on.
func TestSpeakerNetworkPolicy(t *testing.T) {
	if np := render(t, Options{Values: map[string]any{"networkPolicy": map[string]any{"enabled": true}}}).Find("NetworkPolicy", "herald-speaker"); np != nil {
		t.Fatal("the speakers' NetworkPolicy is rendered without networkPolicy.speaker.enabled")
	}
	from := []any{map[string]any{"ipBlock": map[string]any{"cidr": "192.0.2.0/24"}}}
	r := render(t, Options{Values: map[string]any{
		"networkPolicy": map[string]any{"speaker": map[string]any{"enabled": true, "livenessFrom": from}},
		"speaker":       map[string]any{"liveness": map[string]any{"port": 4800}},
	}})
	np := convert[networkingv1.NetworkPolicy](t, r.Find("NetworkPolicy", "herald-speaker"))
	admitted := map[int32][]networkingv1.NetworkPolicyPeer{}
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			if p.Protocol != nil && *p.Protocol == corev1.ProtocolUDP && p.Port != nil {
				admitted[p.Port.IntVal] = rule.From
			}
		}
	}
	for _, port := range []int32{4800, 4801, 3784, 3785, 4784} {
		if _, ok := admitted[port]; !ok {
			t.Errorf("UDP %d not admitted: %v", port, admitted)
		}
	}
	if f := admitted[4801]; len(f) != 1 || f[0].IPBlock == nil || f[0].IPBlock.CIDR != "192.0.2.0/24" {
		t.Errorf("the statuses' port admits %v, want livenessFrom", f)
	}
}

// What each ServiceAccount may do, read from the rendered rules: the least
// privilege test on the API server (testbed/e2e) checks the same on real
// requests.
func TestRBACRules(t *testing.T) {
	r := render(t, Options{})
	allowed := func(kind, name, group, resource, verb string) bool {
		var rules []rbacv1.PolicyRule
		if kind == "ClusterRole" {
			rules = convert[rbacv1.ClusterRole](t, r.Find(kind, name)).Rules
		} else {
			rules = convert[rbacv1.Role](t, r.Find(kind, name)).Rules
		}
		for _, rule := range rules {
			if slices.Contains(rule.APIGroups, group) && slices.Contains(rule.Resources, resource) && slices.Contains(rule.Verbs, verb) && len(rule.ResourceNames) == 0 {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		kind, name, group, resource, verb string
		want                              bool
	}{
		{"ClusterRole", "herald-speaker", "", "services", "list", true},
		{"ClusterRole", "herald-speaker", "", "services", "update", false},
		{"ClusterRole", "herald-speaker", "", "services", "patch", false},
		{"ClusterRole", "herald-speaker", "", "services/status", "update", false},
		{"ClusterRole", "herald-speaker", "", "secrets", "get", false},
		{"Role", "herald-speaker", "", "secrets", "get", true},
		{"Role", "herald-speaker", "metallb.io", "configurationstates", "watch", true}, // the liveness mesh's members
		{"ClusterRole", "herald-controller", "", "services/status", "update", true},
		{"ClusterRole", "herald-controller", "", "services", "patch", true},
		{"ClusterRole", "herald-controller", "discovery.k8s.io", "endpointslices", "create", false},
		{"ClusterRole", "herald-controller", "discovery.k8s.io", "endpointslices", "update", false},
		{"ClusterRole", "herald-controller", "", "secrets", "get", false},
		{"ClusterRole", "herald-controller", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "update", false},
		{"Role", "herald-controller", "", "secrets", "update", false}, // only its own, by name
	} {
		if got := allowed(c.kind, c.name, c.group, c.resource, c.verb); got != c.want {
			t.Errorf("%s %s: %s %s/%s allowed %v, want %v", c.kind, c.name, c.verb, c.group, c.resource, got, c.want)
		}
	}
}

// The rendered CRDs are the generated ones (charts/herald/crds) with the
// chart's metadata and conversion None; crds.enabled and crds.keep do what
// they say.
func TestCRDs(t *testing.T) {
	dir, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "crds", "*.yaml"))
	want := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var crd apiextensionsv1.CustomResourceDefinition
		if err := yaml.UnmarshalStrict(b, &crd); err != nil {
			t.Fatal(err)
		}
		want[crd.Name] = &crd
	}
	if len(want) == 0 {
		t.Fatal("no CRDs in crds/")
	}
	r := render(t, Options{})
	got := r.Select(Kinds("CustomResourceDefinition"))
	if len(got) != len(want) {
		t.Errorf("%d CRDs rendered, %d in crds/", len(got), len(want))
	}
	for _, u := range got {
		crd := convert[apiextensionsv1.CustomResourceDefinition](t, u)
		w, ok := want[crd.Name]
		if !ok {
			t.Errorf("rendered CRD %s is not in crds/", crd.Name)
			continue
		}
		if crd.Spec.Conversion == nil || crd.Spec.Conversion.Strategy != apiextensionsv1.NoneConverter || crd.Spec.Conversion.Webhook != nil {
			t.Errorf("%s: conversion %+v, want strategy None", crd.Name, crd.Spec.Conversion)
		}
		crd.Spec.Conversion = nil
		if diff := cmp.Diff(w.Spec, crd.Spec); diff != "" {
			t.Errorf("%s: spec differs from crds/ (make generate?) (-crds/ +chart):\n%s", crd.Name, diff)
		}
		if crd.Annotations["helm.sh/resource-policy"] != "keep" || crd.Labels["app.kubernetes.io/part-of"] != "herald" {
			t.Errorf("%s: annotations %v labels %v", crd.Name, crd.Annotations, crd.Labels)
		}
	}
	for _, u := range render(t, Options{Values: map[string]any{"crds": map[string]any{"keep": false}}}).Select(Kinds("CustomResourceDefinition")) {
		if _, ok := u.GetAnnotations()["helm.sh/resource-policy"]; ok {
			t.Errorf("%s: keep policy with crds.keep false", u.GetName())
		}
	}
	if n := len(render(t, Options{Values: map[string]any{"crds": map[string]any{"enabled": false}}}).Select(Kinds("CustomResourceDefinition"))); n != 0 {
		t.Errorf("%d CRDs with crds.enabled false", n)
	}
}

// files/alerts.yaml may be a PrometheusRule, a rule file or a list of
// groups; files/dashboard.json goes into the ConfigMap as it is; without
// the files the options render nothing.
func TestMonitoringFiles(t *testing.T) {
	on := map[string]any{"metrics": map[string]any{
		"prometheusRule":   map[string]any{"enabled": true},
		"grafanaDashboard": map[string]any{"enabled": true},
	}}
	without := map[string][]byte{"files/alerts.yaml": nil, "files/dashboard.json": nil}
	if r := render(t, Options{Values: on, Files: without}); len(r.Select(Kinds("PrometheusRule", "ConfigMap"))) != 0 {
		t.Error("a PrometheusRule or ConfigMap rendered without files/alerts.yaml and files/dashboard.json")
	}
	group := `{name: herald, rules: [{alert: HeraldDown, expr: 'up{job="speaker"} == 0', annotations: {summary: "{{ $labels.instance }} is down"}}]}`
	dashboard := []byte(`{"title": "Herald", "panels": []}`)
	for name, alerts := range map[string]string{
		"rule file":      "groups: [" + group + "]",
		"PrometheusRule": "apiVersion: monitoring.coreos.com/v1\nkind: PrometheusRule\nspec: {groups: [" + group + "]}",
		"list of groups": "- " + group,
	} {
		t.Run(name, func(t *testing.T) {
			r := render(t, Options{Values: on, Files: map[string][]byte{"files/alerts.yaml": []byte(alerts), "files/dashboard.json": dashboard}})
			rule := r.Find("PrometheusRule", "herald")
			if rule == nil {
				t.Fatal("no PrometheusRule")
			}
			groups, _, _ := unstructured.NestedSlice(rule.Object, "spec", "groups")
			b, _ := json.Marshal(groups)
			if !strings.Contains(string(b), `"alert":"HeraldDown"`) || !strings.Contains(string(b), `{{ $labels.instance }} is down`) {
				t.Errorf("groups %s, want HeraldDown with Prometheus's own template untouched", b)
			}
			cm := r.Find("ConfigMap", "herald-dashboard")
			if cm == nil {
				t.Fatal("no dashboard ConfigMap")
			}
			if got, _, _ := unstructured.NestedString(cm.Object, "data", "herald.json"); got != string(dashboard) {
				t.Errorf("dashboard %q, want the file as it is", got)
			}
			if cm.GetLabels()["grafana_dashboard"] != "1" {
				t.Errorf("labels %v lack grafana_dashboard", cm.GetLabels())
			}
		})
	}
}

// values.schema.json refuses misspelt and out-of-range values; the
// templates refuse what the schema cannot say.
func TestValuesRefused(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"misspelt key":               {"speaker": map[string]any{"bgp": map[string]any{"listenport": 179}}},
		"port out of range":          {"speaker": map[string]any{"metrics": map[string]any{"port": 70000}}},
		"not an OTEL variable":       {"otel": map[string]any{"env": map[string]any{"HTTP_PROXY": "x"}}},
		"bad liveness interval":      {"speaker": map[string]any{"liveness": map[string]any{"interval": "fast"}}},
		"liveness port 65535":        {"speaker": map[string]any{"liveness": map[string]any{"port": 65535}}},
		"bad log level":              {"logLevel": "verbose"},
		"TLS without a Secret":       {"controller": map[string]any{"metrics": map[string]any{"tls": map[string]any{"enabled": true}}}},
		"ServiceMonitor w/o Service": {"metrics": map[string]any{"services": map[string]any{"enabled": false}, "serviceMonitor": map[string]any{"enabled": true}}},
		"existing account w/o name":  {"speaker": map[string]any{"serviceAccount": map[string]any{"create": false}}},
	} {
		if _, err := Render(Options{Values: values}); err == nil {
			t.Errorf("%s: rendered without an error", name)
		}
	}
}

// Every option in ci/all-on-values.yaml renders, and each optional kind
// appears.
func TestAllOn(t *testing.T) {
	b, err := ChartFile("ci/all-on-values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	r := render(t, Options{Values: values})
	kinds := map[string]int{}
	for _, o := range r.Objects {
		kinds[o.GetKind()]++
		want := "lb"
		if o.GetKind() == "ConfigMap" && strings.HasSuffix(o.GetName(), "-dashboard") {
			// The dashboard goes where Grafana's sidecar looks:
			// metrics.grafanaDashboard.namespace, monitoring here.
			want = "monitoring"
		}
		if o.GetNamespace() != "" && o.GetNamespace() != want {
			t.Errorf("%s %s in %s, want %s", o.GetKind(), o.GetName(), o.GetNamespace(), want)
		}
	}
	for _, k := range []string{"ServiceMonitor", "PodMonitor", "NetworkPolicy"} {
		if kinds[k] == 0 {
			t.Errorf("no %s with every option on (%v)", k, slices.Sorted(maps.Keys(kinds)))
		}
	}
	env := convert[appsv1.Deployment](t, r.Find("Deployment", "herald-controller")).Spec.Template.Spec.Containers[0].Env
	var names []string
	for _, e := range env {
		names = append(names, e.Name)
	}
	sort.Strings(names)
	for _, want := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME", "POD_NAME", "GOMAXPROCS"} {
		if !slices.Contains(names, want) {
			t.Errorf("controller env %v lacks %s", names, want)
		}
	}
}

// RBACYAML is a Namespace and the RBAC, nothing else.
func TestRBACYAML(t *testing.T) {
	b, err := RBACYAML(nil)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, doc := range strings.Split(string(b), "---\n") {
		var m struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatal(err)
		}
		if m.Kind != "" {
			kinds = append(kinds, m.Kind)
		}
	}
	if kinds[0] != "Namespace" {
		t.Errorf("first %s, want the Namespace", kinds[0])
	}
	for _, k := range kinds[1:] {
		if !slices.Contains([]string{"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}, k) {
			t.Errorf("RBACYAML holds a %s", k)
		}
	}
	if len(kinds) != 11 { // the Namespace, 2 accounts, 2 roles, 2 cluster roles, 4 bindings
		t.Errorf("%d objects: %v", len(kinds), kinds)
	}
}
