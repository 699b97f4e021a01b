package speaker

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/heraldlb/herald/bgpwire"
)

// testRouter is just enough of a BGP router for the speaker's unit tests:
// it accepts one connection at a time on loopback, answers the OPEN,
// keeps the routes it is sent (with their communities and local-pref), and
// records the NOTIFICATIONs it receives. The real routers (FRR, BIRD) are
// the lab's; this one checks the tree's wiring in a second.
type testRouter struct {
	t  *testing.T
	ln net.Listener
	as uint32

	mu            sync.Mutex
	rib           map[netip.Prefix]bgpwire.Attributes
	notifications []bgpwire.Notification
	endOfRIB      int
	// ribAtEoR is the RIB's size at each End-of-RIB; restartBits the
	// Restart State bit of each OPEN (false without graceful restart).
	ribAtEoR    []int
	restartBits []bool
	// opens counts the sessions; each starts with an empty RIB, as a
	// router's does once the previous session is gone.
	opens int
}

func startTestRouter(t *testing.T, as uint32) *testRouter {
	t.Helper()
	// BGPPeer's peerPort goes up to 16384 (MetalLB's bound): an ephemeral
	// port would not validate.
	var ln net.Listener
	var err error
	for port := 10179; port < 16384; port++ {
		if ln, err = net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	r := &testRouter{t: t, ln: ln, as: as, rib: map[netip.Prefix]bgpwire.Attributes{}}
	t.Cleanup(func() { ln.Close() })
	go r.serve()
	return r
}

func (r *testRouter) port() uint16 { return uint16(r.ln.Addr().(*net.TCPAddr).Port) }

func (r *testRouter) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.session(c)
	}
}

func (r *testRouter) session(c net.Conn) {
	defer c.Close()
	var s bgpwire.Session
	var m bgpwire.Message
	buf := make([]byte, 0, 1<<16)
	tmp := make([]byte, 1<<16)
	for {
		for {
			h, err := bgpwire.ParseHeader(buf, bgpwire.MaxExtendedMessageLen)
			if err != nil || len(buf) < int(h.Length) {
				break
			}
			msg := buf[:h.Length]
			if err := m.Decode(msg, s); err != nil {
				r.t.Errorf("test router: decoding a %s: %v", h.Type, err)
				return
			}
			switch m.Type {
			case bgpwire.TypeOpen:
				r.mu.Lock()
				r.opens++
				gr := m.Open.Capabilities.GracefulRestart
				r.restartBits = append(r.restartBits, gr != nil && gr.Restarting)
				clear(r.rib)
				r.mu.Unlock()
				theirs := m.Open
				ours := bgpwire.Open{Version: 4, AS: r.as, HoldTime: 90, Identifier: netip.MustParseAddr("192.0.2.254"),
					Capabilities: bgpwire.Capabilities{FourOctetAS: true,
						Multiprotocol: []bgpwire.Family{bgpwire.IPv4Unicast, bgpwire.IPv6Unicast}}}
				s = bgpwire.Negotiate(&ours, &theirs)
				out, _ := bgpwire.AppendOpen(nil, &ours)
				out = bgpwire.AppendKeepalive(out)
				if _, err := c.Write(out); err != nil {
					return
				}
			case bgpwire.TypeKeepalive:
			case bgpwire.TypeUpdate:
				r.update(&m.Update)
			case bgpwire.TypeNotification:
				r.mu.Lock()
				r.notifications = append(r.notifications, bgpwire.Notification{Code: m.Notification.Code,
					Subcode: m.Notification.Subcode, Data: slices.Clone(m.Notification.Data)})
				r.mu.Unlock()
			}
			buf = buf[h.Length:]
		}
		n, err := c.Read(tmp)
		buf = append(buf, tmp[:n]...)
		if err != nil {
			return
		}
	}
}

func (r *testRouter) update(u *bgpwire.Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := u.IsEndOfRIB(); ok {
		r.endOfRIB++
		r.ribAtEoR = append(r.ribAtEoR, len(r.rib))
		return
	}
	for _, p := range u.Withdrawn {
		delete(r.rib, p)
	}
	if u.HasMPUnreach {
		for _, p := range u.MPUnreach.Withdrawn {
			delete(r.rib, p)
		}
	}
	attrs := u.Attributes
	attrs.Communities = slices.Clone(attrs.Communities)
	attrs.LargeCommunities = slices.Clone(attrs.LargeCommunities)
	for _, p := range u.NLRI {
		r.rib[p] = attrs
	}
	if u.HasMPReach {
		for _, p := range u.MPReach.NLRI {
			r.rib[p] = attrs
		}
	}
}

// notificationCount is how many NOTIFICATIONs the router has received.
func (r *testRouter) notificationCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.notifications)
}

// sessions counts the sessions the router has seen open.
func (r *testRouter) sessions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opens
}

// routes returns the prefixes the router holds, sorted.
func (r *testRouter) routes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for p := range r.rib {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return out
}

func (r *testRouter) attrs(p string) (bgpwire.Attributes, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.rib[netip.MustParsePrefix(p)]
	return a, ok
}

func (r *testRouter) lastNotification() (bgpwire.Notification, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.notifications) == 0 {
		return bgpwire.Notification{}, false
	}
	return r.notifications[len(r.notifications)-1], true
}
