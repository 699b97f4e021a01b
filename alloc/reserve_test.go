package alloc

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// A Service moved off an IP: while its status may still show the IP, the
// IP goes to no one else, not even when requested, and counts as assigned;
// the Service itself may take it back; once unreserved it is free again.
func TestReserveKeepsRevokedIPFromOthers(t *testing.T) {
	a := newAlloc(t, pool(t, "p", "10.0.0.1-10.0.0.3"))
	x, y, z := svc("ns", "x"), svc("ns", "y"), svc("ns", "z")
	if got := mustAllocate(t, a, x).IPs; !slices.Equal(got, ips("10.0.0.1")) {
		t.Fatalf("x got %v", got)
	}
	// x now asks for .3 explicitly: .1 is freed, and reserved for x.
	x.RequestedIPs = ips("10.0.0.3")
	mustAllocate(t, a, x)
	// .3 is x's now: skipped. 192.0.2.1 is in no pool: remembered.
	if got := resIPs(a.Reserve(x, ips("10.0.0.1", "10.0.0.3", "192.0.2.1"), 1)); !slices.Equal(got, ips("10.0.0.1", "192.0.2.1")) {
		t.Fatalf("Reserve reserved %v, want 10.0.0.1 and 192.0.2.1", got)
	}
	a.Unreserve(x.Key, res(1, ips("192.0.2.1")))
	if got := mustAllocate(t, a, y).IPs; !slices.Equal(got, ips("10.0.0.2")) {
		t.Fatalf("y got %v, want 10.0.0.2 (10.0.0.1 is reserved)", got)
	}
	_, err := a.Allocate(z)
	if !errors.Is(err, ErrPoolExhausted) {
		t.Fatalf("z: %v, want pool exhausted", err)
	}
	z.RequestedIPs = ips("10.0.0.1")
	_, err = a.Allocate(z)
	if !errors.Is(err, ErrIPInUse) || !strings.Contains(err.Error(), "ns/x") {
		t.Fatalf("z requesting the reserved IP: %v, want in use naming ns/x", err)
	}
	if st := a.Stats()[0].IPv4; st.Assigned != 3 || st.Available.Uint64() != 0 {
		t.Fatalf("stats %+v, want 3 assigned (one reserved), 0 available", st)
	}

	// A config change keeps the reservation.
	if _, err := a.SetPools([]Pool{pool(t, "renamed", "10.0.0.0/29")}); err != nil {
		t.Fatal(err)
	}
	if got := resIPs(a.Reserved(x.Key)); !slices.Equal(got, ips("10.0.0.1")) {
		t.Fatalf("after SetPools reserved %v", got)
	}

	// x changes its mind again: it may take its reserved IP back.
	x.RequestedIPs = ips("10.0.0.1")
	if got := mustAllocate(t, a, x).IPs; !slices.Equal(got, ips("10.0.0.1")) {
		t.Fatalf("x back to its reserved IP: %v", got)
	}
	if got := resIPs(a.Reserved(x.Key)); len(got) != 0 {
		t.Fatalf("reservation not consumed: %v", got)
	}
	// Releasing .3 and reserving it, then unreserving: z gets it.
	a.Reserve(x, ips("10.0.0.3"), 1)
	z.RequestedIPs = ips("10.0.0.3")
	if _, err := a.Allocate(z); !errors.Is(err, ErrIPInUse) {
		t.Fatalf("z: %v, want in use", err)
	}
	a.Unreserve(y.Key, res(1, ips("10.0.0.3"))) // not y's: ignored
	if _, err := a.Allocate(z); !errors.Is(err, ErrIPInUse) {
		t.Fatalf("z after someone else's Unreserve: %v, want in use", err)
	}
	a.Unreserve(x.Key, res(1, ips("10.0.0.3")))
	if got := mustAllocate(t, a, z).IPs; !slices.Equal(got, ips("10.0.0.3")) {
		t.Fatalf("z got %v after unreserve", got)
	}
	checkInvariants(t, a)
}

// Lowest free for the reserving Service counts its own reservation: a
// Service whose IP was reserved and that allocates again from its pool gets
// it back rather than moving.
func TestReservedIPIsLowestFreeForItsService(t *testing.T) {
	a := newAlloc(t, pool(t, "p", "10.0.0.1-10.0.0.4"))
	x := svc("ns", "x")
	mustAllocate(t, a, x)
	a.Release(x.Key)
	a.Reserve(x, ips("10.0.0.1"), 1)
	if got := mustAllocate(t, a, svc("ns", "y")).IPs; !slices.Equal(got, ips("10.0.0.2")) {
		t.Fatalf("y got %v", got)
	}
	if got := mustAllocate(t, a, x).IPs; !slices.Equal(got, ips("10.0.0.1")) {
		t.Fatalf("x got %v, want its reserved 10.0.0.1", got)
	}
	checkInvariants(t, a)
}

// A range removed and added back while the status may still show an IP
// of it: the reservation outlives the range.
func TestReservationSurvivesRangeRemovedAndRestored(t *testing.T) {
	a := newAlloc(t, pool(t, "p", "10.0.0.1-10.0.0.4"))
	x := svc("ns", "x")
	a.Reserve(x, []netip.Addr{netip.MustParseAddr("10.0.0.4")}, 1)
	if _, err := a.SetPools([]Pool{pool(t, "p", "10.0.0.1-10.0.0.3")}); err != nil {
		t.Fatal(err)
	}
	if got := resIPs(a.Reserved(x.Key)); !slices.Equal(got, ips("10.0.0.4")) {
		t.Fatalf("reserved %v after the range left, want 10.0.0.4 remembered", got)
	}
	if _, err := a.SetPools([]Pool{pool(t, "p", "10.0.0.1-10.0.0.4")}); err != nil {
		t.Fatal(err)
	}
	y := svc("ns", "y")
	y.RequestedIPs = ips("10.0.0.4")
	if _, err := a.Allocate(y); !errors.Is(err, ErrIPInUse) {
		t.Fatalf("y requesting 10.0.0.4 back in the pool: %v, want in use (x's status may show it)", err)
	}
	a.Unreserve(x.Key, res(1, ips("10.0.0.4")))
	if got := mustAllocate(t, a, y).IPs; !slices.Equal(got, ips("10.0.0.4")) {
		t.Fatalf("y got %v", got)
	}
	checkInvariants(t, a)
}

// A Service leaving a shared IP stays on it as a ghost: a newcomer must be
// able to share with it too, and when the last holder leaves, the IP is
// reserved rather than free.
func TestGhostOnSharedIP(t *testing.T) {
	a := newAlloc(t, pool(t, "p", "10.0.0.1-10.0.0.2"))
	shared := func(name string, port int32) Service {
		s := svc("ns", name)
		s.SharingKey, s.RequestedIPs, s.Ports = "k", ips("10.0.0.1"), []Port{{"TCP", port}}
		return s
	}
	x, b := shared("x", 80), shared("b", 443)
	mustAllocate(t, a, x)
	mustAllocate(t, a, b)
	// x moves to .2; its status still shows .1 with port 80.
	x.RequestedIPs = ips("10.0.0.2")
	mustAllocate(t, a, x)
	if got := resIPs(a.Reserve(x, ips("10.0.0.1"), 1)); !slices.Equal(got, ips("10.0.0.1")) {
		t.Fatalf("Reserve on a shared IP reserved %v", got)
	}
	if _, err := a.Allocate(shared("c", 80)); !errors.Is(err, ErrIPInUse) || !strings.Contains(err.Error(), "ns/x") {
		t.Fatalf("c on port 80 while x's status shows .1: %v, want refused naming ns/x", err)
	}
	mustAllocate(t, a, shared("d", 8080)) // compatible with b and x's ghost
	a.Release(b.Key)
	a.Release(ServiceKey{"ns", "d"})
	lone := svc("ns", "lone")
	lone.RequestedIPs = ips("10.0.0.1")
	if _, err := a.Allocate(lone); !errors.Is(err, ErrIPInUse) {
		t.Fatalf("lone on .1 with x's ghost the only one left: %v, want in use", err)
	}
	checkInvariants(t, a)
	a.Unreserve(x.Key, res(1, ips("10.0.0.1")))
	if got := mustAllocate(t, a, lone).IPs; !slices.Equal(got, ips("10.0.0.1")) {
		t.Fatalf("lone got %v", got)
	}
	checkInvariants(t, a)
}

// A ghost keeps newcomers out but never evicts: the Service holding the IP
// (here the winner of a restore conflict, with the loser's status still
// showing the IP) keeps it when it is allocated again.
func TestGhostNeverEvictsTheHolder(t *testing.T) {
	a := newAlloc(t, pool(t, "p", "10.0.0.1-10.0.0.4"))
	winner, loser := svc("ns", "winner"), svc("ns", "loser")
	if _, err := a.Claim(winner, ips("10.0.0.2")); err != nil {
		t.Fatal(err)
	}
	a.Reserve(loser, ips("10.0.0.2"), 1)
	if got := mustAllocate(t, a, winner).IPs; !slices.Equal(got, ips("10.0.0.2")) {
		t.Fatalf("winner moved to %v because of the loser's ghost", got)
	}
	if got := mustAllocate(t, a, loser).IPs; !slices.Equal(got, ips("10.0.0.1")) {
		t.Fatalf("loser got %v", got)
	}
	checkInvariants(t, a)
}

func res(gen uint64, ips []netip.Addr) []Reservation {
	out := make([]Reservation, len(ips))
	for i, ip := range ips {
		out[i] = Reservation{IP: ip, Gen: gen}
	}
	return out
}

func resIPs(rs []Reservation) []netip.Addr {
	var out []netip.Addr
	for _, r := range rs {
		out = append(out, r.IP)
	}
	return out
}

// An answer about an earlier reservation of an IP, taken back and reserved
// again since, frees nothing: the Service's status may show the IP again.
func TestUnreserveIgnoresAnEarlierGeneration(t *testing.T) {
	a := newAlloc(t, pool(t, "p", "10.0.0.1-10.0.0.2"))
	x, y := svc("ns", "x"), svc("ns", "y")
	mustAllocate(t, a, x)
	a.Release(x.Key)
	if got := a.Reserve(x, ips("10.0.0.1"), 7); !slices.Equal(got, res(7, ips("10.0.0.1"))) {
		t.Fatalf("Reserve = %v", got)
	}
	// x takes it back (its reservation goes with it), and loses it again.
	mustAllocate(t, a, x)
	a.Release(x.Key)
	a.Reserve(x, ips("10.0.0.1"), 9)
	if freed := a.Unreserve(x.Key, res(7, ips("10.0.0.1"))); len(freed) != 0 {
		t.Fatalf("the answer about generation 7 freed %v", freed)
	}
	if got := a.Reserved(x.Key); !slices.Equal(got, res(9, ips("10.0.0.1"))) {
		t.Fatalf("reserved %v, want 10.0.0.1 at generation 9", got)
	}
	if got := mustAllocate(t, a, y).IPs; !slices.Equal(got, ips("10.0.0.2")) {
		t.Fatalf("y got %v while 10.0.0.1 is reserved", got)
	}
	if freed := a.Unreserve(x.Key, res(9, ips("10.0.0.1"))); !slices.Equal(freed, ips("10.0.0.1")) {
		t.Fatalf("the answer about generation 9 freed %v", freed)
	}
	if got := a.Reserved(x.Key); len(got) != 0 {
		t.Fatalf("still reserved: %v", got)
	}
}
