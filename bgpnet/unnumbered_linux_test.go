package bgpnet

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// openUnnumbered opens an Unnumbered on ifname in role's namespace.
func (l *lab) openUnnumbered(role, ifname string, opts UnnumberedOptions) *Unnumbered {
	l.t.Helper()
	var u *Unnumbered
	var err error
	l.in(role, func() { u, err = OpenUnnumbered(ifname, opts) })
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { _ = u.Close() })
	return u
}

func neighbourWithin(u *Unnumbered, d time.Duration) (netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return u.Neighbour(ctx)
}

// unnumberedLab joins h and p with a veth pair that has nothing but
// link-local addresses.
func unnumberedLab(t *testing.T) (l *lab, hLL, pLL netip.Addr) {
	l = newLab(t, "h", "p")
	l.link("h", "h0", nil, "p", "p0", nil)
	return l, l.linkLocalOf("h", "h0"), l.linkLocalOf("p", "p0")
}

func TestUnnumberedFindsTheNeighbour(t *testing.T) {
	l, hLL, pLL := unnumberedLab(t)

	t.Run("a host, by the echo probe", func(t *testing.T) {
		u := l.openUnnumbered("h", "h0", UnnumberedOptions{NoAdvertise: true})
		defer func() { _ = u.Close() }()
		got, err := neighbourWithin(u, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if want := pLL.WithZone("h0"); got != want {
			t.Fatalf("neighbour %v, want %v", got, want)
		}
	})
	t.Run("a router, by its Router Advertisements alone", func(t *testing.T) {
		// p advertises (an Unnumbered there, like FRR's zebra); h listens
		// without probing.
		advertiser := l.openUnnumbered("p", "p0", UnnumberedOptions{NoProbe: true})
		defer func() { _ = advertiser.Close() }()
		u := l.openUnnumbered("h", "h0", UnnumberedOptions{NoProbe: true, NoAdvertise: true})
		defer func() { _ = u.Close() }()
		got, err := neighbourWithin(u, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if want := pLL.WithZone("h0"); got != want {
			t.Fatalf("neighbour %v, want %v", got, want)
		}
	})
	t.Run("nothing to learn from", func(t *testing.T) {
		u := l.openUnnumbered("h", "h0", UnnumberedOptions{NoProbe: true, NoAdvertise: true})
		_, err := neighbourWithin(u, 1500*time.Millisecond)
		wantErr(t, err, ErrNoNeighbour, "no Router Advertisement and no answer to the echo probe")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("error %v does not carry the context's", err)
		}
	})
	t.Run("a session over the address found", func(t *testing.T) {
		u := l.openUnnumbered("h", "h0", UnnumberedOptions{})
		peer, err := neighbourWithin(u, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		peerSide := newListeners(t)
		_, accepted := l.register("p", peerSide, Options{Peer: hLL.WithZone("p0"), ListenPort: testPort})
		conn, err := l.dial("h", Options{Peer: peer, Port: testPort}, failWithin)
		if err != nil {
			t.Fatal(err)
		}
		far := expectConn(t, accepted, conn)
		if conn.Local.Addr() != hLL.WithZone("h0") || far.Remote.Addr() != hLL.WithZone("p0") {
			t.Errorf("ends %v and %v, want Herald's link-local address %v with each end's zone", conn.Local, far.Remote, hLL)
		}
	})
	t.Run("closed", func(t *testing.T) {
		u := l.openUnnumbered("h", "h0", UnnumberedOptions{})
		if err := u.Close(); err != nil {
			t.Fatal(err)
		}
		_, err := neighbourWithin(u, time.Second)
		wantErr(t, err, ErrClosed)
	})
	t.Run("no such interface", func(t *testing.T) {
		var err error
		l.in("h", func() { _, err = OpenUnnumbered("nope0", UnnumberedOptions{}) })
		wantErr(t, err, ErrNoDevice, `no interface "nope0"`)
	})
}

// Two neighbours on a shared segment are not an unnumbered peer: Neighbour
// says so rather than picking one.
func TestUnnumberedRefusesASharedSegment(t *testing.T) {
	l := newLab(t, "h", "b", "p", "q")
	// The bridge's namespace has no IPv6, or it would answer too.
	l.sysctl("b", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	l.ip("b", "link", "add", "br0", "type", "bridge")
	l.ip("b", "link", "set", "br0", "up")
	l.link("b", "bh", nil, "h", "h0", nil)
	l.link("b", "bp", nil, "p", "p0", nil)
	l.link("b", "bq", nil, "q", "q0", nil)
	for _, port := range []string{"bh", "bp", "bq"} {
		l.ip("b", "link", "set", port, "master", "br0")
	}
	l.linkLocalOf("h", "h0")
	l.linkLocalOf("p", "p0")
	l.linkLocalOf("q", "q0")
	u := l.openUnnumbered("h", "h0", UnnumberedOptions{NoAdvertise: true, Settle: time.Second})
	_, err := neighbourWithin(u, 5*time.Second)
	wantErr(t, err, ErrAmbiguousNeighbour, "2 neighbours answered the echo probe", "point-to-point")
}

// The same link-local address on two interfaces: the listener's filter
// lets both in (it sees no interface), and the accept loop resets the one
// that came in on the other interface.
func TestListenerMatchesTheZone(t *testing.T) {
	l := newLab(t, "h", "p", "q")
	l.link("h", "h0", nil, "p", "p0", []string{"fe80::2/64"})
	l.link("h", "h1", nil, "q", "q1", []string{"fe80::2/64"})
	h0, h1 := l.linkLocalOf("h", "h0"), l.linkLocalOf("h", "h1")
	same := mustAddr("fe80::2")
	ls := newListeners(t)
	_, fromP := l.register("h", ls, Options{Peer: same.WithZone("h0"), ListenPort: testPort})

	// The handshake from q completes (the filter cannot tell the links
	// apart) and the reset follows at once: it reaches q either before
	// Dial has seen the connection up (ErrRefused) or after (a read).
	conn, err := l.dial("q", Options{Peer: h1.WithZone("q1"), Port: testPort, Source: same.WithZone("q1")}, failWithin)
	if err == nil {
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = io.ReadFull(conn, make([]byte, 1))
	} else {
		wantErr(t, err, ErrRefused, "reset the connection")
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the connection on the wrong link: %v, want a reset", err)
	}
	expectNoConn(t, fromP, 50*time.Millisecond)

	conn, err = l.dial("p", Options{Peer: h0.WithZone("p0"), Port: testPort, Source: same.WithZone("p0")}, failWithin)
	if err != nil {
		t.Fatal(err)
	}
	expectConn(t, fromP, conn)
}
