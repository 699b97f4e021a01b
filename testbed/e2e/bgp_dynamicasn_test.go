package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
)

// dynamicASN against FRR, which knows each node's AS: node1's BGPPeer says
// internal and node1 is in FRR's AS, node2's says external and node2 is in
// another; both sessions come up and carry the Service's route as iBGP
// (local-pref, empty AS path) and eBGP (node2's AS). node3's BGPPeer says
// internal but FRR is in another AS, node4's says external but FRR is in
// node4's AS: Herald refuses both OPENs with NOTIFICATION OPEN Message
// Error / Bad Peer AS, and FRR's own record of the last reset says so.
func TestBGPDynamicASN(t *testing.T) {
	const node3ASN = 64514
	l := newSpeakerLab(t, speakerLabOptions{nodes: 4, router: "frr", routerASN: bgpRouterASN,
		neighbors: func(lab *netlab.Lab) []routers.Neighbor {
			return []routers.Neighbor{
				{Address: lab.Nodes[0].LAN4, ASN: bgpRouterASN},
				{Address: lab.Nodes[1].LAN4, ASN: bgpNodeASN},
				// FRR's record of a neighbor only counts connections it
				// opened itself: the one Herald opens is a stand-in
				// until its OPEN is accepted, and forgotten when it
				// closes first. So the speakers listen (port 1790) and
				// FRR dials nodes 3 and 4 too.
				{Address: lab.Nodes[2].LAN4, ASN: node3ASN, Port: 1790},
				{Address: lab.Nodes[3].LAN4, ASN: bgpRouterASN, Port: 1790},
			}
		},
		speakerArgs: []string{"--bgp-listen-port", "1790"}})
	capture := l.captureBGP("router", "eth0")
	peer := func(name, node string, myASN uint32, mode string) string {
		return fmt.Sprintf(`---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: %s, namespace: metallb-system}
spec:
  myASN: %d
  dynamicASN: %s
  peerAddress: %s
  connectTime: 2s
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: %s}}]
`, name, myASN, mode, l.lab.Router.LAN4, node)
	}
	l.apply(fmt.Sprintf(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: bgp, namespace: metallb-system}
spec: {addresses: [%s]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp, namespace: metallb-system}
spec: {ipAddressPools: [bgp], localPref: 150}
`, l.lab.BGPPool4) +
		peer("internal", "node1", bgpRouterASN, "internal") +
		peer("external", "node2", bgpNodeASN, "external") +
		peer("internal-but-external", "node3", node3ASN, "internal") +
		peer("external-but-internal", "node4", bgpRouterASN, "external"))

	for i, name := range []string{"internal", "external"} {
		n := l.lab.Nodes[i]
		eventually(t, 30*time.Second, fmt.Sprintf("%s's session (%s) Established at FRR", n.Name, name), func() (bool, string) {
			s, err := l.router.SessionState(t.Context(), n.LAN4)
			return err == nil && s == "Established", fmt.Sprintf("%s %v", s, err)
		})
	}
	ip := l.service("web", nil, "node1", "node2")
	r := l.route(netip.PrefixFrom(ip, 32), "the route from node1 and node2", func(r routers.Route, ok bool) bool { return ok && len(r.Paths) == 2 })
	for _, p := range r.Paths {
		switch p.NextHop {
		case l.lab.Nodes[0].LAN4:
			if len(p.ASPath) != 0 || !p.HasLocalPref || p.LocalPref != 150 {
				t.Errorf("node1 (dynamicASN internal): AS path %v, local-pref %d (%v); want an iBGP path: [] and 150", p.ASPath, p.LocalPref, p.HasLocalPref)
			}
		case l.lab.Nodes[1].LAN4:
			if !slices.Equal(p.ASPath, []uint32{bgpNodeASN}) {
				t.Errorf("node2 (dynamicASN external): AS path %v, want [%d]", p.ASPath, bgpNodeASN)
			}
		default:
			t.Errorf("a path with next hop %v", p.NextHop)
		}
	}

	frr := l.router.(*routers.FRR)
	for i, name := range []string{"internal-but-external", "external-but-internal"} {
		n := l.lab.Nodes[2+i]
		var nb routers.FRRNeighbor
		eventually(t, 30*time.Second, fmt.Sprintf("FRR received Bad Peer AS from %s (%s)", n.Name, name), func() (bool, string) {
			var err error
			nb, err = frr.Neighbor(t.Context(), n.LAN4.String())
			if err != nil {
				return false, err.Error()
			}
			return nb.NotificationsReceived > 0 && strings.Contains(nb.LastResetDueTo, "Notification received") &&
				strings.Contains(nb.LastNotification, "Bad Peer AS"), fmt.Sprintf("%+v", nb)
		})
		t.Logf("FRR on %s: state %s, %d NOTIFICATIONs received, last reset %q, last notification %q (%s)",
			n.Name, nb.State, nb.NotificationsReceived, nb.LastResetDueTo, nb.LastNotification, nb.LastErrorCodeSubcode)
		if nb.State == "Established" {
			t.Errorf("FRR's session with %s is Established", n.Name)
		}
		st := l.waitSession(n.Name, name, 10*time.Second, "Bad Peer AS sent", func(st v1beta1.BGPSessionStateStatus) bool {
			return st.LastNotificationSent != ""
		})
		t.Logf("%s's BGPSessionState: %s, last NOTIFICATION sent %q, lastError %q", n.Name, st.BGPState, st.LastNotificationSent, st.LastError)
		if st.BGPState == "Established" || !strings.Contains(strings.ToLower(st.LastNotificationSent), "bad peer as") {
			t.Errorf("%s's BGPSessionState: %s, last NOTIFICATION sent %q; want no session and Bad Peer AS", n.Name, st.BGPState, st.LastNotificationSent)
		}
	}

	// On the wire: on every connection, the connections the speakers
	// dialled and those FRR dialled (which they accepted), node3 and node4
	// sent their OPEN and then NOTIFICATION 2/2, never anything else.
	segs, err := capture.Segments()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range l.lab.Nodes[2:] {
		sent := map[[2]netip.AddrPort][]wireMessage{}  // by connection
		heard := map[[2]netip.AddrPort][]wireMessage{} // what FRR sent on it
		for _, m := range bgpOnWire(segs) {
			if m.Src.Addr() == n.LAN4 {
				sent[[2]netip.AddrPort{m.Src, m.Dst}] = append(sent[[2]netip.AddrPort{m.Src, m.Dst}], m)
			}
			if m.Dst.Addr() == n.LAN4 {
				heard[[2]netip.AddrPort{m.Dst, m.Src}] = append(heard[[2]netip.AddrPort{m.Dst, m.Src}], m)
			}
		}
		dialled, accepted, refused := 0, 0, 0
		for conn, ms := range sent {
			var types []string
			for _, m := range ms {
				types = append(types, fmt.Sprintf("%d %d/%d", m.Type, m.Code, m.Subcode))
			}
			frrNotified := slices.ContainsFunc(heard[conn], func(m wireMessage) bool { return m.Type == 3 })
			badPeerAS := len(ms) == 2 && ms[1].Type == 3 && ms[1].Code == 2 && ms[1].Subcode == 2
			switch {
			case len(ms) == 0 || ms[0].Type != 1 || len(ms) > 2 || (len(ms) == 2 && ms[1].Type != 3):
				t.Errorf("%s sent on connection %v: %v; want its OPEN (1), then at most a NOTIFICATION (3)", n.Name, conn, types)
			case len(heard[conn]) == 0 && len(ms) != 1:
				t.Errorf("%s sent on connection %v: %v, where FRR sent nothing; want its OPEN alone", n.Name, conn, types)
			case len(heard[conn]) > 0 && !frrNotified && !badPeerAS:
				t.Errorf("%s sent on connection %v: %v; want OPEN (1) then NOTIFICATION 2/2 (3 2/2)", n.Name, conn, types)
			}
			// Not refused: FRR closed it unanswered (a starting FRR
			// closes the connections of a neighbor it still holds
			// Idle), or ended it first, a collision's Cease, which our
			// FSM answers in OpenSent with 5/1 as RFC 4271 (8.2.2) says.
			if badPeerAS {
				refused++
			}
			if conn[1].Port() == 179 {
				dialled++
			} else {
				accepted++
			}
		}
		if refused == 0 {
			t.Errorf("%s refused no connection with Bad Peer AS", n.Name)
		}
		t.Logf("%s: %d connections it dialled and %d it accepted, %d refused with Bad Peer AS", n.Name, dialled, accepted, refused)
		if dialled == 0 || accepted == 0 {
			t.Errorf("%s: %d connections dialled, %d accepted; want both kinds", n.Name, dialled, accepted)
		}
	}
}
