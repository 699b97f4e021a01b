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
)

// nextHopWatch records each moment the router's kernel changed the next
// hops of one prefix, as netlink announced it in the router's namespace.
//
// It exists to tell one kind of failed request apart. The router spreads
// connections over the nodes by a hash of each connection (ECMP, hashing
// on ports). Whenever the set of next hops changes, because a node's route
// is withdrawn or comes back, the kernel's hash-threshold split moves a
// share of the connections to another node. A connection open at that
// instant then reaches a node that never saw its handshake, and that node
// resets it. No BGP speaker can prevent this: it is how a router without
// resilient hashing forwards, and docs/bgp.md says so. Graceful restart
// avoids it during a speaker restart because the next hops do not change.
// Every other failure, and a reset with no change of next hops while the
// connection was open, still fails a test.
type nextHopWatch struct {
	prefix netip.Prefix

	mu      sync.Mutex
	last    string
	changes []nextHopChange
	errs    []error
}

type nextHopChange struct {
	at         time.Time
	from, hops string // the next hops before and after; "" when there is no route
}

// rehash says whether the change moved connections between nodes that
// serve: one non-empty set of next hops replaced by another. A route that
// disappears is no rehash, it is an outage.
func (c nextHopChange) rehash() bool { return c.from != "" && c.hops != "" }

// watchNextHops starts a nextHopWatch on the router until the test ends.
func (l *speakerLab) watchNextHops(prefix netip.Prefix) *nextHopWatch {
	l.t.Helper()
	ns, err := netns.GetFromName(l.lab.Router.NS)
	if err != nil {
		l.t.Fatalf("open the router's namespace: %v", err)
	}
	w := &nextHopWatch{prefix: prefix}
	updates := make(chan netlink.RouteUpdate, 1024)
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
	// The route table is read after each notification: a notification of
	// a route installed through a kernel nexthop object (FRR's zebra does
	// so where the kernel has them) carries no gateways, and an IPv6
	// multipath route loses its next hops one deletion at a time.
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
	// The state before anything changes, so that a first notification
	// that only installs the same next hops again is no change.
	w.last = lookup()
	// One goroutine stamps each notification as it arrives and nothing
	// else, so a slow read of the table never delays the next stamp.
	type stamped struct {
		at time.Time
		u  netlink.RouteUpdate
	}
	ours := make(chan stamped, 1024)
	go func() {
		defer close(ours)
		for u := range updates {
			if w.matches(u) {
				ours <- stamped{time.Now(), u}
			}
		}
	}()
	go func() {
		for s := range ours {
			w.record(s.at, lookup())
		}
	}()
	l.t.Cleanup(func() {
		close(done)
		_ = ns.Close()
	})
	return w
}

func (w *nextHopWatch) matches(u netlink.RouteUpdate) bool {
	if u.Dst == nil {
		return false
	}
	ones, _ := u.Dst.Mask.Size()
	addr, ok := netip.AddrFromSlice(u.Dst.IP)
	return ok && netip.PrefixFrom(addr.Unmap(), ones) == w.prefix
}

func (w *nextHopWatch) record(at time.Time, hops string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if hops != w.last {
		w.changes = append(w.changes, nextHopChange{at: at, from: w.last, hops: hops})
		w.last = hops
	}
}

// rehashDuring returns a change of one serving set of next hops to another
// the router made while a connection was open, from its SYN (dialled) to
// its failure. A notification is stamped when read, after the change
// itself, so a change stamped before the SYN cannot have moved the
// connection; the few milliseconds after failed cover the stamp's delay,
// and no more: a reset well before the router changed anything is some
// node's own doing.
func (w *nextHopWatch) rehashDuring(dialled, failed time.Time) (nextHopChange, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.changes {
		if c.rehash() && !c.at.Before(dialled) && !c.at.After(failed.Add(5*time.Millisecond)) {
			return c, true
		}
	}
	return nextHopChange{}, false
}

func (w *nextHopWatch) all() (changes []nextHopChange, errs []error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.changes), slices.Clone(w.errs)
}
