package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
)

const secretName = "herald-webhook-cert"

func newRotator(kube *fake.Clientset, clk *clocktesting.FakeClock) *rotator {
	return &rotator{kube: kube, namespace: ns, secretName: secretName, vwcName: "vwc", spec: spec,
		clock: clk, log: slog.New(slog.DiscardHandler)}
}

func secretOf(t *testing.T, kube *fake.Clientset) *corev1.Secret {
	t.Helper()
	s, err := kube.CoreV1().Secrets(ns).Get(context.Background(), secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bundlesOf(t *testing.T, kube *fake.Clientset) [][]byte {
	t.Helper()
	vwc, err := kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(context.Background(), "vwc", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, w := range vwc.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	return out
}

func TestRotatorCreatesInjectsAndRenews(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(t0)
	kube := fake.NewClientset(NewConfiguration("vwc", ServiceClientConfig(ns, "herald-webhook", 443)))
	a, b := newRotator(kube, clk), newRotator(kube, clk)

	if err := a.sync(ctx); err != nil {
		t.Fatal(err)
	}
	sec := secretOf(t, kube)
	if sec.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type %s", sec.Type)
	}
	for _, k := range []string{SecretCACert, SecretCAKey, SecretTLSCert, SecretTLSKey} {
		if len(sec.Data[k]) == 0 {
			t.Errorf("Secret lacks %s", k)
		}
	}
	for _, bundle := range bundlesOf(t, kube) {
		if !bytes.Equal(bundle, sec.Data[SecretCACert]) {
			t.Fatal("caBundle differs from the Secret's ca.crt")
		}
	}
	served := func(r *rotator) *x509.Certificate {
		c, err := r.getCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf
	}
	first := served(a)

	// The second replica adopts the same material instead of minting its own.
	if err := b.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !served(b).Equal(first) {
		t.Fatal("second replica serves a different certificate")
	}

	// Nothing is due a day later.
	clk.Step(24 * time.Hour)
	if err := a.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !served(a).Equal(first) {
		t.Fatal("renewed too early")
	}

	// Past two thirds of the serving certificate's life: a new one from
	// the same CA, picked up by the other replica on its next pass.
	clk.Step(20 * 24 * time.Hour)
	if err := a.sync(ctx); err != nil {
		t.Fatal(err)
	}
	renewed := served(a)
	if renewed.Equal(first) {
		t.Fatal("serving certificate not renewed")
	}
	if err := b.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !served(b).Equal(renewed) {
		t.Fatal("second replica did not reload the renewed certificate")
	}

	// Past two thirds of the CA's life: a new CA, the old one still in
	// the bundle, and the bundle injected.
	clk.Step(200 * 24 * time.Hour)
	if err := a.sync(ctx); err != nil {
		t.Fatal(err)
	}
	sec = secretOf(t, kube)
	if n := strings.Count(string(sec.Data[SecretCACert]), "BEGIN CERTIFICATE"); n != 2 {
		t.Errorf("trust bundle has %d CAs after CA rotation, want 2", n)
	}
	for _, bundle := range bundlesOf(t, kube) {
		if !bytes.Equal(bundle, sec.Data[SecretCACert]) {
			t.Fatal("caBundle not updated after CA rotation")
		}
	}
}

func TestRotatorWithoutConfiguration(t *testing.T) {
	kube := fake.NewClientset()
	r := newRotator(kube, clocktesting.NewFakeClock(t0))
	if err := r.sync(context.Background()); err != nil {
		t.Fatalf("missing ValidatingWebhookConfiguration must not stop serving: %v", err)
	}
	if _, err := r.getCertificate(nil); err != nil {
		t.Fatal(err)
	}
}

func TestRotatorReplacesUnreadableSecret(t *testing.T) {
	kube := fake.NewClientset(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: ns},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{"ca.crt": []byte("garbage")},
	})
	r := newRotator(kube, clocktesting.NewFakeClock(t0))
	if err := r.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if sec := secretOf(t, kube); sec.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type %s after replacement", sec.Type)
	}
}

func TestRotatorAdoptsWinnerOnConflict(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(t0)
	kube := fake.NewClientset()
	// The other replica's material lands between this replica's GET (no
	// Secret) and its CREATE. The reactor writes through the tracker: the
	// fake's own lock is held while reactors run.
	won := mustRenew(t, t0, nil, RenewCA, spec)
	data := mustData(t, won)
	raced := false
	kube.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		if raced {
			return false, nil, nil
		}
		raced = true
		if err := kube.Tracker().Add(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: ns},
			Type: corev1.SecretTypeTLS, Data: data}); err != nil {
			t.Error(err)
		}
		return true, nil, apierrors.NewAlreadyExists(schema.GroupResource{Resource: "secrets"}, secretName)
	})
	loser := newRotator(kube, clk)
	if err := loser.sync(ctx); err != nil {
		t.Fatal(err)
	}
	l, err := loser.getCertificate(nil)
	if err != nil || !raced || !l.Leaf.Equal(won.Cert) {
		t.Fatal("loser did not adopt the winner's certificate")
	}
}

// TestServerServesAndReloads runs the whole server on loopback: it must
// answer a review over TLS trusted by the Secret's CA, and serve a renewed
// certificate without restarting.
func TestServerServesAndReloads(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := clocktesting.NewFakeClock(t0)
	kube := fake.NewClientset()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(Options{
		Namespace: ns, Source: static{}, Kube: kube, Listener: ln,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, CertValidity: spec.CertValidity,
		ResyncPeriod: time.Hour, Clock: clk,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(secretOf(t, kube).Data[SecretCACert])
	// The fake clock is months away from the real one: verify against it.
	tlsConf := &tls.Config{RootCAs: pool, Time: clk.Now}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}
	url := "https://" + ln.Addr().String()
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"group":"metallb.io","version":"v1beta1","kind":"BFDProfile"},"namespace":"metallb-system","name":"f","operation":"CREATE","object":{"apiVersion":"metallb.io/v1beta1","kind":"BFDProfile","metadata":{"name":"f","namespace":"metallb-system"},"spec":{"detectMultiplier":1}}}}`
	resp, err := client.Post(url+Path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var review admissionv1.AdmissionReview
	if err := decodeJSON(resp, &review); err != nil {
		t.Fatal(err)
	}
	if review.Response == nil || review.Response.Allowed || !strings.Contains(review.Response.Result.Message, "spec.detectMultiplier") {
		t.Fatalf("response %+v", review.Response)
	}

	serial := func() string {
		conn, err := tls.Dial("tcp", ln.Addr().String(), tlsConf)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	clk.Step(21 * 24 * time.Hour) // the resync tick after renewal is due
	deadline := time.Now().Add(10 * time.Second)
	for serial() == before {
		if time.Now().After(deadline) {
			t.Fatal("renewed certificate not served")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
