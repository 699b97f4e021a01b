package routers

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"

	"github.com/heraldlb/herald/testbed/netlab"
)

// RawPeer is a passive BGP peer a test drives message by message: GoBGP's
// packet library writes its OPEN and KEEPALIVEs, and the test sends
// whatever bytes it crafts — the malformed UPDATEs no real router sends on
// purpose. It keeps no RIB and sends nothing on its own but KEEPALIVEs.
type RawPeer struct {
	ln  net.Listener
	asn uint32
	id  netip.Addr
}

// ListenRawPeer listens on addr in namespace ns (empty: the caller's) for
// one speaker at a time.
func ListenRawPeer(ns string, addr netip.AddrPort, asn uint32, id netip.Addr) (*RawPeer, error) {
	p := &RawPeer{asn: asn, id: id}
	listen := func() (err error) {
		p.ln, err = net.Listen("tcp", addr.String())
		return err
	}
	var err error
	if ns == "" {
		err = listen()
	} else {
		err = netlab.RunInNamespace(ns, listen)
	}
	if err != nil {
		return nil, fmt.Errorf("raw BGP peer on %s: %w", addr, err)
	}
	return p, nil
}

// Close stops listening; open sessions stay until closed.
func (p *RawPeer) Close() error { return p.ln.Close() }

// RawMessage is one message the peer received after the session came up.
type RawMessage struct {
	Type byte // bgp.BGP_MSG_*
	// Code and Subcode of a NOTIFICATION.
	Code, Subcode uint8
}

// RawSession is one Established session of a RawPeer.
type RawSession struct {
	conn net.Conn
	// PeerOpen is the speaker's OPEN, as GoBGP's library decodes it.
	PeerOpen *bgp.BGPOpen
	msgs     chan RawMessage
	closed   chan struct{}
	wmu      sync.Mutex
	stop     chan struct{}
	once     sync.Once
}

// Accept waits for the speaker to connect, exchanges OPENs (holdTime
// seconds offered; four-octet AS and IPv4 and IPv6 unicast) and
// KEEPALIVEs, and returns the session once it is Established.
func (p *RawPeer) Accept(ctx context.Context, holdTime uint16) (*RawSession, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := p.ln.Accept()
		ch <- result{c, err}
	}()
	var c net.Conn
	select {
	case <-ctx.Done():
		_ = p.ln.(*net.TCPListener).SetDeadline(time.Now()) // unblocks Accept
		r := <-ch
		if r.c != nil {
			r.c.Close()
		}
		_ = p.ln.(*net.TCPListener).SetDeadline(time.Time{})
		return nil, ctx.Err()
	case r := <-ch:
		if r.err != nil {
			return nil, r.err
		}
		c = r.c
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	s := &RawSession{conn: c, msgs: make(chan RawMessage, 64), closed: make(chan struct{}), stop: make(chan struct{})}
	fail := func(err error) (*RawSession, error) {
		c.Close()
		return nil, err
	}
	hdr, body, err := readMessage(c)
	if err != nil || hdr[18] != bgp.BGP_MSG_OPEN {
		return fail(fmt.Errorf("reading the speaker's OPEN: type %d, %v", hdr[18], err))
	}
	m, err := bgp.ParseBGPMessage(append(hdr[:], body...))
	if err != nil {
		return fail(fmt.Errorf("decoding the speaker's OPEN: %w", err))
	}
	s.PeerOpen = m.Body.(*bgp.BGPOpen)
	as2 := uint16(p.asn)
	if p.asn > 65535 {
		as2 = bgp.AS_TRANS
	}
	caps := []bgp.ParameterCapabilityInterface{
		bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapMultiProtocol(bgp.RF_IPv6_UC),
		bgp.NewCapFourOctetASNumber(p.asn), bgp.NewCapRouteRefresh(),
	}
	open := bgp.NewBGPOpenMessage(as2, holdTime, p.id.String(), []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
	for _, msg := range []*bgp.BGPMessage{open, bgp.NewBGPKeepAliveMessage()} {
		b, err := msg.Serialize()
		if err != nil {
			return fail(err)
		}
		if _, err := c.Write(b); err != nil {
			return fail(fmt.Errorf("sending OPEN/KEEPALIVE: %w", err))
		}
	}
	hdr, body, err = readMessage(c)
	if err != nil || hdr[18] != bgp.BGP_MSG_KEEPALIVE {
		code := ""
		if err == nil && hdr[18] == bgp.BGP_MSG_NOTIFICATION && len(body) >= 2 {
			code = fmt.Sprintf(" (NOTIFICATION %d/%d)", body[0], body[1])
		}
		return fail(fmt.Errorf("waiting for the speaker's KEEPALIVE: type %d%s, %v", hdr[18], code, err))
	}
	_ = c.SetDeadline(time.Time{})
	go s.read()
	go s.keepalives(time.Duration(holdTime) * time.Second / 3)
	return s, nil
}

func readMessage(r io.Reader) (hdr [bgp.BGP_HEADER_LENGTH]byte, body []byte, err error) {
	if _, err = io.ReadFull(r, hdr[:]); err != nil {
		return hdr, nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[16:18]))
	if n < bgp.BGP_HEADER_LENGTH {
		return hdr, nil, fmt.Errorf("message length %d", n)
	}
	body = make([]byte, n-bgp.BGP_HEADER_LENGTH)
	_, err = io.ReadFull(r, body)
	return hdr, body, err
}

func (s *RawSession) read() {
	defer close(s.closed)
	for {
		hdr, body, err := readMessage(s.conn)
		if err != nil {
			return
		}
		m := RawMessage{Type: hdr[18]}
		if m.Type == bgp.BGP_MSG_NOTIFICATION && len(body) >= 2 {
			m.Code, m.Subcode = body[0], body[1]
		}
		select {
		case s.msgs <- m:
		default: // a test that reads nothing; KEEPALIVEs would fill it
		}
	}
}

func (s *RawSession) keepalives(every time.Duration) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	ka, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	for {
		select {
		case <-s.stop:
			return
		case <-s.closed:
			return
		case <-t.C:
			if s.Send(ka) != nil {
				return
			}
		}
	}
}

// Send writes raw bytes: one or more whole messages, well-formed or not.
func (s *RawSession) Send(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_, err := s.conn.Write(b)
	return err
}

// ErrSessionClosed: the speaker closed the connection without a
// NOTIFICATION.
var ErrSessionClosed = errors.New("the speaker closed the connection")

// Notification waits up to d for a NOTIFICATION from the speaker. ok is
// false when none came and the session is still open; err is
// ErrSessionClosed when the connection closed without one.
func (s *RawSession) Notification(d time.Duration) (m RawMessage, ok bool, err error) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case m := <-s.msgs:
			if m.Type == bgp.BGP_MSG_NOTIFICATION {
				return m, true, nil
			}
		case <-s.closed:
			// What the reader queued before the close comes first.
			for {
				select {
				case m := <-s.msgs:
					if m.Type == bgp.BGP_MSG_NOTIFICATION {
						return m, true, nil
					}
				default:
					return RawMessage{}, false, ErrSessionClosed
				}
			}
		case <-t.C:
			return RawMessage{}, false, nil
		}
	}
}

// Closed reports whether the speaker closed the connection.
func (s *RawSession) Closed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Close closes the session's connection.
func (s *RawSession) Close() {
	s.once.Do(func() { close(s.stop) })
	s.conn.Close()
}
