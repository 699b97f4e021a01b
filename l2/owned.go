package l2

import (
	"net/netip"
	"sync/atomic"
)

// ipEntry is one IP this responder owns or has owned. Its counters live as
// long as the responder, so they keep counting across losing and regaining
// the IP (Prometheus counters must not go backwards).
type ipEntry struct {
	ip         netip.Addr
	requests   atomic.Uint64
	replies    atomic.Uint64
	gratuitous atomic.Uint64
}

// ownedSet is the immutable snapshot the reader goroutines answer from. A
// new one replaces it whole; nothing in it changes after publication
// except the entries' atomic counters.
type ownedSet struct {
	ips map[netip.Addr]*ipEntry
}

// lookup returns the entry for ip, or nil when ip is not owned. It does
// not allocate: netip.Addr is a comparable value.
func (s *ownedSet) lookup(ip netip.Addr) *ipEntry {
	if s == nil {
		return nil
	}
	return s.ips[ip]
}

// Counters are the per-IP counts a responder keeps. The metrics layer maps
// them to metallb_layer2_requests_received, metallb_layer2_responses_sent
// and metallb_layer2_gratuitous_sent.
type Counters struct {
	IP netip.Addr
	// Requests counts ARP requests and Neighbor Solicitations received for
	// the IP while it was owned (including ARP probes and DAD probes, not
	// other hosts' announcements).
	Requests uint64
	// Replies counts the answers written to the socket without error.
	Replies uint64
	// Gratuitous counts gratuitous ARP frames (each form counts once) and
	// unsolicited Neighbor Advertisements written without error.
	Gratuitous uint64
}

// verdict says what a handler decided about one received frame. Every
// drop has its own value so tests can say why a frame went unanswered.
type verdict uint8

const (
	verdictReply     verdict = iota // answer written into the output buffer
	dropMalformed                   // too short, wrong hardware or protocol type, bad lengths or options
	dropNotQuestion                 // an ARP reply or an ICMPv6 message other than NS
	dropOwnFrame                    // sent from this interface's MAC
	dropNotAddressed                // Ethernet or IPv6 destination is not one this responder listens on
	dropBadSender                   // sender link-layer address is not a unicast MAC
	dropAnnouncement                // ARP announcement (sender IP = target IP): not a question
	dropHopLimit                    // NS with IPv6 hop limit other than 255 (RFC 4861 §7.1.1)
	dropChecksum                    // NS with a wrong ICMPv6 checksum
	dropInvalidNS                   // NS failing another RFC 4861 §7.1.1 check
	dropNotOwned                    // the target address is not owned here
)

var verdictNames = [...]string{
	verdictReply:     "reply",
	dropMalformed:    "malformed",
	dropNotQuestion:  "not-a-question",
	dropOwnFrame:     "own-frame",
	dropNotAddressed: "not-addressed-here",
	dropBadSender:    "bad-sender",
	dropAnnouncement: "announcement",
	dropHopLimit:     "hop-limit",
	dropChecksum:     "checksum",
	dropInvalidNS:    "invalid-ns",
	dropNotOwned:     "not-owned",
}

func (v verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "verdict(?)"
}
