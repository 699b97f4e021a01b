package speaker

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"k8s.io/utils/clock"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/bfdnet"
	"github.com/heraldlb/herald/bgpwire"
	"github.com/heraldlb/herald/bgpwire/fsm"
	"github.com/heraldlb/herald/bgpwire/peer"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/tracing"
)

// peerActor carries out one BGP session's peer.Peer: it owns the TCP
// connections (a reader and a writer goroutine each, see bgpConn), the
// timers (echoing the Peer's tokens) and the dials, and steps the Peer with
// what happens. Every decision, down to which bytes to send, is the Peer's.
type peerActor struct {
	e    *env
	name string
	cfg  *config.Peer
	// routes is the desired set the actor starts with.
	routes []peer.Route
	// restarted: the speaker process has just started (graceful restart's
	// Restart State bit).
	restarted bool
	// retired: the actor is stopping and writes its BGPSessionState no
	// more.
	retired bool

	p         *peer.Peer
	transport sessionTransport
	// journeys are the bgp.peer.update spans whose routes have not yet
	// gone out in an UPDATE (see traceSend); waiting are the informer
	// event times of the changes not yet on the wire (see awaitWire).
	journeys []trace.SpanContext
	waiting  []time.Time
	// sentBulk: the step being carried out queued UPDATEs; blocked: the
	// connection's writer reported no progress (changes coalesce).
	sentBulk, blocked bool
	// decoded is reused to count the prefixes of each UPDATE sent, into
	// prefixHist, the peer's series of herald_bgp_update_prefixes, looked
	// up once for prefixHistCfg (its labels come from the configuration).
	decoded       bgpwire.Update
	prefixHist    prometheus.Observer
	prefixHistCfg *config.Peer
	acts          []peer.Action
	conns         map[peer.ConnID]*bgpConn
	dials         map[peer.ConnID]context.CancelFunc
	timers        map[peer.Timer]clock.Timer
	// last is the Status published last, lastBFD the BFD state with it.
	last    peer.Status
	lastBFD string
	status  *actors.StatusWriter[v1beta1.BGPSessionStateStatus]

	// incoming is a connection the listener accepted, while the Peer
	// decides whether to keep it.
	incoming net.Conn

	// drain is set while the speaker stops: the withdrawals are being
	// sent; drained answers it.
	drain *drainSession

	// bfd is the BFD session the BGPPeer's bfdProfile asks for (nil:
	// none); bfdState its state for the BGPSessionState, and bfdErr why
	// it could not start.
	bfd      *bfdnet.Session
	bfdState string
	bfdErr   error
}

type drainSession struct {
	reply *actor.PID
	// waiting are the connections whose queues must empty first.
	waiting map[peer.ConnID]bool
}

// Messages to a peer actor.
type (
	// setRoutes replaces the desired route set.
	setRoutes struct{ routes []peer.Route }
	// changeRoutes adds or replaces routes and withdraws prefixes.
	changeRoutes struct {
		trace trace.SpanContext // the speaker.plan span that made them
		// at is when the informer event that caused them was received
		// (zero: no Service or EndpointSlice event did).
		at       time.Time
		routes   []peer.Route
		withdraw []netip.Prefix
	}
	// dialed is the outcome of a Dial.
	dialed struct {
		conn peer.ConnID
		c    net.Conn
		err  error
	}
	// acceptedConn is a connection the listener accepted from the peer's
	// address.
	acceptedConn struct{ c net.Conn }
	// peerTimer is a Peer timer firing.
	peerTimer struct {
		timer peer.Timer
		token uint64
	}
	// drainPeer: the speaker stops. Withdraw everything (or, with graceful
	// restart negotiated, keep the routes at the peer for its restart
	// time), say goodbye, and answer drained to reply.
	drainPeer struct{ reply *actor.PID }
	drained   struct{ peer string }
	// resendCarries, from the peers actor for a restarted planner: say
	// again which families the session carries, if it is up.
	resendCarries struct{}
)

func newPeerActor(e *env, cfg *config.Peer, routes []peer.Route, restarted bool) actor.Actor {
	return &peerActor{e: e, name: cfg.Name, cfg: cfg, routes: routes, restarted: restarted}
}

func (a *peerActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.conns = map[peer.ConnID]*bgpConn{}
		a.dials = map[peer.ConnID]context.CancelFunc{}
		a.timers = map[peer.Timer]clock.Timer{}
		a.status = newSessionStateWriter(a.e, a.name)
		pc, err := a.e.peerConfig(a.cfg, a.restarted)
		if err == nil {
			a.p, err = peer.New(pc)
		}
		if err == nil {
			self, root := c.Self(), a.e.Root
			a.transport, err = a.e.net.Open(a.cfg, func(nc net.Conn) { root.Send(self, acceptedConn{c: nc}) })
		}
		if err != nil {
			// The configuration compiled, so this is a disagreement
			// between config and the Peer: say so and do nothing.
			a.e.Log.Error("BGP peer cannot be configured", "peer", a.name, "err", err)
			return
		}
		a.startBFD(c)
		a.step(c, peer.Event{Kind: peer.SetRoutes, Routes: a.routes})
		a.step(c, peer.Event{Kind: peer.Start})
	case setRoutes:
		a.step(c, peer.Event{Kind: peer.SetRoutes, Routes: m.routes})
	case changeRoutes:
		if a.drain != nil {
			// Stopping: everything was withdrawn (or, with graceful
			// restart, left to the peer); a Service event now must not
			// announce again between the withdrawal and the Cease.
			return
		}
		a.traceRoutes(m)
		measured := a.awaitWire(m.at)
		a.step(c, peer.Event{Kind: peer.ChangeRoutes, Routes: m.routes, Withdraw: m.withdraw})
		if measured {
			a.settleWire(a.sentBulk)
		}
	case dialed:
		delete(a.dials, m.conn)
		if m.err != nil {
			a.e.Log.Info("BGP connection failed", "peer", a.name, "conn", m.conn, "err", m.err)
			a.step(c, peer.Event{Kind: peer.DialFailed, Conn: m.conn, Err: m.err})
			return
		}
		if a.p == nil {
			m.c.Close()
			return
		}
		a.conns[m.conn] = startConn(m.conn, m.c, a.e.Root, c.Self())
		a.step(c, peer.Event{Kind: peer.Connected, Conn: m.conn, Local: a.transport.LocalAddrs(m.c)})
	case acceptedConn:
		if a.p == nil {
			m.c.Close()
			return
		}
		a.accept(c, m.c)
	case connData:
		a.step(c, peer.Event{Kind: peer.Received, Conn: m.conn, Data: m.data})
	case connClosed:
		a.blocked = false
		if _, ok := a.conns[m.conn]; ok {
			delete(a.conns, m.conn)
			a.step(c, peer.Event{Kind: peer.Closed, Conn: m.conn, Err: m.err})
		}
		a.drainedConn(c, m.conn)
	case connBlocked:
		k := peer.SendProgressed
		a.blocked = m.blocked
		if m.blocked {
			k = peer.SendBlocked
		}
		a.step(c, peer.Event{Kind: k, Conn: m.conn})
	case connDrained:
		a.drainedConn(c, m.conn)
	case peerTimer:
		a.step(c, peer.Event{Kind: peer.TimerExpired, Timer: m.timer, Token: m.token})
	case bfdChanged:
		a.bfdChange(c, m.ch)
	case setBFD:
		a.setBFDProfile(c, m.profile)
	case retryBFD:
		a.retryBFD(c, m)
	case drainPeer:
		a.startDrain(c, m.reply)
	case actors.StatusWritten[v1beta1.BGPSessionStateStatus]:
		a.status.Done(c, m)
	case actors.Retry:
		a.status.Flush(c)
	case *actor.Restarting:
		// A panic: the new actor opens everything afresh, so this one
		// lets go of its connections, timers and BFD session (whose key
		// the new one adds again).
		a.release()
	case resendCarries:
		if a.p != nil {
			if st := a.p.Status(); st.State == fsm.Established {
				a.tellCarried(c, st.Session)
			}
		}
	case *actor.Stopping:
		// Its BGPSessionState is written no more: a write now would race
		// the next session's or the deletion (peersActor.forget).
		a.retired = true
		// Removed (the session is no longer planned, or its BGPPeer
		// changed): say goodbye with Cease/Peer De-configured.
		if a.p != nil && a.drain == nil {
			a.step(c, peer.Event{Kind: peer.Deconfigure})
		}
		// After the Cease: the router hears BFD AdminDown, which is not a
		// failure, once the BGP session has closed.
		a.release()
		a.e.metrics.forgetPeer(a.name, peerAddr(a.cfg))
		// The BGPSessionState stays: the peers actor deletes it once the
		// session is no longer planned (peersActor.forget). Deleting it
		// here also when a replacement or a restart after a failure
		// follows could land after the next actor's first write.
	}
}

// release closes what the actor owns: its BFD session, dials, timers,
// connections and transport.
func (a *peerActor) release() {
	a.stopBFD()
	for _, cancel := range a.dials {
		cancel()
	}
	for _, t := range a.timers {
		t.Stop()
	}
	for _, bc := range a.conns {
		bc.close()
	}
	if a.transport != nil {
		a.transport.Close()
	}
}

// step runs the Peer and carries out its actions, in order.
func (a *peerActor) step(c actor.Context, ev peer.Event) {
	if a.p == nil {
		return
	}
	ev.At = a.e.Clock.Now()
	ev.Jitter = rand.Float64()
	a.sentBulk = false
	a.acts = a.p.StepAppend(a.acts[:0], ev)
	for _, act := range a.acts {
		switch act.Kind {
		case peer.Dial:
			a.dial(c, act.Conn)
		case peer.Accept:
			// At once: the OPEN for the connection follows in this
			// same list of actions.
			if a.incoming != nil {
				a.conns[act.Conn] = startConn(act.Conn, a.incoming, a.e.Root, c.Self())
				a.incoming = nil
			}
		case peer.Send:
			if bc := a.conns[act.Conn]; bc != nil {
				var written func()
				if act.Class == peer.Bulk {
					a.traceSend(act.Bytes)
					a.observeUpdates(act.Bytes)
					a.sentBulk = true
					written = a.wireWritten()
				}
				bc.send(act.Class, act.Bytes, written)
			}
		case peer.Close:
			if bc := a.conns[act.Conn]; bc != nil {
				bc.close()
				delete(a.conns, act.Conn)
			}
			if cancel := a.dials[act.Conn]; cancel != nil {
				cancel()
				delete(a.dials, act.Conn)
			}
		case peer.StartTimer:
			a.startTimer(c, act.Timer, act.Duration, act.Token)
		case peer.StopTimer:
			if t := a.timers[act.Timer]; t != nil {
				t.Stop()
				delete(a.timers, act.Timer)
			}
		case peer.SessionUp:
			a.tellCarried(c, act.Session)
			a.traceSession("Established", a.cfg)
			a.e.Log.Info("BGP session established", "peer", a.name, "peerAS", act.Session.PeerAS,
				"peerID", act.Session.PeerID, "hold", act.Session.HoldTime, "gracefulRestart", act.Session.GracefulRestart)
		case peer.SessionDown:
			// What waited goes out with the next session's whole
			// table: session set-up, not a change's latency.
			a.waiting = a.waiting[:0]
			a.traceSession("Idle", a.cfg, tracing.AttrErrorType.String(act.Down.Reason.String()))
			a.e.Log.Info("BGP session down", "peer", a.name, "reason", act.Down.Reason.String(), "notification", act.Down.Notification.String())
		case peer.Report:
			a.report(act.Report)
		}
	}
	a.publish(c)
}

// accept hands the Peer a connection the listener took from the peer's
// address; the Peer answers Accept (it keeps it, see step) or Refuse.
func (a *peerActor) accept(c actor.Context, nc net.Conn) {
	a.incoming = nc
	a.step(c, peer.Event{Kind: peer.Accepted, Local: a.transport.LocalAddrs(nc)})
	if a.incoming != nil {
		// Refused: close it unanswered.
		a.incoming.Close()
		a.incoming = nil
	}
}

// dialTimeout bounds a dial below the shortest ConnectRetryTimer the Peer
// runs (ConnectTime less up to a quarter of jitter). A dial that timer
// abandons fails without a reason; one that times out on its own says why
// (bgpnet's timeout names a TCP MD5 or GTSM mismatch as the usual cause),
// and the Peer keeps that in the session's LastError.
func dialTimeout(connectTime time.Duration) time.Duration { return connectTime * 7 / 10 }

func (a *peerActor) dial(c actor.Context, id peer.ConnID) {
	ctx, cancel := context.WithTimeout(a.e.Ctx, dialTimeout(a.cfg.ConnectTime))
	a.dials[id] = cancel
	tr, self, root := a.transport, c.Self(), a.e.Root
	go func() {
		defer cancel()
		nc, err := tr.Dial(ctx)
		if a.e.Ctx.Err() != nil {
			if nc != nil {
				nc.Close()
			}
			return
		}
		root.Send(self, dialed{conn: id, c: nc, err: err})
	}()
}

func (a *peerActor) startTimer(c actor.Context, t peer.Timer, d time.Duration, token uint64) {
	if old := a.timers[t]; old != nil {
		old.Stop()
	}
	self, e := c.Self(), a.e
	a.timers[t] = a.e.Clock.AfterFunc(d, func() {
		if e.Ctx.Err() == nil {
			e.Root.Send(self, peerTimer{timer: t, token: token})
		}
	})
}

func (a *peerActor) report(r peer.ReportInfo) {
	switch r.Kind {
	case peer.NotificationReceived:
		a.e.Log.Warn("BGP NOTIFICATION received", "peer", a.name, "notification", r.Notification.String())
	case peer.NotificationSent:
		a.e.Log.Info("BGP NOTIFICATION sent", "peer", a.name, "notification", r.Notification.String())
		if r.Notification.Code == bgpwire.CodeUpdateMessage {
			// An UPDATE so malformed that RFC 7606 resets the session.
			a.countMalformed(bgpwire.SessionReset)
		}
	case peer.MalformedUpdate:
		a.e.Log.Warn("malformed UPDATE from the peer, handled as RFC 7606 says", "peer", a.name,
			"action", r.Action.String(), "attribute", r.Attr.String(), "err", r.Err)
		a.countMalformed(r.Action)
	default:
		a.e.Log.Info("BGP peer report", "peer", a.name, "kind", r.Kind.String(), "err", r.Err)
	}
}

func (a *peerActor) countMalformed(action bgpwire.Action) {
	if a.cfg != nil {
		a.e.metrics.malformed.WithLabelValues(peerAddr(a.cfg), a.name, action.String()).Inc()
	}
}

// publish hands the Peer's status on when it changed: the metrics and the
// session's BGPSessionState.
func (a *peerActor) publish(c actor.Context) {
	if a.p == nil {
		return
	}
	st := a.p.Status()
	if st.Events == a.last.Events && a.bfdState == a.lastBFD {
		return
	}
	a.e.metrics.observePeer(a.name, peerAddr(a.cfg), st, a.last)
	a.last, a.lastBFD = st, a.bfdState
	out := sessionStatus(a.e.node, a.name, peerAddr(a.cfg), st)
	out.BFDState = a.bfdState
	if a.bfdErr != nil && out.LastError == "" {
		out.LastError = a.bfdErr.Error()
	}
	if !a.retired {
		a.status.Set(c, out)
	}
}

// startDrain is how a stopping speaker leaves a session: with graceful
// restart negotiated, it drops the connection without a NOTIFICATION, so
// the peer keeps the routes as stale for the restart time (RFC 4724 section
// 4.2) while the speaker restarts; otherwise it withdraws every route,
// waits until the withdrawals are written, and closes with Cease/
// Administrative Shutdown (drained follows when the connections closed).
func (a *peerActor) startDrain(c actor.Context, reply *actor.PID) {
	a.drain = &drainSession{reply: reply, waiting: map[peer.ConnID]bool{}}
	if a.p == nil {
		a.finishDrain(c)
		return
	}
	if st := a.p.Status(); st.Session.GracefulRestart {
		a.e.Log.Info("stopping with graceful restart: the peer keeps our routes while we restart", "peer", a.name)
		for id, bc := range a.conns {
			bc.drop()
			delete(a.conns, id)
		}
		a.finishDrain(c)
		return
	}
	a.step(c, peer.Event{Kind: peer.SetRoutes})
	for id, bc := range a.conns {
		a.drain.waiting[id] = true
		bc.notifyDrained()
	}
	if len(a.drain.waiting) == 0 {
		a.stopAndFinish(c)
	}
}

// drainedConn: a connection's queues emptied (or it closed) while the
// speaker stops.
func (a *peerActor) drainedConn(c actor.Context, id peer.ConnID) {
	if a.drain == nil || !a.drain.waiting[id] {
		return
	}
	if bc := a.conns[id]; bc != nil && bc.pending() {
		// The queues emptied, and then the session wrote more: the
		// withdrawals it held while the connection was blocked, handed
		// over when it unblocked (connBlocked comes before connDrained).
		// Closing now would drop them; wait for these too.
		bc.notifyDrained()
		return
	}
	delete(a.drain.waiting, id)
	if len(a.drain.waiting) == 0 {
		a.stopAndFinish(c)
	}
}

func (a *peerActor) stopAndFinish(c actor.Context) {
	a.step(c, peer.Event{Kind: peer.Stop, Reason: "Herald speaker stopping"})
	a.finishDrain(c)
}

func (a *peerActor) finishDrain(c actor.Context) {
	if a.drain.reply != nil {
		c.Send(a.drain.reply, drained{peer: a.name})
		a.drain.reply = nil
	}
}

// tellCarried tells the planner which families an established session
// carries (see sessionCarries).
func (a *peerActor) tellCarried(c actor.Context, s peer.Session) {
	c.Send(a.e.planner, sessionCarries{peer: a.name,
		ipv4: s.Families[peer.IPv4] && s.NextHops[peer.IPv4].Addr.IsValid(),
		ipv6: s.Families[peer.IPv6] && s.NextHops[peer.IPv6].Addr.IsValid()})
}
