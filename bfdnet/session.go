package bfdnet

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/heraldlb/herald/bgpwire/bfd"
)

// Session is one BFD session of a Manager. Its methods are safe from any
// goroutine.
type Session struct {
	m       *Manager
	kind    listenKind
	ifindex int
	dst     netip.AddrPort
	discr   uint32

	mu      sync.Mutex
	cfg     SessionConfig
	mc      *bfd.Machine
	acts    []bfd.Action
	tx      SendConn
	echo    EchoConn
	buf     []byte
	echoBuf [echoLen]byte
	timers  [timerSlots]timerEntry
	// removed: Remove or Close ran; the machine is stepped no more.
	removed bool
	// lingerLeft AdminDown repeats remain; lingerEvery apart.
	lingerLeft  int
	lingerEvery time.Duration
	lingerToken uint64
	// deferToken and deferFrom: the Detection Timer expiry being deferred
	// (Manager.deferDetection) and its original deadline.
	deferToken uint64
	deferFrom  time.Time
	c          shellCounters
}

// shellCounters are what the shell counts beside the machine.
type shellCounters struct {
	ttlDrops        uint64
	malformed       bfd.DropCounts
	sendErrors      uint64
	echoSendErrors  uint64
	echoDrops       uint64
	detectDeferrals uint64
}

// Stats is a session's state and counters, for metrics and status.
type Stats struct {
	// Counters is the machine's: State, RemoteState, LocalDiag (the last
	// diagnostic), LastDown, Flaps, Ups, PacketsIn (packets that reached
	// the machine), PacketsOut, Drops by reason, AuthFailures, Echo
	// counts, the negotiated intervals and Poll Sequences.
	bfd.Counters
	// TTLDrops counts this peer's packets dropped for their TTL (255 for
	// single hop, at least the profile's MinimumTTL for multihop) before
	// they reached the machine.
	TTLDrops uint64
	// Malformed counts this peer's packets that failed bfd.Decode (found
	// by their addresses, since a malformed packet's discriminators are
	// not trusted), by reason.
	Malformed bfd.DropCounts
	// SendErrors counts Control packets the socket refused;
	// EchoSendErrors the same for Echo packets; EchoDrops returned Echo
	// packets discarded (TTL not 254, or Echo not running).
	SendErrors     uint64
	EchoSendErrors uint64
	EchoDrops      uint64
	// DetectDeferrals counts the times a Detection Time expiry waited 5 ms
	// for unread packets in the receive socket (at most 100 ms in all).
	DetectDeferrals uint64
	// SourcePort is the session's UDP source port.
	SourcePort uint16
	// EchoCapable: the session runs Echo when its profile asks for it.
	EchoCapable bool
}

// Key is the session's key.
func (s *Session) Key() Key { return s.cfg.Key }

// Tag is SessionConfig.Tag.
func (s *Session) Tag() any { return s.cfg.Tag }

// Discriminator is the session's local discriminator.
func (s *Session) Discriminator() uint32 { return s.discr }

// Stats returns the session's state and counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Counters: s.mc.Counters(), TTLDrops: s.c.ttlDrops, Malformed: s.c.malformed,
		SendErrors: s.c.sendErrors, EchoSendErrors: s.c.echoSendErrors, EchoDrops: s.c.echoDrops,
		DetectDeferrals: s.c.detectDeferrals,
		EchoCapable:     s.echo != nil}
	if s.tx != nil {
		st.SourcePort = s.tx.LocalPort()
	}
	return st
}

// State is the session's state.
func (s *Session) State() bfd.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mc.State()
}

// Profile is the profile in force.
func (s *Session) Profile() bfd.Profile {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg.Profile
}

// SetProfile changes the session's profile without taking it down: while
// Up, the machine runs a Poll Sequence and applies the new intervals as
// RFC 5880 §6.8.3 allows. SessionConfig.Passive still holds. Echo starts
// only on a session that was added with EchoMode (its Echo socket is
// opened by Add).
func (s *Session) SetProfile(p bfd.Profile) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("session %s: %w", s.cfg.Key, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return fmt.Errorf("session %s: %w", s.cfg.Key, ErrClosed)
	}
	if s.cfg.Passive {
		p.PassiveMode = true
	}
	s.cfg.Profile = p
	s.step(bfd.Event{Kind: bfd.Reconfigure, Profile: p})
	return nil
}

// Remove disables the session and forgets it: it sends AdminDown at once
// and LingerPackets−1 more times a transmit interval apart (fewer if
// the session was not talking to a peer), then closes its socket. The key
// can be added again at once. Removing twice does nothing.
func (s *Session) Remove() {
	s.m.forget(s)
	s.shutdown(true)
}

// shutdown disables the machine and, with linger, repeats its AdminDown.
func (s *Session) shutdown(linger bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		if !linger && s.lingerLeft > 0 {
			s.finish() // Close cuts a linger short
		}
		return
	}
	before := s.mc.Counters()
	s.step(bfd.Event{Kind: bfd.Disable})
	s.removed = true
	for t := bfd.TransmitTimer; t < timerSlots; t++ {
		s.m.sched.cancel(&s.timers[t])
	}
	talking := before.State == bfd.Up || before.State == bfd.Init || before.RemoteDiscr != 0
	if linger && talking && len(s.buf) > 0 && s.m.opts.LingerPackets > 1 {
		s.lingerLeft = s.m.opts.LingerPackets - 1
		s.lingerEvery = max(before.TransmitInterval, 10*time.Millisecond)
		s.lingerToken++
		at, _ := s.m.now()
		s.m.sched.set(&s.timers[lingerTimer], at.Add(s.lingerEvery), s.lingerToken)
		return
	}
	s.finish()
}

// finish closes the sockets and frees the discriminator; s.mu is held.
func (s *Session) finish() {
	s.lingerLeft = 0
	s.m.sched.cancel(&s.timers[lingerTimer])
	s.closeSockets()
	s.m.release(s)
}

func (s *Session) closeSockets() {
	if s.tx != nil {
		_ = s.tx.Close()
	}
	if s.echo != nil {
		_ = s.echo.Close()
	}
}

// fire steps a timer expiry.
func (s *Session) fire(t bfd.Timer, token uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t == lingerTimer {
		if s.lingerLeft == 0 || token != s.lingerToken {
			return
		}
		s.write(s.buf)
		s.lingerLeft--
		if s.lingerLeft == 0 {
			s.finish()
			return
		}
		at, _ := s.m.now()
		s.m.sched.set(&s.timers[lingerTimer], at.Add(s.lingerEvery), token)
		return
	}
	if s.removed {
		return
	}
	s.step(bfd.Event{Kind: bfd.TimerExpired, Timer: t, Token: token})
}

// step runs one event through the machine and carries out its actions
// in order; s.mu is held. The packet buffer and action slice are reused,
// so a step allocates nothing in the steady state.
func (s *Session) step(ev bfd.Event) {
	m := s.m
	now, mono := m.now()
	ev.Rand, ev.Now = m.rand(), mono
	s.acts = s.mc.StepAppend(s.acts[:0], ev)
	for i := range s.acts {
		a := &s.acts[i]
		switch a.Kind {
		case bfd.SendControl:
			b, err := bfd.AppendPacket(s.buf[:0], &a.Packet)
			if err != nil {
				// The machine built the packet from a validated config;
				// failing to encode it is a broken invariant.
				panic(fmt.Sprintf("bfdnet: session %s: encoding its own packet: %v", s.cfg.Key, err))
			}
			s.buf = b
			s.write(b)
		case bfd.SendEcho:
			s.sendEcho(mono)
		case bfd.StartTimer:
			m.sched.set(&s.timers[a.Timer], now.Add(a.Duration), a.Token)
		case bfd.StopTimer:
			m.sched.cancel(&s.timers[a.Timer])
		case bfd.SessionUp, bfd.SessionDown:
			c := s.mc.Counters()
			m.notify(Change{Session: s, Key: s.cfg.Key, Tag: s.cfg.Tag, Up: a.Kind == bfd.SessionUp,
				Cause: a.Cause, LocalDiag: c.LocalDiag, RemoteDiag: c.RemoteDiag, At: now})
		}
	}
}

func (s *Session) write(b []byte) {
	if err := s.tx.WritePacket(b, s.dst); err != nil {
		s.c.sendErrors++
		if s.c.sendErrors&(s.c.sendErrors-1) == 0 { // 1, 2, 4, 8...: not a log line per packet
			s.m.log.Warn("bfd: send failed", "session", s.cfg.Key.String(), "errors", s.c.sendErrors, "err", err)
		}
	}
}

// The Echo packet is Herald's own: only this system reads it (RFC 5880
// §4 leaves its contents to the sender). Version, length, the session's
// discriminator and the send time, so that a returning packet finds its
// session without a lookup by address.
const (
	echoVersion = 1
	echoLen     = 16
)

func (s *Session) sendEcho(mono time.Duration) {
	if s.echo == nil {
		return
	}
	b := s.echoBuf[:]
	b[0], b[1], b[2], b[3] = echoVersion, echoLen, 0, 0
	binary.BigEndian.PutUint32(b[4:], s.discr)
	binary.BigEndian.PutUint64(b[8:], uint64(mono))
	if err := s.echo.SendEcho(b); err != nil {
		s.c.echoSendErrors++
	}
}

// receive steps a Control packet that the demultiplexer found for s.
func (s *Session) receive(p *bfd.Packet, raw []byte, info PacketInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		s.m.stats.noSession.Add(1) // lingering or closed: no session any more
		return
	}
	if s.kind == kindMultihop && (info.TTL < 0 || uint32(info.TTL) < s.cfg.Profile.MinimumTTL) {
		s.c.ttlDrops++
		return
	}
	s.step(bfd.Event{Kind: bfd.Received, Packet: p, Raw: raw})
}

func (s *Session) receiveEcho(info PacketInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return
	}
	// Sent with TTL 255, forwarded once by the peer: 254. Anything else
	// did not make the round trip through the peer's forwarding plane.
	if info.TTL != 254 || info.Src.Addr().Unmap() != s.cfg.Local || info.Dst.Unmap() != s.cfg.Local {
		s.c.echoDrops++
		return
	}
	s.step(bfd.Event{Kind: bfd.EchoReceived})
}
