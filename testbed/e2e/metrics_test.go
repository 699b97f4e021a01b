package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
)

// What Prometheus scrapes from the real binaries, in BGP mode with one
// pool, one Service and FRR: the controller's /metrics has MetalLB's
// allocator series (the Service's one address in use, the pool's total
// matching the IPAddressPool status) and configuration gauges; the
// speaker's has its configuration gauges, the session up, the one prefix
// announced, UPDATEs sent and counted by prefixes, and the Service's
// change measured from the informer to the wire. A second Service, from an
// L2 pool, is announced by gratuitous ARP (counted, and measured from the
// informer) and answers the client's arping (requests and responses
// counted). Once FRR stops, the session is down.
func TestMetricsScrapedFromTheBinaries(t *testing.T) {
	l := newSpeakerLab(t, speakerLabOptions{nodes: 1, router: "frr", routerASN: bgpRouterASN, controllerMetrics: true,
		neighbors: func(lab *netlab.Lab) []routers.Neighbor {
			return []routers.Neighbor{{Address: lab.Nodes[0].LAN4, ASN: bgpNodeASN}}
		}})
	node := l.lab.Nodes[0]
	l.apply(fmt.Sprintf(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp, namespace: metallb-system}
spec: {addresses: [%[1]s]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: frr, namespace: metallb-system}
spec: {myASN: %[2]d, peerASN: %[3]d, peerAddress: %[4]s}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: metallb-system}
spec: {ipAddressPools: [bgp]}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: lan, namespace: metallb-system}
spec: {addresses: [%[5]s], autoAssign: false}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: lan, namespace: metallb-system}
spec: {ipAddressPools: [lan]}
`, l.lab.BGPPool4, bgpNodeASN, bgpRouterASN, l.lab.Router.LAN4, l.lab.L2Pool4))
	peer := "name=frr"

	// speaker waits until node1's speaker's series name{labels} satisfies
	// cond, and returns its value.
	speaker := func(what, name string, cond func(float64) bool, labels ...string) float64 {
		t.Helper()
		var v float64
		eventually(t, 3*time.Minute, "speaker: "+what, func() (bool, string) {
			var err error
			if v, err = l.metric(node, name, labels...); err != nil {
				return false, err.Error()
			}
			return cond(v), fmt.Sprint(name, labels, " = ", v)
		})
		return v
	}
	controller := func(what, name string, cond func(float64) bool, labels ...string) float64 {
		t.Helper()
		var v float64
		eventually(t, 3*time.Minute, "controller: "+what, func() (bool, string) {
			body, err := scrape(t.Context(), "http://"+l.controllerMetrics+"/metrics")
			if err != nil {
				return false, err.Error()
			}
			var ok bool
			v, ok, err = seriesValue(body, name, labels...)
			switch {
			case err != nil:
				return false, err.Error()
			case !ok:
				return false, "no series " + name
			}
			return cond(v), fmt.Sprint(name, labels, " = ", v)
		})
		return v
	}
	is := func(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
	positive := func(v float64) bool { return v > 0 }

	// The session first, so the Service's change is one the speaker
	// makes on an Established session (the change measured on the wire).
	speaker("session up", "metallb_bgp_session_up", is(1), peer)
	speaker("configuration loaded", "metallb_k8s_client_config_loaded_bool", is(1))
	speaker("configuration not stale", "metallb_k8s_client_config_stale_bool", is(0))
	ip := l.service("web", nil, "node1")
	l.route(netip.PrefixFrom(ip, 32), "the Service's route at FRR", func(_ routers.Route, ok bool) bool { return ok })

	speaker("one prefix announced", "metallb_bgp_announced_prefixes_total", is(1), peer)
	updates := speaker("UPDATEs sent", "metallb_bgp_updates_total", positive, peer)
	speaker("UPDATEs counted by prefixes, as many as sent", "herald_bgp_update_prefixes_count", is(updates), peer)
	speaker("the Service's change measured on the wire", "herald_event_to_wire_seconds_count", positive, "mode=bgp")
	latency := speaker("a latency sum", "herald_event_to_wire_seconds_sum", positive, "mode=bgp")
	t.Logf("event-to-wire latency sum %.3fs", latency)

	pool, err := l.mlb.MetallbV1beta1().IPAddressPools(herald).Get(t.Context(), "bgp", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	size := float64(uint64(1) << (32 - l.lab.BGPPool4.Bits()))
	controller("one address in use", "metallb_allocator_addresses_in_use_total", is(1), "pool=bgp")
	total := controller("the pool's addresses", "metallb_allocator_addresses_total", is(size), "pool=bgp")
	eventually(t, time.Minute, "the pool's status agrees with the total", func() (bool, string) {
		pool, err = l.mlb.MetallbV1beta1().IPAddressPools(herald).Get(t.Context(), "bgp", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		st := pool.Status
		return float64(st.AssignedIPv4+st.AvailableIPv4+st.AssignedIPv6+st.AvailableIPv6) == total, fmt.Sprintf("%+v", st)
	})
	controller("configuration loaded", "metallb_k8s_client_config_loaded_bool", is(1))
	controller("configuration not stale", "metallb_k8s_client_config_stale_bool", is(0))

	// L2: the speaker takes the IP (gained, measured from the informer
	// event, gratuitous ARP sent) and answers the client's arping.
	lan := l.service("lan", func(s *corev1.Service) {
		s.Annotations = map[string]string{"metallb.io/address-pool": "lan"}
	}, "node1")
	ipLabel := "ip=" + lan.String()
	speaker("gratuitous ARP for the L2 Service", "metallb_layer2_gratuitous_sent", positive, ipLabel)
	speaker("the L2 Service's change measured", "herald_event_to_wire_seconds_count", positive, "mode=l2")
	speaker("the L2 IP gained", "herald_layer2_owner_changes_total", positive, "change=gained")
	before, _ := l.metric(node, "metallb_layer2_requests_received", ipLabel)
	if out, err := l.lab.Exec(t.Context(), l.lab.Client.NS, "arping", "-c", "3", "-w", "10", "-I", "eth0", lan.String()); err != nil {
		t.Fatalf("arping: %v\n%s", err, out)
	}
	atLeast := func(n float64) func(float64) bool { return func(v float64) bool { return v >= n } }
	speaker("the arping's requests counted", "metallb_layer2_requests_received", atLeast(before+3), ipLabel)
	speaker("replies counted", "metallb_layer2_responses_sent", atLeast(3), ipLabel)

	if err := l.router.Stop(); err != nil {
		t.Fatal(err)
	}
	speaker("session down once FRR stopped", "metallb_bgp_session_up", is(0), peer)
}

// scrape GETs a /metrics page on the host.
func scrape(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", url, resp.Status)
	}
	return string(b), err
}
