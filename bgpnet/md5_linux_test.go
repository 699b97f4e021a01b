package bgpnet

import (
	"testing"
	"time"
)

// failWithin bounds dials that must fail: on a veth pair a handshake that
// works takes well under a millisecond.
const failWithin = time.Second

// mdLab is Herald's namespace h joined to a peer namespace p, which has two
// addresses of each family so it can play two peers.
func mdLab(t *testing.T) *lab {
	l := newLab(t, "h", "p")
	l.link("h", "h0", []string{"10.0.0.1/24", "2001:db8::1/64"},
		"p", "p0", []string{"10.0.0.2/24", "10.0.0.3/24", "2001:db8::2/64", "2001:db8::3/64"})
	l.reachable("p", "10.0.0.1", "2001:db8::1")
	return l
}

var (
	hAddr4, hAddr6    = mustAddr("10.0.0.1"), mustAddr("2001:db8::1")
	pAddr4, pAddr4b   = mustAddr("10.0.0.2"), mustAddr("10.0.0.3")
	pAddr6, pAddr6b   = mustAddr("2001:db8::2"), mustAddr("2001:db8::3")
	testPort, altPort = uint16(17900), uint16(17901)
)

// Herald dials a peer whose listener has its TCP MD5 key: the same
// password connects; another one, or none, is silently dropped by the
// peer's kernel and the error says that this is what a mismatch looks
// like.
func TestDialMD5(t *testing.T) {
	l := mdLab(t)
	peerSide := newListeners(t)
	for _, fam := range []struct {
		name       string
		herald, at string
	}{{"ipv4", "10.0.0.1", "10.0.0.2"}, {"ipv6", "2001:db8::1", "2001:db8::2"}} {
		herald, at := mustAddr(fam.herald), mustAddr(fam.at)
		_, accepted := l.register("p", peerSide, Options{Peer: herald, Password: "s3cret", ListenPort: testPort})
		dialTo := func(password string) (*Conn, error) {
			return l.dial("h", Options{Peer: at, Port: testPort, Password: password}, failWithin)
		}
		t.Run(fam.name+"/same password connects", func(t *testing.T) {
			c, err := dialTo("s3cret")
			if err != nil {
				t.Fatal(err)
			}
			expectConn(t, accepted, c)
		})
		t.Run(fam.name+"/another password times out and says why", func(t *testing.T) {
			_, err := dialTo("guess")
			wantErr(t, err, ErrTimeout, "TCP MD5 password is set", "does not match")
			expectNoConn(t, accepted, 100*time.Millisecond)
		})
		t.Run(fam.name+"/no password times out and suggests one", func(t *testing.T) {
			_, err := dialTo("")
			wantErr(t, err, ErrTimeout, "may expect a TCP MD5 password")
			expectNoConn(t, accepted, 100*time.Millisecond)
		})
	}
}

// Peers with and without a password share one listener; each key is
// installed for its own address only, and follows the registrations as
// they come and go.
func TestListenerMD5KeysPerPeer(t *testing.T) {
	l := mdLab(t)
	ls := newListeners(t)
	keyed, plain := pAddr4, pAddr4b
	rKeyed, fromKeyed := l.register("h", ls, Options{Peer: keyed, Password: "alpha", ListenPort: testPort})
	_, fromPlain := l.register("h", ls, Options{Peer: plain, ListenPort: testPort})
	_, fromKeyed6 := l.register("h", ls, Options{Peer: pAddr6, Password: "sixsix", ListenPort: testPort})
	_, fromPlain6 := l.register("h", ls, Options{Peer: pAddr6b, ListenPort: testPort})

	// connects dials Herald from src with password and reports whether
	// the connection was delivered on ch.
	connects := func(t *testing.T, src, dst interface{ String() string }, password string, ch chan *Conn) bool {
		t.Helper()
		o := Options{Peer: mustAddr(dst.String()), Port: testPort, Source: mustAddr(src.String()), Password: password}
		c, err := l.dial("p", o, failWithin)
		if err != nil {
			wantErr(t, err, ErrTimeout)
			expectNoConn(t, ch, 50*time.Millisecond)
			return false
		}
		expectConn(t, ch, c)
		return true
	}
	type attempt struct {
		name     string
		src, dst interface{ String() string }
		password string
		ch       chan *Conn
		want     bool
	}
	check := func(t *testing.T, attempts []attempt) {
		t.Helper()
		for _, a := range attempts {
			if got := connects(t, a.src, a.dst, a.password, a.ch); got != a.want {
				t.Errorf("%s: connected = %v, want %v", a.name, got, a.want)
			}
		}
	}

	t.Run("each peer with its own setting", func(t *testing.T) {
		check(t, []attempt{
			{"keyed peer, right password", keyed, hAddr4, "alpha", fromKeyed, true},
			{"keyed peer, wrong password", keyed, hAddr4, "beta", fromKeyed, false},
			{"keyed peer, no password", keyed, hAddr4, "", fromKeyed, false},
			{"plain peer, no password", plain, hAddr4, "", fromPlain, true},
			{"plain peer signing anyway", plain, hAddr4, "alpha", fromPlain, false},
			{"IPv6 keyed peer, right password", pAddr6, hAddr6, "sixsix", fromKeyed6, true},
			{"IPv6 keyed peer, IPv4 peer's password", pAddr6, hAddr6, "alpha", fromKeyed6, false},
			{"IPv6 plain peer", pAddr6b, hAddr6, "", fromPlain6, true},
		})
	})

	t.Run("a removed key is gone", func(t *testing.T) {
		if err := rKeyed.Close(); err != nil {
			t.Fatal(err)
		}
		rKeyed, fromKeyed = l.register("h", ls, Options{Peer: keyed, ListenPort: testPort})
		check(t, []attempt{
			{"formerly keyed peer without password", keyed, hAddr4, "", fromKeyed, true},
			{"formerly keyed peer with the old password", keyed, hAddr4, "alpha", fromKeyed, false},
			{"plain peer unaffected", plain, hAddr4, "", fromPlain, true},
			{"IPv6 keyed peer unaffected", pAddr6, hAddr6, "sixsix", fromKeyed6, true},
		})
	})

	t.Run("a changed key replaces the old one", func(t *testing.T) {
		// Another listener's key for the same address must not leak
		// onto this one.
		l.register("h", ls, Options{Peer: keyed, ListenPort: altPort, Password: "other-port"})
		if err := rKeyed.Close(); err != nil {
			t.Fatal(err)
		}
		_, fromKeyed = l.register("h", ls, Options{Peer: keyed, Password: "gamma", ListenPort: testPort})
		check(t, []attempt{
			{"new password", keyed, hAddr4, "gamma", fromKeyed, true},
			{"old password", keyed, hAddr4, "alpha", fromKeyed, false},
			{"the other listener's password", keyed, hAddr4, "other-port", fromKeyed, false},
			{"no password", keyed, hAddr4, "", fromKeyed, false},
		})
	})
}
