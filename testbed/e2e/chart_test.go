package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/heraldlb/herald/actors/controller"
	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/testbed/chart"
	"github.com/heraldlb/herald/testbed/internal/logtail"
	"github.com/heraldlb/herald/testbed/kube"
	"github.com/heraldlb/herald/webhook"
)

// chartRBAC is the chart's ServiceAccounts and RBAC rendered with its
// default values, after the metallb-system Namespace: what the lab's
// harnesses run Herald under.
func chartRBAC(t *testing.T) []byte {
	t.Helper()
	b, err := chart.RBACYAML(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// renderChart renders the chart with values (nil: the defaults) for the
// release herald in metallb-system.
func renderChart(t *testing.T, values map[string]any) *chart.Rendered {
	t.Helper()
	r, err := chart.Render(chart.Options{Values: values})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// chartArgs are the args the chart gives a workload's container, without
// the subcommand.
func chartArgs(t *testing.T, r *chart.Rendered, kind, name, container string) []string {
	t.Helper()
	args, err := chart.ContainerArgs(r.Find(kind, name), container)
	if err != nil {
		t.Fatal(err)
	}
	if len(args) == 0 || args[0] != container {
		t.Fatalf("%s %s: args %q do not start with the subcommand %q", kind, name, args, container)
	}
	return args[1:]
}

// startChartController runs `herald controller` with the args of the
// chart's Deployment, then what a pod gets from its surroundings and the
// lab must say on the command line: the ServiceAccount's kubeconfig (a pod
// mounts its token), an identity (a pod's name), and loopback addresses
// for metrics and the webhook (a pod has its own network; the lab shares
// the host's). pflag keeps the last value of a repeated flag, so these
// replace the chart's.
func startChartController(t *testing.T, bin, kubeconfig string, chartArgs []string, identity string) *controllerProcess {
	t.Helper()
	p := &controllerProcess{
		identity:    identity,
		metricsAddr: freeAddr(t),
		webhookAddr: freeAddr(t),
		logPath:     filepath.Join(t.TempDir(), identity+".log"),
		done:        make(chan struct{}),
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	argv := append([]string{"controller"}, chartArgs...)
	argv = append(argv, "--kubeconfig", kubeconfig, "--identity", identity,
		"--metrics-addr", p.metricsAddr, "--webhook-addr", p.webhookAddr, "--webhook-cert-ip", "127.0.0.1")
	p.cmd = exec.Command(bin, argv...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("herald controller %s (exit: %v), its output:\n%s", identity, p.err, logtail.Lines(p.logPath, 300))
		}
	})
	return p
}

// pointWebhookAt makes every webhook of the chart's configuration call
// addr instead of the chart's Service: the lab's API server cannot reach a
// Service (no kube-proxy, no pods), and the controller runs on loopback.
// Only clientConfig changes; the rules stay the chart's.
func pointWebhookAt(t *testing.T, admin kubernetes.Interface, name, addr string) {
	t.Helper()
	c := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	vwc, err := c.Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	url := webhook.URLClientConfig("https://" + addr)
	for i := range vwc.Webhooks {
		vwc.Webhooks[i].ClientConfig = *url.DeepCopy()
	}
	if _, err := c.Update(t.Context(), vwc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitCABundle waits until the controller has injected its CA into every
// webhook of the configuration.
func waitCABundle(t *testing.T, admin kubernetes.Interface, name string) {
	t.Helper()
	eventually(t, time.Minute, "the controller injects its CA into "+name, func() (bool, string) {
		vwc, err := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, w := range vwc.Webhooks {
			if len(w.ClientConfig.CABundle) == 0 {
				return false, w.Name + " has no caBundle"
			}
		}
		return true, ""
	})
}

// The chart's rendered manifests, applied to the lab's API server with
// server-side apply in Helm's install order, are accepted as they are (the
// CRDs included: the control plane starts without any), and the
// controller runs from them: with the Deployment's args (the binary accepts
// every flag the chart passes), under the chart's ServiceAccount and RBAC,
// it takes the chart's Lease, injects its CA into the chart's webhook
// configuration, keeps its certificate in the chart's Secret, refuses an
// invalid configuration through that webhook, allocates, and writes pool
// status, its ConfigurationState and Events.
func TestChartServerSideApply(t *testing.T) {
	bin := buildHerald(t)
	cp := kube.StartForTest(t, kube.Options{})
	ctx := t.Context()
	admin, err := kubernetes.NewForConfig(cp.AdminRESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	mlb, err := versioned.NewForConfig(cp.AdminRESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	r := renderChart(t, nil)
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]any{"name": chart.Namespace}}}
	manifests, err := chart.YAML(append([]*unstructured.Unstructured{ns}, r.Objects...))
	if err != nil {
		t.Fatal(err)
	}
	applied, err := cp.ApplyYAML(ctx, manifests)
	if err != nil {
		t.Fatalf("server-side apply of the rendered chart: %v", err)
	}
	if len(applied) != len(r.Objects)+1 {
		t.Fatalf("%d objects applied, the chart has %d", len(applied), len(r.Objects))
	}
	kinds := map[string]int{}
	for _, o := range applied {
		kinds[o.GetKind()]++
	}
	t.Logf("applied %v", kinds)
	eventually(t, time.Minute, "the chart's CRDs serve IPAddressPools", func() (bool, string) {
		_, err := mlb.MetallbV1beta1().IPAddressPools(chart.Namespace).List(ctx, metav1.ListOptions{})
		return err == nil, errString(err)
	})

	vwcName := webhook.DefaultConfigurationName
	if r.Find("ValidatingWebhookConfiguration", vwcName) == nil {
		t.Fatalf("the chart has no ValidatingWebhookConfiguration %s", vwcName)
	}
	args := chartArgs(t, r, "Deployment", "herald-controller", "controller")
	kc, err := cp.KubeconfigFor(ctx, chart.Namespace, "herald-controller")
	if err != nil {
		t.Fatal(err)
	}
	p := startChartController(t, bin, kc, args, "chart-1")
	pointWebhookAt(t, admin, vwcName, p.webhookAddr)
	p.waitReady(t)
	waitCABundle(t, admin, vwcName)
	if _, err := admin.CoreV1().Secrets(chart.Namespace).Get(ctx, webhook.DefaultSecretName, metav1.GetOptions{}); err != nil {
		t.Errorf("the webhook's Secret: %v", err)
	}
	eventually(t, 30*time.Second, "the chart's Lease held by chart-1", func() (bool, string) {
		lease, err := admin.CoordinationV1().Leases(chart.Namespace).Get(ctx, "herald-controller", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		h := lease.Spec.HolderIdentity
		return h != nil && *h == "chart-1", ""
	})

	pools := mlb.MetallbV1beta1().IPAddressPools(chart.Namespace)
	pool := &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "chart"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.124.0.0/29"}}}
	if _, err := pools.Create(ctx, pool, metav1.CreateOptions{}); err != nil {
		t.Fatalf("a valid pool: %v", err)
	}
	overlap := &v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: "overlap"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.124.0.4/30"}}}
	_, err = pools.Create(ctx, overlap, metav1.CreateOptions{})
	if err == nil || !strings.Contains(err.Error(), "denied the request") || !strings.Contains(err.Error(), "overlaps another address range") {
		t.Errorf("an overlapping pool: %v, want the webhook's refusal", err)
	}

	svc := lbService("default", "web", nil)
	if _, err := admin.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "web gets 10.124.0.0 and the pool annotation", func() (bool, string) {
		s, err := admin.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return ingress(s) == "10.124.0.0" && s.Annotations["metallb.io/ip-allocated-from-pool"] == "chart", ingress(s)
	})
	eventually(t, 30*time.Second, "pool status, ConfigurationState and an Event", func() (bool, string) {
		got, err := pools.Get(ctx, "chart", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if got.Status.AssignedIPv4 != 1 {
			return false, "pool status not written"
		}
		st, err := mlb.MetallbV1beta1().ConfigurationStates(chart.Namespace).Get(ctx, controller.ConfigurationStateName, metav1.GetOptions{})
		if err != nil || st.Status.Result != v1beta1.ConfigurationValid {
			return false, "ConfigurationState: " + errString(err)
		}
		evs, err := admin.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == "web" && e.Reason == "IPAllocated" {
				return true, ""
			}
		}
		return false, "no IPAllocated Event"
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// The chart's ServiceAccounts hold the least privilege, checked with real
// requests under their own tokens: a speaker reads Services but cannot
// update, patch or set the status of one, and reads Secrets in Herald's
// namespace only; the controller writes Services' status and annotation
// but cannot create, update, patch or delete an EndpointSlice, read a
// Secret elsewhere, touch another webhook configuration, or write a
// Secret or Lease other than its own. Each refusal is paired with an
// allowed request of the same account, so a test that passes because
// nothing works is impossible.
func TestChartLeastPrivilege(t *testing.T) {
	crds, err := kube.RepoCRDDir()
	if err != nil {
		t.Fatal(err)
	}
	cp := kube.StartForTest(t, kube.Options{CRDDir: crds})
	ctx := t.Context()
	admin, err := kubernetes.NewForConfig(cp.AdminRESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.ApplyYAML(ctx, chartRBAC(t)); err != nil {
		t.Fatalf("applying the chart's RBAC: %v", err)
	}
	// The chart's own webhook configuration, and someone else's.
	r := renderChart(t, nil)
	vwcYAML, err := chart.YAML(r.Select(chart.Kinds("ValidatingWebhookConfiguration")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.ApplyYAML(ctx, vwcYAML); err != nil {
		t.Fatal(err)
	}
	other := webhook.NewConfiguration("someone-elses-webhook", webhook.URLClientConfig("https://127.0.0.1:1"))
	other.Webhooks[0].FailurePolicy = ptr.To(admissionregistrationv1.Ignore)
	other.Webhooks = other.Webhooks[:1]
	other.Webhooks[0].Rules[0].Resources = []string{"nothing"}
	if _, err := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"elsewhere"} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "elsewhere", Name: "db-password"}, StringData: map[string]string{"password": "x"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: chart.Namespace, Name: "bgp-password"}, StringData: map[string]string{"password": "x"}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: chart.Namespace, Name: "not-the-webhooks"}, StringData: map[string]string{"x": "x"}},
	} {
		if _, err := admin.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.CoreV1().Services("default").Create(ctx, lbService("default", "web", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	slice := endpointSlice("default", "web-1", "web")
	if _, err := admin.DiscoveryV1().EndpointSlices("default").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	as := func(name string) kubernetes.Interface {
		cfg, err := cp.RESTConfigFor(ctx, chart.Namespace, name)
		if err != nil {
			t.Fatal(err)
		}
		c, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	asMetallb := func(name string) versioned.Interface {
		cfg, err := cp.RESTConfigFor(ctx, chart.Namespace, name)
		if err != nil {
			t.Fatal(err)
		}
		c, err := versioned.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	speaker, ctrl := as("herald-speaker"), as("herald-controller")
	speakerMLB := asMetallb("herald-speaker")
	getSvc := func() *corev1.Service {
		s, err := admin.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	mergePatch := []byte(`{"metadata":{"annotations":{"herald.test/x":"y"}}}`)
	cases := []struct {
		name    string
		allowed bool
		do      func(context.Context) error
	}{
		// The speaker.
		{"speaker lists Services", true, func(ctx context.Context) error {
			_, err := speaker.CoreV1().Services("").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"speaker updates a Service", false, func(ctx context.Context) error {
			s := getSvc()
			s.Labels = map[string]string{"x": "y"}
			_, err := speaker.CoreV1().Services("default").Update(ctx, s, metav1.UpdateOptions{})
			return err
		}},
		{"speaker patches a Service", false, func(ctx context.Context) error {
			_, err := speaker.CoreV1().Services("default").Patch(ctx, "web", types.MergePatchType, mergePatch, metav1.PatchOptions{})
			return err
		}},
		{"speaker updates a Service's status", false, func(ctx context.Context) error {
			s := getSvc()
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "10.9.9.9"}}
			_, err := speaker.CoreV1().Services("default").UpdateStatus(ctx, s, metav1.UpdateOptions{})
			return err
		}},
		{"speaker reads a Secret in Herald's namespace", true, func(ctx context.Context) error {
			_, err := speaker.CoreV1().Secrets(chart.Namespace).Get(ctx, "bgp-password", metav1.GetOptions{})
			return err
		}},
		{"speaker reads a Secret in another namespace", false, func(ctx context.Context) error {
			_, err := speaker.CoreV1().Secrets("elsewhere").Get(ctx, "db-password", metav1.GetOptions{})
			return err
		}},
		{"speaker lists Secrets cluster-wide", false, func(ctx context.Context) error {
			_, err := speaker.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"speaker lists EndpointSlices", true, func(ctx context.Context) error {
			_, err := speaker.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"speaker creates a ServiceL2Status in Herald's namespace", true, func(ctx context.Context) error {
			_, err := speakerMLB.MetallbV1beta1().ServiceL2Statuses(chart.Namespace).Create(ctx,
				&v1beta1.ServiceL2Status{ObjectMeta: metav1.ObjectMeta{Name: "l2-web"}}, metav1.CreateOptions{})
			return err
		}},
		{"speaker creates a ServiceL2Status elsewhere", false, func(ctx context.Context) error {
			_, err := speakerMLB.MetallbV1beta1().ServiceL2Statuses("elsewhere").Create(ctx,
				&v1beta1.ServiceL2Status{ObjectMeta: metav1.ObjectMeta{Name: "l2-web"}}, metav1.CreateOptions{})
			return err
		}},
		// The controller.
		{"controller patches a Service's annotation", true, func(ctx context.Context) error {
			_, err := ctrl.CoreV1().Services("default").Patch(ctx, "web", types.MergePatchType, mergePatch, metav1.PatchOptions{})
			return err
		}},
		{"controller updates a Service's status", true, func(ctx context.Context) error {
			_, err := ctrl.CoreV1().Services("default").UpdateStatus(ctx, getSvc(), metav1.UpdateOptions{})
			return err
		}},
		{"controller creates an EndpointSlice", false, func(ctx context.Context) error {
			_, err := ctrl.DiscoveryV1().EndpointSlices("default").Create(ctx, endpointSlice("default", "web-2", "web"), metav1.CreateOptions{})
			return err
		}},
		{"controller updates an EndpointSlice", false, func(ctx context.Context) error {
			es, err := admin.DiscoveryV1().EndpointSlices("default").Get(ctx, "web-1", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			es.Labels["x"] = "y"
			_, err = ctrl.DiscoveryV1().EndpointSlices("default").Update(ctx, es, metav1.UpdateOptions{})
			return err
		}},
		{"controller patches an EndpointSlice", false, func(ctx context.Context) error {
			_, err := ctrl.DiscoveryV1().EndpointSlices("default").Patch(ctx, "web-1", types.MergePatchType, mergePatch, metav1.PatchOptions{})
			return err
		}},
		{"controller deletes an EndpointSlice", false, func(ctx context.Context) error {
			return ctrl.DiscoveryV1().EndpointSlices("default").Delete(ctx, "web-1", metav1.DeleteOptions{})
		}},
		{"controller reads a Secret in another namespace", false, func(ctx context.Context) error {
			_, err := ctrl.CoreV1().Secrets("elsewhere").Get(ctx, "db-password", metav1.GetOptions{})
			return err
		}},
		{"controller reads Herald's webhook configuration", true, func(ctx context.Context) error {
			_, err := ctrl.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, webhook.DefaultConfigurationName, metav1.GetOptions{})
			return err
		}},
		{"controller updates another webhook configuration", false, func(ctx context.Context) error {
			vwc, err := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "someone-elses-webhook", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = ctrl.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, vwc, metav1.UpdateOptions{})
			return err
		}},
		{"controller deletes a Secret that is not its certificate's", false, func(ctx context.Context) error {
			return ctrl.CoreV1().Secrets(chart.Namespace).Delete(ctx, "not-the-webhooks", metav1.DeleteOptions{})
		}},
		{"controller updates another Lease", false, func(ctx context.Context) error {
			lease, err := admin.CoordinationV1().Leases(chart.Namespace).Create(ctx, leaseNamed("someone-else"), metav1.CreateOptions{})
			if err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
			if lease == nil || lease.Name == "" {
				lease, _ = admin.CoordinationV1().Leases(chart.Namespace).Get(ctx, "someone-else", metav1.GetOptions{})
			}
			_, err = ctrl.CoordinationV1().Leases(chart.Namespace).Update(ctx, lease, metav1.UpdateOptions{})
			return err
		}},
	}
	for _, c := range cases {
		err := c.do(ctx)
		switch {
		case c.allowed && err != nil:
			t.Errorf("%s: %v, want it allowed", c.name, err)
		case !c.allowed && !apierrors.IsForbidden(err):
			t.Errorf("%s: %v, want Forbidden", c.name, err)
		}
	}
}

// endpointSlice is an EndpointSlice of service with one ready endpoint.
func endpointSlice(ns, name, service string) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.5"},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
	}
}

func leaseNamed(name string) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("someone")}}
}
