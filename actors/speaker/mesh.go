package speaker

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/heraldlb/herald/bfdnet"
	"github.com/heraldlb/herald/bgpwire/bfd"
	"github.com/heraldlb/herald/liveness"
)

// The liveness mesh: which speakers are alive, known in well under a
// second and without the API server, for the L2 election. The decisions
// are liveness.View's; this actor runs its BFD sessions (a bfdnet Manager
// of its own, multihop on the liveness port), carries the speakers'
// Statuses over UDP on the next port, and hands the alive set and every
// speaker's interfaces to the planner.
//
// Members are the nodes with a speaker: a Node with an InternalIP of this
// node's family, and either a ConfigurationState named speaker-<node>
// (each speaker writes its own) or a Status that speaker sent from that
// address. The API alone is not enough: a speaker's ConfigurationState
// may reach the others' caches seconds after the speaker started (a slow
// write, a lagging watch), and two speakers that do not count each other
// both answer for the same L2 IP. A Status from a Node's own address shows
// a speaker runs there, so one side knowing the other makes it mutual at
// once. Datagrams and BFD sessions from other addresses are ignored.
//
// Statuses go to every member when they change; every gossipInterval
// the actor also sends a Digest of the versions it holds to one member,
// in ring order, which sends back what is newer and asks for what it
// lacks (liveness.Exchange), so a lost datagram is repaired within a few
// rounds.

// meshTag marks a liveness-mesh BFD session with the other speaker's node.
type meshTag struct{ node string }

// gossipInterval is how often a speaker sends a Digest to one member.
const gossipInterval = 2 * time.Second

// DefaultLivenessProfile is the mesh's BFD profile: 100 ms × 3, so a
// dead speaker is known 300 ms after its last packet; multihop packets
// are accepted across one router (minimum TTL 254).
var DefaultLivenessProfile = bfd.Profile{Name: "liveness", ReceiveInterval: 100, TransmitInterval: 100,
	DetectMultiplier: 3, EchoInterval: 50, MinimumTTL: 254}

// meshTransport sends the mesh's datagrams; what it receives goes to the
// deliver function it was opened with.
type meshTransport interface {
	Send(to netip.AddrPort, b []byte) error
	Close() error
}

// MeshNet opens the mesh's transport on port; deliver runs on the
// transport's goroutine for every datagram received.
type MeshNet func(port uint16, deliver func(from netip.AddrPort, b []byte)) (meshTransport, error)

// Messages to the mesh actor.
type (
	// meshMembers: a Node or a ConfigurationState changed.
	meshMembers struct{}
	// meshBFD: a mesh BFD session came Up or went Down.
	meshBFD struct{ ch bfdnet.Change }
	// meshDatagram: a decoded datagram from another speaker.
	meshDatagram struct {
		from netip.Addr
		msg  liveness.Message
	}
	// meshTick: the View's deadline (token: the one scheduled last).
	meshTick   struct{ token uint64 }
	meshGossip struct{}
	// leaveMesh (a request): the speaker stops. Tell the others, stop
	// answering for anything, and answer meshLeft.
	leaveMesh struct{}
	meshLeft  struct{}
	// speakersAlive, to the planner: the live speakers and, for each
	// other speaker, the interfaces it reported (nil: not heard yet).
	speakersAlive struct {
		nodes  []string
		ifaces map[string][]string
	}
	// resendInterfaces, to the planner: send localInterfaces again.
	resendInterfaces struct{}
	// resendAlive, from a restarted planner: send speakersAlive again.
	resendAlive struct{}
)

type meshActor struct {
	term
	e       *env
	start   time.Time
	profile bfd.Profile
	view    *liveness.View
	bfd     *bfdnet.Manager
	tr      meshTransport

	self    netip.Addr
	members map[string]netip.Addr
	// heard are the speakers known from a Status of their own rather
	// than from a ConfigurationState.
	heard map[string]bool
	// byAddr maps member addresses to nodes for the Manager's Accept,
	// which runs on its receive goroutines.
	byAddr atomic.Pointer[map[netip.Addr]string]

	sessions map[string]*bfdnet.Session
	statuses map[string]liveness.Status
	own      liveness.Status
	ownSeq   uint64
	ifaces   []string
	hasIfs   bool

	tickToken  uint64
	tickAt     time.Duration
	gossipNext int
	sent       speakersAlive
	sentOnce   bool
	// membersSet: the View has been given its first member list.
	membersSet bool
	left       bool
}

func newMeshActor(e *env) actor.Actor { return &meshActor{e: e} }

func (a *meshActor) now() time.Duration { return a.e.Clock.Since(a.start) }

func (a *meshActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.started(c)
	case meshMembers:
		a.readMembers(c)
		a.update(c)
	case localInterfaces:
		a.ifaces, a.hasIfs = m.names, true
		a.update(c)
	case resendAlive:
		a.sentOnce = false
		a.tellPlanner(c)
	case meshBFD:
		a.bfdChange(c, m.ch)
	case meshDatagram:
		a.datagram(c, m)
	case meshTick:
		if m.token == a.tickToken {
			a.view.Tick(a.now())
			a.update(c)
		}
	case meshGossip:
		a.gossip()
		a.e.After(gossipInterval, c.Self(), meshGossip{})
	case leaveMesh:
		a.leave(c)
		c.Respond(meshLeft{})
	case *actor.Restarting:
		// A panic: the new actor opens its own sockets and starts a new
		// epoch; the sessions' AdminDown gives the others a grace period.
		a.closeSockets()
	case *actor.Stopping:
		if !a.left {
			a.leave(c)
		}
	}
}

func (a *meshActor) closeSockets() {
	if a.bfd != nil {
		a.e.metrics.bfd.remove(a.bfd)
		_ = a.bfd.Close()
		a.bfd = nil
	}
	if a.tr != nil {
		_ = a.tr.Close()
		a.tr = nil
	}
}

func (a *meshActor) started(c actor.Context) {
	a.start = a.e.Clock.Now()
	a.profile = a.e.meshProfile
	a.members, a.sessions, a.statuses = map[string]netip.Addr{}, map[string]*bfdnet.Session{}, map[string]liveness.Status{}
	a.heard = map[string]bool{}
	empty := map[netip.Addr]string{}
	a.byAddr.Store(&empty)
	// The epoch must grow with every start of the speaker: its start
	// time does, on any clock that is not set back by more than the
	// time a restart takes.
	a.view = liveness.NewView(liveness.Config{StartHold: a.e.meshStartHold}, a.e.node, uint64(a.start.UnixNano()))
	a.membersSet = false
	self, root := c.Self(), a.e.Root
	passive := a.profile
	passive.PassiveMode = true
	var err error
	a.bfd, err = bfdnet.New(bfdnet.Options{
		// Only multihop sessions: the other ports are never opened, but
		// must differ from it.
		MultihopPort: a.e.meshPort, SingleHopPort: a.e.meshPort + 2, EchoPort: a.e.meshPort + 3,
		Network: a.e.meshBFDNet, Log: a.e.Log.With("bfd", "liveness"),
		Notify: func(ch bfdnet.Change) { root.Send(self, meshBFD{ch: ch}) },
		// Answer the members that open a session this speaker does not
		// want (while views differ), passively.
		Accept: func(in bfdnet.Incoming) (bfdnet.SessionConfig, bool) {
			node, ok := (*a.byAddr.Load())[in.Peer]
			if !ok || !in.Multihop {
				return bfdnet.SessionConfig{}, false
			}
			return bfdnet.SessionConfig{Key: bfdnet.Key{Peer: in.Peer, Local: in.Local, Multihop: true},
				Profile: passive, Tag: meshTag{node: node}}, true
		},
	})
	if err == nil {
		a.tr, err = a.e.meshNet(a.e.meshPort+1, func(from netip.AddrPort, b []byte) {
			msg, err := liveness.Decode(b)
			if err != nil {
				a.e.metrics.meshMalformed.Inc()
				return
			}
			root.Send(self, meshDatagram{from: from.Addr().Unmap(), msg: msg})
		})
	}
	if err != nil {
		// Without the mesh every member counts as alive: L2 keeps working,
		// failing over only when the API removes a speaker.
		a.e.Log.Error("the liveness mesh cannot start: every speaker counts as alive", "err", err)
		if a.bfd != nil {
			_ = a.bfd.Close()
			a.bfd = nil
		}
	} else {
		a.e.metrics.bfd.add(a.bfd)
		for _, fam := range []bfdnet.Family{bfdnet.IPv4, bfdnet.IPv6} {
			if err := a.bfd.Listen(true, fam); err != nil {
				a.e.Log.Debug("liveness mesh: not listening", "family", fam, "err", err)
			}
		}
	}
	if a.restarted {
		c.Send(a.e.planner, resendInterfaces{}) // restarted
	}
	a.readMembers(c)
	if a.view.Holding() {
		a.e.Log.Info("no other speaker is listed yet: answering no L2 IP for the start hold, while the speakers hear of each other", "hold", a.view.HoldLeft())
	}
	a.update(c)
	a.e.After(gossipInterval, c.Self(), meshGossip{})
}

// readMembers reads the members from the caches.
func (a *meshActor) readMembers(c actor.Context) {
	var v4, v6 netip.Addr
	if n, ok := a.e.inf.Node(a.e.node); ok {
		v4, v6 = nodeAddresses(n)
	}
	a.self = v4
	if !a.self.IsValid() {
		a.self = v6
	}
	members := map[string]netip.Addr{}
	for _, name := range a.e.inf.ConfigurationStateNames() {
		if node, ok := strings.CutPrefix(name, "speaker-"); ok {
			if addr, ok := a.memberAddr(node); ok {
				members[node] = addr
			}
			// Listed now: from here on the API decides, and a
			// ConfigurationState deleted to retire a speaker retires it.
			delete(a.heard, node)
		}
	}
	for node := range a.heard {
		if addr, ok := a.memberAddr(node); ok {
			members[node] = addr
		} else {
			delete(a.heard, node) // its Node is gone
		}
	}
	// The first list is given even when empty: it decides the View's
	// start hold.
	if maps.Equal(members, a.members) && a.membersSet {
		return
	}
	a.membersSet = true
	old := a.members
	a.members = members
	byAddr := map[netip.Addr]string{}
	for n, addr := range members {
		byAddr[addr] = n
	}
	a.byAddr.Store(&byAddr)
	for n := range a.statuses {
		if _, ok := members[n]; !ok {
			delete(a.statuses, n)
		}
	}
	a.e.metrics.meshHeld.Set(float64(len(a.statuses)))
	a.view.SetMembers(a.now(), slices.Sorted(maps.Keys(members)))
	// A new member hears this speaker's Status now rather than at its
	// next change, which may be a BFD slow-rate second away: it counts
	// this speaker from then on, even if the API has not shown it this
	// speaker yet.
	a.sendOwn(func(n string) bool { return old[n] != members[n] })
}

// memberAddr is the address node's speaker is reached at: its Node's
// InternalIP of this node's family. ok is false for this node itself and
// for a node without one.
func (a *meshActor) memberAddr(node string) (netip.Addr, bool) {
	if node == a.e.node {
		return netip.Addr{}, false
	}
	n, ok := a.e.inf.Node(node)
	if !ok {
		return netip.Addr{}, false
	}
	p4, p6 := nodeAddresses(n)
	switch {
	case a.self.Is4() && p4.IsValid():
		return p4, true
	case a.self.Is6() && p6.IsValid():
		return p6, true
	}
	return netip.Addr{}, false
}

func (a *meshActor) bfdChange(c actor.Context, ch bfdnet.Change) {
	t, ok := ch.Tag.(meshTag)
	if !ok || a.bfd == nil || a.left {
		return
	}
	if cur, ok := a.bfd.Session(ch.Key); !ok || cur != ch.Session {
		return // a session removed since
	}
	st := liveness.SessionUp
	switch {
	case ch.Up:
	case ch.Cause.Failure():
		st = liveness.SessionFailed
	default:
		st = liveness.SessionWithdrawn
	}
	a.e.Log.Debug("liveness session", "node", t.node, "up", ch.Up, "cause", ch.Cause.String())
	a.view.SetSession(a.now(), t.node, st)
	a.update(c)
}

func (a *meshActor) datagram(c actor.Context, m meshDatagram) {
	if st := m.msg.Status; st != nil && st.Leaving && a.heard[st.Reporter] {
		// Known only from its own word, and now it says it leaves.
		delete(a.heard, st.Reporter)
		a.readMembers(c)
	}
	if !a.left && !a.isMember(m.from) && m.msg.Status != nil && !m.msg.Status.Leaving {
		// A speaker the API has not listed yet: a member if the Status
		// comes from its own Node's address.
		if r := m.msg.Status.Reporter; !a.heard[r] {
			if addr, ok := a.memberAddr(r); ok && addr == m.from {
				a.heard[r] = true
				a.e.Log.Debug("liveness member heard before the API listed it", "member", r)
				a.readMembers(c)
			}
		}
	}
	if a.left || !a.isMember(m.from) {
		a.e.metrics.meshForeign.Inc()
		return
	}
	now := a.now()
	switch {
	case m.msg.Status != nil:
		a.receive(now, *m.msg.Status)
	case m.msg.Digest != nil:
		held := a.held()
		send, request := liveness.Exchange(held, *m.msg.Digest)
		to := netip.AddrPortFrom(m.from, a.e.meshPort+1)
		for _, r := range send {
			st := a.own
			if r != a.e.node {
				st = a.statuses[r]
			}
			a.sendStatus(to, st)
		}
		if len(request) > 0 {
			a.sendDigest(to, liveness.Digest{Request: true, Versions: request})
		}
	}
	a.update(c)
}

func (a *meshActor) isMember(addr netip.Addr) bool {
	_, ok := (*a.byAddr.Load())[addr]
	return ok
}

// receive takes another speaker's Status if it is newer than the one held.
func (a *meshActor) receive(now time.Duration, s liveness.Status) {
	if s.Reporter == a.e.node {
		return
	}
	if _, ok := a.members[s.Reporter]; !ok {
		return
	}
	if old, ok := a.statuses[s.Reporter]; ok && !liveness.VersionOf(s).Newer(liveness.VersionOf(old)) {
		return
	}
	a.statuses[s.Reporter] = s
	a.e.metrics.meshHeld.Set(float64(len(a.statuses)))
	a.view.Receive(now, s.Report)
}

func (a *meshActor) held() map[string]liveness.Version {
	out := make(map[string]liveness.Version, len(a.statuses)+1)
	for n, s := range a.statuses {
		out[n] = liveness.VersionOf(s)
	}
	if a.ownSeq > 0 {
		out[a.e.node] = liveness.VersionOf(a.own)
	}
	return out
}

// update runs after every change: the sessions follow the View, a new
// Status goes out, the next deadline is set, and the planner hears the
// alive set if it changed.
func (a *meshActor) update(c actor.Context) {
	if a.left {
		return
	}
	now := a.now()
	a.syncSessions(now)
	r, changed := a.view.Publish(now)
	if changed || a.ownSeq == 0 || !slices.Equal(a.own.Interfaces, a.ifaces) {
		a.ownSeq++
		a.own = liveness.Status{Report: r, Interfaces: slices.Clone(a.ifaces)}
		a.own.Seq = a.ownSeq
		a.broadcast()
	}
	if d, ok := a.view.Deadline(); ok && (d != a.tickAt || a.tickToken == 0) {
		a.tickToken++
		a.tickAt = d
		a.e.After(max(d-now, 0), c.Self(), meshTick{token: a.tickToken})
	}
	a.tellPlanner(c)
}

// syncSessions runs a BFD session to each peer the View wants and removes
// the others (AdminDown, which the peer does not count as a failure).
func (a *meshActor) syncSessions(now time.Duration) {
	if a.bfd == nil || !a.self.IsValid() {
		return
	}
	want := a.view.Sessions()
	for _, node := range want {
		addr, ok := a.members[node]
		if !ok || a.sessions[node] != nil {
			continue
		}
		key := bfdnet.Key{Peer: addr, Local: a.self, Multihop: true}
		if s, ok := a.bfd.Session(key); ok {
			// Answered passively so far: make it ours and active.
			if err := s.SetProfile(a.profile); err != nil {
				a.e.Log.Warn("liveness session: profile not applied", "node", node, "err", err)
			}
			a.sessions[node] = s
			if s.State() == bfd.Up {
				a.view.SetSession(now, node, liveness.SessionUp)
			}
			continue
		}
		s, err := a.bfd.Add(bfdnet.SessionConfig{Key: key, Profile: a.profile, Tag: meshTag{node: node}})
		if err != nil {
			a.e.Log.Warn("liveness session not started", "node", node, "err", err)
			continue
		}
		a.sessions[node] = s
	}
	for node, s := range a.sessions {
		if !slices.Contains(want, node) || a.members[node] != s.Key().Peer {
			s.Remove()
			delete(a.sessions, node)
		}
	}
}

func (a *meshActor) broadcast() { a.sendOwn(nil) }

// sendOwn sends this speaker's Status, once it has one, to the members to
// selects (nil: every member).
func (a *meshActor) sendOwn(to func(node string) bool) {
	if a.tr == nil || a.ownSeq == 0 {
		return
	}
	b, err := liveness.AppendStatus(nil, a.own)
	if err != nil {
		a.e.Log.Error("liveness status not sent", "err", err)
		return
	}
	for n, addr := range a.members {
		if to == nil || to(n) {
			a.send(netip.AddrPortFrom(addr, a.e.meshPort+1), b)
		}
	}
}

func (a *meshActor) sendStatus(to netip.AddrPort, s liveness.Status) {
	if b, err := liveness.AppendStatus(nil, s); err == nil {
		a.send(to, b)
	}
}

func (a *meshActor) sendDigest(to netip.AddrPort, d liveness.Digest) {
	dgs, err := liveness.AppendDigests(d)
	if err != nil {
		return
	}
	for _, b := range dgs {
		a.send(to, b)
	}
}

func (a *meshActor) send(to netip.AddrPort, b []byte) {
	if a.tr == nil {
		return
	}
	if err := a.tr.Send(to, b); err != nil {
		a.e.metrics.meshSendErrors.Inc()
		a.e.Log.Debug("liveness datagram not sent", "to", to, "err", err)
		return
	}
	a.e.metrics.meshSent.Inc()
}

// gossip sends a Digest of what this speaker holds to the next member in
// ring order, and this speaker's Status to every member it has never heard
// from: that member may have dropped the Status as foreign (its caches had
// not shown this speaker yet), and a member that counts this speaker sends
// its own Status at once, so silence says it does not. Digests cannot
// repair that: they go only between members. In the steady state every
// member has been heard and nothing more is sent.
func (a *meshActor) gossip() {
	if a.left || len(a.members) == 0 {
		return
	}
	a.sendOwn(func(n string) bool { _, heard := a.statuses[n]; return !heard })
	ring := liveness.Ring(slices.Collect(maps.Keys(a.members)))
	a.gossipNext %= len(ring)
	to := a.members[ring[a.gossipNext]]
	a.gossipNext++
	held := a.held()
	d := liveness.Digest{}
	for _, n := range slices.Sorted(maps.Keys(held)) {
		d.Versions = append(d.Versions, held[n])
	}
	a.sendDigest(netip.AddrPortFrom(to, a.e.meshPort+1), d)
}

// tellPlanner sends the alive set and the speakers' interfaces when they
// changed. A speaker dead in its own view (isolated, or leaving) is not in
// it, so this node stops answering for anything.
func (a *meshActor) tellPlanner(c actor.Context) {
	msg := speakersAlive{ifaces: map[string][]string{}}
	for _, n := range a.view.Alive() {
		if a.left && n == a.e.node {
			continue
		}
		msg.nodes = append(msg.nodes, n)
		if s, ok := a.statuses[n]; ok && n != a.e.node {
			msg.ifaces[n] = s.Interfaces
		}
	}
	if a.sentOnce && slices.Equal(msg.nodes, a.sent.nodes) && maps.EqualFunc(msg.ifaces, a.sent.ifaces, slices.Equal) {
		return
	}
	if !slices.Equal(msg.nodes, a.sent.nodes) {
		a.e.Log.Info("live speakers", "nodes", msg.nodes)
		a.e.metrics.meshAlive.Set(float64(len(msg.nodes)))
	}
	a.sent, a.sentOnce = msg, true
	c.Send(a.e.planner, msg)
}

// leave is a clean stop: a leaving Status to every member (they count
// this speaker dead at once), nothing more answered here, then AdminDown
// on every session.
func (a *meshActor) leave(c actor.Context) {
	if a.left {
		return
	}
	now := a.now()
	a.view.Leave(now)
	if r, changed := a.view.Publish(now); changed {
		a.ownSeq++
		a.own = liveness.Status{Report: r, Interfaces: slices.Clone(a.ifaces)}
		a.own.Seq = a.ownSeq
		a.broadcast()
	}
	a.left = true
	a.sentOnce = false
	msg := speakersAlive{ifaces: map[string][]string{}}
	for _, n := range a.view.Alive() {
		if n != a.e.node {
			msg.nodes = append(msg.nodes, n)
		}
	}
	c.Send(a.e.planner, msg)
	a.closeSockets()
}
