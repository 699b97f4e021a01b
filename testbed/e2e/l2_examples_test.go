package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

// l2Example is one L2 configuration example from the documentation MetalLB
// users read (/work/shared/seeds at the time of writing: a Red Hat blog
// post "Advanced MetalLB configuration", the OKD page "Advertising the IP
// address pools", a platform team's MetalLB page), its YAML as written
// there with only the addresses replaced by the lab's.
type l2Example struct {
	name   string
	source string
	// yaml is a format taking the lab's addresses (see addrs).
	yaml string
	// services are the Services to create: name -> how (nil: defaults).
	services map[string]func(*corev1.Service)
	// labelNode2 are labels put on node2 for the example.
	labelNode2 map[string]string
	// eligible are the nodes allowed to answer (nil: every node);
	// answerless says no node may answer at all.
	eligible   []string
	answerless bool
}

func withPool(pool string) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Annotations = map[string]string{"metallb.io/address-pool": pool} }
}

func ipv6Only(s *corev1.Service) {
	s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
	s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
}

func dualStack(s *corev1.Service) {
	s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
}

// The examples' addresses, in the lab's L2 pools: %[1]s... are filled by
// exampleAddrs.
var l2Examples = []l2Example{
	{
		name:   "all pools, an IPv4 and IPv6 pool, IPv6 and dual-stack Services",
		source: "Red Hat blog: IPAddressPool example (both families) and the empty L2Advertisement",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: example
  namespace: metallb-system
spec:
  addresses:
  - %[1]s
  - %[2]s
  - %[3]s
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: empty
  namespace: metallb-system
`,
		services: map[string]func(*corev1.Service){"ex-v4": nil, "ex-v6": ipv6Only, "ex-dual": dualStack},
	},
	{
		name:   "pool by name",
		source: "platform team's page: default-pool and the default L2Advertisement",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: default-pool
  namespace: metallb-system
spec:
  addresses:
  - %[4]s
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: default
  namespace: metallb-system
spec:
  ipAddressPools:
  - default-pool
`,
		services: map[string]func(*corev1.Service){"byname": nil},
	},
	{
		name:   "pool by name, not auto-assigned",
		source: "OKD: Configuring MetalLB with an L2 advertisement",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  namespace: metallb-system
  name: doc-example-l2
spec:
  addresses:
    - %[5]s
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2advertisement
  namespace: metallb-system
spec:
  ipAddressPools:
   - doc-example-l2
`,
		services: map[string]func(*corev1.Service){"okd": withPool("doc-example-l2")},
	},
	{
		name:   "pool by label",
		source: "OKD: Configuring MetalLB with an L2 advertisement and labels",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  namespace: metallb-system
  name: doc-example-l2-label
  labels:
    zone: east
spec:
  addresses:
    - %[6]s
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2advertisement-label
  namespace: metallb-system
spec:
  ipAddressPoolSelectors:
    - matchExpressions:
        - key: zone
          operator: In
          values:
            - east
`,
		services: map[string]func(*corev1.Service){"bylabel": nil},
	},
	{
		name:   "node selectors",
		source: "Red Hat blog: Limit the nodes advertising the service via L2 (the pool: its first-pool, named in the example before)",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: first-pool
  namespace: metallb-system
spec:
  addresses:
  - %[7]s
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
   name: example
   namespace: metallb-system
spec:
   nodeSelectors:
   - matchLabels:
      network: controlplane
`,
		services:   map[string]func(*corev1.Service){"nodesel": nil},
		labelNode2: map[string]string{"network": "controlplane"},
		eligible:   []string{"node2"},
	},
	{
		name: "interfaces",
		// The page's layout lost the indentation of ipAddressPools and
		// interfaces; this is its evident intent.
		source: "Red Hat blog: Limit the interfaces to reply from",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: third-pool
  namespace: metallb-system
spec:
  addresses:
  - %[8]s
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
   name: example
   namespace: metallb-system
spec:
   ipAddressPools:
   - third-pool
   interfaces:
   - eth0
   - eth1
`,
		services: map[string]func(*corev1.Service){"ifaces": nil},
	},
	{
		name: "interfaces no node has",
		// The page indents interfaces under the pool list item, which
		// YAML rejects; this is its evident intent. No lab node has
		// interfaceA or interfaceB: no node answers, and each speaker
		// says so with an InterfaceNotFound Event.
		source: "OKD: Configuring MetalLB with an L2 advertisement for selected interfaces",
		yaml: `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  namespace: metallb-system
  name: doc-example-l2
spec:
  addresses:
    - %[9]s
  autoAssign: false
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: l2advertisement
  namespace: metallb-system
spec:
  ipAddressPools:
   - doc-example-l2
  interfaces:
   - interfaceA
   - interfaceB
`,
		services:   map[string]func(*corev1.Service){"noiface": withPool("doc-example-l2")},
		answerless: true,
	},
}

// exampleAddrs are the lab's stand-ins for the examples' addresses, in
// order: the Red Hat pool's 192.168.10.0/24, 192,168,9,1-192,168,9,5 (sic)
// and fc00:f853:0ccd:e799::/124; default-pool's
// 192.168.12.100-192.168.12.120; OKD's 4.4.4.0/24 and 172.31.249.87/32;
// first-pool, third-pool (no addresses in the blog); OKD's 4.4.4.0/24
// again. Each example gets its own addresses so one's leftovers cannot
// answer for the next.
func exampleAddrs(pool4, pool6 netip.Prefix) []any {
	at := func(off int) netip.Addr {
		a := pool4.Addr().As4()
		a[3] += byte(off)
		return netip.AddrFrom4(a)
	}
	cidr := func(off, bits int) string { return netip.PrefixFrom(at(off), bits).String() }
	return []any{
		cidr(0, 30), at(4).String() + "-" + at(5).String(), netip.PrefixFrom(pool6.Addr(), 124).String(),
		at(8).String() + "-" + at(10).String(),
		cidr(12, 30), cidr(16, 32),
		cidr(20, 30), cidr(24, 30), cidr(28, 30),
	}
}

// Each L2 example of the documentation MetalLB users read, applied as
// written (addresses substituted) to three speakers: for every Service IP,
// arping (IPv4) or ndisc6 (IPv6) from the client gets exactly one answer
// per request, from the node serving it, a capture over the whole example
// sees no answer from any other node (nor from nodes a selector excludes),
// HTTP to the IP succeeds and the client's neighbour entry carries the
// owner's MAC.
func TestL2DocExamples(t *testing.T) {
	l := newSpeakerLab(t, speakerLabOptions{nodes: 3})
	// The examples are about steady state: every speaker sees all three
	// alive before the first one is applied. Speakers that start together
	// each count only themselves until they hear of each other (about
	// 1.5 s in one full run), so the owner asked of the Service meanwhile
	// may not be the one the election settles on.
	l.meshConverged(3)
	addrs := exampleAddrs(l.lab.L2Pool4, l.lab.L2Pool6)
	clientMAC := l.clientMAC()
	byMAC := map[string]string{}
	for _, n := range l.lab.Nodes {
		byMAC[l.mac(n.Name)] = n.Name
	}
	for _, ex := range l2Examples {
		t.Run(ex.name, func(t *testing.T) {
			sl := l.sub(t)
			t.Logf("example from %s", ex.source)
			if ex.labelNode2 != nil {
				sl.labelNodeUntilEnd("node2", ex.labelNode2)
			}
			capture := sl.captureL2("client")
			sl.applyExample(fmt.Sprintf(ex.yaml, addrs...))
			var ips []netip.Addr
			for _, name := range slices.Sorted(mapKeys(ex.services)) {
				ips = append(ips, sl.l2Service(name, ex.services[name], "node1", "node2", "node3")...)
			}
			for _, ip := range ips {
				if ex.answerless {
					sl.noAnswers(ip)
					continue
				}
				owner := sl.owner(ip)
				if ex.eligible != nil && !slices.Contains(ex.eligible, owner) {
					t.Errorf("%s is served by %s; the example allows only %v", ip, owner, ex.eligible)
				}
				if ip.Is4() {
					sl.exactlyOneAnswers(ip, owner)
				} else {
					sl.exactlyOneNDAnswer(ip, owner)
				}
				sl.clientUses(ip, owner)
			}
			if ex.answerless {
				sl.interfaceNotFoundFromEveryNode("l2advertisement")
			}
			frames := capture.stop()
			for _, ip := range ips {
				a := answersFor(frames, ip, clientMAC)
				t.Logf("%s: %s", ip, a)
				if ex.answerless && (len(a.answers) > 0 || len(a.announced) > 0) {
					t.Errorf("%s: some node answered or announced: %s", ip, a)
				}
				if len(a.answers) > 1 {
					t.Errorf("%s: answers from %d nodes, want one: %s", ip, len(a.answers), a)
				}
				total := 0
				for mac, n := range a.answers {
					total += n
					if ex.eligible != nil && !slices.Contains(ex.eligible, byMAC[mac]) {
						t.Errorf("%s: %s (%s) answered, though the example's selector excludes it", ip, byMAC[mac], mac)
					}
				}
				for mac := range a.announced {
					if ex.eligible != nil && !slices.Contains(ex.eligible, byMAC[mac]) {
						t.Errorf("%s: %s (%s) announced it, though the example's selector excludes it", ip, byMAC[mac], mac)
					}
				}
				if total > a.requests {
					t.Errorf("%s: %d answers to %d requests: some request was answered twice", ip, total, a.requests)
				}
			}
		})
	}
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// sub is the lab seen from a subtest: failures and cleanups are the
// subtest's.
func (l *speakerLab) sub(t *testing.T) *speakerLab {
	c := *l
	c.t = t
	return &c
}

// clientMAC is the client's eth0 MAC, lower case.
func (l *speakerLab) clientMAC() string {
	l.t.Helper()
	out, err := l.lab.Exec(l.t.Context(), l.lab.Client.NS, "cat", "/sys/class/net/eth0/address")
	if err != nil {
		l.t.Fatal(err)
	}
	return strings.ToLower(strings.TrimSpace(string(out)))
}

// labelNodeUntilEnd merges labels into a Node's, until the test ends.
func (l *speakerLab) labelNodeUntilEnd(node string, labels map[string]string) {
	l.t.Helper()
	patch := func(ctx context.Context, v func(string) string) {
		var kv []string
		for k := range labels {
			kv = append(kv, fmt.Sprintf("%q:%s", k, v(labels[k])))
		}
		p := fmt.Sprintf(`{"metadata":{"labels":{%s}}}`, strings.Join(kv, ","))
		if _, err := l.admin.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, []byte(p), metav1.PatchOptions{}); err != nil {
			l.t.Fatal(err)
		}
	}
	patch(l.t.Context(), func(v string) string { return fmt.Sprintf("%q", v) })
	l.t.Cleanup(func() { patch(context.Background(), func(string) string { return "null" }) })
}

// applyExample applies an example's YAML and removes every pool and
// advertisement when the test ends.
func (l *speakerLab) applyExample(yaml string) {
	l.t.Helper()
	l.apply(yaml)
	t := l.t
	t.Cleanup(func() {
		ctx := context.Background() // t.Context() is done by now
		v := l.mlb.MetallbV1beta1()
		if err := v.L2Advertisements(herald).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			t.Errorf("deleting L2Advertisements: %v", err)
		}
		if err := v.IPAddressPools(herald).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			t.Errorf("deleting IPAddressPools: %v", err)
		}
	})
}

// l2Service creates a LoadBalancer Service with a ready endpoint on each
// of nodes, waits for all its IPs (both families when it asks for both),
// and serves HTTP on port 80 of each IP on each of the nodes. The Service
// goes when the test ends.
func (l *speakerLab) l2Service(name string, mod func(*corev1.Service), nodes ...string) []netip.Addr {
	t := l.t
	t.Helper()
	ctx := t.Context()
	s := lbService("default", name, mod)
	if _, err := l.admin.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Service %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = l.admin.CoreV1().Services("default").Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = l.admin.DiscoveryV1().EndpointSlices("default").Delete(context.Background(), name+"-1", metav1.DeleteOptions{})
	})
	l.endpoints(name, nodes...)
	want := max(1, len(s.Spec.IPFamilies))
	var ips []netip.Addr
	eventually(t, 30*time.Second, fmt.Sprintf("Service %s gets %d IPs", name, want), func() (bool, string) {
		got, err := l.admin.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ips = nil
		for _, in := range got.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(in.IP); err == nil {
				ips = append(ips, a)
			}
		}
		return len(ips) == want, fmt.Sprint(got.Status.LoadBalancer.Ingress)
	})
	for _, ip := range ips {
		for _, n := range nodes {
			b, err := l.lab.StartBackend(ctx, n, netip.AddrPortFrom(ip, 80))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = b.Close()
				_ = l.lab.UnbindServiceIP(context.Background(), n, ip)
			})
		}
	}
	return ips
}

// ndReplies sends one Neighbor Solicitation for ip from the client and
// returns the MACs the advertisements came from (every one ndisc6 saw in
// a second).
func (l *speakerLab) ndReplies(ip netip.Addr) []string {
	out, _ := l.lab.Exec(l.t.Context(), l.lab.Client.NS, "ndisc6", "-m", "-n", "-r", "1", "-w", "1000", ip.String(), "eth0")
	var macs []string
	for _, m := range regexp.MustCompile(`Target link-layer address: ([0-9A-Fa-f:]+)`).FindAllStringSubmatch(string(out), -1) {
		macs = append(macs, strings.ToLower(m[1]))
	}
	return macs
}

// exactlyOneNDAnswer checks that each of three Neighbor Solicitations gets
// exactly one advertisement, from node's MAC.
func (l *speakerLab) exactlyOneNDAnswer(ip netip.Addr, node string) {
	l.t.Helper()
	want := l.mac(node)
	eventually(l.t, 20*time.Second, "exactly one NA per NS for "+ip.String()+", from "+node, func() (bool, string) {
		var got [][]string
		for range 3 {
			macs := l.ndReplies(ip)
			got = append(got, macs)
			if len(macs) != 1 || macs[0] != want {
				return false, fmt.Sprintf("answers per solicitation %v, want [%s] each", got, want)
			}
		}
		return true, ""
	})
}

// noAnswers checks that no node answers for ip, for a few seconds.
func (l *speakerLab) noAnswers(ip netip.Addr) {
	l.t.Helper()
	for range 2 {
		if ip.Is4() {
			if n, macs := l.arpReplies(ip); n != 0 {
				l.t.Errorf("%s: %d ARP replies from %v, want none", ip, n, macs)
			}
		} else if macs := l.ndReplies(ip); len(macs) != 0 {
			l.t.Errorf("%s: advertisements from %v, want none", ip, macs)
		}
	}
}

// interfaceNotFoundFromEveryNode waits for a Warning Event
// InterfaceNotFound on the L2Advertisement adv from each node's speaker.
func (l *speakerLab) interfaceNotFoundFromEveryNode(adv string) {
	l.t.Helper()
	eventually(l.t, 30*time.Second, "an InterfaceNotFound Event on L2Advertisement "+adv+" from every node", func() (bool, string) {
		evs, err := l.admin.CoreV1().Events(herald).List(l.t.Context(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		from := map[string]bool{}
		var seen []string
		for _, e := range evs.Items {
			if e.InvolvedObject.Kind != "L2Advertisement" || e.InvolvedObject.Name != adv || e.Reason != "InterfaceNotFound" {
				continue
			}
			seen = append(seen, fmt.Sprintf("%s %s from %s/%s: %s", e.Type, e.Reason, e.Source.Component, e.Source.Host, e.Message))
			if e.Type == corev1.EventTypeWarning && e.InvolvedObject.UID != "" && strings.Contains(e.Message, "interfaceA, interfaceB") {
				from[e.Source.Host] = true
			}
		}
		for _, n := range l.lab.Nodes {
			if !from[n.Name] {
				return false, strings.Join(seen, "\n")
			}
		}
		return true, ""
	})
}
