package webhook

import (
	"context"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

// The chart's manifest and the constructor must describe the same object,
// or the lab would test a webhook the chart does not install.
func TestChartMatchesConstructor(t *testing.T) {
	data, err := os.ReadFile("../charts/herald/templates/webhook.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var chart admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.UnmarshalStrict(data, &chart); err != nil {
		t.Fatal(err)
	}
	want := NewConfiguration(DefaultConfigurationName, ServiceClientConfig("metallb-system", "herald-webhook", 443))
	if diff := cmp.Diff(want, &chart); diff != "" {
		t.Errorf("chart (-constructor +chart):\n%s", diff)
	}
}

func TestNewConfigurationCoversEveryKind(t *testing.T) {
	vwc := NewConfiguration("x", URLClientConfig("https://127.0.0.1:9443"))
	got := map[string][]string{}
	for _, w := range vwc.Webhooks {
		if *w.FailurePolicy != admissionregistrationv1.Fail || *w.MatchPolicy != admissionregistrationv1.Equivalent ||
			*w.SideEffects != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("%s: failurePolicy %s matchPolicy %s sideEffects %s", w.Name, *w.FailurePolicy, *w.MatchPolicy, *w.SideEffects)
		}
		if *w.ClientConfig.URL != "https://127.0.0.1:9443/validate" {
			t.Errorf("%s: url %s", w.Name, *w.ClientConfig.URL)
		}
		for _, r := range w.Rules {
			if len(r.Operations) != 3 {
				t.Errorf("%s: operations %v", w.Name, r.Operations)
			}
			for _, res := range r.Resources {
				got[res] = append(got[res], r.APIVersions...)
			}
		}
	}
	want := map[string][]string{
		"ipaddresspools": {"v1beta1"}, "l2advertisements": {"v1beta1"}, "bgpadvertisements": {"v1beta1"},
		"bgppeers": {"v1beta1", "v1beta2"}, "bfdprofiles": {"v1beta1"}, "communities": {"v1beta1"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}

func TestInjectCABundle(t *testing.T) {
	ctx := context.Background()
	kube := fake.NewClientset(NewConfiguration("vwc", ServiceClientConfig("metallb-system", "herald-webhook", 443)))
	client := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	for i, want := range []bool{true, false} {
		changed, err := InjectCABundle(ctx, client, "vwc", []byte("bundle-1"))
		if err != nil {
			t.Fatal(err)
		}
		if changed != want {
			t.Errorf("injection %d: changed %v, want %v", i, changed, want)
		}
	}
	vwc, err := client.Get(ctx, "vwc", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range vwc.Webhooks {
		if string(w.ClientConfig.CABundle) != "bundle-1" {
			t.Errorf("%s: caBundle %q", w.Name, w.ClientConfig.CABundle)
		}
	}
	if _, err := InjectCABundle(ctx, client, "missing", []byte("x")); err == nil {
		t.Error("missing configuration: no error")
	}
}
