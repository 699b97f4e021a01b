package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/actors/controller"
	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/informers"
	"github.com/heraldlb/herald/inspect"
	"github.com/heraldlb/herald/tracing"
)

// kubectlHerald runs the plugin's command line in process against the
// lab's API server with the admin kubeconfig, as a user would run the
// binary, and returns its exit status and output.
func (l *lab) kubectlHerald(args ...string) (int, string, string) {
	l.t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(l.t.Context(), time.Minute)
	defer cancel()
	code := inspect.Run(ctx, inspect.Env{Stdout: &out, Stderr: &errOut},
		append([]string{"--kubeconfig", l.cp.AdminKubeconfig()}, args...))
	return code, out.String(), errOut.String()
}

// explainUntil runs kubectl herald explain until the Service's reason is
// want (the controller's Events and the speakers' reports arrive in their
// own time), then checks the text form's first line starts with the same
// reason, and returns the JSON explanation and the text.
//
// also, when given, must hold too: an explanation joins several objects
// (the Service's Events, the controller's ConfigurationState, the speakers'
// statuses) written at different moments.
func (l *lab) explainUntil(ns, name string, want inspect.Reason, also ...func(inspect.Explanation) bool) (inspect.Explanation, string) {
	l.t.Helper()
	var x inspect.Explanation
	eventuallyEvery(l.t, 60*time.Second, 200*time.Millisecond, fmt.Sprintf("explain %s/%s says %s", ns, name, want), func() (bool, string) {
		code, out, errOut := l.kubectlHerald("-n", ns, "explain", "svc/"+name, "-o", "json")
		if code != 0 {
			return false, fmt.Sprintf("exit %d: %s", code, errOut)
		}
		x = inspect.Explanation{}
		if err := json.Unmarshal([]byte(out), &x); err != nil {
			l.t.Fatalf("explain -o json is not JSON: %v\n%s", err, out)
		}
		ok := x.Reason == want
		for _, f := range also {
			ok = ok && f(x)
		}
		return ok, out
	})
	code, text, errOut := l.kubectlHerald("-n", ns, "explain", name)
	if code != 0 {
		l.t.Fatalf("explain %s: exit %d: %s", name, code, errOut)
	}
	first, _, _ := strings.Cut(text, "\n")
	if prefix := fmt.Sprintf("%s/%s: %s: ", ns, name, want); !strings.HasPrefix(first, prefix) {
		l.t.Errorf("explain %s/%s first line %q, want it to start with %q", ns, name, first, prefix)
	}
	l.t.Logf("kubectl herald explain %s/%s:\n%s", ns, name, text)
	return x, text
}

// The plugin against the real controller: the six reasons a Service has
// no IP or is not announced, one announced Service (its speaker reports
// written as a speaker writes them), the pool usage status shows, and the
// trace ID of the last change.
func TestKubectlHerald(t *testing.T) {
	l := newLab(t)
	l.namespace("shop", nil)
	l.namespace("other", nil)
	// Two pools that overlap: no valid configuration yet.
	web := newPool("web", "10.60.0.1-10.60.0.2")
	web.Spec.AllocateTo = &v1beta1.ServiceAllocation{Namespaces: []string{"shop"}}
	l.pool(web)
	l.pool(newPool("overlap", "10.60.0.2/32"))
	dark := newPool("dark", "10.62.0.1-10.62.0.4")
	no := false
	dark.Spec.AutoAssign = &no
	l.pool(dark)
	_, err := l.mlb.MetallbV1beta1().L2Advertisements(herald).Create(t.Context(), &v1beta1.L2Advertisement{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: herald},
		Spec:       v1beta1.L2AdvertisementSpec{IPAddressPools: []string{"web"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A real tracer provider (no exporter): the controller records the
	// trace of each change in the Service's traceparent annotation.
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	l.runController("kh-0", func(o *controller.Options) { o.TracerProvider = tp })

	// 1. Configuration invalid: nothing is allocated until it is valid.
	l.create(lbService("shop", "first", nil))
	l.waitEvent("shop", "first", "AllocationFailed", alloc.ErrNoValidConfig.Error())
	// The reason comes from the Service's Event, the verdict from the
	// controller's ConfigurationState; the two writes race.
	x, _ := l.explainUntil("shop", "first", inspect.ReasonConfigInvalid, func(x inspect.Explanation) bool {
		return x.Configuration != ""
	})
	if !strings.Contains(x.Configuration, "Invalid") {
		t.Errorf("configuration %q, want the controller's Invalid verdict", x.Configuration)
	}

	if err := l.mlb.MetallbV1beta1().IPAddressPools(herald).Delete(t.Context(), "overlap", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	l.waitIngress("shop", "first", "10.60.0.1")
	l.create(lbService("shop", "second", func(s *corev1.Service) {
		s.Annotations = map[string]string{informers.AnnotationAllowSharedIP: "k1"}
	}))
	l.waitIngress("shop", "second", "10.60.0.2")

	// 2. Pool exhausted: web's two addresses are taken.
	l.create(lbService("shop", "exhausted", nil))
	// 3. No pool admits it: web serves shop only, dark is not autoAssign.
	l.create(lbService("other", "nopool", nil))
	// 4. The requested IP is taken by a Service that does not share.
	l.create(lbService("shop", "taken", func(s *corev1.Service) {
		s.Annotations = map[string]string{informers.AnnotationLoadBalancerIPs: "10.60.0.1"}
	}))
	// 5. Sharing refused: second shares under k1, this one asks k2.
	l.create(lbService("shop", "sharing", func(s *corev1.Service) {
		s.Annotations = map[string]string{informers.AnnotationLoadBalancerIPs: "10.60.0.2", informers.AnnotationAllowSharedIP: "k2"}
	}))
	// 6. Allocated from dark, which no advertisement selects.
	l.create(lbService("shop", "unannounced", func(s *corev1.Service) {
		s.Annotations = map[string]string{informers.AnnotationAddressPool: "dark"}
	}))
	l.waitIngress("shop", "unannounced", "10.62.0.1")

	for _, tc := range []struct {
		ns, name string
		want     inspect.Reason
		says     string // in the summary
	}{
		{"shop", "exhausted", inspect.ReasonPoolExhausted, "pending: pool exhausted: "},
		{"other", "nopool", inspect.ReasonNoPool, "pending: no pool admits it: "},
		{"shop", "taken", inspect.ReasonIPInUse, "pending: the requested IP is taken: "},
		{"shop", "sharing", inspect.ReasonSharingRefused, "pending: sharing refused: "},
		{"shop", "unannounced", inspect.ReasonNoAdvertisement, `10.62.0.1 from pool "dark" (pool requested by annotation metallb.io/address-pool), but no L2Advertisement or BGPAdvertisement selects pool "dark": nothing announces it`},
	} {
		x, _ := l.explainUntil(tc.ns, tc.name, tc.want)
		if !strings.Contains(x.Summary, tc.says) {
			t.Errorf("%s/%s summary %q, want it to contain %q", tc.ns, tc.name, x.Summary, tc.says)
		}
	}

	// Announced: the speakers' reports, written as speakers write them.
	l.speakerReports("first")
	x, text := l.explainUntil("shop", "first", inspect.ReasonAnnounced)
	if want := `10.60.0.1 from pool "web" (chosen automatically)`; !strings.Contains(x.Summary, want) {
		t.Errorf("summary %q, want %q", x.Summary, want)
	}
	wantBGP := []inspect.BGPAnnouncement{
		{Node: "node1", Peers: []inspect.PeerSession{{Peer: "spine"}, {Peer: "tor", BGPState: "Established", BFDState: "Up"}}},
		{Node: "node3", Peers: []inspect.PeerSession{{Peer: "tor", BGPState: "Active"}}},
	}
	if got, want := fmt.Sprint(x.BGP), fmt.Sprint(wantBGP); got != want {
		t.Errorf("BGP %s, want %s", got, want)
	}
	if got := fmt.Sprint(x.L2); got != "[{node2 [eth0]}]" {
		t.Errorf("L2 %s, want node2 on eth0", got)
	}
	for _, line := range []string{
		"  BGP: node1 announces it to spine, tor (Established, BFD Up)\n",
		"  BGP: node3 announces it to tor (Active)\n",
		"  L2: node2 answers ARP/NDP for it on eth0\n",
	} {
		if !strings.Contains(text, line) {
			t.Errorf("explain text lacks %q", line)
		}
	}
	// The trace ID is the one the controller wrote.
	sc, err := tracing.FromAnnotations(l.get("shop", "first").Annotations)
	if err != nil || !sc.IsValid() {
		t.Fatalf("shop/first has no valid traceparent: %v", err)
	}
	if x.TraceID != sc.TraceID().String() || !strings.Contains(text, "trace: "+sc.TraceID().String()) {
		t.Errorf("explain trace ID %q, want %s", x.TraceID, sc.TraceID())
	}
	code, out, errOut := l.kubectlHerald("-n", "shop", "trace", "service/first")
	if code != 0 || !strings.Contains(out, "trace "+sc.TraceID().String()) || !strings.Contains(out, "--jaeger-url") {
		t.Errorf("trace without Jaeger: exit %d, %q %q; want the trace ID and how to query it", code, out, errOut)
	}

	// Status: the pool usage the scenario implies, and who announces what.
	l.poolStatus("web", v1beta1.IPAddressPoolStatus{AssignedIPv4: 2, AvailableIPv4: 0})
	l.poolStatus("dark", v1beta1.IPAddressPoolStatus{AssignedIPv4: 1, AvailableIPv4: 3})
	code, out, errOut = l.kubectlHerald("status", "-o", "json")
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	var st inspect.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	usage := map[string]string{}
	for _, p := range st.Pools {
		usage[p.Name] = fmt.Sprintf("%d/%d %d/%d", p.AssignedIPv4, p.AvailableIPv4, p.AssignedIPv6, p.AvailableIPv6)
	}
	if want := map[string]string{"web": "2/0 0/0", "dark": "1/3 0/0"}; fmt.Sprint(usage) != fmt.Sprint(want) {
		t.Errorf("status pools %v, want %v", usage, want)
	}
	var announced []string
	for _, a := range st.Announcements {
		announced = append(announced, fmt.Sprintf("%s %v %s %s %v%v", a.Service, a.IPs, a.Mode, a.Node, a.Peers, a.Interfaces))
	}
	if got, want := strings.Join(announced, "; "),
		"shop/first [10.60.0.1] BGP node1 [spine tor][]; shop/first [10.60.0.1] BGP node3 [tor][]; shop/first [10.60.0.1] L2 node2 [][eth0]"; got != want {
		t.Errorf("status announcements %q, want %q", got, want)
	}
	code, text, errOut = l.kubectlHerald("status")
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	t.Logf("kubectl herald status:\n%s", text)
	rows := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		rows[strings.Join(strings.Fields(line), " ")] = true
	}
	for _, want := range []string{
		"web 10.60.0.1-10.60.0.2 true 2/0 0/0",
		"dark 10.62.0.1-10.62.0.4 false 1/3 0/0",
		"node1 tor 192.0.2.1:179 Established Up 1/0",
		"node3 tor 192.0.2.1:179 Active - 0/0 connection refused",
		"shop/first 10.60.0.1 L2 node2 ARP/NDP on eth0",
	} {
		if !rows[want] {
			t.Errorf("status text lacks the row %q", want)
		}
	}
	if code, _, _ := l.kubectlHerald("status", "-o", "yaml"); code != 0 {
		t.Errorf("status -o yaml: exit %d", code)
	}
	if code, _, errOut := l.kubectlHerald("explain", "pod/x"); code != 2 {
		t.Errorf("explain pod/x: exit %d (%s), want 2, a usage error", code, errOut)
	}
}

// speakerReports writes, for shop/name, what speakers on three nodes
// would: node1 and node3 announce it over BGP, node2 answers ARP on eth0,
// with node1's and node3's sessions in BGPSessionStates.
func (l *lab) speakerReports(name string) {
	t := l.t
	t.Helper()
	ctx := t.Context()
	c := l.mlb.MetallbV1beta1()
	meta := func(n string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: n, Namespace: herald} }
	for node, peers := range map[string][]string{"node1": {"tor", "spine"}, "node3": {"tor"}} {
		o, err := c.ServiceBGPStatuses(herald).Create(ctx, &v1beta1.ServiceBGPStatus{ObjectMeta: meta(name + "-" + node)}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		o.Status = v1beta1.ServiceBGPStatusStatus{Node: node, ServiceName: name, ServiceNamespace: "shop", Peers: peers}
		if _, err := c.ServiceBGPStatuses(herald).UpdateStatus(ctx, o, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	o, err := c.ServiceL2Statuses(herald).Create(ctx, &v1beta1.ServiceL2Status{ObjectMeta: meta(name + "-node2")}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o.Status = v1beta1.ServiceL2StatusStatus{Node: "node2", ServiceName: name, ServiceNamespace: "shop", Interfaces: []v1beta1.InterfaceInfo{{Name: "eth0"}}}
	if _, err := c.ServiceL2Statuses(herald).UpdateStatus(ctx, o, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []v1beta1.BGPSessionStateStatus{
		{Node: "node1", Peer: "tor", PeerAddress: "192.0.2.1:179", BGPState: "Established", BFDState: "Up", PrefixesIPv4: 1},
		{Node: "node3", Peer: "tor", PeerAddress: "192.0.2.1:179", BGPState: "Active", LastError: "connection refused"},
	} {
		o, err := c.BGPSessionStates(herald).Create(ctx, &v1beta1.BGPSessionState{ObjectMeta: meta(s.Node + "-" + s.Peer)}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		o.Status = s
		if _, err := c.BGPSessionStates(herald).UpdateStatus(ctx, o, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}
