package bgpnet

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// An unnumbered BGP session (BGPPeer interface) runs between the IPv6
// link-local addresses of the two ends of a point-to-point link, which
// neither end is told. FRR's `neighbor IFNAME interface` learns the peer's
// address from the Router Advertisements it receives on the interface
// (zebra records the source of each RA; bgpd takes the first) and starts
// sending RAs itself on that interface for the other end to learn its
// own. Unnumbered does both halves for Herald:
//   - it sends a Router Advertisement with router lifetime 0 (no host on
//     the link takes Herald as a default router; no prefix, no hop limit,
//     so nothing a receiver configures changes) every Interval, and a few
//     at once when it opens, so FRR learns Herald's address;
//   - it learns the peer's address from the RAs the peer sends (FRR sends
//     them every 10 s on an interface with an unnumbered neighbour) and from
//     the answers to an ICMPv6 echo request to all nodes (ff02::1) it sends
//     with each RA, so a peer that sends no RAs is found too, at once.

// DefaultAdvertiseInterval is how often Unnumbered sends its Router
// Advertisement and echo probe: FRR's interval for the RAs of an
// interface with an unnumbered BGP neighbour (BGP_UNNUM_DEFAULT_RA_INTERVAL).
const DefaultAdvertiseInterval = 10 * time.Second

// UnnumberedOptions tune Unnumbered; the zero value is the default.
type UnnumberedOptions struct {
	// Interval between Router Advertisements and echo probes; 0 means
	// DefaultAdvertiseInterval. The first four go out at once and one
	// second apart. A neighbour not heard for three intervals is forgotten.
	Interval time.Duration
	// NoAdvertise sends no Router Advertisements (peers that learn
	// Herald's address otherwise, or a test of probing alone).
	NoAdvertise bool
	// NoProbe sends no echo probes: the peer is learnt from its Router
	// Advertisements alone.
	NoProbe bool
	// Settle is how long after opening Neighbour waits for a second
	// neighbour to answer before it trusts a single one; 0 means 200 ms.
	Settle time.Duration
}

// Unnumbered watches one interface for the peer of an unnumbered session.
// Open it when the peer is configured and Close it when it goes; it sends
// and reads on its own goroutines. Its methods are safe for concurrent
// use.
type Unnumbered struct {
	ifname  string
	ifindex int
	self    []netip.Addr // this node's link-local addresses on the interface
	pc      *ipv6.PacketConn
	echoID  uint16
	opts    UnnumberedOptions
	opened  time.Time
	stop    chan struct{}
	stopped sync.WaitGroup

	mu         sync.Mutex
	neighbours map[netip.Addr]neighbourEntry
	changed    chan struct{} // closed and replaced whenever neighbours change
	closed     bool
}

// neighbourKind says how a neighbour made itself known.
type neighbourKind uint8

const (
	notNeighbour neighbourKind = iota
	answeredProbe
	sentAdvertisement // a router: preferred over hosts that only answer
)

type neighbourEntry struct {
	kind neighbourKind
	seen time.Time
}

// echoIDs tells apart the probes of Unnumbered values of one process: every
// ICMPv6 socket on the interface reads every echo reply.
var echoIDs atomic.Uint32

// OpenUnnumbered starts watching the interface. It needs CAP_NET_RAW (an
// ICMPv6 raw socket, bound to the interface) and an IPv6 link-local
// address on the interface; call it in the network namespace of the
// interface.
func OpenUnnumbered(ifname string, opts UnnumberedOptions) (*Unnumbered, error) {
	fail := func(kind error, hint string, err error) error {
		return &Error{Op: "unnumbered", Addr: ifname, Kind: kind, Hint: hint, Err: err}
	}
	if err := checkIfName(ifname); err != nil {
		return nil, fail(ErrInvalidOptions, err.Error(), nil)
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultAdvertiseInterval
	}
	if opts.Settle <= 0 {
		opts.Settle = 200 * time.Millisecond
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fail(ErrNoDevice, fmt.Sprintf("no interface %q on this node", ifname), err)
	}
	self, err := linkLocals(ifi)
	if err != nil {
		return nil, fail(ErrSocket, "", err)
	}
	if len(self) == 0 {
		return nil, fail(ErrSourceAddress, "the interface has no IPv6 link-local address (is IPv6 disabled on it, or is it down?)", nil)
	}
	pc, err := openICMP(ifi)
	if err != nil {
		kind := ErrSocket
		hint := ""
		if errors.Is(err, os.ErrPermission) {
			kind, hint = ErrPermission, "an ICMPv6 raw socket needs CAP_NET_RAW"
		}
		return nil, fail(kind, hint, err)
	}
	u := &Unnumbered{
		ifname: ifname, ifindex: ifi.Index, self: self, pc: pc, opts: opts,
		echoID: uint16(os.Getpid()) + uint16(echoIDs.Add(1))<<8, opened: time.Now(),
		stop: make(chan struct{}), neighbours: map[netip.Addr]neighbourEntry{}, changed: make(chan struct{}),
	}
	u.stopped.Add(2)
	go u.readLoop()
	go u.sendLoop(ifi.HardwareAddr)
	return u, nil
}

// openICMP opens the ICMPv6 socket: bound to the interface, sending to
// multicast through it with hop limit 255 (RFC 4861 receivers drop NDP
// with less), not looping its own multicast back, reading only Router
// Advertisements and echo replies with their hop limit.
func openICMP(ifi *net.Interface) (*ipv6.PacketConn, error) {
	c, err := net.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, err
	}
	pc := ipv6.NewPacketConn(c)
	fail := func(err error) (*ipv6.PacketConn, error) {
		_ = c.Close()
		return nil, err
	}
	sc, err := c.(*net.IPConn).SyscallConn()
	if err != nil {
		return fail(err)
	}
	if err := control(sc, func(fd int) error { return bindDevice(fd, ifi.Name) }); err != nil {
		return fail(err)
	}
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterAdvertisement)
	f.Accept(ipv6.ICMPTypeEchoReply)
	for _, step := range []func() error{
		func() error { return pc.SetICMPFilter(&f) },
		func() error { return pc.SetMulticastInterface(ifi) },
		func() error { return pc.SetMulticastHopLimit(ndp.HopLimit) },
		func() error { return pc.SetHopLimit(ndp.HopLimit) },
		func() error { return pc.SetMulticastLoopback(false) },
		func() error { return pc.SetControlMessage(ipv6.FlagHopLimit, true) },
	} {
		if err := step(); err != nil {
			return fail(err)
		}
	}
	return pc, nil
}

func linkLocals(ifi *net.Interface) ([]netip.Addr, error) {
	as, err := ifi.Addrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range as {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.Is6() && ip.IsLinkLocalUnicast() {
			out = append(out, ip)
		}
	}
	return out, nil
}

// Neighbour returns the peer's link-local address with the interface as
// zone, ready for Options.Peer. It waits until a neighbour is known and
// the settle time after opening has passed, or until ctx is done
// (ErrNoNeighbour). A neighbour that sent Router Advertisements wins over
// one that only answered the probe; two of the same kind are
// ErrAmbiguousNeighbour (the interface is not a point-to-point link).
// Call it again before each dial: the peer may have been replaced. A
// replaced peer's old address is forgotten three intervals after it was
// last heard (31 s by default); until then Neighbour reports both.
func (u *Unnumbered) Neighbour(ctx context.Context) (netip.Addr, error) {
	for {
		u.mu.Lock()
		if u.closed {
			u.mu.Unlock()
			return netip.Addr{}, &Error{Op: "unnumbered", Addr: u.ifname, Kind: ErrClosed}
		}
		now := time.Now()
		addr, err := pickNeighbour(u.neighbours, now, u.expiry())
		changed := u.changed
		u.mu.Unlock()
		settled := now.Sub(u.opened) >= u.opts.Settle
		if err != nil && !errors.Is(err, ErrNoNeighbour) {
			return netip.Addr{}, &Error{Op: "unnumbered", Addr: u.ifname, Kind: ErrAmbiguousNeighbour, Hint: err.Error()}
		}
		if err == nil && settled {
			return addr.WithZone(u.ifname), nil
		}
		var wait <-chan time.Time
		if err == nil {
			wait = time.After(u.opts.Settle - now.Sub(u.opened))
		}
		select {
		case <-changed:
		case <-wait:
		case <-ctx.Done():
			return netip.Addr{}, &Error{Op: "unnumbered", Addr: u.ifname, Kind: ErrNoNeighbour,
				Hint: "no Router Advertisement and no answer to the echo probe on the interface; is the peer up and configured for unnumbered BGP (FRR: neighbor IFNAME interface)?", Err: ctx.Err()}
		}
	}
}

func (u *Unnumbered) expiry() time.Duration { return 3*u.opts.Interval + time.Second }

// pickNeighbour chooses among the neighbours heard within expiry: the one
// router, else the one host. It returns ErrNoNeighbour when there is none
// and an error naming them when there are several of the best kind.
func pickNeighbour(seen map[netip.Addr]neighbourEntry, now time.Time, expiry time.Duration) (netip.Addr, error) {
	best := notNeighbour
	var found []netip.Addr
	for a, e := range seen {
		if now.Sub(e.seen) > expiry {
			continue
		}
		switch {
		case e.kind > best:
			best, found = e.kind, []netip.Addr{a}
		case e.kind == best:
			found = append(found, a)
		}
	}
	switch len(found) {
	case 0:
		return netip.Addr{}, ErrNoNeighbour
	case 1:
		return found[0], nil
	}
	slices.SortFunc(found, netip.Addr.Compare)
	what := "answered the echo probe"
	if best == sentAdvertisement {
		what = "sent Router Advertisements"
	}
	return netip.Addr{}, fmt.Errorf("%d neighbours %s (%v); an unnumbered session needs a point-to-point link", len(found), what, found)
}

// Close stops the goroutines and closes the socket.
func (u *Unnumbered) Close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	close(u.changed)
	u.mu.Unlock()
	close(u.stop)
	err := u.pc.Close()
	u.stopped.Wait()
	return err
}

func (u *Unnumbered) readLoop() {
	defer u.stopped.Done()
	buf := make([]byte, 1500)
	for {
		n, cm, src, err := u.pc.ReadFrom(buf)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			select {
			case <-u.stop:
				return
			case <-time.After(100 * time.Millisecond): // the link is down, say
			}
			continue
		}
		ipa, ok := src.(*net.IPAddr)
		if !ok {
			continue
		}
		from, ok := netip.AddrFromSlice(ipa.IP)
		if !ok || slices.Contains(u.self, from) {
			continue
		}
		hopLimit := -1
		if cm != nil {
			hopLimit = cm.HopLimit
		}
		if kind := classifyNeighbour(buf[:n], from, hopLimit, u.echoID); kind != notNeighbour {
			u.heard(from, kind)
		}
	}
}

func (u *Unnumbered) heard(from netip.Addr, kind neighbourKind) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return
	}
	e := u.neighbours[from]
	e.kind = max(e.kind, kind)
	e.seen = time.Now()
	u.neighbours[from] = e
	close(u.changed)
	u.changed = make(chan struct{})
}

// classifyNeighbour says what an ICMPv6 message from a link-local source
// makes its sender: a router (a valid Router Advertisement, sent with hop
// limit 255 as RFC 4861 section 6.1.2 requires), a host that answered our
// probe (an echo reply with our identifier), or nothing.
func classifyNeighbour(b []byte, from netip.Addr, hopLimit int, echoID uint16) neighbourKind {
	if len(b) < 8 || !from.Is6() || !from.IsLinkLocalUnicast() {
		return notNeighbour
	}
	switch ipv6.ICMPType(b[0]) {
	case ipv6.ICMPTypeRouterAdvertisement:
		if b[1] != 0 || (hopLimit >= 0 && hopLimit != ndp.HopLimit) {
			return notNeighbour
		}
		if m, err := ndp.ParseMessage(b); err != nil {
			return notNeighbour
		} else if _, ok := m.(*ndp.RouterAdvertisement); !ok {
			return notNeighbour
		}
		return sentAdvertisement
	case ipv6.ICMPTypeEchoReply:
		if b[1] != 0 || binary.BigEndian.Uint16(b[4:6]) != echoID {
			return notNeighbour
		}
		return answeredProbe
	}
	return notNeighbour
}

// sendLoop sends the RA and the probe at once, at 1, 2 and 3 seconds, then
// every Interval.
func (u *Unnumbered) sendLoop(mac net.HardwareAddr) {
	defer u.stopped.Done()
	ra := u.advertisement(mac)
	allNodes := &net.IPAddr{IP: net.IPv6linklocalallnodes}
	cm := &ipv6.ControlMessage{HopLimit: ndp.HopLimit, IfIndex: u.ifindex}
	var seq uint16
	for i := 0; ; i++ {
		if !u.opts.NoAdvertise {
			_, _ = u.pc.WriteTo(ra, cm, allNodes)
		}
		if !u.opts.NoProbe {
			seq++
			echo, _ := (&icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{ID: int(u.echoID), Seq: int(seq)}}).Marshal(nil)
			_, _ = u.pc.WriteTo(echo, cm, allNodes)
		}
		next := u.opts.Interval
		if i < 3 {
			next = min(time.Second, next)
		}
		select {
		case <-u.stop:
			return
		case <-time.After(next):
		}
	}
}

// advertisement is the RA Herald sends: router lifetime 0 (not a default
// router), no hop limit, reachable time, retransmit timer or prefix, and
// the interface's MAC as source link-layer address when it has one.
func (u *Unnumbered) advertisement(mac net.HardwareAddr) []byte {
	ra := &ndp.RouterAdvertisement{}
	if len(mac) == 6 {
		ra.Options = append(ra.Options, &ndp.LinkLayerAddress{Direction: ndp.Source, Addr: mac})
	}
	b, err := ndp.MarshalMessage(ra)
	if err != nil {
		panic(fmt.Sprintf("bgpnet: marshal a constant Router Advertisement: %v", err)) // a broken invariant
	}
	return b
}
