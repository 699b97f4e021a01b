package peer

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/heraldlb/herald/bgpwire"
	"github.com/heraldlb/herald/bgpwire/fsm"
)

// receive frames the stream of s's connection and handles each whole
// message. data is not kept: an incomplete message at its end is copied.
func (p *Peer) receive(s *slot, data []byte) {
	conn := s.conn
	buf := data
	if len(s.rbuf) > 0 {
		s.rbuf = append(s.rbuf, data...)
		buf = s.rbuf
	}
	for s.conn == conn {
		maxLen := bgpwire.MaxMessageLen
		if s.m.State() >= fsm.OpenConfirm {
			maxLen = s.wire.MaxLen()
		}
		h, err := bgpwire.ParseHeader(buf, maxLen)
		if err == bgpwire.ErrShortHeader {
			break
		}
		if err != nil {
			p.decodeFailed(s, err, fsm.BGPHeaderErr)
			buf = nil
			break
		}
		if len(buf) < int(h.Length) {
			break
		}
		msg := buf[:h.Length]
		buf = buf[h.Length:]
		p.st.MessagesIn[h.Type]++
		p.message(s, h.Type, msg)
	}
	if s.conn != conn {
		return // the connection was dropped; DropConnection emptied rbuf
	}
	s.rbuf = append(s.rbuf[:0], buf...) // copy handles the overlap with rbuf
}

// decodeFailed feeds a decoding error to the machine as kind, or as a
// header error when it is one (RFC 4271 section 6.1).
func (p *Peer) decodeFailed(s *slot, err error, kind fsm.EventKind) {
	var ne *bgpwire.NotificationError
	if !errors.As(err, &ne) {
		// The decoders return nothing else; treat anything else as a
		// header error rather than panic on a peer's bytes.
		ne = &bgpwire.NotificationError{Code: bgpwire.CodeMessageHeader, Action: bgpwire.SessionReset, Err: err}
	}
	if ne.Code == bgpwire.CodeMessageHeader {
		kind = fsm.BGPHeaderErr
	}
	ne = owned(ne)
	p.setError(fmt.Errorf("connection %d: %w", s.conn, ne))
	p.stepMachine(s, fsm.Event{Kind: kind, Notification: ne.Notification()})
}

func (p *Peer) message(s *slot, t bgpwire.MessageType, msg []byte) {
	switch t {
	case bgpwire.TypeOpen:
		if err := p.msg.Decode(msg, bgpwire.Session{}); err != nil {
			p.decodeFailed(s, err, fsm.BGPOpenMsgErr)
			return
		}
		p.receiveOpen(s, &p.msg.Open)
	case bgpwire.TypeKeepalive:
		p.stepMachine(s, fsm.Event{Kind: fsm.KeepAliveMsg})
	case bgpwire.TypeNotification:
		if err := p.msg.Decode(msg, s.wire); err != nil {
			p.decodeFailed(s, err, fsm.BGPHeaderErr)
			return
		}
		n := p.msg.Notification
		n.Data = append([]byte(nil), n.Data...)
		p.st.LastReceived = NotificationInfo{Notification: n, Conn: s.conn, At: p.now}
		p.setError(fmt.Errorf("connection %d: received NOTIFICATION %s", s.conn, n))
		p.report(ReportInfo{Kind: NotificationReceived, Conn: s.conn, Notification: n})
		kind := fsm.NotifMsg
		if n.Code == bgpwire.CodeOpenMessage && n.Subcode == bgpwire.SubcodeUnsupportedVersionNumber {
			kind = fsm.NotifMsgVerErr
		}
		p.stepMachine(s, fsm.Event{Kind: kind, Notification: n})
	case bgpwire.TypeUpdate:
		if s.m.State() != fsm.Established {
			p.stepMachine(s, fsm.Event{Kind: fsm.UpdateMsg}) // an FSM error before Established
			return
		}
		p.receiveUpdate(s, msg)
	case bgpwire.TypeRouteRefresh:
		if s.m.State() != fsm.Established {
			p.stepMachine(s, fsm.Event{Kind: fsm.UpdateMsg}) // unexpected: an FSM error
			return
		}
		if err := p.msg.Decode(msg, s.wire); err != nil {
			p.decodeFailed(s, err, fsm.UpdateMsgErr)
			return
		}
		p.routeRefresh(s, p.msg.RouteRefresh)
	}
}

// receiveOpen resolves a collision with the other slot (RFC 4271 section
// 6.8), then hands the OPEN to s's machine.
func (p *Peer) receiveOpen(s *slot, o *bgpwire.Open) {
	if s.m.State() == fsm.OpenSent {
		o2 := p.other(s)
		if st := o2.m.State(); st == fsm.OpenConfirm || st == fsm.Established {
			c := o2.m.CheckCollision(o, p.cfg.CollisionDetectEstablished)
			why := "the connection opened by the speaker with the higher BGP identifier survives"
			if st == fsm.Established && !p.cfg.CollisionDetectEstablished {
				why = "the Established connection survives"
			}
			if c == fsm.NoCollision {
				// The peer now has another identifier: the older
				// connection is to the speaker it was. One session per
				// configured peer, so the newer one survives.
				c, why = fsm.DumpExisting, fmt.Sprintf("the peer's identifier changed from %s to %s", o2.m.PeerID(), o.Identifier)
			}
			lose := s
			if c == fsm.DumpExisting {
				lose = o2
			}
			p.report(ReportInfo{Kind: CollisionResolved, Conn: lose.conn,
				Err: fmt.Errorf("collision between connections %d and %d: closing %d, %s", o2.conn, s.conn, lose.conn, why)})
			p.stepMachine(lose, fsm.Event{Kind: fsm.OpenCollisionDump})
			if lose == s {
				return
			}
		}
	}
	p.stepMachine(s, fsm.Event{Kind: fsm.BGPOpen, Open: *o})
	if s.m.State() == fsm.OpenConfirm {
		s.peer = capture(o)
		s.wire = bgpwire.Negotiate(&s.ours, o)
	}
}

// receiveUpdate validates an UPDATE from the Established peer. Herald
// learns no routes, so the outcome is the session's fate and a report.
func (p *Peer) receiveUpdate(s *slot, msg []byte) {
	u := &p.msg.Update
	err := p.msg.Decode(msg, s.wire)
	var ne *bgpwire.NotificationError
	if err != nil {
		if !errors.As(err, &ne) || ne.Action == bgpwire.SessionReset {
			p.decodeFailed(s, err, fsm.UpdateMsgErr)
			return
		}
		p.malformed(s, ne)
	}
	if f, ok := u.IsEndOfRIB(); ok && err == nil {
		if af, ok := afOfFamily(f); ok {
			p.st.PeerEndOfRIB[af] = true
		}
	}
	if !s.sess.IBGP {
		// Checks RFC 4271 leaves to the speaker, with RFC 7606's outcomes.
		announces := len(u.NLRI) > 0 || (u.HasMPReach && len(u.MPReach.NLRI) > 0)
		if path := u.ASPath; announces && u.HasASPath && (ne == nil || ne.Attr != bgpwire.AttrASPath) &&
			(len(path) == 0 || path[0].Type != bgpwire.ASSequence || path[0].ASNs[0] != s.sess.PeerAS) {
			p.malformed(s, &bgpwire.NotificationError{Code: bgpwire.CodeUpdateMessage,
				Subcode: bgpwire.SubcodeMalformedASPath, Action: bgpwire.TreatAsWithdraw, Attr: bgpwire.AttrASPath,
				Err: fmt.Errorf("%w: the leftmost AS is not the external peer's AS %d (RFC 4271 section 6.3)",
					bgpwire.ErrMalformedASPath, s.sess.PeerAS)})
		}
		if u.HasLocalPref {
			p.malformed(s, &bgpwire.NotificationError{Code: bgpwire.CodeUpdateMessage,
				Action: bgpwire.AttributeDiscard, Attr: bgpwire.AttrLocalPref,
				Err: errLocalPrefFromExternal})
		}
	}
	p.stepMachine(s, fsm.Event{Kind: fsm.UpdateMsg})
}

// owned copies a decoding error whose Data points into the received bytes,
// which are the shell's again once the step returns, so that reports and
// the status can keep it.
func owned(ne *bgpwire.NotificationError) *bgpwire.NotificationError {
	c := *ne
	c.Data = bytes.Clone(ne.Data)
	return &c
}

// errLocalPrefFromExternal is the Err of the report of an external peer's
// UPDATE carrying LOCAL_PREF.
var errLocalPrefFromExternal = errors.New("LOCAL_PREF from an external peer (RFC 7606 section 7.5)")

func (p *Peer) malformed(s *slot, ne *bgpwire.NotificationError) {
	ne = owned(ne)
	p.setError(fmt.Errorf("connection %d: UPDATE: %w", s.conn, ne))
	p.report(ReportInfo{Kind: MalformedUpdate, Conn: s.conn, Action: ne.Action, Attr: ne.Attr, Err: ne})
}

// routeRefresh marks a family's table to be sent again (RFC 2918), unless
// it is not negotiated: then the request is ignored, as RFC 2918 says.
// BoRR and EoRR from the peer are about its routes, which Herald ignores.
func (p *Peer) routeRefresh(s *slot, rr bgpwire.RouteRefresh) {
	af, ok := afOfFamily(rr.Family)
	if p.est != s || !ok || !s.sess.Families[af] || rr.Subtype != bgpwire.RouteRefreshRequest {
		return
	}
	s.refresh[af] = true
}
