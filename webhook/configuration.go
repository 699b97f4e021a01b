package webhook

import (
	"bytes"
	"context"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	admissionregistrationclient "k8s.io/client-go/kubernetes/typed/admissionregistration/v1"
	"k8s.io/client-go/util/retry"
)

// DefaultConfigurationName is the ValidatingWebhookConfiguration the chart
// installs (charts/herald/templates/webhook.yaml).
const DefaultConfigurationName = "herald-validating-webhook"

// TimeoutSeconds bounds one review. Compiling a configuration takes
// milliseconds; the rest of the budget covers the LISTs of Options.Live.
const TimeoutSeconds = 10

// resource is one kind the webhook validates.
type resource struct {
	plural   string
	versions []string
}

// resources is every metallb.io kind of the configuration, with every
// served version. Status kinds (ConfigurationState, Service*Status) are
// written by Herald itself and are not validated.
var resources = []resource{
	{"ipaddresspools", []string{"v1beta1"}},
	{"l2advertisements", []string{"v1beta1"}},
	{"bgpadvertisements", []string{"v1beta1"}},
	{"bgppeers", []string{"v1beta1", "v1beta2"}},
	{"bfdprofiles", []string{"v1beta1"}},
	{"communities", []string{"v1beta1"}},
}

// ServiceClientConfig points the API server at the webhook's Service, as
// in a cluster. caBundle is left for the controller to inject.
func ServiceClientConfig(namespace, service string, port int32) admissionregistrationv1.WebhookClientConfig {
	path := Path
	return admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{
		Namespace: namespace, Name: service, Path: &path, Port: &port,
	}}
}

// URLClientConfig points the API server at a URL ("https://127.0.0.1:9443"),
// for a lab where the API server reaches the webhook on loopback. Path is
// appended.
func URLClientConfig(base string) admissionregistrationv1.WebhookClientConfig {
	u := base + Path
	return admissionregistrationv1.WebhookClientConfig{URL: &u}
}

// NewConfiguration builds the ValidatingWebhookConfiguration: one webhook per
// kind, all sending CREATE, UPDATE and DELETE of every served version to
// client.
//
// failurePolicy Fail: an unvalidated configuration can take addresses or
// routes away from working Services, so a write waits for the webhook rather
// than skip it. matchPolicy Equivalent: a request at a version not listed
// is converted and still validated. sideEffects None: reviews only read, so
// dry-run requests are reviewed too.
func NewConfiguration(name string, client admissionregistrationv1.WebhookClientConfig) *admissionregistrationv1.ValidatingWebhookConfiguration {
	fail := admissionregistrationv1.Fail
	equivalent := admissionregistrationv1.Equivalent
	none := admissionregistrationv1.SideEffectClassNone
	scope := admissionregistrationv1.NamespacedScope
	timeout := int32(TimeoutSeconds)
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
	for _, r := range resources {
		cc := *client.DeepCopy()
		vwc.Webhooks = append(vwc.Webhooks, admissionregistrationv1.ValidatingWebhook{
			Name:         r.plural + ".validation.metallb.io",
			ClientConfig: cc,
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{
					admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete,
				},
				Rule: admissionregistrationv1.Rule{
					APIGroups:   []string{Group},
					APIVersions: append([]string(nil), r.versions...),
					Resources:   []string{r.plural},
					Scope:       &scope,
				},
			}},
			FailurePolicy:           &fail,
			MatchPolicy:             &equivalent,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
		})
	}
	return vwc
}

// InjectCABundle sets caBundle on every webhook of the named configuration
// and reports whether anything changed. It retries on conflict, since both
// replicas inject and the chart may be upgraded meanwhile.
func InjectCABundle(ctx context.Context, client admissionregistrationclient.ValidatingWebhookConfigurationInterface, name string, bundle []byte) (bool, error) {
	changed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		changed = false
		vwc, err := client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		vwc = vwc.DeepCopy()
		for i := range vwc.Webhooks {
			if !bytes.Equal(vwc.Webhooks[i].ClientConfig.CABundle, bundle) {
				vwc.Webhooks[i].ClientConfig.CABundle = bundle
				changed = true
			}
		}
		if !changed {
			return nil
		}
		_, err = client.Update(ctx, vwc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return false, fmt.Errorf("injecting caBundle into ValidatingWebhookConfiguration %s: %w", name, err)
	}
	return changed, nil
}
