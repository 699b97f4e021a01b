package speaker

import (
	"net/netip"
	"testing"

	"github.com/heraldlb/herald/announce"
	"github.com/heraldlb/herald/bgpwire/peer"
)

// Before the first routesPlanned (here: the planner failed in its first
// loadAll), the peers actor buffers session s's changes in early. The
// restarted planner no longer opens s: resync drops s's open flag, routes
// and early changes alike, or when s opened again its first actor would be
// handed the previous term's route R (early is replayed in place of the
// routes).
func TestResyncForgetsTheEarlyChangesOfAClosedSession(t *testing.T) {
	// Draining, so that closing s deletes no object (there is no API).
	a := &peersActor{e: &env{node: "n1"}, drain: &drainAll{}}
	a.open, a.routes = map[string]bool{}, map[string]map[netip.Prefix]*peer.Attrs{}
	a.children, a.leaving, a.early = map[string]*peerChild{}, map[string]string{}, map[string][]changeRoutes{}
	r := announce.Route{Prefix: netip.MustParsePrefix("10.0.0.1/32")}
	a.open["s"] = true
	a.applyRoutes(nil, routeChanges{peer: "s", changes: announce.RouteChanges{Node: "n1", Peer: "s", Added: []announce.Route{r}}})
	a.resync(nil, routesResync{sessions: map[string][]announce.Route{}})
	if a.open["s"] || a.routes["s"] != nil {
		t.Fatalf("resync kept s open")
	}
	if len(a.early["s"]) != 0 {
		t.Errorf("s is closed but early still holds %d change(s) (%v) that its next actor would replay", len(a.early["s"]), a.early["s"][0].routes)
	}
}
