package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
)

// TCP MD5 (RFC 2385) against FRR and BIRD, whose neighbors all require a
// password: node1's BGPPeer gives it in password, node2's in a
// passwordSecret, and both sessions come up at the router (which drops
// every segment not signed with its key, so Established there means Herald
// signed with the right one). node3's BGPPeer has another password: its
// session never comes up, and its BGPSessionState's lastError says that a
// TCP MD5 mismatch looks like what happened.
func TestBGPPassword(t *testing.T) {
	for _, router := range []string{"frr", "bird"} {
		t.Run(router, func(t *testing.T) { testBGPPassword(t, router) })
	}
}

func testBGPPassword(t *testing.T, router string) {
	const (
		plain  = "plain-pass-1"
		secret = "secret-pass-2"
		right  = "right-pass-3"
	)
	l := newSpeakerLab(t, speakerLabOptions{nodes: 3, router: router, routerASN: bgpRouterASN,
		neighbors: func(lab *netlab.Lab) []routers.Neighbor {
			return []routers.Neighbor{
				{Address: lab.Nodes[0].LAN4, ASN: bgpNodeASN, Password: plain},
				{Address: lab.Nodes[1].LAN4, ASN: bgpNodeASN, Password: secret},
				{Address: lab.Nodes[2].LAN4, ASN: bgpNodeASN, Password: right},
			}
		}})
	peer := func(name, node, password string) string {
		return fmt.Sprintf(`---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: %s, namespace: metallb-system}
spec:
  myASN: %d
  peerASN: %d
  peerAddress: %s
  connectTime: 2s
  nodeSelectors: [{matchLabels: {kubernetes.io/hostname: %s}}]
%s
`, name, bgpNodeASN, bgpRouterASN, l.lab.Router.LAN4, node, password)
	}
	l.apply(fmt.Sprintf(`
apiVersion: v1
kind: Secret
metadata: {name: bgp-password, namespace: metallb-system}
type: kubernetes.io/basic-auth
stringData: {password: %s}
`, secret) +
		peer("with-password", "node1", "  password: "+plain) +
		peer("with-secret", "node2", "  passwordSecret: {name: bgp-password, namespace: metallb-system}") +
		peer("wrong-password", "node3", "  password: not-"+right))

	for i, name := range []string{"with-password", "with-secret"} {
		n := l.lab.Nodes[i]
		eventually(t, 30*time.Second, fmt.Sprintf("%s's session (%s) Established at %s", n.Name, name, router), func() (bool, string) {
			s, err := l.router.SessionState(t.Context(), n.LAN4)
			return err == nil && s == "Established", fmt.Sprintf("%s %v", s, err)
		})
		l.waitSession(n.Name, name, 10*time.Second, "Established", func(st v1beta1.BGPSessionStateStatus) bool {
			return st.BGPState == "Established"
		})
	}

	n3 := l.lab.Nodes[2]
	st := l.waitSession(n3.Name, "wrong-password", 30*time.Second, "a lastError naming TCP MD5", func(st v1beta1.BGPSessionStateStatus) bool {
		return strings.Contains(st.LastError, "MD5")
	})
	t.Logf("node3's BGPSessionState: state %s, lastError %q", st.BGPState, st.LastError)
	if st.BGPState == "Established" {
		t.Errorf("node3's session with the wrong password is Established")
	}
	// By now node3 has dialed several times (connectTime 2s): the router
	// never saw a session either.
	if s, err := l.router.SessionState(t.Context(), n3.LAN4); err != nil || s == "Established" || s == "OpenSent" || s == "OpenConfirm" {
		t.Errorf("%s's session with node3 (wrong password): %s %v; want no OPEN ever exchanged", router, s, err)
	}
}
