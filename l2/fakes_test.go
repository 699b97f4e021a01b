package l2

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	clocktesting "k8s.io/utils/clock/testing"
)

// fakeConn is a FrameConn: the test pushes received frames in and reads
// the written ones out.
type fakeConn struct {
	in      chan []byte
	readErr chan error
	out     chan sentFrame
	closed  chan struct{}
	once    sync.Once
}

type sentFrame struct {
	dst   MAC // the *packet.Addr WriteTo was given
	frame []byte
}

func newFakeConn() *fakeConn {
	return &fakeConn{
		in:      make(chan []byte),
		readErr: make(chan error),
		out:     make(chan sentFrame, 1024),
		closed:  make(chan struct{}),
	}
}

func (c *fakeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case f := <-c.in:
		return copy(b, f), &packet.Addr{HardwareAddr: f[6:12]}, nil
	case err := <-c.readErr:
		return 0, nil, err
	case <-c.closed:
		return 0, nil, net.ErrClosed
	}
}

func (c *fakeConn) WriteTo(b []byte, a net.Addr) (int, error) {
	pa, ok := a.(*packet.Addr)
	if !ok || len(pa.HardwareAddr) != 6 {
		return 0, errors.New("fakeConn: WriteTo wants a *packet.Addr with a MAC")
	}
	c.out <- sentFrame{dst: MAC(pa.HardwareAddr), frame: slices.Clone(b)}
	return len(b), nil
}

func (c *fakeConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

// receive hands a frame to the reader goroutine; it returns once the
// reader has taken it.
func (c *fakeConn) receive(t testing.TB, frame []byte) {
	t.Helper()
	select {
	case c.in <- frame:
	case <-time.After(5 * time.Second):
		t.Fatal("reader goroutine did not take the frame")
	}
}

// next waits for the next written frame.
func (c *fakeConn) next(t testing.TB) sentFrame {
	t.Helper()
	select {
	case f := <-c.out:
		return f
	case <-time.After(5 * time.Second):
		t.Fatal("no frame written")
		return sentFrame{}
	}
}

// none asserts nothing more has been written. Callers first make sure the
// writer has finished (see barrier).
func (c *fakeConn) none(t testing.TB) {
	t.Helper()
	select {
	case f := <-c.out:
		t.Fatalf("unexpected frame to %v: % x", f.dst, f.frame)
	default:
	}
}

// fakeGroups is a GroupConn that records memberships.
type fakeGroups struct {
	mu      sync.Mutex
	joined  map[netip.Addr]int // per group: joins minus leaves
	log     []string
	failFor map[netip.Addr]error
}

func newFakeGroups() *fakeGroups {
	return &fakeGroups{joined: map[netip.Addr]int{}, failFor: map[netip.Addr]error{}}
}

func (g *fakeGroups) JoinGroup(group netip.Addr) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.failFor[group]; err != nil {
		return err
	}
	if g.joined[group] > 0 {
		// A socket joining a group twice gets EADDRINUSE from the kernel.
		return errors.New("fakeGroups: already a member of " + group.String())
	}
	g.joined[group]++
	g.log = append(g.log, "join "+group.String())
	return nil
}

func (g *fakeGroups) LeaveGroup(group netip.Addr) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.joined[group] == 0 {
		return errors.New("fakeGroups: not a member of " + group.String())
	}
	g.joined[group]--
	g.log = append(g.log, "leave "+group.String())
	return nil
}

func (g *fakeGroups) Close() error { return nil }

func (g *fakeGroups) takeLog() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.log
	g.log = nil
	return l
}

// rig is a responder over fakes with a fake clock.
type rig struct {
	r      *Responder
	arp    *fakeConn
	ndp    *fakeConn
	groups *fakeGroups
	clock  *clocktesting.FakeClock
}

func newRig(t testing.TB, opts Options) *rig {
	t.Helper()
	g := &rig{arp: newFakeConn(), ndp: newFakeConn(), groups: newFakeGroups(), clock: clocktesting.NewFakeClock(t0)}
	opts.Clock = g.clock
	r, err := New(Config{Name: "eth0", MAC: selfMAC, ARP: g.arp, NDP: g.ndp, Groups: g.groups, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	g.r = r
	t.Cleanup(func() { _ = r.Close() })
	return g
}

// barrier returns once both readers have handled every frame handed to
// them before it: it sends each reader one more frame that is always
// dropped and waits for the drop to be counted. Anything the earlier
// frames caused has been written by then.
func (g *rig) barrier(t testing.TB) {
	t.Helper()
	before := g.r.dropped[dropNotQuestion].Load()
	g.arp.receive(t, arpFrame(t, selfMAC, peerMAC, 2, peerMAC, peer4, selfMAC, peer4)) // an ARP reply
	g.ndp.receive(t, ip6Frame(selfMAC, peerMAC, peer6, svc6, 255, []byte{icmpNAType, 0, 0, 0}))
	eventually(t, "barrier frames dropped", func() bool { return g.r.dropped[dropNotQuestion].Load() == before+2 })
}

// settle waits until the announcer has finished its current round: it
// armed its timer (pending sends remain) or has nothing left to send, and
// it is not holding the lock.
func (g *rig) settle(t testing.TB, pending bool) {
	t.Helper()
	eventually(t, "announcer timer armed", func() bool { return g.clock.HasWaiters() == pending })
	// The announcer writes under r.mu; taking it orders us after its round.
	_ = g.r.Groups()
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
