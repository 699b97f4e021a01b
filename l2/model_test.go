package l2

import (
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestResponderSetModel checks random sequences of Set against a naive
// model: the owned set is what the last Set named; Change is the
// difference from the one before; the memberships are exactly the groups
// of the owned IPv6 IPs, each joined once; and a question is answered
// exactly when its IP is owned.
func TestResponderSetModel(t *testing.T) {
	// A small pool where several IPv6 IPs share a solicited-node group.
	pool := []netip.Addr{
		svc4, svc4b, netip.MustParseAddr("192.0.2.12"),
		netip.MustParseAddr("2001:db8::1:2:3"), netip.MustParseAddr("2001:db8:1::aa:2:3"), netip.MustParseAddr("2001:db8:2::1:2:3"),
		svc6, svc6b, netip.MustParseAddr("fd00::10"),
	}
	rapid.Check(t, func(rt *rapid.T) {
		g := newRig(t, Options{Schedule: []time.Duration{time.Hour}}) // no gratuitous frames in the way
		defer g.r.Close()
		model := map[netip.Addr]bool{}
		steps := rapid.IntRange(1, 12).Draw(rt, "steps")
		for range steps {
			next := rapid.SliceOfDistinct(rapid.SampledFrom(pool), func(a netip.Addr) netip.Addr { return a }).Draw(rt, "set")
			want := map[netip.Addr]bool{}
			for _, ip := range next {
				want[ip] = true
			}
			var added, removed []netip.Addr
			for ip := range want {
				if !model[ip] {
					added = append(added, ip)
				}
			}
			for ip := range model {
				if !want[ip] {
					removed = append(removed, ip)
				}
			}
			slices.SortFunc(added, netip.Addr.Compare)
			slices.SortFunc(removed, netip.Addr.Compare)
			model = want

			ch, err := g.r.Set(next)
			if err != nil {
				rt.Fatal(err)
			}
			if !slices.Equal(ch.Added, added) || !slices.Equal(ch.Removed, removed) {
				rt.Fatalf("Set(%v): change %+v, want added %v removed %v", next, ch, added, removed)
			}
			owned := slices.SortedFunc(maps.Keys(model), netip.Addr.Compare)
			if got := g.r.Owned(); !slices.Equal(got, owned) {
				rt.Fatalf("owned %v, want %v", got, owned)
			}
			groups := map[netip.Addr]bool{}
			for ip := range model {
				if ip.Is6() {
					groups[SolicitedNodeGroup(ip)] = true
				}
			}
			wantGroups := slices.SortedFunc(maps.Keys(groups), netip.Addr.Compare)
			if got := g.r.Groups(); !slices.Equal(got, wantGroups) {
				rt.Fatalf("groups %v, want %v", got, wantGroups)
			}
			g.groups.mu.Lock()
			for grp, n := range g.groups.joined {
				if n != 0 && !groups[grp] || n != 1 && groups[grp] {
					g.groups.mu.Unlock()
					rt.Fatalf("socket membership count %d for %v, model says member=%v", n, grp, groups[grp])
				}
			}
			g.groups.mu.Unlock()

			// Ask about one pool IP and expect an answer exactly when owned.
			ip := rapid.SampledFrom(pool).Draw(rt, "ask")
			conn, frame := g.arp, []byte(nil)
			if ip.Is4() {
				frame = arpRequest(t, ip)
			} else {
				conn, frame = g.ndp, nsFrame(t, nsSpec{target: ip})
			}
			conn.receive(t, frame)
			g.barrier(t)
			if model[ip] {
				conn.next(t)
			}
			conn.none(t)
		}
	})
}
