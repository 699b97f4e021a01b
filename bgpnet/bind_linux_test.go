package bgpnet

import (
	"testing"
	"time"
)

// Dial binds to the source address it is given, so the peer sees that
// address; an address the node does not have is named in the error.
func TestDialSourceAddress(t *testing.T) {
	l := newLab(t, "h", "p")
	l.link("h", "h0", []string{"10.0.0.1/24", "10.0.0.11/24", "2001:db8::1/64", "2001:db8::11/64"},
		"p", "p0", []string{"10.0.0.2/24", "2001:db8::2/64"})
	l.reachable("p", "10.0.0.1", "10.0.0.11", "2001:db8::1", "2001:db8::11")
	peerSide := newListeners(t)
	for _, c := range []struct {
		name, source, peer string
	}{
		{"ipv4 secondary address", "10.0.0.11", "10.0.0.2"},
		{"ipv4 primary address", "10.0.0.1", "10.0.0.2"},
		{"ipv6", "2001:db8::11", "2001:db8::2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			source := mustAddr(c.source)
			r, accepted := l.register("p", peerSide, Options{Peer: source, ListenPort: testPort})
			defer func() { _ = r.Close() }()
			conn, err := l.dial("h", Options{Peer: mustAddr(c.peer), Port: testPort, Source: source}, failWithin)
			if err != nil {
				t.Fatal(err)
			}
			if conn.Local.Addr() != source {
				t.Errorf("local address %v, want %v", conn.Local.Addr(), source)
			}
			far := expectConn(t, accepted, conn)
			if far.Remote.Addr() != source {
				t.Errorf("the peer sees %v, want %v", far.Remote.Addr(), source)
			}
		})
	}
	t.Run("an address the node does not have", func(t *testing.T) {
		_, err := l.dial("h", Options{Peer: mustAddr("10.0.0.2"), Port: testPort, Source: mustAddr("10.0.0.99")}, failWithin)
		wantErr(t, err, ErrSourceAddress, "10.0.0.99 is not configured on this node")
	})
	t.Run("nothing listens on the port", func(t *testing.T) {
		_, err := l.dial("h", Options{Peer: mustAddr("10.0.0.2"), Port: 17999}, failWithin)
		wantErr(t, err, ErrRefused, "nothing listens on port 17999")
	})
}

// bindLab gives Herald two interfaces that both lead to 10.0.0.2: h0 to
// namespace p (the main route) and h1 to namespace q (a worse route, taken
// only by a socket bound to h1). This is what a VRF does to a socket,
// with an ordinary interface: the kernel here has no VRF devices, and
// SO_BINDTODEVICE works the same way for both.
func bindLab(t *testing.T) *lab {
	l := newLab(t, "h", "p", "q")
	l.link("h", "h0", []string{"10.0.0.1/24"}, "p", "p0", []string{"10.0.0.2/24"})
	l.link("h", "h1", []string{"10.0.1.1/24"}, "q", "q0", []string{"10.0.0.2/24"})
	l.ip("h", "route", "add", "10.0.0.0/24", "dev", "h1", "metric", "100", "src", "10.0.1.1")
	l.ip("q", "route", "add", "10.0.1.0/24", "dev", "q0")
	// Segments from q's 10.0.0.2 arrive on h1 while the route back to
	// 10.0.0.2 is h0's: strict reverse-path filtering would drop them.
	l.sysctl("h", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.h1.rp_filter=0")
	l.reachable("p", "10.0.0.1")
	l.reachable("h", "-I", "h1", "10.0.0.2")
	return l
}

// Dial with VRF set leaves through that device even where the routing
// table prefers another.
func TestDialBindsToDevice(t *testing.T) {
	l := bindLab(t)
	pSide, qSide := newListeners(t), newListeners(t)
	_, atP := l.register("p", pSide, Options{Peer: mustAddr("10.0.0.1"), ListenPort: testPort})
	_, atQ := l.register("q", qSide, Options{Peer: mustAddr("10.0.1.1"), ListenPort: testPort})
	for _, c := range []struct {
		name    string
		vrf     string
		reaches chan *Conn
		other   chan *Conn
	}{
		{"unbound: the main route, to p", "", atP, atQ},
		{"bound to h1: to q", "h1", atQ, atP},
		{"bound to h0: to p", "h0", atP, atQ},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := l.dial("h", Options{Peer: mustAddr("10.0.0.2"), Port: testPort, VRF: c.vrf}, failWithin)
			if err != nil {
				t.Fatal(err)
			}
			expectConn(t, c.reaches, conn)
			expectNoConn(t, c.other, 50*time.Millisecond)
		})
	}
	t.Run("a device that does not exist", func(t *testing.T) {
		_, err := l.dial("h", Options{Peer: mustAddr("10.0.0.2"), Port: testPort, VRF: "red"}, failWithin)
		wantErr(t, err, ErrNoDevice, `no device "red"`)
	})
}

// A listener bound to a device accepts only what arrives on it; one for
// the same port without a device is another socket, and both coexist.
func TestListenerBindsToDevice(t *testing.T) {
	l := bindLab(t)
	ls := newListeners(t)
	_, onH1 := l.register("h", ls, Options{Peer: mustAddr("10.0.0.2"), VRF: "h1", ListenPort: testPort})
	t.Run("from q, through h1", func(t *testing.T) {
		conn, err := l.dial("q", Options{Peer: mustAddr("10.0.1.1"), Port: testPort}, failWithin)
		if err != nil {
			t.Fatal(err)
		}
		expectConn(t, onH1, conn)
	})
	t.Run("from p, through h0: no socket there", func(t *testing.T) {
		_, err := l.dial("p", Options{Peer: mustAddr("10.0.0.1"), Port: testPort}, failWithin)
		wantErr(t, err, ErrRefused)
		expectNoConn(t, onH1, 50*time.Millisecond)
	})
	t.Run("a default-VRF listener on the same port", func(t *testing.T) {
		_, unbound := l.register("h", ls, Options{Peer: mustAddr("10.0.0.2"), ListenPort: testPort})
		conn, err := l.dial("p", Options{Peer: mustAddr("10.0.0.1"), Port: testPort}, failWithin)
		if err != nil {
			t.Fatal(err)
		}
		expectConn(t, unbound, conn)
		conn, err = l.dial("q", Options{Peer: mustAddr("10.0.1.1"), Port: testPort}, failWithin)
		if err != nil {
			t.Fatal(err)
		}
		expectConn(t, onH1, conn)
		expectNoConn(t, unbound, 50*time.Millisecond)
	})
	t.Run("a device that does not exist", func(t *testing.T) {
		var err error
		l.in("h", func() {
			_, err = ls.Register(Options{Peer: mustAddr("10.0.0.2"), VRF: "red", ListenPort: testPort}, func(*Conn) {})
		})
		wantErr(t, err, ErrNoDevice, `no device "red"`)
	})
}
