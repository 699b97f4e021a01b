package speaker

import (
	"context"
	"net/netip"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldlb/herald/bfdnet"
	"github.com/heraldlb/herald/bgpwire"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/tracing"
)

// The speaker's part of a Service's journey (docs/tracing.md): the planner's
// speaker.plan span continues the trace of the traceparent the controller
// wrote with the status; a bgp.peer.update span per session that takes the
// routes, then a bgp.update.send span per batch of UPDATEs queued, linked to
// every journey it serves; for L2, l2.owner.change and l2.gratuitous.send.
// Session and BFD state changes are traces of their own.

// noSpan stands for a step nobody traces: it records nothing and its
// SpanContext is invalid.
var noSpan = trace.SpanFromContext(context.Background())

func addrStrings(ips []netip.Addr) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// peerSpan names a BGP peer on a span.
func peerSpan(span trace.Span, cfg *config.Peer) {
	span.SetAttributes(tracing.AttrBGPPeer.String(cfg.Name), tracing.AttrPeerPort.Int(int(cfg.Port)))
	if cfg.Address.IsValid() {
		span.SetAttributes(tracing.AttrPeerAddress.String(cfg.Address.String()))
	} else {
		span.SetAttributes(tracing.AttrInterface.String(cfg.Interface))
	}
}

// traceRoutes records the session taking new routes (bgp.peer.update) and
// keeps its SpanContext for the UPDATEs that will carry them.
func (a *peerActor) traceRoutes(m changeRoutes) {
	if !a.e.tracer.Enabled() || !m.trace.IsValid() {
		return
	}
	span := a.e.tracer.Start(tracing.SpanPeerUpdate, m.trace)
	peerSpan(span, a.cfg)
	span.SetAttributes(tracing.AttrPrefixes.Int(len(m.routes)), tracing.AttrWithdrawn.Int(len(m.withdraw)))
	span.End()
	a.journeys = append(a.journeys, span.SpanContext())
}

// traceSend records one batch of UPDATEs queued to the peer: a child of the
// first journey waiting for the wire, linked to the others, each once. The
// UPDATEs are decoded again only when the span records, to count what
// they carry.
func (a *peerActor) traceSend(msgs []byte) {
	if len(a.journeys) == 0 {
		return
	}
	span := a.e.tracer.Start(tracing.SpanUpdateSent, a.journeys[0], a.journeys[1:]...)
	a.journeys = a.journeys[:0]
	if span.IsRecording() {
		peerSpan(span, a.cfg)
		updates, prefixes, withdrawn, err := countUpdates(msgs)
		span.SetAttributes(tracing.AttrMessageBytes.Int(len(msgs)), attrUpdates.Int(updates),
			tracing.AttrPrefixes.Int(prefixes), tracing.AttrWithdrawn.Int(withdrawn))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
}

// attrUpdates counts the UPDATE messages in a batch.
const attrUpdates = attribute.Key("herald.bgp.updates")

// countUpdates counts the UPDATE messages in msgs (whole BGP messages, as a
// Send action carries them) and the prefixes they announce and withdraw.
func countUpdates(msgs []byte) (updates, prefixes, withdrawn int, err error) {
	var u bgpwire.Update
	err = eachUpdate(msgs, &u, func(p, w int) { updates, prefixes, withdrawn = updates+1, prefixes+p, withdrawn+w })
	return updates, prefixes, withdrawn, err
}

// traceOwner records this interface starting (owned) or stopping answering
// for ip, and for a start the gratuitous announcements the responder began
// with it (l2.Responder.Set starts their schedule, the first at once).
func (a *ifaceActor) traceOwner(ip netip.Addr, owned bool, parent trace.SpanContext) {
	if !a.e.tracer.Enabled() || !parent.IsValid() {
		return
	}
	proto := "arp"
	if ip.Is6() {
		proto = "ndp"
	}
	span := a.e.tracer.Start(tracing.SpanL2OwnerChange, parent)
	span.SetAttributes(tracing.AttrIPs.StringSlice([]string{ip.String()}), tracing.AttrInterface.String(a.link.Name),
		tracing.AttrL2Owned.Bool(owned), tracing.AttrL2Protocol.String(proto))
	if owned {
		span.SetAttributes(tracing.AttrL2Owner.String(a.e.node))
		g := a.e.tracer.Start(tracing.SpanGratuitousSent, span.SpanContext())
		g.SetAttributes(tracing.AttrIPs.StringSlice([]string{ip.String()}), tracing.AttrInterface.String(a.link.Name),
			tracing.AttrL2Protocol.String(proto))
		g.End()
	}
	span.End()
}

// traceSession records a BGP session reaching Established or leaving it:
// a trace of its own, since no Service's change caused it.
func (a *peerActor) traceSession(state string, cfg *config.Peer, attrs ...attribute.KeyValue) {
	if !a.e.tracer.Enabled() {
		return
	}
	prev := "Established"
	if state == "Established" {
		prev = "OpenConfirm"
	}
	span := a.e.tracer.Start(tracing.SpanSessionStateChange, trace.SpanContext{})
	peerSpan(span, cfg)
	span.SetAttributes(tracing.AttrBGPState.String(state), tracing.AttrBGPPreviousState.String(prev))
	span.SetAttributes(attrs...)
	span.End()
}

// traceBFD records the BGP peer's BFD session changing state (after
// bfdChange set a.bfdState).
func (a *peerActor) traceBFD(prev string, ch bfdnet.Change) {
	if !a.e.tracer.Enabled() || prev == a.bfdState {
		return
	}
	span := a.e.tracer.Start(tracing.SpanBFDStateChange, trace.SpanContext{})
	peerSpan(span, a.cfg)
	span.SetAttributes(tracing.AttrBFDState.String(a.bfdState), tracing.AttrBFDPreviousState.String(prev))
	if !ch.Up {
		span.SetAttributes(tracing.AttrBFDDiagnostic.String(ch.LocalDiag.String()))
	}
	span.End()
}
