package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/testbed/chart"
	"github.com/heraldlb/herald/testbed/kube"
	"github.com/heraldlb/herald/webhook"
)

// newHelm returns the pinned helm, working against cp as its admin.
func newHelm(t *testing.T, cp *kube.ControlPlane) chart.HelmCLI {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute)
	defer cancel()
	bin, err := chart.Helm(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return chart.HelmCLI{Bin: bin, Kubeconfig: cp.AdminKubeconfig(), Home: t.TempDir()}
}

// leftovers lists what a Herald release leaves cluster-wide: its webhook
// configuration, its ClusterRoles and bindings, and the metallb.io CRDs.
func leftovers(t *testing.T, admin kubernetes.Interface, ext apiextensionsclient.Interface) (webhooks, roles, crds []string) {
	t.Helper()
	ctx := t.Context()
	vwcs, err := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vwcs.Items {
		webhooks = append(webhooks, v.Name)
	}
	crs, err := admin.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range crs.Items {
		if strings.HasPrefix(r.Name, "herald") {
			roles = append(roles, "ClusterRole "+r.Name)
		}
	}
	crbs, err := admin.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range crbs.Items {
		if strings.HasPrefix(b.Name, "herald") {
			roles = append(roles, "ClusterRoleBinding "+b.Name)
		}
	}
	list, err := ext.ApiextensionsV1().CustomResourceDefinitions().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range list.Items {
		if c.Spec.Group == "metallb.io" {
			crds = append(crds, c.Name)
		}
	}
	return webhooks, roles, crds
}

// helm uninstall, as docs/install.md says: by default it removes the
// webhook configuration and the ClusterRoles but keeps the CRDs (and so
// the configuration), and no webhook is left refusing writes; asked to
// remove the CRDs (an upgrade with crds.keep=false first), it leaves no
// webhook configuration, ClusterRole or CRD behind.
func TestChartUninstall(t *testing.T) {
	cp := kube.StartForTest(t, kube.Options{})
	ctx := t.Context()
	admin, err := kubernetes.NewForConfig(cp.AdminRESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	ext, err := apiextensionsclient.NewForConfig(cp.AdminRESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	mlb, err := versioned.NewForConfig(cp.AdminRESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	helm := newHelm(t, cp)
	dir, err := chart.Dir()
	if err != nil {
		t.Fatal(err)
	}
	ns := chart.Namespace
	install := func(extra ...string) {
		t.Helper()
		out, err := helm.Run(ctx, append([]string{"install", chart.ReleaseName, dir, "-n", ns, "--create-namespace"}, extra...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("helm install: %s", firstLine(out))
		webhooks, roles, crds := leftovers(t, admin, ext)
		if len(webhooks) != 1 || webhooks[0] != webhook.DefaultConfigurationName || len(roles) != 4 || len(crds) != 10 {
			t.Fatalf("after install: webhook configurations %v, roles %v, %d CRDs; want the chart's", webhooks, roles, len(crds))
		}
	}

	install()
	if _, err := helm.Run(ctx, "uninstall", chart.ReleaseName, "-n", ns); err != nil {
		t.Fatal(err)
	}
	webhooks, roles, crds := leftovers(t, admin, ext)
	if len(webhooks) != 0 || len(roles) != 0 {
		t.Errorf("after a plain uninstall: webhook configurations %v, roles %v; want none", webhooks, roles)
	}
	if len(crds) != 10 {
		t.Errorf("after a plain uninstall: CRDs %v, want all 10 kept (crds.keep)", crds)
	}
	// Nothing is left to refuse a write: the configuration can still be
	// edited (or exported) with the CRDs kept.
	eventually(t, 30*time.Second, "an IPAddressPool can be written with Herald gone", func() (bool, string) {
		_, err := mlb.MetallbV1beta1().IPAddressPools(ns).Create(ctx, &v1beta1.IPAddressPool{
			ObjectMeta: metav1.ObjectMeta{Name: "after"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.125.0.0/30"}}},
			metav1.CreateOptions{})
		return err == nil, errString(err)
	})

	// Installed again, the release takes the kept CRDs back; then asked
	// to remove them.
	install()
	if _, err := helm.Run(ctx, "upgrade", chart.ReleaseName, dir, "-n", ns, "--reuse-values", "--set", "crds.keep=false"); err != nil {
		t.Fatal(err)
	}
	if _, err := helm.Run(ctx, "uninstall", chart.ReleaseName, "-n", ns); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "no webhook configuration, ClusterRole or CRD left", func() (bool, string) {
		webhooks, roles, crds := leftovers(t, admin, ext)
		return len(webhooks)+len(roles)+len(crds) == 0, fmt.Sprintf("webhook configurations %v, roles %v, CRDs %v", webhooks, roles, crds)
	})
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
