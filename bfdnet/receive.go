package bfdnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/heraldlb/herald/bgpwire/bfd"
)

// listenKind is what a receive socket is for.
type listenKind uint8

const (
	kindSingleHop listenKind = iota + 1
	kindMultihop
)

func (k listenKind) String() string {
	switch k {
	case kindSingleHop:
		return "single-hop"
	}
	return "multihop"
}

type listenerKey struct {
	kind listenKind
	fam  Family
}

// listener is one receive socket and the goroutine reading it; buf and
// pkt belong to that goroutine.
type listener struct {
	m    *Manager
	kind listenKind
	fam  Family
	conn RecvConn
	buf  [1500]byte
	pkt  bfd.Packet
	// queueDrops is the kernel's latest count of datagrams it dropped on
	// this socket for a full buffer.
	queueDrops atomic.Uint32
}

func (m *Manager) port(kind listenKind) uint16 {
	if kind == kindSingleHop {
		return m.opts.SingleHopPort
	}
	return m.opts.MultihopPort
}

// listenLocked opens the receive socket of a kind and family once; m.mu
// is held.
func (m *Manager) listenLocked(kind listenKind, fam Family) (*listener, error) {
	k := listenerKey{kind, fam}
	if l, ok := m.listeners[k]; ok {
		return l, nil
	}
	c, err := m.net.Listen(fam, m.port(kind))
	if err != nil {
		return nil, fmt.Errorf("listen for %s %s packets on port %d: %w", fam, kind, m.port(kind), err)
	}
	l := &listener{m: m, kind: kind, fam: fam, conn: c}
	m.listeners[k] = l
	if !m.manual {
		m.wg.Add(1)
		go l.read()
	}
	return l, nil
}

// read is a listener's goroutine: every packet is demultiplexed and
// stepped here, so that an answer (a Final, a new state) leaves from this
// goroutine without waiting for another.
func (l *listener) read() {
	m := l.m
	defer m.wg.Done()
	failures := 0
	for {
		n, info, err := l.conn.ReadPacket(l.buf[:])
		if err != nil {
			if m.stopped.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			m.stats.readErrors.Add(1)
			if failures++; failures&(failures-1) == 0 {
				m.log.Warn("bfd: receive failed", "kind", l.kind.String(), "family", l.fam.String(), "err", err)
			}
			if failures > 8 {
				m.clk.Sleep(10 * time.Millisecond) // not a busy loop on a broken socket
			}
			continue
		}
		failures = 0
		if info.QueueDrops != 0 {
			l.queueDrops.Store(info.QueueDrops)
		}
		m.receive(l, l.buf[:n], info)
	}
}

// receive demultiplexes one datagram (RFC 5880 §6.8.6, RFC 5881 §5, RFC
// 5883) and steps its session; every discard is counted, on the
// session the packet's addresses name when there is one.
func (m *Manager) receive(l *listener, b []byte, info PacketInfo) {
	src := info.Src.Addr().Unmap().WithZone("")
	dst := info.Dst.Unmap().WithZone("")
	if l.kind == kindSingleHop && info.TTL != 255 {
		// RFC 5881 §5 (GTSM): a single-hop packet that crossed a router,
		// or was sent from afar, is not from the neighbour.
		if s := m.lookupPeer(l.kind, src, dst, info.IfIndex); s != nil {
			s.count(func(c *shellCounters) { c.ttlDrops++ })
		} else {
			m.stats.ttlDrops.Add(1)
		}
		return
	}
	p := &l.pkt
	if err := bfd.Decode(b, p); err != nil {
		r := bfd.DropReasonOf(err)
		if s := m.lookupPeer(l.kind, src, dst, info.IfIndex); s != nil {
			s.count(func(c *shellCounters) { c.malformed[r]++ })
		} else {
			m.stats.malformed[r].Add(1)
		}
		return
	}
	var s *Session
	if p.YourDiscr != 0 {
		m.mu.RLock()
		s = m.byDiscr[p.YourDiscr]
		m.mu.RUnlock()
		if s == nil || s.cfg.Peer != src || !s.matches(l.kind, dst, info.IfIndex) {
			// A discriminator that is not ours, or ours for another peer,
			// port, local address or interface: not this session's packet.
			m.stats.noSession.Add(1)
			return
		}
	} else if s = m.lookupPeer(l.kind, src, dst, info.IfIndex); s == nil {
		if s = m.accept(l, src, dst, info, p); s == nil {
			m.stats.noSession.Add(1)
			return
		}
	}
	s.receive(p, b, info)
}

// lookupPeer finds the session of a packet by its addresses: the peer,
// then the local address and interface where the session has them.
func (m *Manager) lookupPeer(kind listenKind, src, dst netip.Addr, ifindex int) *Session {
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, s := range m.byPeer[src] {
		if s.matches(kind, dst, ifindex) {
			return s
		}
	}
	return nil
}

func (s *Session) matches(kind listenKind, dst netip.Addr, ifindex int) bool {
	return s.kind == kind &&
		(!s.cfg.Local.IsValid() || s.cfg.Local == dst) &&
		(s.ifindex == 0 || s.ifindex == ifindex)
}

// accept asks Options.Accept about a packet that opens an unknown session.
func (m *Manager) accept(l *listener, src, dst netip.Addr, info PacketInfo, p *bfd.Packet) *Session {
	if m.opts.Accept == nil {
		return nil
	}
	in := Incoming{Peer: src, Local: dst, IfIndex: info.IfIndex, Multihop: l.kind == kindMultihop, Packet: *p}
	in.Packet.Auth.Data = nil
	cfg, ok := m.opts.Accept(in)
	if !ok {
		return nil
	}
	s, err := m.Add(cfg)
	if errors.Is(err, ErrExists) {
		return m.lookupPeer(l.kind, src, dst, info.IfIndex) // added meanwhile
	}
	if err != nil {
		m.log.Warn("bfd: accepting a session failed", "peer", src.String(), "err", err)
		return nil
	}
	if s.cfg.Peer != src || !s.matches(l.kind, dst, info.IfIndex) {
		return nil // Accept configured another session than this packet's
	}
	return s
}

// count updates a session's shell counters under its lock.
func (s *Session) count(f func(*shellCounters)) {
	s.mu.Lock()
	f(&s.c)
	s.mu.Unlock()
}

// readEcho is an Echo session's goroutine: it reads the returning Echo
// packets until the session closes its EchoConn.
func (s *Session) readEcho(e EchoConn) {
	m := s.m
	defer m.wg.Done()
	var buf [64]byte
	for {
		n, info, err := e.ReadEcho(buf[:])
		if err != nil {
			if m.stopped.Load() || errors.Is(err, net.ErrClosed) || s.isRemoved() {
				return
			}
			m.stats.readErrors.Add(1)
			m.clk.Sleep(10 * time.Millisecond) // not a busy loop on a broken socket
			continue
		}
		m.receiveEcho(buf[:n], info)
	}
}

func (s *Session) isRemoved() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.removed
}

// receiveEcho finds the session of a returning Echo packet by the
// discriminator in it.
func (m *Manager) receiveEcho(b []byte, info PacketInfo) {
	if len(b) < echoLen || b[0] != echoVersion || b[1] != echoLen {
		m.stats.echoUnknown.Add(1)
		return
	}
	d := binary.BigEndian.Uint32(b[4:])
	m.mu.RLock()
	s := m.byDiscr[d]
	m.mu.RUnlock()
	if s == nil || s.echo == nil {
		m.stats.echoUnknown.Add(1)
		return
	}
	s.receiveEcho(info)
}
