package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/heraldlb/herald/actors/speaker"
	"github.com/heraldlb/herald/testbed/labtest"
	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
)

// Helpers of the BGP-mode tests (issue 11): the documentation's examples,
// the data plane, rollouts, drains and outages. They extend speakerLab.

// bgpModeASN is the AS of the router and of every node in these tests:
// the documentation's BGPPeers are iBGP (myASN = peerASN = 64512), which is
// also what makes localPref reach the router.
const bgpModeASN = 64512

// dualStackServiceRange lets the API server give Services both families.
var dualStackServiceRange = []string{"--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/108"}

// bgpModeLab starts the lab of these tests: three nodes, each one an iBGP
// neighbour of the router over IPv4 and over IPv6, and a dual-stack API
// server. Options other than the router, its AS and its neighbours may be
// given in o.
func bgpModeLab(t *testing.T, router string, o speakerLabOptions) *speakerLab {
	t.Helper()
	o.router, o.routerASN = router, bgpModeASN
	if o.nodes == 0 {
		o.nodes = 3
	}
	if o.neighbors == nil {
		o.neighbors = func(lab *netlab.Lab) []routers.Neighbor {
			var ns []routers.Neighbor
			for _, n := range lab.Nodes {
				ns = append(ns, routers.Neighbor{Address: n.LAN4, ASN: bgpModeASN}, routers.Neighbor{Address: n.LAN6, ASN: bgpModeASN})
			}
			return ns
		}
	}
	o.apiServerArgs = append(o.apiServerArgs, dualStackServiceRange...)
	return newSpeakerLab(t, o)
}

// labPeers is the YAML of two BGPPeers towards the lab's router, one over
// IPv4 and one over IPv6, in its AS: what a documentation example that
// leaves the peer out needs. Extra spec lines (indented by two) go into
// both.
func (l *speakerLab) labPeers(name string, extra ...string) string {
	var b strings.Builder
	for _, p := range []struct {
		suffix string
		addr   netip.Addr
	}{{"", l.lab.Router.LAN4}, {"-v6", l.lab.Router.LAN6}} {
		fmt.Fprintf(&b, `---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: %s%s
  namespace: metallb-system
spec:
  myASN: %d
  peerASN: %d
  peerAddress: %s
`, name, p.suffix, bgpModeASN, bgpModeASN, p.addr)
		for _, e := range extra {
			b.WriteString("  " + e + "\n")
		}
	}
	return b.String()
}

// kubectlApply applies YAML the way the documentation says to, with the
// real kubectl (`kubectl apply -f FILE`, plus args such as -n), and fails
// the test if kubectl does.
func (l *speakerLab) kubectlApply(yaml string, args ...string) {
	l.t.Helper()
	f := filepath.Join(l.t.TempDir(), "apply.yaml")
	if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
		l.t.Fatal(err)
	}
	out, err := l.cp.Kubectl(l.t.Context(), append([]string{"apply", "-f", f}, args...)...)
	if err != nil {
		l.t.Fatalf("kubectl apply:\n%s\n%v", yaml, err)
	}
	l.t.Logf("kubectl apply: %s", strings.TrimSpace(string(out)))
}

// svcOpts shape a Service of lbSvc.
type svcOpts struct {
	ns string // default "default"
	// dualStack asks for both families (RequireDualStack).
	dualStack bool
	local     bool // externalTrafficPolicy: Local
	// annotations, e.g. the address pool.
	annotations map[string]string
	// endpoints are the nodes with a ready endpoint and a backend; nil:
	// every node.
	endpoints []string
}

// lbSvc is one LoadBalancer Service of these tests, with its IPs and its
// backends (one per endpoint node and IP), made by newSvc.
type lbSvc struct {
	ns, name string
	ips      []netip.Addr
	backends map[string][]*netlab.Backend
}

// newSvc creates a LoadBalancer Service with an EndpointSlice (one ready
// endpoint on each of o.endpoints), waits for its IPs (both families when
// dual-stack) and starts an HTTP backend on port 80 of every endpoint node
// for each IP.
func (l *speakerLab) newSvc(name string, o svcOpts) *lbSvc {
	t := l.t
	t.Helper()
	ctx := t.Context()
	if o.ns == "" {
		o.ns = "default"
	}
	if o.endpoints == nil {
		for _, n := range l.lab.Nodes {
			o.endpoints = append(o.endpoints, n.Name)
		}
	}
	l.ensureNamespace(o.ns, nil)
	s := lbService(o.ns, name, func(s *corev1.Service) {
		s.Annotations = o.annotations
		if o.dualStack {
			s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		}
		if o.local {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}
	})
	if _, err := l.admin.CoreV1().Services(o.ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Service %s/%s: %v", o.ns, name, err)
	}
	svc := &lbSvc{ns: o.ns, name: name, backends: map[string][]*netlab.Backend{}}
	l.setEndpoints(svc, o.endpoints...)
	want := 1
	if o.dualStack {
		want = 2
	}
	defer l.took("Service "+o.ns+"/"+name+" with its IPs and backends", time.Now())
	eventually(t, 30*time.Second, fmt.Sprintf("Service %s/%s gets %d IPs", o.ns, name, want), func() (bool, string) {
		got, err := l.admin.CoreV1().Services(o.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		svc.ips = nil
		for _, in := range got.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(in.IP); err == nil {
				svc.ips = append(svc.ips, a)
			}
		}
		return len(svc.ips) == want, fmt.Sprint(got.Status.LoadBalancer.Ingress)
	})
	for _, n := range o.endpoints {
		l.startBackends(svc, n)
	}
	return svc
}

// ip4 and ip6 return the Service's address of that family.
func (s *lbSvc) ip4() netip.Addr { return s.family(true) }
func (s *lbSvc) ip6() netip.Addr { return s.family(false) }

func (s *lbSvc) family(v4 bool) netip.Addr {
	for _, a := range s.ips {
		if a.Is4() == v4 {
			return a
		}
	}
	return netip.Addr{}
}

// startBackends serves the Service's IPs on node.
func (l *speakerLab) startBackends(s *lbSvc, node string) {
	l.t.Helper()
	for _, ip := range s.ips {
		b, err := l.lab.StartBackend(l.t.Context(), node, netip.AddrPortFrom(ip, 80))
		if err != nil {
			l.t.Fatal(err)
		}
		l.t.Cleanup(func() { _ = b.Close() })
		s.backends[node] = append(s.backends[node], b)
	}
}

// stopBackends stops the Service's backends on node (a pod going away).
func (l *speakerLab) stopBackends(s *lbSvc, node string) {
	for _, b := range s.backends[node] {
		_ = b.Close()
	}
	delete(s.backends, node)
}

// setEndpoints makes the Service's EndpointSlice hold one ready endpoint
// on each of nodes (none: an empty slice).
func (l *speakerLab) setEndpoints(s *lbSvc, nodes ...string) {
	t := l.t
	t.Helper()
	ctx := t.Context()
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: s.ns, Name: s.name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: s.name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{},
	}
	for _, n := range nodes {
		i := slices.IndexFunc(l.lab.Nodes, func(h netlab.Host) bool { return h.Name == n })
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.244.%d.5", i)},
			NodeName: ptr.To(n), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	c := l.admin.DiscoveryV1().EndpointSlices(s.ns)
	cur, err := c.Get(ctx, es.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = c.Create(ctx, es, metav1.CreateOptions{})
	case err == nil:
		cur.Endpoints = es.Endpoints
		_, err = c.Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatalf("EndpointSlice of %s/%s: %v", s.ns, s.name, err)
	}
}

func (l *speakerLab) ensureNamespace(name string, labels map[string]string) {
	l.t.Helper()
	_, err := l.admin.CoreV1().Namespaces().Create(l.t.Context(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		l.t.Fatal(err)
	}
}

// labelNode merges labels into a Node's (a nil value removes the label).
func (l *speakerLab) labelNode(node string, labels map[string]*string) {
	l.t.Helper()
	patch := map[string]any{"metadata": map[string]any{"labels": labels}}
	l.patchNode(node, patch)
}

func (l *speakerLab) patchNode(node string, patch map[string]any) {
	l.t.Helper()
	data, err := json.Marshal(patch)
	if err != nil {
		l.t.Fatal(err)
	}
	if _, err := l.admin.CoreV1().Nodes().Patch(l.t.Context(), node, types.MergePatchType, data, metav1.PatchOptions{}); err != nil {
		l.t.Fatalf("patching Node %s: %v", node, err)
	}
}

// nextHops returns the next hops of the route's paths (all of them, best
// or not), sorted.
func nextHops(r routers.Route) []netip.Addr {
	var out []netip.Addr
	for _, p := range r.Paths {
		out = append(out, p.NextHop)
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

// nodeAddrs returns the named nodes' addresses of one family, sorted.
func (l *speakerLab) nodeAddrs(v4 bool, names ...string) []netip.Addr {
	var out []netip.Addr
	for _, n := range l.lab.Nodes {
		if len(names) > 0 && !slices.Contains(names, n.Name) {
			continue
		}
		if v4 {
			out = append(out, n.LAN4)
		} else {
			out = append(out, n.LAN6)
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

// routeVia waits until the router's route to prefix has exactly one path
// through each of want (none: the route is gone), and returns it.
func (l *speakerLab) routeVia(prefix netip.Prefix, want []netip.Addr) routers.Route {
	l.t.Helper()
	what := fmt.Sprintf("the router's route to %s via %v", prefix, want)
	if len(want) == 0 {
		what = fmt.Sprintf("no route to %s at the router", prefix)
	}
	defer l.took(what, time.Now())
	return l.route(prefix, what, func(r routers.Route, ok bool) bool {
		if len(want) == 0 {
			return !ok
		}
		return ok && slices.Equal(nextHops(r), want)
	})
}

// bgpStatusNodes returns the nodes whose ServiceBGPStatus for the Service
// exists (Herald's own report of who announces it).
func (l *speakerLab) bgpStatusNodes(s *lbSvc) ([]string, error) {
	list, err := l.mlb.MetallbV1beta1().ServiceBGPStatuses(herald).List(l.t.Context(), metav1.ListOptions{
		LabelSelector: speaker.LabelServiceName + "=" + s.name + "," + speaker.LabelServiceNamespace + "=" + s.ns})
	if err != nil {
		return nil, err
	}
	var nodes []string
	for _, o := range list.Items {
		nodes = append(nodes, o.Status.Node)
	}
	slices.Sort(nodes)
	return nodes, nil
}

// getFrom requests the Service's IP from the client with a short timeout.
func (l *speakerLab) getFrom(ctx context.Context, ip netip.Addr, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return l.lab.HTTPGetFromClient(ctx, netlab.ServiceURL(netip.AddrPortFrom(ip, 80)))
}

// goBGPOnRouter starts GoBGP in the router's namespace, listening on the
// router's IPv4 address at port, with every node as a (passive) iBGP
// neighbour: a second or third router for the tests that need BGPPeers the
// lab's router cannot be (a BGPPeer is an address and a port). id is its
// BGP identifier.
func (l *speakerLab) goBGPOnRouter(port uint16, id string) *routers.GoBGP {
	t := l.t
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	g, err := routers.StartGoBGP(ctx, routers.GoBGPConfig{Namespace: l.lab.Router.NS, ASN: bgpModeASN,
		RouterID: netip.MustParseAddr(id), ListenAddresses: []netip.Addr{l.lab.Router.LAN4}, ListenPort: int32(port),
		Log: labtest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gobgp on port %d:\n%s", port, g.Logs())
		}
		_ = g.Stop()
	})
	for _, n := range l.lab.Nodes {
		if err := g.AddPeer(ctx, routers.GoBGPPeer{Address: n.LAN4, ASN: bgpModeASN}); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// goBGPVia waits until exactly the nodes with addresses want send prefix
// to g (none: no node does), reading g's Adj-RIB-In of each node.
func (l *speakerLab) goBGPVia(g *routers.GoBGP, prefix netip.Prefix, want []netip.Addr) {
	l.t.Helper()
	eventually(l.t, 30*time.Second, fmt.Sprintf("GoBGP %s receives %s from %v", g.Namespace(), prefix, want), func() (bool, string) {
		var got []netip.Addr
		for _, n := range l.lab.Nodes {
			rs, err := g.Received(l.t.Context(), n.LAN4)
			if err != nil {
				return false, err.Error()
			}
			if _, ok := routers.FindRoute(rs, prefix); ok {
				got = append(got, n.LAN4)
			}
		}
		return slices.Equal(got, want), fmt.Sprint(got)
	})
}

// bgpProber is a client sending one request every interval to a service IP
// through the router, each on a new connection, counting who answered and
// what failed.
type bgpProber struct {
	ip   netip.Addr
	stop chan struct{}
	done chan struct{}

	hops *nextHopWatch // the router's next hops for ip

	mu       sync.Mutex
	answered map[string]int
	failures []probeFailure
	total    int
}

// probeFailure is one failed request: when it started, when its
// connection's SYN left (zero if it never dialled), how long it took.
type probeFailure struct {
	start, dialled time.Time
	took           time.Duration
	err            error
}

func (f probeFailure) String() string {
	return fmt.Sprintf("%s (+%s): %v", f.start.Format("15:04:05.000"), f.took.Round(time.Millisecond), f.err)
}

// probeEvery starts a bgpProber from the client namespace; end stops it.
func (l *speakerLab) probeEvery(ip netip.Addr, every time.Duration) *bgpProber {
	p := &bgpProber{ip: ip, stop: make(chan struct{}), done: make(chan struct{}), answered: map[string]int{}}
	p.hops = l.watchNextHops(netip.PrefixFrom(ip, ip.BitLen()))
	url := netlab.ServiceURL(netip.AddrPortFrom(ip, 80))
	client := netlab.HTTPClient(l.lab.Client.NS, 2*time.Second)
	go func() {
		defer close(p.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			start := time.Now()
			// The transport dials on a goroutine of its own. The
			// connection can be moved from its SYN on: a change between
			// the SYN and the handshake's last ACK sends that ACK to a
			// node that never saw the SYN.
			var dialledAt atomic.Pointer[time.Time]
			ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
				ConnectStart: func(_, _ string) {
					now := time.Now()
					dialledAt.Store(&now)
				}})
			body, err := httpGetContext(ctx, client, url)
			p.mu.Lock()
			p.total++
			if err != nil {
				var dialled time.Time
				if c := dialledAt.Load(); c != nil {
					dialled = *c
				}
				p.failures = append(p.failures, probeFailure{start: start, dialled: dialled, took: time.Since(start), err: err})
			} else {
				p.answered[body]++
			}
			p.mu.Unlock()
		}
	}()
	l.t.Cleanup(p.end)
	return p
}

// end stops the bgpProber and waits for its last request.
func (p *bgpProber) end() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// counts returns the number of requests so far, who answered them and the
// failures.
func (p *bgpProber) counts() (total int, answered map[string]int, failures []probeFailure) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total, maps.Clone(p.answered), slices.Clone(p.failures)
}

// report ends the bgpProber, logs what it saw, and fails t for every failed
// request. With rehash, one kind is excused: a connection reset while the
// connection was open and the router replaced one serving set of next hops
// of the service IP with another. That is the router's ECMP rehash (see
// nextHopWatch), logged with the change that caused it. Tests where the
// next hops must not change (graceful restart, an API server outage) pass
// rehash false and excuse nothing.
func (p *bgpProber) report(t *testing.T, what string, rehash bool) {
	t.Helper()
	p.end()
	total, answered, failures := p.counts()
	changes, errs := p.hops.all()
	t.Logf("%s: %d requests to %s, answered by %v, %d failed; the router changed its next hops %d times", what, total, p.ip, answered, len(failures), len(changes))
	for _, err := range errs {
		// A watch that misses a change only excuses less.
		t.Logf("%s: watching the router's routes: %v", what, err)
	}
	if total == 0 {
		t.Errorf("%s: the client sent no request", what)
	}
	var failed []string
	for _, f := range failures {
		if rehash && errors.Is(f.err, syscall.ECONNRESET) && !f.dialled.IsZero() {
			if c, ok := p.hops.rehashDuring(f.dialled, f.start.Add(f.took)); ok {
				t.Logf("%s: %v: reset by the router's ECMP rehash: its next hops went from %q to %q at %s", what, f, c.from, c.hops, c.at.Format("15:04:05.000"))
				continue
			}
		}
		failed = append(failed, f.String())
	}
	if len(failed) > 0 {
		var seen []string
		for _, c := range changes {
			seen = append(seen, fmt.Sprintf("%s %q -> %q", c.at.Format("15:04:05.000"), c.from, c.hops))
		}
		t.Errorf("%s: %d of %d requests to %s failed, want none:\n%s\nthe router's next hops meanwhile:\n%s", what, len(failed), total, p.ip,
			strings.Join(failed, "\n"), strings.Join(seen, "\n"))
	}
}

func httpGetContext(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}

// took logs how long a wait lasted, so a slow run says where its time went.
func (l *speakerLab) took(what string, since time.Time) {
	l.t.Logf("%s: %s", what, time.Since(since).Round(time.Millisecond))
}
