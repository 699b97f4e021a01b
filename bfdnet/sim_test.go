package bfdnet

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/bgpwire/bfd"
	clocktesting "k8s.io/utils/clock/testing"
)

// sim runs Managers without their goroutines over a queued memNet and a
// fake clock: it delivers every queued datagram (in the order sent, with
// no latency), then moves the clock to the earliest deadline of any
// Manager and steps what is due. Everything but the goroutines and the
// kernel is the real shell: demultiplexing, counting, encoding, the
// scheduler's heap, notifications.
type sim struct {
	t     *testing.T
	clk   *clocktesting.FakeClock
	net   *memNet
	t0    time.Time
	hosts []*simHost
}

type simHost struct {
	sim     *sim
	name    string
	host    *memHost
	m       *Manager
	changes []Change
	// accept, when set, answers Options.Accept.
	accept func(Incoming) (SessionConfig, bool)
}

func newSim(t *testing.T) *sim {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &sim{t: t, clk: clocktesting.NewFakeClock(t0), net: newMemNet(true), t0: t0}
}

// add starts a Manager on a host with the addresses; opts may change the
// defaults before the Manager is built.
func (s *sim) add(name string, addrs []string, opts func(*Options)) *simHost {
	s.t.Helper()
	h := &simHost{sim: s, name: name, host: s.net.host(addrs...)}
	o := Options{Network: h.host, Clock: s.clk, Log: quietLog, Notify: func(c Change) { h.changes = append(h.changes, c) },
		Accept: func(in Incoming) (SessionConfig, bool) {
			if h.accept == nil {
				return SessionConfig{}, false
			}
			return h.accept(in)
		}}
	if opts != nil {
		opts(&o)
	}
	m, err := newManager(o, true)
	if err != nil {
		s.t.Fatal(err)
	}
	h.m = m
	s.hosts = append(s.hosts, h)
	return h
}

// run advances the simulation by d.
func (s *sim) run(d time.Duration) {
	end := s.clk.Now().Add(d)
	for {
		s.drain()
		var next time.Time
		found := false
		for _, h := range s.hosts {
			if at, ok := h.m.sched.next(); ok && (!found || at.Before(next)) {
				next, found = at, true
			}
		}
		if !found || next.After(end) {
			s.clk.SetTime(end)
			return
		}
		if next.After(s.clk.Now()) {
			s.clk.SetTime(next)
		}
		for _, h := range s.hosts {
			h.m.fireDue(s.clk.Now())
		}
	}
}

// drain delivers every queued datagram and notification.
func (s *sim) drain() {
	for {
		p, ok := s.net.pop()
		if !ok {
			break
		}
		s.deliver(p)
	}
	for _, h := range s.hosts {
		h.m.notes.flush()
	}
}

func (s *sim) deliver(p memPacket) {
	if p.toEcho != nil {
		for _, h := range s.hosts {
			if h.host == p.toEcho.h {
				h.m.receiveEcho(p.b, p.info)
			}
		}
		return
	}
	for _, h := range s.hosts {
		h.m.mu.RLock()
		var target *listener
		for _, l := range h.m.listeners {
			if l.conn == RecvConn(p.to) {
				target = l
			}
		}
		h.m.mu.RUnlock()
		if target != nil {
			h.m.receive(target, p.b, p.info)
			return
		}
	}
}

// session adds a session on h to the peer address.
func (h *simHost) session(peer string, p bfd.Profile, edit func(*SessionConfig)) *Session {
	h.sim.t.Helper()
	cfg := SessionConfig{Key: Key{Peer: netip.MustParseAddr(peer)}, Profile: p, Tag: h.name + "->" + peer}
	if edit != nil {
		edit(&cfg)
	}
	s, err := h.m.Add(cfg)
	if err != nil {
		h.sim.t.Fatalf("%s: add session to %s: %v", h.name, peer, err)
	}
	return s
}

// changeLog renders the changes seen, for failure messages.
func (h *simHost) changeLog() string {
	var b strings.Builder
	for _, c := range h.changes {
		if c.Up {
			fmt.Fprintf(&b, "%s Up %v\n", c.At.Format("15:04:05.000"), c.Tag)
		} else {
			fmt.Fprintf(&b, "%s Down(%s) %v\n", c.At.Format("15:04:05.000"), c.Cause, c.Tag)
		}
	}
	return b.String()
}

// downs returns the Down changes seen.
func (h *simHost) downs() []Change {
	var out []Change
	for _, c := range h.changes {
		if !c.Up {
			out = append(out, c)
		}
	}
	return out
}

func (h *simHost) ups() int {
	n := 0
	for _, c := range h.changes {
		if c.Up {
			n++
		}
	}
	return n
}

func profile(ms, mult uint32) bfd.Profile {
	return bfd.Profile{Name: fmt.Sprintf("%dx%d", ms, mult), ReceiveInterval: ms, TransmitInterval: ms,
		DetectMultiplier: mult, EchoInterval: 50, MinimumTTL: 254}
}

// quietLog drops the Manager's warnings (send failures on cut links).
var quietLog = slog.New(slog.DiscardHandler)

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("192.0.2.2")
)

// pair is two hosts with a session each way.
func pair(t *testing.T, p bfd.Profile, editA, editB func(*SessionConfig)) (*sim, *simHost, *simHost, *Session, *Session) {
	s := newSim(t)
	a := s.add("a", []string{"192.0.2.1", "2001:db8::1"}, nil)
	b := s.add("b", []string{"192.0.2.2", "2001:db8::2"}, nil)
	sa := a.session("192.0.2.2", p, editA)
	sb := b.session("192.0.2.1", p, editB)
	return s, a, b, sa, sb
}
