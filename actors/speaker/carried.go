package speaker

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/announce"
)

// ReasonAnnouncementFailed is the Warning Event on a Service when this node
// plans to announce one of its IPs to peers none of whose sessions can
// carry it.
const ReasonAnnouncementFailed = "AnnouncementFailed"

// sessionCarries, from a peer actor to the planner when its session comes
// up: which address families its routes can go out in. A family goes out
// when it was negotiated and this node has a next hop of that family for
// the session; the planner, which does not know either, plans routes of
// both, and a route of a family the session does not carry never reaches
// the router.
type sessionCarries struct {
	peer string
	ipv4 bool
	ipv6 bool
}

// carriedCheck finds the Services this node means to announce with an IP
// that none of the sessions it plans them for can carry (an IPv6 Service
// whose only session is IPv4 without dualStackAddressFamily, say), for the
// Warning Event that says so. It does no I/O; the planner actor owns it.
type carriedCheck struct {
	// sessions are the families of each session last established.
	sessions map[string]sessionCarries
	// failed is what was last said of each Service, so a failure is said
	// once, and again only when it changes.
	failed map[announce.ServiceKey]string
}

func newCarriedCheck() *carriedCheck {
	return &carriedCheck{sessions: map[string]sessionCarries{}, failed: map[announce.ServiceKey]string{}}
}

// failure says which of ips no session of peers can carry, "" for none.
// An IP one of the sessions carries is not a failure even when another
// cannot: a BGPPeer for each address family of the same router (what
// MetalLB's dual-stack examples set up) is the usual way to peer, each
// session carrying its own family, and a Warning on every Service of such
// a cluster would say nothing wrong. Nothing is said while one of the
// sessions has never been up: its families are not known, and the
// sessions of a starting speaker come up one by one.
func (cc *carriedCheck) failure(node string, ips []netip.Addr, peers []string) string {
	if len(peers) == 0 {
		return ""
	}
	for _, p := range peers {
		if _, ok := cc.sessions[p]; !ok {
			return ""
		}
	}
	var lost []string
	for _, ip := range ips {
		if !slices.ContainsFunc(peers, func(p string) bool { return cc.sessions[p].carry(ip) }) {
			lost = append(lost, ip.String())
		}
	}
	if len(lost) == 0 {
		return ""
	}
	to := "BGPPeer " + peers[0]
	if len(peers) > 1 {
		to = "BGPPeers " + strings.Join(peers, ", ")
	}
	return fmt.Sprintf("node %s cannot announce %s to %s: no session carries routes of that address family "+
		"(not negotiated: an IPv4 session carries IPv6 only with dualStackAddressFamily, and the router must "+
		"agree; or this node has no address of that family to give as next hop)", node, strings.Join(lost, ", "), to)
}

// carry says whether the session's routes can hold ip.
func (s sessionCarries) carry(ip netip.Addr) bool {
	return (ip.Is4() && s.ipv4) || (ip.Is6() && s.ipv6)
}

// check returns the message to say of k announced to peers now, if it is
// new, and records it.
func (cc *carriedCheck) check(node string, k announce.ServiceKey, ips []netip.Addr, peers []string) (string, bool) {
	msg := cc.failure(node, ips, peers)
	if msg == cc.failed[k] {
		return "", false
	}
	if msg == "" {
		delete(cc.failed, k)
		return "", false
	}
	cc.failed[k] = msg
	return msg, true
}

// sessionCarried records a session's families and checks every Service
// announced to it.
func (a *plannerActor) sessionCarried(m sessionCarries) {
	a.carried.sessions[m.peer] = m
	for _, k := range slices.SortedFunc(maps.Keys(a.ann.last), announce.ServiceKey.Compare) {
		if slices.Contains(a.ann.last[k], m.peer) {
			a.checkCarried(k, a.ann.last[k])
		}
	}
}

// checkCarried puts a Warning Event on k when a route of it this node
// plans cannot go out on one of the sessions.
func (a *plannerActor) checkCarried(k announce.ServiceKey, peers []string) {
	msg, say := a.carried.check(a.e.node, k, a.p.ServiceIPs(k), peers)
	if !say {
		return
	}
	a.e.Log.Warn("a Service's route cannot go out on its session", "service", k.String(), "detail", msg)
	if a.e.recorder == nil {
		return
	}
	if ref, ok := a.e.inf.ServiceRef(alloc.ServiceKey{Namespace: k.Namespace, Name: k.Name}); ok {
		a.e.recorder.Event(ref, corev1.EventTypeWarning, ReasonAnnouncementFailed, msg)
	}
}
