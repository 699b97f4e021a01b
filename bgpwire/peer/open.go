package peer

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/heraldlb/herald/bgpwire"
	"github.com/heraldlb/herald/bgpwire/fsm"
)

// peerCaps is what the Peer keeps of the peer's accepted OPEN (the decoded
// message is scratch, reused by the next one).
type peerCaps struct {
	anyMP              bool // it sent a multiprotocol capability at all
	families           [numAF]bool
	routeRefresh, err  bool // err: enhanced route refresh
	extendedMessage    bool
	fourOctetAS        bool
	extendedNextHop4   bool // IPv4 unicast with an IPv6 next hop
	gracefulRestart    bool
	restarting         bool
	restartTime        time.Duration
	forwardingPreserve [numAF]bool
}

func capture(o *bgpwire.Open) peerCaps {
	c := &o.Capabilities
	pc := peerCaps{
		anyMP:           len(c.Multiprotocol) > 0,
		routeRefresh:    c.RouteRefresh,
		err:             c.EnhancedRouteRefresh,
		extendedMessage: c.ExtendedMessage,
		fourOctetAS:     c.FourOctetAS,
	}
	for _, f := range c.Multiprotocol {
		if af, ok := afOfFamily(f); ok {
			pc.families[af] = true
		}
	}
	if !pc.anyMP {
		// RFC 4760 section 8: a speaker that sends no multiprotocol
		// capability carries IPv4 unicast only.
		pc.families[IPv4] = true
	}
	for _, e := range c.ExtendedNextHop {
		if e.Family == bgpwire.IPv4Unicast && e.NextHopAFI == bgpwire.AFIIPv6 {
			pc.extendedNextHop4 = true
		}
	}
	if gr := c.GracefulRestart; gr != nil {
		pc.gracefulRestart, pc.restarting = true, gr.Restarting
		pc.restartTime = time.Duration(gr.RestartTime) * time.Second
		for _, f := range gr.Families {
			if af, ok := afOfFamily(f.Family); ok {
				pc.forwardingPreserve[af] = f.ForwardingPreserved
			}
		}
	}
	return pc
}

// wanted is the families we offer on a connection: the transport's own,
// the other one too with DualStack, and IPv4 over an unnumbered (IPv6
// link-local) session, where it needs the extended next hop.
func (p *Peer) wanted(local LocalAddrs) (fams [numAF]bool, extNH bool) {
	t := local.Transport
	switch {
	case t.Is6():
		fams[IPv6] = true
		fams[IPv4] = p.cfg.DualStack || t.IsLinkLocalUnicast()
		extNH = fams[IPv4]
	default: // IPv4, or unknown
		fams[IPv4] = true
		fams[IPv6] = p.cfg.DualStack
	}
	return fams, extNH
}

// sendOpen builds and sends our OPEN on s's connection.
func (p *Peer) sendOpen(s *slot, params fsm.OpenParams) {
	fams, extNH := p.wanted(s.local)
	o := &s.ours
	caps := &o.Capabilities
	mp := caps.Multiprotocol[:0]
	enh := caps.ExtendedNextHop[:0]
	*o = bgpwire.Open{Version: 4, AS: params.ASN, HoldTime: params.HoldTime, Identifier: params.Identifier}
	for _, af := range AFs {
		if fams[af] {
			mp = append(mp, af.Family())
		}
	}
	caps.Multiprotocol = mp
	caps.RouteRefresh = true
	caps.EnhancedRouteRefresh = true
	caps.FourOctetAS = true // RFC 6793: always
	caps.ExtendedMessage = !p.cfg.NoExtendedMessage
	if extNH {
		enh = append(enh, bgpwire.ExtendedNextHop{Family: bgpwire.IPv4Unicast, NextHopAFI: bgpwire.AFIIPv6})
	}
	caps.ExtendedNextHop = enh
	if p.cfg.GracefulRestart {
		gr := &bgpwire.GracefulRestart{
			Restarting:  p.cfg.Restarted && !p.sentFirstOpen,
			RestartTime: uint16(p.cfg.restartTime() / time.Second),
		}
		for _, f := range mp {
			gr.Families = append(gr.Families, bgpwire.GracefulRestartFamily{Family: f, ForwardingPreserved: !p.cfg.ForwardingNotPreserved})
		}
		caps.GracefulRestart = gr
	}
	p.sentFirstOpen = true
	s.wire = bgpwire.Session{} // until the peer's OPEN is accepted
	buf, err := bgpwire.AppendOpen(p.wbuf, o)
	if err != nil {
		// Our own capabilities always fit; failing here is a bug.
		panic(fmt.Sprintf("bgp peer: encoding our OPEN: %v", err))
	}
	p.send(s, Control, bgpwire.TypeOpen, buf)
}

// negotiate fills s.sess and s.wire from both OPENs when the machine
// reports the session up.
func (p *Peer) negotiate(s *slot, fs fsm.Session) {
	ours, theirs := &s.ours.Capabilities, &s.peer
	sess := Session{
		Conn: s.conn, Slot: s.id,
		PeerAS: fs.PeerAS, PeerID: fs.PeerID, LocalAS: p.cfg.localAS(),
		HoldTime: fs.HoldTime, Keepalive: fs.Keepalive,
		FourOctetAS:             ours.FourOctetAS && theirs.fourOctetAS,
		ExtendedMessage:         ours.ExtendedMessage && theirs.extendedMessage,
		RouteRefresh:            theirs.routeRefresh || theirs.err,
		EnhancedRouteRefresh:    ours.EnhancedRouteRefresh && theirs.err,
		PeerGracefulRestart:     theirs.gracefulRestart,
		GracefulRestart:         ours.GracefulRestart != nil && theirs.gracefulRestart,
		PeerGracefulRestartTime: theirs.restartTime,
		PeerRestarting:          theirs.restarting,
		PeerForwardingPreserved: theirs.forwardingPreserve,
	}
	sess.IBGP = sess.PeerAS == sess.LocalAS
	offered, extNH := p.wanted(s.local)
	for _, af := range AFs {
		sess.Families[af] = offered[af] && theirs.families[af]
	}
	sess.ExtendedNextHop = extNH && theirs.extendedNextHop4
	sess.NextHops = p.nextHops(s.local, sess.ExtendedNextHop)
	s.wire = bgpwire.Session{FourOctetAS: sess.FourOctetAS, ExtendedMessage: sess.ExtendedMessage}
	s.sess = sess
}

// nextHops chooses the next hop of each family from the local addresses.
// IPv6: the global address, with the link-local one beside it when the peer
// shares our link (RFC 2545), or the link-local one alone when there is no
// global one. IPv4: the IPv4 address; failing that, with the extended next
// hop negotiated, the IPv6 next hop (RFC 8950).
func (p *Peer) nextHops(l LocalAddrs, extNH bool) (nh [numAF]bgpwire.NextHop) {
	v6, ll := l.IPv6, l.LinkLocal
	if t := l.Transport; t.Is6() {
		switch {
		case t.IsLinkLocalUnicast():
			if !ll.IsValid() {
				ll = t
			}
		case !v6.IsValid():
			v6 = t
		}
	}
	switch {
	case v6.IsValid() && ll.IsValid() && !p.cfg.Multihop:
		nh[IPv6] = bgpwire.NextHop{Addr: v6, LinkLocal: ll}
	case v6.IsValid():
		nh[IPv6] = bgpwire.NextHop{Addr: v6}
	case ll.IsValid() && !p.cfg.Multihop:
		nh[IPv6] = bgpwire.NextHop{Addr: ll}
	}
	v4 := l.IPv4
	if !v4.IsValid() && l.Transport.Is4() {
		v4 = l.Transport
	}
	switch {
	case v4.IsValid():
		nh[IPv4] = bgpwire.NextHop{Addr: v4}
	case extNH:
		nh[IPv4] = nh[IPv6]
	}
	return nh
}

// normalize unmaps IPv4-mapped addresses and drops zones, so that families
// are judged right, and drops addresses given in the wrong field.
func normalize(l LocalAddrs) LocalAddrs {
	clean := func(a netip.Addr) netip.Addr { return a.Unmap().WithZone("") }
	l.Transport = clean(l.Transport)
	if l.IPv4 = clean(l.IPv4); !l.IPv4.Is4() {
		l.IPv4 = netip.Addr{}
	}
	if l.IPv6 = clean(l.IPv6); !l.IPv6.Is6() || l.IPv6.IsLinkLocalUnicast() {
		l.IPv6 = netip.Addr{}
	}
	if l.LinkLocal = clean(l.LinkLocal); !l.LinkLocal.Is6() || !l.LinkLocal.IsLinkLocalUnicast() {
		l.LinkLocal = netip.Addr{}
	}
	return l
}
