package speaker

import (
	"net/netip"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/heraldlb/herald/config"
)

// A session restarts when its BGPPeer's session parameters change, never
// because the set of nodes the BGPPeer selects changed (found by the lab's
// TestBGPDocSessionNodeSelectors: labelling a second node rack=frontend
// restarted the first node's session).
func TestSameSession(t *testing.T) {
	sel := func(s string) []labels.Selector {
		l, err := labels.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return []labels.Selector{l}
	}
	base := func() *config.Peer {
		return &config.Peer{Name: "example", MyASN: 64512, ASN: 64512, Address: netip.MustParseAddr("172.30.0.3"), Port: 180,
			HoldTime: 90 * time.Second, KeepaliveTime: 30 * time.Second,
			Nodes: config.NodeSelection{Selectors: sel("rack=frontend"), Nodes: []string{"node1"}}}
	}
	for _, c := range []struct {
		name   string
		change func(*config.Peer)
		same   bool
	}{
		{"unchanged", func(*config.Peer) {}, true},
		{"another node selected", func(p *config.Peer) { p.Nodes.Nodes = []string{"node1", "node3"} }, true},
		{"selector reworded", func(p *config.Peer) { p.Nodes.Selectors = sel("rack in (frontend)") }, true},
		{"port", func(p *config.Peer) { p.Port = 179 }, false},
		{"hold time", func(p *config.Peer) { p.HoldTime = 9 * time.Second }, false},
		{"password", func(p *config.Peer) { p.Password = "s3cret" }, false},
		{"graceful restart", func(p *config.Peer) { p.EnableGracefulRestart = true }, false},
		// A BFD profile change renegotiates BFD, not BGP.
		{"BFD", func(p *config.Peer) { p.BFD = &config.BFDProfile{Name: "fast"} }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := base()
			c.change(b)
			if got := sameSession(base(), b); got != c.same {
				t.Errorf("sameSession = %v, want %v", got, c.same)
			}
		})
	}
}
