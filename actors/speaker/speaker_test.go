package speaker

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/api/v1beta1"
)

const testNS = "metallb-system"

// runSpeaker runs a speaker made with opts until the test ends.
func runSpeaker(t *testing.T, opts Options) *Speaker {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The speaker's tree starts once its caches sync, says it is ready, keeps
// its own ConfigurationState, and stops when its context ends.
func TestSpeakerRunsAndStops(t *testing.T) {
	kube := kubefake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	mlb := mlbfake.NewSimpleClientset(&v1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "p"},
		Spec:       v1beta1.IPAddressPoolSpec{Addresses: []string{"10.0.0.0/30"}},
	})
	level := slog.LevelWarn
	if os.Getenv("HERALD_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	s, err := New(Options{Kube: kube, Metallb: mlb, Registry: prometheus.NewRegistry(), NodeName: "n1", NoL2: true, LivenessPort: -1,
		Namespace: testNS, BackoffInitial: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	eventually(t, "ready", s.Ready)

	state := func() v1beta1.ConfigurationStateStatus {
		st, err := mlb.MetallbV1beta1().ConfigurationStates(testNS).Get(ctx, "speaker-n1", metav1.GetOptions{})
		if err != nil {
			return v1beta1.ConfigurationStateStatus{}
		}
		return st.Status
	}
	eventually(t, "ConfigurationState speaker-n1 Valid", func() bool { return state().Result == v1beta1.ConfigurationValid })
	// The pool has no advertisement: said once, on the whole configuration.
	if w := state().WarningSummary; !strings.Contains(w, "IPAddressPool metallb-system/p: no L2Advertisement or BGPAdvertisement selects this pool") {
		t.Errorf("warnings %q do not say the pool is unannounced", w)
	}

	// A pool that overlaps the first: the configuration is invalid, and
	// the speaker's state says why.
	if _, err := mlb.MetallbV1beta1().IPAddressPools(testNS).Create(ctx, &v1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "q"},
		Spec:       v1beta1.IPAddressPoolSpec{Addresses: []string{"10.0.0.2/31"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ConfigurationState speaker-n1 Invalid", func() bool {
		st := state()
		return st.Result == v1beta1.ConfigurationInvalid && st.ErrorSummary != ""
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if s.Ready() {
		t.Error("still ready after stopping")
	}
}

func TestNewRefusesMissingOptions(t *testing.T) {
	reg := prometheus.NewRegistry()
	for name, o := range map[string]Options{
		"no clients":   {Registry: reg, NodeName: "n1"},
		"no node name": {Kube: kubefake.NewClientset(), Metallb: mlbfake.NewSimpleClientset(), Registry: reg},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// A Node name may be longer than a label value (253 against 63 bytes). The
// speaker then cannot narrow its status informers to its own node's
// objects by label, and must still start: it caches them all instead.
func TestSpeakerStartsWhenItsNodeNameIsNoLabelValue(t *testing.T) {
	name := strings.Repeat("n", 64) + ".rack-7.example.com"
	if _, err := New(Options{Kube: kubefake.NewClientset(), Metallb: mlbfake.NewSimpleClientset(), Registry: prometheus.NewRegistry(),
		NodeName: name, NoL2: true, Namespace: testNS}); err != nil {
		t.Fatalf("New with a %d-byte node name: %v", len(name), err)
	}
}
