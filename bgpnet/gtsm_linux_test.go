package bgpnet

import (
	"io"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// routedLab puts a router namespace r between Herald's namespace h and a
// peer namespace q, so q's segments reach h with their TTL one lower than
// q sent them.
func routedLab(t *testing.T) *lab {
	l := newLab(t, "h", "r", "q")
	l.link("h", "h0", []string{"10.0.0.1/24", "2001:db8:a::1/64"}, "r", "r0", []string{"10.0.0.254/24", "2001:db8:a::fe/64"})
	l.link("r", "r1", []string{"10.9.0.254/24", "2001:db8:9::fe/64"}, "q", "q0", []string{"10.9.0.2/24", "10.9.0.3/24", "2001:db8:9::2/64"})
	l.sysctl("r", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	l.ip("h", "route", "add", "default", "via", "10.0.0.254")
	l.ip("h", "-6", "route", "add", "default", "via", "2001:db8:a::fe")
	l.ip("q", "route", "add", "default", "via", "10.9.0.254")
	l.ip("q", "-6", "route", "add", "default", "via", "2001:db8:9::fe")
	l.reachable("q", "10.0.0.1", "2001:db8:a::1")
	return l
}

// A GTSM listener drops a peer whose segments arrive below the minimum TTL
// (the SYN gets no answer) and accepts it at the minimum; a multihop
// listener accepts it whatever its TTL. The accepted socket keeps
// enforcing the minimum.
func TestListenerGTSM(t *testing.T) {
	l := routedLab(t)
	ls := newListeners(t)
	for _, fam := range []struct{ name, herald, peer string }{
		{"ipv4", "10.0.0.1", "10.9.0.2"},
		{"ipv6", "2001:db8:a::1", "2001:db8:9::2"},
	} {
		herald, peer := mustAddr(fam.herald), mustAddr(fam.peer)
		_, gtsm := l.register("h", ls, Options{Peer: peer, MinTTL: GTSMMinTTL, ListenPort: testPort})
		_, multihop := l.register("h", ls, Options{Peer: peer, ListenPort: altPort})
		for _, c := range []struct {
			name     string
			sendTTL  uint8 // at q; h sees one less
			port     uint16
			ch       chan *Conn
			accepted bool
		}{
			{"GTSM listener, arrives with 254", 255, testPort, gtsm, true},
			{"GTSM listener, arrives with 253", 254, testPort, gtsm, false},
			{"GTSM listener, arrives with 63", 64, testPort, gtsm, false},
			{"multihop listener, arrives with 63", 64, altPort, multihop, true},
			{"multihop listener, arrives with 1", 2, altPort, multihop, true},
		} {
			t.Run(fam.name+"/"+c.name, func(t *testing.T) {
				conn, err := l.dial("q", Options{Peer: herald, Port: c.port, TTL: c.sendTTL}, failWithin)
				if !c.accepted {
					wantErr(t, err, ErrTimeout)
					expectNoConn(t, c.ch, 50*time.Millisecond)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				got := expectConn(t, c.ch, conn)
				wantMin := 0
				if c.port == testPort {
					wantMin = GTSMMinTTL
				}
				if min := minTTLOf(t, got, peer.Is4()); min != wantMin {
					t.Errorf("accepted socket's minimum TTL is %d, want %d", min, wantMin)
				}
			})
		}
	}
}

// A GTSM dialer drops the peer's segments that arrive below the minimum:
// here the handshake succeeds (the peer's listener answers with TTL 255)
// but the data the peer then sends with TTL 64 never arrives, which is
// what a session with a router that does not do GTSM looks like.
func TestDialGTSM(t *testing.T) {
	l := routedLab(t)
	peerSide := newListeners(t)
	for _, c := range []struct {
		name      string
		peerTTL   uint8 // the TTL q's accepted socket sends with
		delivered bool
	}{
		{"peer sends with 255, arrives with 254", 255, true},
		{"peer sends with 64, arrives with 63", 64, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, accepted := l.register("q", peerSide, Options{Peer: mustAddr("10.0.0.1"), TTL: c.peerTTL, ListenPort: testPort})
			defer func() { _ = r.Close() }()
			conn, err := l.dial("h", Options{Peer: mustAddr("10.9.0.2"), Port: testPort, MinTTL: GTSMMinTTL}, failWithin)
			if err != nil {
				t.Fatal(err)
			}
			var far *Conn
			select {
			case far = <-accepted:
				defer far.Close()
			case <-time.After(5 * time.Second):
				t.Fatal("the peer's listener delivered no connection")
			}
			if _, err := far.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			_, err = io.ReadFull(conn, make([]byte, 5))
			if c.delivered && err != nil {
				t.Fatalf("read: %v", err)
			}
			if !c.delivered && err == nil {
				t.Fatal("read the peer's bytes sent with TTL 64; GTSM should have dropped them")
			}
		})
	}
}

// The kernel answers no SYN from an address that has no registration, so
// the dialler times out; registering the address opens the door and
// closing the registration shuts it again.
func TestListenerRefusesUnknownAddresses(t *testing.T) {
	l := routedLab(t)
	ls := newListeners(t)
	_, fromKnown := l.register("h", ls, Options{Peer: mustAddr("10.9.0.2"), ListenPort: testPort, MinTTL: 0})
	unknown := Options{Peer: mustAddr("10.0.0.1"), Port: testPort, Source: mustAddr("10.9.0.3")}

	t.Run("unknown address", func(t *testing.T) {
		_, err := l.dial("q", unknown, failWithin)
		wantErr(t, err, ErrTimeout)
		expectNoConn(t, fromKnown, 50*time.Millisecond)
	})
	t.Run("known address", func(t *testing.T) {
		c, err := l.dial("q", Options{Peer: mustAddr("10.0.0.1"), Port: testPort, Source: mustAddr("10.9.0.2")}, failWithin)
		if err != nil {
			t.Fatal(err)
		}
		expectConn(t, fromKnown, c)
	})
	t.Run("registered, then removed", func(t *testing.T) {
		r, ch := l.register("h", ls, Options{Peer: mustAddr("10.9.0.3"), ListenPort: testPort})
		c, err := l.dial("q", unknown, failWithin)
		if err != nil {
			t.Fatal(err)
		}
		expectConn(t, ch, c)
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		_, err = l.dial("q", unknown, failWithin)
		wantErr(t, err, ErrTimeout)
	})
}

// minTTLOf reads the minimum TTL the kernel enforces on c.
func minTTLOf(t *testing.T, c *Conn, v4 bool) int {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	err = control(raw, func(fd int) error {
		var err error
		if v4 {
			v, err = unix.GetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MINTTL)
		} else {
			v, err = unix.GetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MINHOPCOUNT)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
