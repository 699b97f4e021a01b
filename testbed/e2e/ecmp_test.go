package e2e

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nextHopWatch records each moment the router's kernel changed the next
// hops of one prefix, as netlink announced it in the router's namespace.
//
// It exists to tell one kind of failed request apart. The router spreads
// connections over the nodes by a hash of each connection (ECMP, hashing
// on ports). Whenever the set of next hops changes, because a node's route
// is withdrawn or comes back, the kernel's hash-threshold split moves a
// share of the connections to another node. A connection in flight at that
// instant then reaches a node that never saw its handshake, and that node
// resets it. No BGP speaker can prevent this: it is how a router without
// resilient hashing forwards, and docs/bgp.md says so. Graceful restart
// avoids it during a speaker restart because the next hops do not change.
// Every other failure, and a reset with no change of next hops during the
// request, still fails a test.
type nextHopWatch struct {
	prefix netip.Prefix

	mu      sync.Mutex
	last    string
	changes []nextHopChange
	errs    []error
}

type nextHopChange struct {
	at   time.Time
	hops string // the new next hops; "" when the route went away
}

// watchNextHops starts a nextHopWatch on the router until the test ends.
func (l *speakerLab) watchNextHops(prefix netip.Prefix) *nextHopWatch {
	l.t.Helper()
	ns, err := netns.GetFromName(l.lab.Router.NS)
	if err != nil {
		l.t.Fatalf("open the router's namespace: %v", err)
	}
	w := &nextHopWatch{prefix: prefix}
	updates := make(chan netlink.RouteUpdate, 256)
	done := make(chan struct{})
	err = netlink.RouteSubscribeWithOptions(updates, done, netlink.RouteSubscribeOptions{
		Namespace: &ns,
		ErrorCallback: func(err error) {
			w.mu.Lock()
			w.errs = append(w.errs, err)
			w.mu.Unlock()
		},
	})
	if err != nil {
		_ = ns.Close()
		l.t.Fatalf("watch the router's routes: %v", err)
	}
	// A route installed through a kernel nexthop object (FRR's zebra does
	// so where the kernel has them) carries no gateways in its
	// notification: those are read from the route table then.
	lookup := func() string {
		rt, ok, err := l.lab.RouteTo(context.Background(), l.lab.Router.NS, prefix)
		if err != nil || !ok {
			return ""
		}
		var gws []string
		for _, nh := range rt.NextHops {
			gws = append(gws, nh.Gateway.String())
		}
		slices.Sort(gws)
		return strings.Join(gws, " ")
	}
	go func() {
		for u := range updates {
			w.record(time.Now(), u, lookup)
		}
	}()
	l.t.Cleanup(func() {
		close(done)
		_ = ns.Close()
	})
	return w
}

func (w *nextHopWatch) record(at time.Time, u netlink.RouteUpdate, lookup func() string) {
	if u.Dst == nil {
		return
	}
	ones, _ := u.Dst.Mask.Size()
	addr, ok := netip.AddrFromSlice(u.Dst.IP)
	if !ok || netip.PrefixFrom(addr.Unmap(), ones) != w.prefix {
		return
	}
	hops := ""
	if u.Type != unix.RTM_DELROUTE {
		if hops = routeHops(u.Route); hops == "" {
			hops = lookup()
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if hops != w.last {
		w.last = hops
		w.changes = append(w.changes, nextHopChange{at: at, hops: hops})
	}
}

// routeHops names a route's next hops by their gateways.
func routeHops(r netlink.Route) string {
	var gws []string
	if r.Gw != nil {
		gws = append(gws, r.Gw.String())
	}
	for _, p := range r.MultiPath {
		if p.Gw != nil {
			gws = append(gws, p.Gw.String())
		}
	}
	slices.Sort(gws)
	return strings.Join(gws, " ")
}

// during returns the changes seen from a little before start to a little
// after end. The margins cover the time between the kernel changing the
// route and this process reading the notification.
func (w *nextHopWatch) during(start, end time.Time) []nextHopChange {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []nextHopChange
	for _, c := range w.changes {
		if !c.at.Before(start.Add(-2*time.Millisecond)) && !c.at.After(end.Add(20*time.Millisecond)) {
			out = append(out, c)
		}
	}
	return out
}

func (w *nextHopWatch) all() (changes []nextHopChange, errs []error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.changes), slices.Clone(w.errs)
}
