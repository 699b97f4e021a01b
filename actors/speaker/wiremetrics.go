package speaker

import (
	"net/netip"
	"time"

	"github.com/heraldlb/herald/announce"
	"github.com/heraldlb/herald/bgpwire"
	"github.com/heraldlb/herald/bgpwire/fsm"
	"github.com/heraldlb/herald/informers"
)

// The speaker's own series about its work (registered in NewMetrics) and
// where the actors feed them. They hang on the same moments as the
// tracing spans of tracing.go: the planner's step, the session taking
// routes, the UPDATEs going out, the responder starting an IP.

// latencyBuckets suit the sub-second goal of a Service change reaching the
// wire: 1 ms to 10 s.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// prefixBuckets span one prefix to a full extended-message UPDATE of host
// routes (about 13,000 IPv4 /32s in 65,535 bytes).
var prefixBuckets = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000}

// Wire-latency modes: the label of herald_event_to_wire_seconds.
const (
	modeBGP = "bgp"
	modeL2  = "l2"
)

// serviceEvent is an informer's Service or EndpointSlice key with the time
// this speaker received it, the start of herald_event_to_wire_seconds. The
// Service's traceparent says when the controller acted, on another clock;
// this is the first moment this process knows of the change.
type serviceEvent struct {
	key informers.Key
	at  time.Time
}

// awaitWire notes, before a session steps a route change, when the event
// that caused it was received. Only a change given to an Established
// session is measured: one given to a session still opening goes out with
// its initial table, and that wait is the session's set-up, not the
// change's.
func (a *peerActor) awaitWire(at time.Time) bool {
	if at.IsZero() || a.last.State != fsm.Established {
		return false
	}
	a.waiting = append(a.waiting, at)
	return true
}

// settleWire runs after a measured change's step: if the Peer sent no
// UPDATE for it and the connection is not blocked (where changes wait and
// coalesce), the change was nothing new to this peer and is not measured.
func (a *peerActor) settleWire(sentBulk bool) {
	if !sentBulk && !a.blocked {
		a.waiting = a.waiting[:0]
	}
}

// wireWritten takes the changes waiting for the wire and returns what the
// connection's writer calls once the batch of UPDATEs carrying them is
// written (nil when none waits).
func (a *peerActor) wireWritten() func() {
	if len(a.waiting) == 0 {
		return nil
	}
	since := append([]time.Time(nil), a.waiting...)
	a.waiting = a.waiting[:0]
	clk, h := a.e.Clock, a.e.metrics.eventToWire.WithLabelValues(modeBGP)
	return func() {
		now := clk.Now()
		for _, at := range since {
			h.Observe(now.Sub(at).Seconds())
		}
	}
}

// observeUpdates counts the prefixes of each UPDATE in msgs (whole
// messages, as a Send action carries them) into the peer's histogram.
// End-of-RIB markers carry none and are skipped. A batch that does not
// decode is Herald's own bug; the Peer's tests own that, so it is only
// not counted.
func (a *peerActor) observeUpdates(msgs []byte) {
	// The series is looked up once per configuration, not per batch:
	// formatting its labels would allocate on every send.
	if a.prefixHistCfg != a.cfg {
		a.prefixHist, a.prefixHistCfg = a.e.metrics.updatePrefixes.WithLabelValues(peerAddr(a.cfg), a.name), a.cfg
	}
	h := a.prefixHist
	_ = eachUpdate(msgs, &a.decoded, func(prefixes, withdrawn int) {
		if n := prefixes + withdrawn; n > 0 {
			h.Observe(float64(n))
		}
	})
}

// eachUpdate decodes each UPDATE message of msgs into u (reused, so a
// session's stream allocates only while its buffers grow) and calls fn
// with the prefixes it announces and withdraws.
func eachUpdate(msgs []byte, u *bgpwire.Update, fn func(prefixes, withdrawn int)) error {
	for len(msgs) > 0 {
		h, err := bgpwire.ParseHeader(msgs, bgpwire.MaxExtendedMessageLen)
		if err != nil {
			return err
		}
		msg := msgs[:h.Length]
		msgs = msgs[h.Length:]
		if h.Type != bgpwire.TypeUpdate {
			continue
		}
		// Herald's own UPDATEs: four-octet AS is what it always offers;
		// a session without it is decoded the other way.
		if err := u.Decode(msg, bgpwire.Session{FourOctetAS: true, ExtendedMessage: true}); err != nil {
			if err = u.Decode(msg, bgpwire.Session{ExtendedMessage: true}); err != nil {
				return err
			}
		}
		fn(len(u.NLRI)+len(u.MPReach.NLRI), len(u.Withdrawn)+len(u.MPUnreach.Withdrawn))
	}
	return nil
}

// observeL2 counts what one planner step changed in this node's L2
// ownership: each IP gained or lost, and each gained from another node
// (a takeover; an IP nobody answered for is only gained).
func (m *Metrics) observeL2(changes []announce.L2Change, node string) {
	for _, l := range changes {
		switch {
		case l.New.Node == node && l.Old.Node != node:
			m.l2OwnerChanges.WithLabelValues("gained").Inc()
			if l.Old.Node != "" {
				m.l2Takeovers.Inc()
			}
		case l.Old.Node == node && l.New.Node != node:
			m.l2OwnerChanges.WithLabelValues("lost").Inc()
		}
	}
}

// l2Started observes the wire latency of the IPs an interface just started
// answering for (l2.Responder.Set starts their gratuitous schedule, the
// first message at once), for those a Service or EndpointSlice event
// caused.
func (a *ifaceActor) l2Started(added []netip.Addr, since map[netip.Addr]time.Time) {
	if len(since) == 0 {
		return
	}
	now := a.e.Clock.Now()
	h := a.e.metrics.eventToWire.WithLabelValues(modeL2)
	for _, ip := range added {
		if at, ok := since[ip]; ok {
			h.Observe(now.Sub(at).Seconds())
		}
	}
}
