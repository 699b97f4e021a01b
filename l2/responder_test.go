package l2

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/arp"
)

// takeGratuitous reads and checks the frames of one gratuitous round for
// ips: both ARP forms per IPv4 IP, one unsolicited NA per IPv6 IP.
func (g *rig) takeGratuitous(t testing.TB, ips ...netip.Addr) {
	t.Helper()
	for _, ip := range ips {
		if ip.Is4() {
			for _, op := range []arp.Operation{arp.OperationRequest, arp.OperationReply} {
				f := g.arp.next(t)
				p := parseARP(t, f.frame)
				if f.dst != broadcastMAC || p.p.Operation != op || p.p.SenderIP != ip || p.p.TargetIP != ip || MAC(p.p.SenderHardwareAddr) != selfMAC {
					t.Fatalf("gratuitous ARP for %v: got %v to %v, want %v from %v to broadcast", ip, p.p.Operation, f.dst, op, selfMAC)
				}
			}
			continue
		}
		f := g.ndp.next(t)
		if f.dst != allNodesMAC {
			t.Fatalf("unsolicited NA for %v sent to %v, want %v", ip, f.dst, allNodesMAC)
		}
		checkNA(t, parseNA(t, f.frame), ip, allNodesMAC, allNodesIP, false)
	}
}

func (g *rig) set(t testing.TB, ips ...netip.Addr) Change {
	t.Helper()
	ch, err := g.r.Set(ips)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func counters(r *Responder, ip netip.Addr) Counters {
	for _, c := range r.Counters() {
		if c.IP == ip {
			return c
		}
	}
	return Counters{IP: ip}
}

// TestResponderAnswersOnce: a question for an owned IP gets exactly one
// answer with this interface's MAC; one for any other IP, none.
func TestResponderAnswersOnce(t *testing.T) {
	g := newRig(t, Options{Schedule: []time.Duration{0}})
	g.set(t, svc4, svc6)
	g.takeGratuitous(t, svc4, svc6)

	tests := []struct {
		name   string
		conn   *fakeConn
		frame  []byte
		answer bool
		ip     netip.Addr
	}{
		{"ARP request for an owned IP", g.arp, arpRequest(t, svc4), true, svc4},
		{"ARP request for another IP", g.arp, arpRequest(t, svc4b), false, svc4b},
		{"ARP request from this interface", g.arp, arpFrame(t, broadcastMAC, selfMAC, arp.OperationRequest, selfMAC, peer4, MAC{}, svc4), false, svc4},
		{"multicast NS for an owned IP", g.ndp, nsFrame(t, nsSpec{}), true, svc6},
		{"unicast NUD probe for an owned IP", g.ndp, nsFrame(t, nsSpec{dst: svc6, noOptions: true}), true, svc6},
		{"DAD probe for an owned IP", g.ndp, nsFrame(t, nsSpec{src: netip.IPv6Unspecified()}), true, svc6},
		{"NS for another IP", g.ndp, nsFrame(t, nsSpec{target: svc6b}), false, svc6b},
		{"NS from this interface", g.ndp, nsFrame(t, nsSpec{ethSrc: selfMAC}), false, svc6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := counters(g.r, tt.ip)
			tt.conn.receive(t, tt.frame)
			g.barrier(t)
			if tt.answer {
				f := tt.conn.next(t)
				if f.dst != MAC(f.frame[0:6]) || MAC(f.frame[6:12]) != selfMAC {
					t.Errorf("reply addressed to %v (frame says %v) from %v, want from %v", f.dst, MAC(f.frame[0:6]), MAC(f.frame[6:12]), selfMAC)
				}
			}
			tt.conn.none(t)
			after := counters(g.r, tt.ip)
			want := before
			if tt.answer {
				want.Requests++
				want.Replies++
			}
			if after != want {
				t.Errorf("counters %+v, want %+v", after, want)
			}
		})
	}
	st := g.r.Stats()
	if st.Dropped["own-frame"] != 2 || st.Dropped["not-owned"] != 2 {
		t.Errorf("dropped %v, want 2 own-frame and 2 not-owned", st.Dropped)
	}
}

// TestResponderGratuitousSchedule steps a fake clock through the default
// schedule: both ARP forms and one NA at once, then at 250 ms, 1 s and 2 s,
// then nothing.
func TestResponderGratuitousSchedule(t *testing.T) {
	g := newRig(t, Options{})
	ch := g.set(t, svc6, svc4)
	if !slices.Equal(ch.Added, []netip.Addr{svc4, svc6}) || len(ch.Removed) != 0 {
		t.Fatalf("change %+v, want svc4 and svc6 added", ch)
	}
	g.takeGratuitous(t, svc4, svc6)
	g.settle(t, true)
	g.arp.none(t)
	g.ndp.none(t)
	for _, step := range []time.Duration{ms(250), ms(750), ms(1000)} {
		g.clock.Step(step - ms(1))
		g.settle(t, true)
		g.arp.none(t) // 1 ms early: nothing
		g.ndp.none(t)
		g.clock.Step(ms(1))
		g.takeGratuitous(t, svc4, svc6)
	}
	g.settle(t, false)
	g.clock.Step(time.Hour)
	g.arp.none(t)
	g.ndp.none(t)
	for _, ip := range []netip.Addr{svc4, svc6} {
		want := uint64(4)
		if ip.Is4() {
			want = 8 // two forms per round
		}
		if c := counters(g.r, ip); c.Gratuitous != want {
			t.Errorf("%v: %d gratuitous counted, want %d", ip, c.Gratuitous, want)
		}
	}
}

func TestResponderRefresh(t *testing.T) {
	g := newRig(t, Options{Schedule: []time.Duration{0}, Refresh: time.Minute})
	g.set(t, svc4)
	g.takeGratuitous(t, svc4)
	for range 3 {
		g.settle(t, true)
		g.clock.Step(time.Minute)
		g.takeGratuitous(t, svc4)
	}
}

// TestResponderSetStopsGratuitousForRemovedIP: once Set has dropped an
// IP, no gratuitous message for it goes out, and questions for it go
// unanswered.
func TestResponderSetStopsGratuitousForRemovedIP(t *testing.T) {
	g := newRig(t, Options{})
	g.set(t, svc4, svc4b)
	g.takeGratuitous(t, svc4, svc4b)
	g.settle(t, true)
	ch := g.set(t, svc4b)
	if len(ch.Added) != 0 || !slices.Equal(ch.Removed, []netip.Addr{svc4}) {
		t.Fatalf("change %+v, want svc4 removed", ch)
	}
	g.clock.Step(ms(250))
	g.takeGratuitous(t, svc4b)
	g.settle(t, true)
	g.arp.none(t)
	g.arp.receive(t, arpRequest(t, svc4))
	g.barrier(t)
	g.arp.none(t)
	if got := g.r.Owned(); !slices.Equal(got, []netip.Addr{svc4b}) {
		t.Fatalf("owned %v, want [%v]", got, svc4b)
	}
}

func TestResponderAnnounce(t *testing.T) {
	g := newRig(t, Options{Schedule: []time.Duration{0, time.Second}})
	g.set(t, svc6)
	g.takeGratuitous(t, svc6)
	g.settle(t, true)
	g.clock.Step(time.Second)
	g.takeGratuitous(t, svc6)
	g.settle(t, false)
	// The link came back: the shell re-announces.
	if err := g.r.Announce(svc6); err != nil {
		t.Fatal(err)
	}
	g.takeGratuitous(t, svc6)
	g.settle(t, true)
	g.clock.Step(time.Second)
	g.takeGratuitous(t, svc6)
	if err := g.r.Announce(svc4); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("Announce of an IP not owned: %v, want ErrNotOwned", err)
	}
}

// TestResponderMulticastRefcount: a group is joined once for all the
// owned IPs that map to it, before they are answered for, and left with
// the last of them.
func TestResponderMulticastRefcount(t *testing.T) {
	a := netip.MustParseAddr("2001:db8::1:2:3")
	b := netip.MustParseAddr("2001:db8:ffff::aa:2:3") // same low 24 bits as a
	c := netip.MustParseAddr("2001:db8::44")
	ga, gc := SolicitedNodeGroup(a), SolicitedNodeGroup(c)
	if SolicitedNodeGroup(b) != ga {
		t.Fatal("test addresses must share a group")
	}
	g := newRig(t, Options{Schedule: []time.Duration{0}})
	steps := []struct {
		set    []netip.Addr
		log    []string
		groups []netip.Addr
	}{
		{[]netip.Addr{a}, []string{"join " + ga.String()}, []netip.Addr{ga}},
		{[]netip.Addr{a, b, svc4}, nil, []netip.Addr{ga}},
		{[]netip.Addr{b, c}, []string{"join " + gc.String()}, []netip.Addr{gc, ga}},
		{[]netip.Addr{c}, []string{"leave " + ga.String()}, []netip.Addr{gc}},
		{nil, []string{"leave " + gc.String()}, []netip.Addr{}},
	}
	for i, st := range steps {
		g.set(t, st.set...)
		if got := g.groups.takeLog(); !slices.Equal(got, st.log) {
			t.Fatalf("step %d Set(%v): memberships %v, want %v", i, st.set, got, st.log)
		}
		if got := g.r.Groups(); !slices.Equal(got, st.groups) {
			t.Fatalf("step %d: Groups() %v, want %v", i, got, st.groups)
		}
	}
}

// TestResponderJoinFailureIsRetried: a failed join is reported, the IP is
// still answered for unicast probes, and the next Set joins again.
func TestResponderJoinFailureIsRetried(t *testing.T) {
	g := newRig(t, Options{Schedule: []time.Duration{0}})
	grp := SolicitedNodeGroup(svc6)
	g.groups.failFor[grp] = syscall.ENODEV
	_, err := g.r.Set([]netip.Addr{svc6})
	if !errors.Is(err, ErrMembership) || !errors.Is(err, syscall.ENODEV) {
		t.Fatalf("Set error %v, want ErrMembership wrapping ENODEV", err)
	}
	g.takeGratuitous(t, svc6)
	g.ndp.receive(t, nsFrame(t, nsSpec{dst: svc6}))
	g.ndp.next(t)
	delete(g.groups.failFor, grp)
	if _, err := g.r.Set([]netip.Addr{svc6}); err != nil {
		t.Fatal(err)
	}
	if got := g.r.Groups(); !slices.Equal(got, []netip.Addr{grp}) {
		t.Fatalf("groups %v after retry, want [%v]", got, grp)
	}
}

func TestResponderSetRejects(t *testing.T) {
	tests := []struct {
		ip   string
		want error
	}{
		{"0.0.0.0", ErrInvalidIP},
		{"::", ErrInvalidIP},
		{"224.0.0.1", ErrInvalidIP},
		{"ff02::1", ErrInvalidIP},
		{"127.0.0.1", ErrInvalidIP},
		{"255.255.255.255", ErrInvalidIP},
		{"192.0.2.10", ErrNoSocket}, // the responder below has no ARP socket
	}
	r, err := New(Config{Name: "v6only", MAC: selfMAC, NDP: newFakeConn(), Groups: newFakeGroups()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			ch, err := r.Set([]netip.Addr{netip.MustParseAddr(tt.ip), svc6})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Set error %v, want %v", err, tt.want)
			}
			if got := r.Owned(); !slices.Equal(got, []netip.Addr{svc6}) {
				t.Fatalf("owned %v (change %+v), want the valid IP alone", got, ch)
			}
		})
	}
}

// TestResponderNormalizesIPs: a v4-mapped IPv6 address is the IPv4
// address; a zone is dropped; duplicates collapse.
func TestResponderNormalizesIPs(t *testing.T) {
	g := newRig(t, Options{Schedule: []time.Duration{0}})
	ch := g.set(t, netip.MustParseAddr("::ffff:192.0.2.10"), svc4, svc6.WithZone("eth0"))
	if !slices.Equal(ch.Added, []netip.Addr{svc4, svc6}) {
		t.Fatalf("added %v, want [%v %v]", ch.Added, svc4, svc6)
	}
	g.takeGratuitous(t, svc4, svc6)
	g.arp.receive(t, arpRequest(t, svc4))
	g.arp.next(t)
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no socket", Config{MAC: selfMAC}},
		{"NDP without GroupConn", Config{MAC: selfMAC, NDP: newFakeConn()}},
		{"multicast MAC", Config{MAC: allNodesMAC, ARP: newFakeConn()}},
		{"zero MAC", Config{ARP: newFakeConn()}},
		{"bad schedule", Config{MAC: selfMAC, ARP: newFakeConn(), Options: Options{Schedule: []time.Duration{time.Second, 0}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("New: %v, want ErrConfig", err)
			}
		})
	}
}

// TestResponderReadErrors: ENETDOWN (the link is down) is survived; any
// other read error ends the responder and says so.
func TestResponderReadErrors(t *testing.T) {
	g := newRig(t, Options{Schedule: []time.Duration{0}})
	g.set(t, svc4)
	g.takeGratuitous(t, svc4)
	g.arp.readErr <- fmt.Errorf("read: %w", syscall.ENETDOWN)
	g.arp.receive(t, arpRequest(t, svc4))
	g.arp.next(t)
	if st := g.r.Stats(); st.ReadErrors != 1 {
		t.Fatalf("read errors %d, want 1", st.ReadErrors)
	}
	select {
	case <-g.r.Done():
		t.Fatal("Done closed after ENETDOWN")
	default:
	}
	g.ndp.readErr <- syscall.ENXIO
	select {
	case <-g.r.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after a fatal read error")
	}
	if err := g.r.Err(); !errors.Is(err, syscall.ENXIO) {
		t.Fatalf("Err() = %v, want ENXIO", err)
	}
}

func TestResponderClose(t *testing.T) {
	g := newRig(t, Options{})
	g.set(t, svc4)
	if err := g.r.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.r.Done():
	default:
		t.Fatal("Done open after Close")
	}
	if err := g.r.Err(); err != nil {
		t.Fatalf("Err() = %v after a clean Close", err)
	}
	if _, err := g.r.Set([]netip.Addr{svc4}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Set after Close: %v, want ErrClosed", err)
	}
	if err := g.r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
