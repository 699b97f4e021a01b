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
// counted). The session runs BFD with FRR's bfdd: Up, packets both ways,
// the negotiated detection time. Herald's own names of the configuration,
// pool and leader gauges agree, and the one speaker sees itself alive in
// the liveness mesh. Once FRR stops, the session and BFD are down.
func TestMetricsScrapedFromTheBinaries(t *testing.T) {
	l := newSpeakerLab(t, speakerLabOptions{nodes: 1, router: "frr", routerASN: bgpRouterASN, controllerMetrics: true,
		neighbors: func(lab *netlab.Lab) []routers.Neighbor {
			return []routers.Neighbor{{Address: lab.Nodes[0].LAN4, ASN: bgpNodeASN, BFD: &routers.BFDProfile{}}}
		}})
	node := l.lab.Nodes[0]
	l.apply(fmt.Sprintf(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp, namespace: metallb-system}
spec: {addresses: [%[1]s]}
---
apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: bfd, namespace: metallb-system}
spec: {receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: frr, namespace: metallb-system}
spec: {myASN: %[2]d, peerASN: %[3]d, peerAddress: %[4]s, bfdProfile: bfd}
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
	speaker("configuration loaded (Herald's name)", "herald_config_loaded", is(1))
	speaker("configuration not stale (Herald's name)", "herald_config_stale", is(0))
	speaker("ready", "herald_speaker_ready", is(1))
	// The liveness mesh of one speaker: itself alive, nobody else's
	// status held.
	speaker("itself alive in the mesh", "herald_liveness_speakers_alive", is(1))
	speaker("no other speaker's status", "herald_liveness_statuses_held", is(0))
	// BFD with FRR's bfdd, 300 ms both ways and a multiplier of 3: Up,
	// packets both ways, and the negotiated detection time 3 × 300 ms.
	bfdPeer := []string{"kind=bgp", "name=frr", "peer=" + l.lab.Router.LAN4.String()}
	speaker("BFD up", "herald_bfd_session_up", is(1), bfdPeer...)
	speaker("BFD state Up (3)", "herald_bfd_session_state", is(3), bfdPeer...)
	speaker("BFD packets received", "herald_bfd_control_packets_received_total", positive, bfdPeer...)
	speaker("BFD packets sent", "herald_bfd_control_packets_sent_total", positive, bfdPeer...)
	speaker("BFD detection time", "herald_bfd_detection_time_seconds", is(0.9), bfdPeer...)
	speaker("no BFD authentication failure", "herald_bfd_auth_failures_total", is(0), bfdPeer...)
	speaker("no BFD packet without a session", "herald_bfd_packets_unmatched_total", is(0), "kind=bgp")
	speaker("no BFD datagram lost to a full buffer", "herald_bfd_receive_queue_drops_total", is(0), "kind=bgp")
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
	controller("configuration loaded (Herald's name)", "herald_config_loaded", is(1))
	controller("configuration not stale (Herald's name)", "herald_config_stale", is(0))
	controller("one Service allocated", "metallb_allocator_services_allocated_total", is(1), "pool=bgp")
	controller("one Service allocated (Herald's name)", "herald_pool_services_allocated", is(1), "pool=bgp")
	controller("one IPv4 address in use (Herald's name)", "herald_pool_addresses_in_use", is(1), "pool=bgp", "family=ipv4")
	controller("the only replica leads", "herald_controller_leader", is(1))
	controller("MetalLB's IPv4 total", "metallb_allocator_ipv4_addresses_total", is(size), "pool=bgp")
	controller("MetalLB's IPv6 total: none in an IPv4 pool", "metallb_allocator_ipv6_addresses_total", is(0), "pool=bgp")
	controller("MetalLB's IPv4 in use", "metallb_allocator_ipv4_addresses_in_use_total", is(1), "pool=bgp")
	controller("MetalLB's IPv6 in use", "metallb_allocator_ipv6_addresses_in_use_total", is(0), "pool=bgp")
	controller("the pool's IPv4 addresses (Herald's name)", "herald_pool_addresses", is(size), "pool=bgp", "family=ipv4")

	// L2: the speaker takes the IP (gained, measured from the informer
	// event, gratuitous ARP sent) and answers the client's arping. Once
	// its start hold is over (it started alone, docs/l2.md): an IP it
	// takes at the hold's end comes from no Service event and is not
	// measured.
	l.meshConverged(1)
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
	speaker("BFD down once FRR stopped", "herald_bfd_session_up", is(0), bfdPeer...)
	speaker("BFD Down (1) or AdminDown (0)", "herald_bfd_session_state", func(v float64) bool { return v <= 1 }, bfdPeer...)
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
