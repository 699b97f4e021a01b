package peer

import (
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"

	"github.com/heraldlb/herald/bgpwire"
	"github.com/heraldlb/herald/bgpwire/fsm"
)

// sim plays the shell and the router around a Peer, driven by a byte
// stream (the fuzz input): each operation takes a byte or two, and an
// exhausted stream reads as zeros, so every input is a valid run. After
// every step it checks what any shell and any router could check from the
// outside, and that the router's view of our routes — every UPDATE the
// Peer sent on the Established connection, decoded and applied — equals
// the desired set whenever the session is Established and its write queue
// not blocked.
type sim struct {
	data []byte
	cfg  Config
	p    *Peer
	now  time.Time

	routes map[netip.Prefix]Attrs // the desired set, as the sim gave it
	conns  map[ConnID]*simConn
	dials  []ConnID // dialed, not yet reported
	timers map[Timer]uint64
	last   uint64 // the largest token seen
	est    ConnID // the connection with a session up, 0 if none

	// Coverage, so a test can show the generator reaches the interesting
	// places.
	sessions, updates, tableChecks int
}

type simConn struct {
	id       ConnID
	open     bool // TCP is up and not closed
	sentOpen bool // the router sent its OPEN
	ourOpen  bool // the Peer sent its OPEN
	up       bool // SessionUp seen
	blocked  bool
	session  Session
	wire     bgpwire.Session
	// rib is the router's view of the routes on this connection.
	rib map[netip.Prefix]simRoute
	eor [numAF]int
	// stale: with enhanced route refresh, routes not re-sent between BoRR
	// and EoRR are removed at EoRR.
	stale map[netip.Prefix]bool
}

type simRoute struct {
	nh        bgpwire.NextHop
	path      string
	lp        uint32
	hasLP     bool
	comm, lcs string
}

func (r simRoute) String() string {
	lp := "-"
	if r.hasLP {
		lp = fmt.Sprint(r.lp)
	}
	return fmt.Sprintf("nh=%s path=%s lp=%s comm=%s lc=%s", formatNextHop(r.nh), r.path, lp, r.comm, r.lcs)
}

func newSim(data []byte) (*sim, error) {
	s := &sim{data: data, now: epoch, routes: map[netip.Prefix]Attrs{}, conns: map[ConnID]*simConn{},
		timers: map[Timer]uint64{}}
	flags := s.byte()
	cfg := baseConfig()
	cfg.Passive = flags&1 != 0
	cfg.DualStack = flags&2 != 0
	cfg.GracefulRestart = flags&4 != 0
	cfg.NoExtendedMessage = flags&8 != 0
	switch flags >> 4 & 3 {
	case 1:
		cfg.PeerAS = baseMyAS // iBGP
	case 2:
		cfg.PeerAS, cfg.DynamicAS = 0, DynamicExternal
	case 3:
		cfg.PeerAS, cfg.DynamicAS = 0, DynamicInternal
	}
	cfg.CollisionDetectEstablished = flags&64 != 0
	if flags&128 != 0 {
		cfg.MyAS = 4200000001
	}
	s.cfg = cfg
	p, err := New(cfg)
	s.p = p
	return s, err
}

func (s *sim) byte() byte {
	if len(s.data) == 0 {
		return 0
	}
	b := s.data[0]
	s.data = s.data[1:]
	return b
}

// peerAS is the AS the router presents: the configured one, or one of the
// dynamic mode's kind.
func (s *sim) peerAS() uint32 {
	switch s.cfg.DynamicAS {
	case DynamicInternal:
		return s.cfg.localAS()
	case DynamicExternal:
		return 65001
	}
	return s.cfg.PeerAS
}

// run plays the whole input, returning the first violation.
func (s *sim) run() error {
	if err := s.step(Event{Kind: Start}); err != nil {
		return err
	}
	for steps := 0; len(s.data) > 0 && steps < 600; steps++ {
		if err := s.op(); err != nil {
			return err
		}
	}
	return nil
}

var (
	simV4 = func() []netip.Prefix {
		var ps []netip.Prefix
		a := netip.MustParseAddr("10.0.0.0")
		for range 24 {
			ps = append(ps, netip.PrefixFrom(a, 32))
			a = a.Next()
		}
		return append(ps, netip.MustParsePrefix("10.1.0.0/24"), netip.MustParsePrefix("0.0.0.0/0"))
	}()
	simV6 = func() []netip.Prefix {
		var ps []netip.Prefix
		a := netip.MustParseAddr("2001:db8::")
		for range 12 {
			ps = append(ps, netip.PrefixFrom(a, 128))
			a = a.Next()
		}
		return append(ps, netip.MustParsePrefix("2001:db8:1::/48"))
	}()
	simAttrs = []Attrs{
		{},
		{Communities: []bgpwire.Community{bgpwire.NewCommunity(1, 1)}},
		{Communities: []bgpwire.Community{bgpwire.NewCommunity(1, 2), bgpwire.NewCommunity(1, 1)}, LocalPref: 200, HasLocalPref: true},
		{LargeCommunities: []bgpwire.LargeCommunity{{GlobalAdmin: 64512, LocalData1: 1, LocalData2: 2}}},
		{LocalPref: 50, HasLocalPref: true},
	}
)

func (s *sim) randomRoute() Route {
	b := s.byte()
	var pfx netip.Prefix
	if b&1 == 0 {
		pfx = simV4[int(b>>1)%len(simV4)]
	} else {
		pfx = simV6[int(b>>1)%len(simV6)]
	}
	return Route{Prefix: pfx, Attrs: simAttrs[int(s.byte())%len(simAttrs)]}
}

// conn picks a connection the router can talk on: open, by the byte.
func (s *sim) conn(b byte) *simConn {
	var open []*simConn
	for _, id := range slices.Sorted(maps.Keys(s.conns)) {
		if c := s.conns[id]; c.open {
			open = append(open, c)
		}
	}
	if len(open) == 0 {
		return nil
	}
	return open[int(b)%len(open)]
}

func (s *sim) local(b byte) LocalAddrs {
	switch b % 5 {
	case 1:
		return LocalAddrs{Transport: netip.MustParseAddr("2001:db8::1"), LinkLocal: netip.MustParseAddr("fe80::1")}
	case 2:
		return LocalAddrs{Transport: netip.MustParseAddr("fe80::1")}
	case 3:
		return LocalAddrs{Transport: netip.MustParseAddr("192.0.2.1"), IPv6: netip.MustParseAddr("2001:db8::1")}
	case 4:
		return LocalAddrs{Transport: netip.MustParseAddr("2001:db8::1"), IPv4: netip.MustParseAddr("192.0.2.1")}
	}
	return baseLocal
}

func (s *sim) op() error {
	b := s.byte()
	switch b % 16 {
	case 0: // the whole desired set
		n := int(s.byte()) % 12
		var rs []Route
		for range n {
			rs = append(rs, s.randomRoute())
		}
		if s.byte()%8 == 0 {
			// Sometimes a table big enough to need several UPDATEs.
			a := netip.MustParseAddr("10.2.0.0")
			for range int(s.byte()) * 4 {
				rs = append(rs, Route{Prefix: netip.PrefixFrom(a, 32)})
				a = a.Next()
			}
		}
		return s.step(Event{Kind: SetRoutes, Routes: rs})
	case 1: // a change
		var ev Event
		ev.Kind = ChangeRoutes
		for range int(s.byte()) % 4 {
			ev.Routes = append(ev.Routes, s.randomRoute())
		}
		for range int(s.byte()) % 4 {
			ev.Withdraw = append(ev.Withdraw, s.randomRoute().Prefix)
		}
		return s.step(ev)
	case 2: // a timer: the running instance, or a stale token
		ts := slices.SortedFunc(maps.Keys(s.timers), func(a, b Timer) int {
			return int(a.Slot)*10 + int(a.Kind) - int(b.Slot)*10 - int(b.Kind)
		})
		c := s.byte()
		if len(ts) == 0 || c%5 == 4 {
			return s.step(Event{Kind: TimerExpired, Timer: Timer{Slot: Slot(c % 2), Kind: TimerKind(1 + c%5)}, Token: uint64(c) % (s.last + 2)})
		}
		t := ts[int(c)%len(ts)]
		tok := s.timers[t]
		delete(s.timers, t)
		s.now = s.now.Add(time.Second)
		return s.step(Event{Kind: TimerExpired, Timer: t, Token: tok, Jitter: float64(s.byte()) / 255})
	case 3: // the oldest dial completes, or fails
		if len(s.dials) == 0 {
			return nil
		}
		id := s.dials[0]
		s.dials = s.dials[1:]
		if c := s.byte(); c%4 == 0 {
			return s.step(Event{Kind: DialFailed, Conn: id})
		} else {
			s.conns[id] = &simConn{id: id, open: true}
			return s.step(Event{Kind: Connected, Conn: id, Local: s.local(c / 4)})
		}
	case 4: // the router connects to us
		return s.step(Event{Kind: Accepted, Local: s.local(s.byte())})
	case 5, 6, 7: // the router takes its next step on a connection
		c := s.conn(s.byte())
		if c == nil {
			return nil
		}
		if !c.sentOpen {
			c.sentOpen = true
			return s.receive(c, s.routerOpen(s.byte()))
		}
		return s.receive(c, bgpwire.AppendKeepalive(nil))
	case 8: // an UPDATE from the router, good or bad
		c := s.conn(s.byte())
		if c == nil {
			return nil
		}
		return s.receive(c, routerUpdates[int(s.byte())%len(routerUpdates)])
	case 9: // ROUTE-REFRESH
		c := s.conn(s.byte())
		if c == nil {
			return nil
		}
		f := s.byte()
		rr := bgpwire.RouteRefresh{Family: AF(f % 2).Family(), Subtype: bgpwire.RouteRefreshSubtype(f / 2 % 3)}
		return s.receive(c, bgpwire.AppendRouteRefresh(nil, rr))
	case 10: // NOTIFICATION
		c := s.conn(s.byte())
		if c == nil {
			return nil
		}
		n := bgpwire.Notification{Code: bgpwire.ErrorCode(1 + s.byte()%8), Subcode: s.byte() % 12}
		if s.byte()%2 == 0 {
			n.Data = bgpwire.AppendShutdownData(nil, "bye")
		}
		return s.receive(c, bgpwire.AppendNotification(nil, n, bgpwire.MaxMessageLen))
	case 11: // the connection fails
		c := s.conn(s.byte())
		if c == nil {
			return nil
		}
		c.open = false
		return s.step(Event{Kind: Closed, Conn: c.id})
	case 12: // the write queue blocks or drains
		c := s.conn(s.byte())
		if c == nil {
			return nil
		}
		c.blocked = !c.blocked
		if c.blocked {
			return s.step(Event{Kind: SendBlocked, Conn: c.id})
		}
		return s.step(Event{Kind: SendProgressed, Conn: c.id})
	case 13: // administrative events
		switch s.byte() % 8 {
		case 0:
			return s.step(Event{Kind: Stop, Reason: "fuzz"})
		case 1:
			return s.step(Event{Kind: BFDDown})
		case 2:
			if s.byte()%16 == 0 {
				return s.step(Event{Kind: Deconfigure})
			}
		}
		return s.step(Event{Kind: Start})
	case 14: // arbitrary bytes, in pieces
		c := s.conn(s.byte())
		if c == nil {
			return nil
		}
		n := int(s.byte()) % 48
		junk := make([]byte, 0, n)
		for range n {
			junk = append(junk, s.byte())
		}
		if s.byte()%2 == 0 && len(junk) >= bgpwire.HeaderLen {
			// A plausible header, so the body is what gets judged.
			copy(junk, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
			binary.BigEndian.PutUint16(junk[16:], uint16(len(junk)))
			junk[18] = 1 + junk[18]%5
		}
		return s.receive(c, junk)
	case 15: // time passes
		s.now = s.now.Add(time.Duration(s.byte()) * 10 * time.Second)
	}
	return nil
}

func (s *sim) receive(c *simConn, b []byte) error {
	// In one piece or two, so framing across Received events is exercised.
	if cut := int(s.byte()) % (len(b) + 1); cut > 0 && cut < len(b) {
		if err := s.step(Event{Kind: Received, Conn: c.id, Data: b[:cut:cut]}); err != nil {
			return err
		}
		if !c.open {
			return nil
		}
		b = b[cut:]
	}
	return s.step(Event{Kind: Received, Conn: c.id, Data: b})
}

// step steps the Peer and checks what it did.
func (s *sim) step(ev Event) error {
	ev.At = s.now
	if ev.Jitter == 0 {
		ev.Jitter = float64(len(s.data)%7) / 7
	}
	switch ev.Kind {
	case SetRoutes:
		clear(s.routes)
		fallthrough
	case ChangeRoutes:
		for _, pfx := range ev.Withdraw {
			delete(s.routes, pfx)
		}
		for _, r := range ev.Routes {
			s.routes[r.Prefix] = r.Attrs
		}
	}
	actions := s.p.Step(ev)
	for i := range actions {
		if err := s.action(&actions[i]); err != nil {
			return fmt.Errorf("after %s: action %d (%s): %w", ev.Kind, i, actions[i].Kind, err)
		}
	}
	return s.check()
}

func (s *sim) action(a *Action) error {
	switch a.Kind {
	case Dial:
		if _, ok := s.conns[a.Conn]; ok || slices.Contains(s.dials, a.Conn) {
			return fmt.Errorf("dial reuses c%d", a.Conn)
		}
		s.dials = append(s.dials, a.Conn)
	case Accept:
		if _, ok := s.conns[a.Conn]; ok {
			return fmt.Errorf("accept reuses c%d", a.Conn)
		}
		s.conns[a.Conn] = &simConn{id: a.Conn, open: true}
	case Close:
		if c := s.conns[a.Conn]; c != nil {
			if c.up {
				return fmt.Errorf("close of c%d with its session up", a.Conn)
			}
			c.open = false
		}
		s.dials = slices.DeleteFunc(s.dials, func(id ConnID) bool { return id == a.Conn })
	case Send:
		c := s.conns[a.Conn]
		if c == nil || !c.open {
			return fmt.Errorf("send on c%d, which is not open", a.Conn)
		}
		return s.sent(c, a)
	case StartTimer:
		if a.Token <= s.last || a.Duration <= 0 {
			return fmt.Errorf("StartTimer %s #%d %s after #%d", a.Timer, a.Token, a.Duration, s.last)
		}
		s.timers[a.Timer], s.last = a.Token, a.Token
	case StopTimer:
		if _, ok := s.timers[a.Timer]; !ok {
			return fmt.Errorf("StopTimer %s, not running", a.Timer)
		}
		delete(s.timers, a.Timer)
	case SessionUp:
		c := s.conns[a.Session.Conn]
		if s.est != 0 || c == nil || !c.open || c.up || !c.ourOpen || !c.sentOpen {
			return fmt.Errorf("SessionUp on c%d with c%d up", a.Session.Conn, s.est)
		}
		c.up, c.session, s.est = true, a.Session, c.id
		c.wire = bgpwire.Session{FourOctetAS: a.Session.FourOctetAS, ExtendedMessage: a.Session.ExtendedMessage}
		c.rib, c.eor, c.stale = map[netip.Prefix]simRoute{}, [numAF]int{}, nil
		s.sessions++
	case SessionDown:
		c := s.conns[a.Down.Conn]
		if c == nil || !c.up || s.est != c.id {
			return fmt.Errorf("SessionDown on c%d, not up", a.Down.Conn)
		}
		c.up, s.est = false, 0
	case Report, Refuse:
	default:
		return fmt.Errorf("unknown action")
	}
	return nil
}

// sent decodes what the Peer sent on c and applies it to the router's view.
func (s *sim) sent(c *simConn, a *Action) error {
	msgs := splitMessages(a.Bytes)
	if len(msgs) == 0 {
		return fmt.Errorf("empty Send")
	}
	var m bgpwire.Message
	for _, b := range msgs {
		if err := m.Decode(b, c.wire); err != nil {
			return fmt.Errorf("the Peer sent a message the router cannot decode: %v (% x)", err, b)
		}
		control := m.Type == bgpwire.TypeOpen || m.Type == bgpwire.TypeKeepalive || m.Type == bgpwire.TypeNotification
		if control != (a.Class == Control) {
			return fmt.Errorf("%s in the %s queue", m.Type, a.Class)
		}
		switch m.Type {
		case bgpwire.TypeOpen:
			if c.ourOpen {
				return fmt.Errorf("second OPEN on c%d", c.id)
			}
			c.ourOpen = true
		case bgpwire.TypeUpdate, bgpwire.TypeRouteRefresh:
			if !c.up {
				return fmt.Errorf("%s on c%d before its session is up", m.Type, c.id)
			}
			if err := s.apply(c, &m); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *sim) apply(c *simConn, m *bgpwire.Message) error {
	if m.Type == bgpwire.TypeRouteRefresh {
		af, _ := afOfFamily(m.RouteRefresh.Family)
		switch m.RouteRefresh.Subtype {
		case bgpwire.RouteRefreshBoRR:
			c.stale = map[netip.Prefix]bool{}
			for pfx := range c.rib {
				if afOf(pfx) == af {
					c.stale[pfx] = true
				}
			}
		case bgpwire.RouteRefreshEoRR:
			for pfx := range c.stale {
				delete(c.rib, pfx)
			}
			c.stale = nil
		default:
			return fmt.Errorf("the Peer sent a ROUTE-REFRESH request")
		}
		return nil
	}
	u := &m.Update
	s.updates++
	if f, ok := u.IsEndOfRIB(); ok {
		af, _ := afOfFamily(f)
		if c.eor[af]++; c.eor[af] > 1 {
			return fmt.Errorf("second End-of-RIB for %s on c%d", af, c.id)
		}
		return nil
	}
	for _, pfx := range append(append([]netip.Prefix(nil), u.Withdrawn...), u.MPUnreach.Withdrawn...) {
		delete(c.rib, pfx)
	}
	nlri := append(append([]netip.Prefix(nil), u.NLRI...), u.MPReach.NLRI...)
	if len(nlri) == 0 {
		return nil
	}
	r := simRoute{nh: bgpwire.NextHop{Addr: u.NextHop}, lp: u.LocalPref, hasLP: u.HasLocalPref}
	if u.HasMPReach {
		r.nh = bgpwire.NextHop{Addr: u.MPReach.NextHop, LinkLocal: u.MPReach.LinkLocalNextHop}
	}
	r.path = fmt.Sprint(u.MergedASPath(nil))
	r.comm = fmt.Sprint(u.Communities)
	r.lcs = fmt.Sprint(u.LargeCommunities)
	for _, pfx := range nlri {
		c.rib[pfx] = r
		delete(c.stale, pfx)
	}
	return nil
}

// want is the route the router should have for a desired route.
func (s *sim) want(c *simConn, pfx netip.Prefix, a Attrs) simRoute {
	r := simRoute{nh: c.session.NextHops[afOf(pfx)]}
	if c.session.IBGP {
		r.path = fmt.Sprint([]bgpwire.ASSegment(nil))
		r.hasLP, r.lp = true, DefaultLocalPref
		if a.HasLocalPref {
			r.lp = a.LocalPref
		}
	} else {
		r.path = fmt.Sprint([]bgpwire.ASSegment{{Type: bgpwire.ASSequence, ASNs: []uint32{c.session.LocalAS}}})
	}
	comms := slices.Compact(slices.Sorted(slices.Values(a.Communities)))
	large := slices.CompactFunc(slices.SortedFunc(slices.Values(a.LargeCommunities), compareLarge), func(x, y bgpwire.LargeCommunity) bool { return x == y })
	r.comm, r.lcs = fmt.Sprint(comms), fmt.Sprint(large)
	if len(comms) == 0 {
		r.comm = fmt.Sprint([]bgpwire.Community(nil))
	}
	if len(large) == 0 {
		r.lcs = fmt.Sprint([]bgpwire.LargeCommunity(nil))
	}
	return r
}

// check runs after every step.
func (s *sim) check() error {
	st := s.p.Status()
	up := 0
	for _, c := range s.conns {
		if c.up {
			up++
		}
	}
	if up > 1 {
		return fmt.Errorf("%d sessions up", up)
	}
	if (s.est != 0) != (st.State == fsm.Established) {
		return fmt.Errorf("session up on c%d but the Peer is %s", s.est, st.State)
	}
	if s.est == 0 {
		return nil
	}
	c := s.conns[s.est]
	for _, af := range AFs {
		if c.eor[af] != 0 && !c.session.Families[af] {
			return fmt.Errorf("End-of-RIB for %s, not negotiated", af)
		}
		if c.session.Families[af] && c.eor[af] != 1 {
			return fmt.Errorf("%d End-of-RIB for %s after the session came up", c.eor[af], af)
		}
	}
	if c.blocked {
		return nil // changes wait until the queue drains
	}
	// Drained: the router has exactly the desired routes of the families
	// the session can carry, with the right attributes.
	s.tableChecks++
	var count [numAF]int
	for pfx, a := range s.routes {
		af := afOf(pfx)
		if !c.session.Families[af] || !c.session.NextHops[af].Addr.IsValid() {
			continue
		}
		count[af]++
		got, ok := c.rib[pfx]
		if !ok {
			return fmt.Errorf("the router lacks %s", pfx)
		}
		if want := s.want(c, pfx, a); got != want {
			return fmt.Errorf("the router has %s as %s, want %s", pfx, got, want)
		}
	}
	for pfx := range c.rib {
		if _, ok := s.routes[pfx]; !ok {
			return fmt.Errorf("the router still has %s", pfx)
		}
	}
	if st.Announced != count {
		return fmt.Errorf("status announces %v, the router has %v", st.Announced, count)
	}
	return nil
}
