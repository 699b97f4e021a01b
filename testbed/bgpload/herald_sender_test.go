package bgpload

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/heraldlb/herald/bgpwire"
	"github.com/heraldlb/herald/bgpwire/peer"
)

// heraldSender drives one bgpwire/peer.Peer over a real TCP connection in
// the shape of the speaker's peer actor (actors/speaker/peer.go and
// bgpconn.go): one loop owns the Peer and steps it with each event, a
// reader per connection reports the bytes, and a writer per connection
// always writes the Control queue (OPEN, KEEPALIVE, NOTIFICATION) before
// the Bulk one (UPDATEs), so a keepalive never waits behind the table.
// It leaves out what a benchmark of one session to a router that keeps up
// does not need: Kubernetes status, metrics, tracing, MD5 and GTSM, and
// the actor's blocked-socket detection (SendBlocked, SendProgressed) and
// write deadlines.
type heraldSender struct {
	p      *peer.Peer
	local  netip.Addr
	remote netip.AddrPort
	events chan senderEvent
	conns  map[peer.ConnID]*senderConn
	timers map[peer.Timer]*time.Timer

	up      chan struct{} // closed at the first SessionUp
	upOnce  sync.Once
	updates *counter // UPDATE messages written, End-of-RIB included
	// closing are connections told to Close whose writer may still be
	// writing the NOTIFICATION before it.
	closing []*senderConn
}

// routeSet is a whole desired table; done is closed once the Peer has
// turned it into UPDATEs (queued for the writer, not yet written).
type routeSet struct {
	routes []peer.Route
	done   chan struct{}
}

type senderEvent struct {
	ev   peer.Event
	conn net.Conn // with Connected: the dialled connection
}

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func newHeraldSender(cfg peer.Config, local netip.Addr, remote netip.AddrPort) (*heraldSender, error) {
	p, err := peer.New(cfg)
	if err != nil {
		return nil, err
	}
	return &heraldSender{p: p, local: local, remote: remote, events: make(chan senderEvent, 1024),
		conns: map[peer.ConnID]*senderConn{}, timers: map[peer.Timer]*time.Timer{},
		up: make(chan struct{}), updates: &counter{}}, nil
}

// run steps the Peer with every event until stop is closed; then it steps
// Stop and returns once every connection has written its NOTIFICATION and
// closed (or 5 s passed).
//
// initial, when not nil, is the desired table before the session starts:
// the Peer sends it as the session's first table.
func (s *heraldSender) run(initial []peer.Route, routes <-chan routeSet, stop <-chan struct{}) {
	var acts []peer.Action
	step := func(ev peer.Event) {
		ev.At, ev.Jitter = time.Now(), rand.Float64()
		acts = s.p.StepAppend(acts[:0], ev)
		for _, a := range acts {
			s.carryOut(a)
		}
	}
	if initial != nil {
		step(peer.Event{Kind: peer.SetRoutes, Routes: initial})
	}
	step(peer.Event{Kind: peer.Start})
	for {
		select {
		case e := <-s.events:
			if e.ev.Kind == peer.Connected {
				s.conns[e.ev.Conn] = startSenderConn(e.conn, e.ev.Conn, s.events, s.updates)
			}
			step(e.ev)
		case rs := <-routes:
			step(peer.Event{Kind: peer.SetRoutes, Routes: rs.routes})
			close(rs.done)
		case <-stop:
			step(peer.Event{Kind: peer.Stop, Reason: "benchmark done"})
			for _, t := range s.timers {
				t.Stop()
			}
			for _, c := range s.conns {
				c.close()
				s.closing = append(s.closing, c)
			}
			deadline := time.After(5 * time.Second)
			for _, c := range s.closing {
				select {
				case <-c.done:
				case <-deadline:
					return
				}
			}
			return
		}
	}
}

func (s *heraldSender) carryOut(a peer.Action) {
	switch a.Kind {
	case peer.Dial:
		go s.dial(a.Conn)
	case peer.Accept, peer.Refuse:
		// The sender only dials.
	case peer.Send:
		if c := s.conns[a.Conn]; c != nil {
			c.send(a.Class, a.Bytes)
		}
	case peer.Close:
		if c := s.conns[a.Conn]; c != nil {
			c.close()
			s.closing = append(s.closing, c)
			delete(s.conns, a.Conn)
		}
	case peer.StartTimer:
		if t := s.timers[a.Timer]; t != nil {
			t.Stop()
		}
		timer, token := a.Timer, a.Token
		s.timers[a.Timer] = time.AfterFunc(a.Duration, func() {
			s.events <- senderEvent{ev: peer.Event{Kind: peer.TimerExpired, Timer: timer, Token: token}}
		})
	case peer.StopTimer:
		if t := s.timers[a.Timer]; t != nil {
			t.Stop()
			delete(s.timers, a.Timer)
		}
	case peer.SessionUp:
		s.upOnce.Do(func() { close(s.up) })
	case peer.SessionDown:
		fmt.Fprintf(os.Stderr, "session down: %+v\n", a.Down)
	case peer.Report:
		fmt.Fprintf(os.Stderr, "%+v\n", a.Report)
	}
}

func (s *heraldSender) dial(id peer.ConnID) {
	d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(s.local, 0)), Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", s.remote.String())
	if err != nil {
		s.events <- senderEvent{ev: peer.Event{Kind: peer.DialFailed, Conn: id, Err: err}}
		return
	}
	local := c.LocalAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	s.events <- senderEvent{ev: peer.Event{Kind: peer.Connected, Conn: id, Local: peer.LocalAddrs{Transport: local}}, conn: c}
}

// senderConn is one connection's reader and writer.
type senderConn struct {
	c       net.Conn
	updates *counter
	done    chan struct{} // closed when the writer has finished

	mu            sync.Mutex
	wake          *sync.Cond
	control, bulk [][]byte
	closing       bool
}

func startSenderConn(c net.Conn, id peer.ConnID, events chan<- senderEvent, updates *counter) *senderConn {
	sc := &senderConn{c: c, updates: updates, done: make(chan struct{})}
	sc.wake = sync.NewCond(&sc.mu)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				events <- senderEvent{ev: peer.Event{Kind: peer.Received, Conn: id, Data: append([]byte(nil), buf[:n]...)}}
			}
			if err != nil {
				events <- senderEvent{ev: peer.Event{Kind: peer.Closed, Conn: id, Err: err}}
				return
			}
		}
	}()
	go sc.write()
	return sc
}

func (sc *senderConn) send(class peer.Class, b []byte) {
	sc.mu.Lock()
	if class == peer.Control {
		sc.control = append(sc.control, b)
	} else {
		sc.bulk = append(sc.bulk, b)
	}
	sc.mu.Unlock()
	sc.wake.Signal()
}

// close writes what the Control queue holds (a NOTIFICATION), drops the
// Bulk queue and closes the connection.
func (sc *senderConn) close() {
	sc.mu.Lock()
	sc.closing, sc.bulk = true, nil
	sc.mu.Unlock()
	sc.wake.Signal()
}

func (sc *senderConn) write() {
	defer close(sc.done)
	defer sc.c.Close()
	for {
		sc.mu.Lock()
		for len(sc.control) == 0 && len(sc.bulk) == 0 && !sc.closing {
			sc.wake.Wait()
		}
		var b []byte
		bulk := false
		switch {
		case len(sc.control) > 0:
			b, sc.control = sc.control[0], sc.control[1:]
		case len(sc.bulk) > 0:
			b, sc.bulk = sc.bulk[0], sc.bulk[1:]
			bulk = true
		default: // closing, nothing left
			sc.mu.Unlock()
			return
		}
		sc.mu.Unlock()
		if _, err := sc.c.Write(b); err != nil {
			return
		}
		if bulk {
			n := countUpdates(b)
			sc.updates.mu.Lock()
			sc.updates.n += n
			sc.updates.mu.Unlock()
		}
	}
}

// countUpdates counts the UPDATE messages in whole messages b.
func countUpdates(b []byte) int {
	n := 0
	for len(b) > 0 {
		h, err := bgpwire.ParseHeader(b, bgpwire.MaxExtendedMessageLen)
		if err != nil || int(h.Length) > len(b) {
			return n
		}
		if h.Type == bgpwire.TypeUpdate {
			n++
		}
		b = b[h.Length:]
	}
	return n
}
