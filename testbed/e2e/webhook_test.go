package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/heraldlb/herald/actors/controller"
	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/informers"
	"github.com/heraldlb/herald/testbed/kube"
	"github.com/heraldlb/herald/webhook"
)

const whNamespace = "metallb-system"

// whLab is a control plane with Herald's CRDs and the webhook served
// in-process on loopback, registered by URL with the caBundle the webhook
// injects itself.
type whLab struct {
	cp      *kube.ControlPlane
	kube    kubernetes.Interface
	metallb versioned.Interface
	apply   *whApplier
	repo    string
	addr    string // the webhook's loopback address
}

// newWHLab starts the lab; tweaks, if any, adjust the server's options.
func newWHLab(t *testing.T, tweaks ...func(*webhook.Options)) *whLab {
	t.Helper()
	crds, err := kube.RepoCRDDir()
	if err != nil {
		t.Fatal(err)
	}
	cp := kube.StartForTest(t, kube.Options{CRDDir: crds})
	cfg := cp.AdminRESTConfig()
	l := &whLab{cp: cp, apply: newWHApplier(t, cfg),
		repo: filepath.Dir(filepath.Dir(filepath.Dir(crds)))}
	if l.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if l.metallb, err = versioned.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := l.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: whNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Registered before the server runs, with no caBundle: the server's
	// first certificate pass injects it, as in a cluster.
	vwc := webhook.NewConfiguration(webhook.DefaultConfigurationName, webhook.URLClientConfig("https://"+ln.Addr().String()))
	if _, err := l.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Wired as the controller wires it: configuration objects read from
	// the API server per review, Namespaces and Nodes from the informers.
	// The tests create objects back to back, so a review that missed the
	// previous document would show up here.
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	inf, err := informers.New(l.kube, l.metallb, informers.Options{Namespace: whNamespace, Logger: logger, Watch: controller.Watches()})
	if err != nil {
		t.Fatal(err)
	}
	infCtx, infStop := context.WithCancel(context.Background())
	t.Cleanup(func() { infStop(); inf.Shutdown() })
	inf.Start(infCtx)
	if err := inf.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	var _ webhook.Source = inf
	opts := webhook.Options{
		Namespace:         whNamespace,
		Source:            webhook.ClientSource{Kube: l.kube, Metallb: l.metallb, Namespace: whNamespace, Cluster: inf},
		Kube:              l.kube,
		Listener:          ln,
		ConfigurationName: webhook.DefaultConfigurationName,
		IPAddresses:       []net.IP{net.ParseIP("127.0.0.1")},
		Logger:            logger,
	}
	for _, tweak := range tweaks {
		tweak(&opts)
	}
	l.addr = ln.Addr().String()
	srv, err := webhook.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("webhook server: %v", err)
		}
	})
	select {
	case <-srv.Ready():
	case err := <-done:
		t.Fatalf("webhook server: %v", err)
	case <-ctx.Done():
		t.Fatal("webhook server not ready")
	}
	l.waitForWebhook(t)
	return l
}

// waitForWebhook probes until the API server calls the webhook with the
// injected caBundle: an L2Advertisement naming a missing pool passes every
// CRD rule, so only the webhook can refuse it.
func (l *whLab) waitForWebhook(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	probe := &v1beta1.L2Advertisement{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: whNamespace},
		Spec:       v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"no-such-pool"}},
	}
	var last error
	admitted := false // a probe the API server let in is still there
	for ctx.Err() == nil {
		l2s := l.metallb.MetallbV1beta1().L2Advertisements(whNamespace)
		if admitted {
			// The webhook also reviews DELETE, so while the API server has
			// the new configuration but not yet a working caBundle (the
			// certificate pass repairs it within a resync), taking the probe
			// back fails too: keep trying, as a user would.
			if err := l2s.Delete(ctx, probe.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				last = fmt.Errorf("removing the admitted probe: %w", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			admitted = false
		}
		_, err := l2s.Create(ctx, probe, metav1.CreateOptions{})
		if err == nil {
			// The API server loads webhook configurations from its own
			// informer, so one created a moment ago may not be called
			// yet: take the probe back and ask again. A webhook that is
			// never called ends in the Fatalf below.
			last = errors.New("probe admitted: the webhook is not called (yet)")
			admitted = true
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if strings.Contains(err.Error(), "no IPAddressPool with this name") {
			return
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the API server never reached the webhook; last error: %v", last)
}

// TestWebhookRejectsInvalidConfigurations creates each file of
// config/testdata/invalid through the real API server and checks that the
// object its "# expect:" line names is the one refused, with a message
// naming that object and field. A refusal by the CRD's own schema or CEL
// rules counts (the API server checks them before calling webhooks); the
// webhook's refusals must carry config's error exactly.
func TestWebhookRejectsInvalidConfigurations(t *testing.T) {
	l := newWHLab(t)
	files, err := filepath.Glob(filepath.Join(l.repo, "config/testdata/invalid/*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid configurations found: %v", err)
	}
	byWebhook, bySchema := 0, 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			want, err := parseWHExpect(whHeader(t, f)["expect"])
			if err != nil {
				t.Fatal(err)
			}
			var created []*whCreated
			defer func() { l.apply.deleteAll(ctx, t, created) }()
			for i, u := range whDocs(t, f) {
				c, err := l.apply.create(ctx, f, u)
				if err == nil {
					created = append(created, c)
					continue
				}
				msg := err.Error()
				t.Logf("document %d (%s %s) refused: %s", i+1, u.GetKind(), u.GetName(), msg)
				if u.GetKind() != want.Kind || u.GetName() != want.Name {
					// A configuration can only be refused when the object
					// that completes the error arrives; that is the last
					// one here (a localPref conflict needs its peer). The
					// message must still be config's, on the named object.
					if !strings.Contains(msg, want.Text) {
						t.Errorf("refused %s %s, want %s %s refused, or a message containing %q",
							u.GetKind(), u.GetName(), want.Kind, want.Name, want.Text)
					}
				}
				switch {
				case strings.Contains(msg, `admission webhook "`):
					byWebhook++
					if !strings.Contains(msg, want.Text) {
						t.Errorf("webhook message lacks config's error\n got: %s\nwant: %s", msg, want.Text)
					}
				case apierrors.IsAlreadyExists(err) && name == "duplicate-pool-names":
					// The API server keeps names unique per kind and
					// namespace itself; the second pool cannot exist to be
					// validated. Its message names the object, not a field.
					bySchema++
					if !strings.Contains(msg, `"`+want.Name+`" already exists`) {
						t.Errorf("message does not name %s: %s", want.Name, msg)
					}
				default:
					bySchema++
					if !whNamesField(msg, want.Field) {
						t.Errorf("message does not name field %s: %s", want.Field, msg)
					}
					// `Kind.metallb.io "name" is invalid`, or for a document
					// refused before it is an object (unknown field, unserved
					// version) its kind or quoted name.
					if !strings.Contains(msg, `"`+want.Name+`"`) && !strings.Contains(msg, want.Kind) {
						t.Errorf("message names neither %s nor %q: %s", want.Kind, want.Name, msg)
					}
				}
				return
			}
			t.Errorf("every object admitted; want %s", want.Text)
		})
	}
	t.Logf("%d files refused by the webhook, %d by the API server's own checks", byWebhook, bySchema)
}

// whNamesField reports whether an API server message names field, either
// as config writes it or in the forms the API server uses: a CEL rule on a
// parent reports the parent path and names the field in its message; an
// apiVersion refusal quotes the version.
func whNamesField(msg, field string) bool {
	if strings.Contains(msg, field) {
		return true
	}
	if field == "apiVersion" {
		return strings.Contains(msg, "in version")
	}
	last := field[strings.LastIndex(field, ".")+1:]
	if i := strings.Index(last, "["); i >= 0 {
		last = last[:i]
	}
	return strings.Contains(msg, last)
}

// TestWebhookAdmitsExamples creates every examples/*.yaml through the API
// server with the webhook in place, then deletes it again (a clean slate for
// the next file).
//
// Each file goes in file order, as `kubectl apply -f` sends it: that is how
// users apply them. A review sees only what exists, so an advertisement
// naming a BGPPeer that a later document creates would be refused exactly
// like one naming a peer that never will be
// (config/testdata/invalid/unknown-peer.yaml has that shape); the examples
// are written in dependency order.
func TestWebhookAdmitsExamples(t *testing.T) {
	l := newWHLab(t)
	files, err := filepath.Glob(filepath.Join(l.repo, "examples/*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			docs := whDocs(t, f)
			created, err := l.createAll(ctx, f, docs)
			l.apply.deleteAll(ctx, t, created)
			if err != nil {
				t.Fatalf("in file order, as kubectl apply -f sends it: %v", err)
			}
		})
	}
}

// createAll creates docs in order and stops at the first refusal.
func (l *whLab) createAll(ctx context.Context, f string, docs []*unstructured.Unstructured) ([]*whCreated, error) {
	var created []*whCreated
	for i, u := range docs {
		c, err := l.apply.create(ctx, f, u)
		if apierrors.IsAlreadyExists(err) && (u.GetKind() == "Namespace" || u.GetKind() == "Node") {
			continue // left by an earlier example
		}
		if err != nil {
			return created, fmt.Errorf("document %d (%s %s) refused: %w", i+1, u.GetKind(), u.GetName(), err)
		}
		created = append(created, c)
	}
	return created, nil
}

// TestWebhookRefusesDeletingBFDProfileInUse checks the one refused
// deletion, and that it is allowed once the peer lets go.
func TestWebhookRefusesDeletingBFDProfileInUse(t *testing.T) {
	l := newWHLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var created []*whCreated
	defer func() { l.apply.deleteAll(ctx, t, created) }()
	f := filepath.Join(l.repo, "examples/13-bgp-bfd-password-secret.yaml")
	var profile, peer string
	for _, u := range whDocs(t, f) {
		c, err := l.apply.create(ctx, f, u)
		if err != nil {
			t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
		}
		created = append(created, c)
		if u.GetKind() == "BGPPeer" && peer == "" {
			if p, _, _ := unstructured.NestedString(u.Object, "spec", "bfdProfile"); p != "" {
				profile, peer = p, u.GetName()
			}
		}
	}
	if profile == "" {
		t.Fatal("example has no peer with a bfdProfile")
	}
	bfd := l.metallb.MetallbV1beta1().BFDProfiles(whNamespace)
	err := bfd.Delete(ctx, profile, metav1.DeleteOptions{})
	if err == nil {
		t.Fatal("deleting a BFDProfile in use was allowed")
	}
	want := "BFDProfile " + whNamespace + "/" + profile + ": in use: spec.bfdProfile of BGPPeer " + whNamespace + "/" + peer
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("refusal %q does not contain %q", err, want)
	}
}

// testWriter sends the server's logs to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestWebhookRotatesWithoutFailedReviews runs the webhook with lifetimes of
// seconds, so both the serving certificate and the CA are renewed while
// writes keep coming: every write must still reach the webhook (a TLS
// failure would surface as "failed calling webhook", which failurePolicy
// Fail turns into a refusal of any write).
func TestWebhookRotatesWithoutFailedReviews(t *testing.T) {
	l := newWHLab(t, func(o *webhook.Options) {
		o.CAValidity = 12 * time.Second
		o.CertValidity = 4 * time.Second
		o.ResyncPeriod = 250 * time.Millisecond
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	probe := &v1beta1.L2Advertisement{
		ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: whNamespace},
		Spec:       v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"no-such-pool"}},
	}
	serials := map[string]bool{whServingSerial(t, l.addr): true}
	cas := map[string]bool{}
	reviews := 0
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); {
		_, err := l.metallb.MetallbV1beta1().L2Advertisements(whNamespace).Create(ctx, probe, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "no IPAddressPool with this name") {
			t.Fatalf("review %d did not reach the webhook: %v", reviews, err)
		}
		reviews++
		serials[whServingSerial(t, l.addr)] = true
		sec, err := l.kube.CoreV1().Secrets(whNamespace).Get(ctx, webhook.DefaultSecretName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cas[string(sec.Data[webhook.SecretCAKey])] = true
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d reviews, %d serving certificates, %d CAs", reviews, len(serials), len(cas))
	if len(serials) < 3 || len(cas) < 2 {
		t.Errorf("saw %d serving certificates and %d CAs in 15 s; want renewals of both", len(serials), len(cas))
	}
}

// TestWebhookRejectsInvalidConfigurationsWithKubectl is the acceptance test
// as written: `kubectl apply -f` of each config/testdata/invalid file fails,
// and what kubectl prints names the object and the field (config's error
// exactly when the webhook refused; the field when the CRD's own checks did).
// kubectl is the lab's, built at the API server's version.
func TestWebhookRejectsInvalidConfigurationsWithKubectl(t *testing.T) {
	l := newWHLab(t)
	if _, err := l.cp.Kubectl(context.Background(), "version", "--client"); err != nil {
		t.Skipf("no kubectl in the lab: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(l.repo, "config/testdata/invalid/*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid configurations found: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			want, err := parseWHExpect(whHeader(t, f)["expect"])
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if _, err := l.cp.Kubectl(ctx, "delete", "--ignore-not-found", "-f", f); err != nil {
					t.Logf("cleanup: %v", err)
				}
			}()
			out, err := l.cp.Kubectl(ctx, "apply", "-f", f)
			if name == "duplicate-pool-names" {
				// kubectl apply turns the second document into a patch of
				// the first: the API server never holds two pools named a,
				// so there is nothing to refuse; the result is one valid
				// pool. (The client-go test sees AlreadyExists instead.)
				if err != nil {
					t.Errorf("kubectl apply failed: %v", err)
				}
				t.Logf("applied as one pool: %s", out)
				return
			}
			if err == nil {
				t.Fatalf("kubectl apply succeeded, want %s\n%s", want.Text, out)
			}
			msg := err.Error()
			t.Logf("kubectl: %s", msg)
			if strings.Contains(msg, "admission webhook") {
				if !strings.Contains(msg, want.Text) {
					t.Errorf("webhook message lacks config's error\n got: %s\nwant: %s", msg, want.Text)
				}
				return
			}
			if !whNamesField(msg, want.Field) {
				t.Errorf("message does not name field %s: %s", want.Field, msg)
			}
			if !strings.Contains(msg, `"`+want.Name+`"`) && !strings.Contains(msg, want.Kind) {
				t.Errorf("message names neither %s nor %q: %s", want.Kind, want.Name, msg)
			}
		})
	}
}

// TestWebhookLetsABrokenConfigurationBeFixed: objects written while the
// webhook was not registered (an upgrade, a restore from backup) leave the
// configuration broken. Unrelated writes go through with a warning, the fix
// goes through, and a write that keeps the error is refused. Re-registering
// the configuration without caBundle (as `helm upgrade` does) is repaired by
// the next certificate pass.
func TestWebhookLetsABrokenConfigurationBeFixed(t *testing.T) {
	l := newWHLab(t, func(o *webhook.Options) { o.ResyncPeriod = 200 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	vwcs := l.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	saved, err := vwcs.Get(ctx, webhook.DefaultConfigurationName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := vwcs.Delete(ctx, saved.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	l2s := l.metallb.MetallbV1beta1().L2Advertisements(whNamespace)
	// The API server drops a deleted configuration asynchronously; retry
	// until the broken object gets in.
	broken := &v1beta1.L2Advertisement{
		ObjectMeta: metav1.ObjectMeta{Name: "l2", Namespace: whNamespace},
		Spec:       v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"b"}},
	}
	for {
		_, err := l2s.Create(ctx, broken, metav1.CreateOptions{})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("creating the broken advertisement: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fresh := webhook.NewConfiguration(saved.Name, saved.Webhooks[0].ClientConfig)
	for i := range fresh.Webhooks {
		fresh.Webhooks[i].ClientConfig.CABundle = nil
	}
	if _, err := vwcs.Create(ctx, fresh, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	l.waitForWebhook(t)

	// An unrelated pool: admitted, with a warning about what remains.
	warnings := &whWarnings{}
	cfg := rest.CopyConfig(l.cp.AdminRESTConfig())
	cfg.WarningHandler = warnings
	warned, err := versioned.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pool := &v1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: whNamespace},
		Spec:       v1beta1.IPAddressPoolSpec{Addresses: []string{"10.0.0.0/24"}},
	}
	if _, err := warned.MetallbV1beta1().IPAddressPools(whNamespace).Create(ctx, pool, metav1.CreateOptions{}); err != nil {
		t.Fatalf("unrelated pool refused: %v", err)
	}
	wantWarning := `L2Advertisement metallb-system/l2: spec.ipAddressPools[0]: "b": no IPAddressPool with this name`
	if !warnings.contains("still has 1 error(s) in other objects") || !warnings.contains(wantWarning) {
		t.Errorf("warnings %q lack the remaining error", warnings.all())
	}

	// Touching the broken object without fixing it is refused.
	cur, err := l2s.Get(ctx, "l2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Labels = map[string]string{"touched": "yes"}
	if _, err := l2s.Update(ctx, cur, metav1.UpdateOptions{}); err == nil || !strings.Contains(err.Error(), wantWarning) {
		t.Fatalf("update keeping the error: %v", err)
	}
	// The fix is admitted.
	cur.Spec.IPAddressPools = []string{"a"}
	if _, err := l2s.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("fix refused: %v", err)
	}
	// Deleting the pool the advertisement now names is admitted, with a
	// warning that it breaks the advertisement.
	warnings.reset()
	if err := warned.MetallbV1beta1().IPAddressPools(whNamespace).Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete refused: %v", err)
	}
	if !warnings.contains(`after deleting IPAddressPool metallb-system/a: L2Advertisement metallb-system/l2: spec.ipAddressPools[0]: "a": no IPAddressPool with this name`) {
		t.Errorf("delete warnings %q", warnings.all())
	}
}
