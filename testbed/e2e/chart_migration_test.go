package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/informers"
	"github.com/heraldlb/herald/testbed/chart"
	"github.com/heraldlb/herald/testbed/labtest"
	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
	"github.com/heraldlb/herald/webhook"
)

// metallbVersion is the MetalLB release whose CRDs the migration starts
// from (its Go module, go.universe.tf/metallb, carries them in
// config/crd, as its manifests and kustomization install them).
const metallbVersion = "v0.15.2"

// metallbCRDs returns MetalLB's CRDs as its own installation leaves them:
// config/crd/bases, with the conversion webhook its kustomization patches
// into the BGPPeer CRD (it points at metallb-webhook-service).
func metallbCRDs(t *testing.T) []*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	tmp := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "go", "mod", "download", "-json", "go.universe.tf/metallb@"+metallbVersion)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	_ = json.Unmarshal(out, &info)
	if err != nil || info.Dir == "" {
		t.Fatalf("go mod download go.universe.tf/metallb@%s: %v %s", metallbVersion, err, info.Error)
	}
	files, _ := filepath.Glob(filepath.Join(info.Dir, "config", "crd", "bases", "metallb.io_*.yaml"))
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(b, crd); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if crd.Name == "bgppeers.metallb.io" {
			crd.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{
				Strategy: apiextensionsv1.WebhookConverter,
				Webhook: &apiextensionsv1.WebhookConversion{
					ConversionReviewVersions: []string{"v1beta1", "v1beta2"},
					ClientConfig: &apiextensionsv1.WebhookClientConfig{Service: &apiextensionsv1.ServiceReference{
						Namespace: "metallb-system", Name: "metallb-webhook-service", Path: ptr.To("/convert")}},
				},
			}
		}
		crds = append(crds, crd)
	}
	if len(crds) < 6 {
		t.Fatalf("%d MetalLB CRDs in %s", len(crds), info.Dir)
	}
	return crds
}

// installMetallbCRDs makes the lab's CRDs MetalLB's: each metallb.io CRD
// MetalLB has is replaced by MetalLB's own, and those it lacks are
// removed.
func installMetallbCRDs(t *testing.T, ext apiextensionsclient.Interface) {
	t.Helper()
	ctx := t.Context()
	api := ext.ApiextensionsV1().CustomResourceDefinitions()
	theirs := metallbCRDs(t)
	names := map[string]bool{}
	for _, crd := range theirs {
		names[crd.Name] = true
		cur, err := api.Get(ctx, crd.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = api.Create(ctx, crd, metav1.CreateOptions{})
		case err == nil:
			crd.ResourceVersion = cur.ResourceVersion
			_, err = api.Update(ctx, crd, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Fatalf("MetalLB's CRD %s: %v", crd.Name, err)
		}
	}
	list, err := api.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range list.Items {
		if crd.Spec.Group == "metallb.io" && !names[crd.Name] {
			if err := api.Delete(ctx, crd.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			eventually(t, time.Minute, "CRD "+crd.Name+" gone", func() (bool, string) {
				_, err := api.Get(ctx, crd.Name, metav1.GetOptions{})
				return apierrors.IsNotFound(err), errString(err)
			})
		}
	}
}

// metallbWebhook is MetalLB's validating webhook configuration as its
// manifests name it, pointing at its webhook Service.
func metallbWebhook() *admissionregistrationv1.ValidatingWebhookConfiguration {
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "metallb-webhook-configuration"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "ipaddresspoolvalidationwebhook.metallb.io",
			AdmissionReviewVersions: []string{"v1"},
			ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
				Namespace: "metallb-system", Name: "metallb-webhook-service", Path: ptr.To("/validate-metallb-io-v1beta1-ipaddresspool")}},
			FailurePolicy: &fail,
			SideEffects:   &none,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"metallb.io"}, APIVersions: []string{"v1beta1"}, Resources: []string{"ipaddresspools"}},
			}},
		}},
	}
}

// The move from MetalLB, in the order docs/install.md gives, on a lab
// that holds what a cluster running MetalLB holds: MetalLB's CRDs (its
// BGPPeer CRD converting through MetalLB's webhook), its configuration
// objects as its documentation writes them, its webhook configuration, and
// Services whose IPs MetalLB's controller wrote (status.loadBalancer and
// the ip-allocated-from-pool annotation, in one status update, as it
// writes them). The IPs are not the ones Herald would choose for new
// Services (not the lowest of the pool, in no order), so a Herald that
// allocated instead of restoring would move them. Installing Herald with
// Helm (which takes MetalLB's CRDs over) and running its controller and
// speakers from the chart changes no IP or annotation, keeps every
// configuration object, and each Service is announced at the router by
// both nodes and answers through it.
func TestMigrationFromMetalLB(t *testing.T) {
	bin := buildHerald(t)
	env := labtest.Start(t, labtest.Options{Nodes: 2, Router: "frr", RouterASN: bgpRouterASN, ControlPlane: true,
		Neighbors: func(lab *netlab.Lab) []routers.Neighbor {
			return []routers.Neighbor{{Address: lab.Nodes[0].LAN4, ASN: bgpNodeASN}, {Address: lab.Nodes[1].LAN4, ASN: bgpNodeASN}}
		}})
	l := &speakerLab{t: t, env: env, lab: env.Lab, cp: env.ControlPlane, router: env.Router, bin: bin, speakers: map[string]*heraldProc{}}
	ctx := t.Context()
	var err error
	if l.admin, err = kubernetes.NewForConfig(l.cp.AdminRESTConfig()); err != nil {
		t.Fatal(err)
	}
	if l.mlb, err = versioned.NewForConfig(l.cp.AdminRESTConfig()); err != nil {
		t.Fatal(err)
	}
	ext, err := apiextensionsclient.NewForConfig(l.cp.AdminRESTConfig())
	if err != nil {
		t.Fatal(err)
	}

	// The cluster as MetalLB left it. The configuration is written before
	// MetalLB's CRDs replace the lab's: this API server (1.37) refuses to
	// validate a BGPPeer against MetalLB v0.15.2's BGPPeer CRD, whose ASN
	// fields say format int32 with a maximum of 4294967295 ("Maximum
	// boundary value must be of type integer with format int32"); objects
	// already stored are kept when a CRD is replaced, as in a cluster where
	// MetalLB wrote them under an older API server.
	if _, err := l.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: herald}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range l.lab.Nodes {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: map[string]string{"kubernetes.io/hostname": n.Name}},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.LAN4.String()}}}}
		if _, err := l.admin.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	configuration := fmt.Sprintf(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: bgp-pool
  namespace: metallb-system
spec:
  addresses:
  - %[1]s
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: router
  namespace: metallb-system
spec:
  myASN: %[2]d
  peerASN: %[3]d
  peerAddress: %[4]s
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: bgp
  namespace: metallb-system
spec:
  ipAddressPools:
  - bgp-pool
`, l.lab.BGPPool4, bgpNodeASN, bgpRouterASN, l.lab.Router.LAN4)
	l.apply(configuration)
	specsBefore := metallbSpecs(t, l)
	installMetallbCRDs(t, ext)
	if got := metallbSpecs(t, l); !bytes.Equal(got, specsBefore) {
		t.Fatalf("the configuration changed with MetalLB's CRDs:\nbefore %s\nafter  %s", specsBefore, got)
	}
	if _, err := l.admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, metallbWebhook(), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ips := map[string]netip.Addr{}
	for i, offset := range []int{17, 9, 33} {
		name := fmt.Sprintf("svc%d", i+1)
		ip := l.lab.BGPPool4.Addr()
		for range offset {
			ip = ip.Next()
		}
		ips[name] = ip
		if _, err := l.admin.CoreV1().Services("default").Create(ctx, lbService("default", name, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		writeAsMetalLB(t, l.admin, name, ip, "bgp-pool")
		l.endpoints(name, "node1", "node2")
		for _, n := range l.lab.Nodes {
			b, err := l.lab.StartBackend(ctx, n.Name, netip.AddrPortFrom(ip, 80))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = b.Close() })
		}
	}
	before := serviceStates(t, l.admin, ips)

	// docs/install.md, "Moving from MetalLB". 1: MetalLB's webhook goes
	// first (its controller is stopping; the lab has none running).
	if err := l.admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, "metallb-webhook-configuration", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// 2: MetalLB's BGPPeer CRD stops calling MetalLB's conversion webhook
	// (Helm's patch of an adopted CRD would keep its webhook fields, which
	// the API server refuses next to strategy None), and Helm takes
	// MetalLB's CRDs over: they are marked as the release's.
	noConversion := []byte(`[{"op":"replace","path":"/spec/conversion","value":{"strategy":"None"}}]`)
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Patch(ctx, "bgppeers.metallb.io", types.JSONPatchType, noConversion, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	crds, err := ext.ApiextensionsV1().CustomResourceDefinitions().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range crds.Items {
		if crd.Spec.Group != "metallb.io" {
			continue
		}
		patch := fmt.Sprintf(`{"metadata":{"labels":{"app.kubernetes.io/managed-by":"Helm"},"annotations":{"meta.helm.sh/release-name":%q,"meta.helm.sh/release-namespace":%q}}}`,
			chart.ReleaseName, chart.Namespace)
		if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Patch(ctx, crd.Name, "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// 3: helm install.
	helm := newHelm(t, l.cp)
	dir, err := chart.Dir()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := helm.Run(ctx, "install", chart.ReleaseName, dir, "-n", chart.Namespace); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("helm install: %s", firstLine(out))
	}
	peers, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "bgppeers.metallb.io", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := peers.Spec.Conversion; c == nil || c.Strategy != apiextensionsv1.NoneConverter || c.Webhook != nil {
		t.Errorf("BGPPeer CRD conversion after the install: %+v; want None, with MetalLB's webhook gone", c)
	}
	if got := metallbSpecs(t, l); !bytes.Equal(got, specsBefore) {
		t.Errorf("the configuration changed with the CRDs:\nbefore %s\nafter  %s", specsBefore, got)
	}

	// The chart's pods, as the lab runs them: the controller and one
	// speaker per node with the chart's args, under its accounts.
	r := renderChart(t, nil)
	kc, err := l.cp.KubeconfigFor(ctx, chart.Namespace, "herald-controller")
	if err != nil {
		t.Fatal(err)
	}
	ctrl := startChartController(t, bin, kc, chartArgs(t, r, "Deployment", "herald-controller", "controller"), "migrate-1")
	pointWebhookAt(t, l.admin, webhook.DefaultConfigurationName, ctrl.webhookAddr)
	ctrl.waitReady(t)
	speakerArgs := chartArgs(t, r, "DaemonSet", "herald-speaker", "speaker")
	for _, n := range l.lab.Nodes {
		l.startSpeaker(n, speakerArgs...)
	}

	for name, ip := range ips {
		prefix := netip.PrefixFrom(ip, 32)
		l.route(prefix, name+"'s route from both nodes", func(r routers.Route, ok bool) bool {
			if !ok || len(r.Paths) != 2 {
				return false
			}
			var hops []netip.Addr
			for _, p := range r.Paths {
				hops = append(hops, p.NextHop)
			}
			return slices.Contains(hops, l.lab.Nodes[0].LAN4) && slices.Contains(hops, l.lab.Nodes[1].LAN4)
		})
		eventually(t, 30*time.Second, "the client reaches "+name+" at "+ip.String(), func() (bool, string) {
			body, err := l.get(ip)
			if err != nil {
				return false, err.Error()
			}
			return body == "node1" || body == "node2", body
		})
	}
	// And nothing moved, then or since.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		if after := serviceStates(t, l.admin, ips); after != before {
			t.Fatalf("a Service changed:\nbefore %s\nafter  %s", before, after)
		}
	}
	if got := metallbSpecs(t, l); !bytes.Equal(got, specsBefore) {
		t.Errorf("the configuration changed:\nbefore %s\nafter  %s", specsBefore, got)
	}
}

// writeAsMetalLB writes what MetalLB's controller writes for an allocated
// Service: the ingress IP and the pool annotation together, in one update
// of the status subresource (the API server keeps metadata changes made
// through it).
func writeAsMetalLB(t *testing.T, admin kubernetes.Interface, name string, ip netip.Addr, pool string) {
	t.Helper()
	s, err := admin.CoreV1().Services("default").Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip.String()}}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[informers.AnnotationAllocatedFromPool] = pool
	got, err := admin.CoreV1().Services("default").UpdateStatus(t.Context(), s, metav1.UpdateOptions{FieldManager: "controller"})
	if err != nil {
		t.Fatal(err)
	}
	if ingress(got) != ip.String() || got.Annotations[informers.AnnotationAllocatedFromPool] != pool {
		t.Fatalf("%s as MetalLB writes it: ingress %q annotations %v", name, ingress(got), got.Annotations)
	}
}

// serviceStates is each Service's ingress and pool annotation, in name
// order, and fails if one is not the IP MetalLB gave it.
func serviceStates(t *testing.T, admin kubernetes.Interface, ips map[string]netip.Addr) string {
	t.Helper()
	var names []string
	for n := range ips {
		names = append(names, n)
	}
	slices.Sort(names)
	var b bytes.Buffer
	for _, n := range names {
		s, err := admin.CoreV1().Services("default").Get(t.Context(), n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ingress(s) != ips[n].String() {
			t.Fatalf("%s: ingress %q, MetalLB gave it %s", n, ingress(s), ips[n])
		}
		fmt.Fprintf(&b, "%s=%s(%s) ", n, ingress(s), s.Annotations[informers.AnnotationAllocatedFromPool])
	}
	return b.String()
}

// metallbSpecs is the spec of every configuration object, to compare
// before and after.
func metallbSpecs(t *testing.T, l *speakerLab) []byte {
	t.Helper()
	ctx := t.Context()
	pools, err := l.mlb.MetallbV1beta1().IPAddressPools(herald).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	peers, err := l.mlb.MetallbV1beta2().BGPPeers(herald).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	advs, err := l.mlb.MetallbV1beta1().BGPAdvertisements(herald).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pools.Items) != 1 || len(peers.Items) != 1 || len(advs.Items) != 1 {
		t.Fatalf("%d pools, %d peers, %d advertisements; want one each", len(pools.Items), len(peers.Items), len(advs.Items))
	}
	b, err := json.Marshal([]any{pools.Items[0].Spec, peers.Items[0].Spec, advs.Items[0].Spec})
	if err != nil {
		t.Fatal(err)
	}
	return b
}
