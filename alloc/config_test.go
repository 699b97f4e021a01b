package alloc

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/labels"
)

var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestSetPoolsKeepsOrEvicts(t *testing.T) {
	base := []Pool{pool(t, "a", "10.0.0.0/24"), pool(t, "b", "10.0.1.0/24", "2001:db8::/64")}
	setup := func(t *testing.T) *Allocator {
		a := newAlloc(t, base...)
		mustAllocate(t, a, with(svc("ns", "x"), func(s *Service) { s.RequestedIPs = ips("10.0.0.200") }))
		mustAllocate(t, a, with(svc("ns", "y"), func(s *Service) { s.RequestedPool = "b"; s.Labels = labels.Set{"app": "y"} }))
		mustAllocate(t, a, with(svc("ns", "z"), func(s *Service) { s.RequestedIPs = ips("10.0.0.0") }))
		mustAllocate(t, a, with(svc("ns", "d"), func(s *Service) {
			s.RequestedPool = "b"
			s.Policy, s.Families = RequireDualStack, []Family{IPv4, IPv6}
		}))
		return a
	}
	type evict struct {
		Service  ServiceKey
		Sentinel error
	}
	tests := []struct {
		name   string
		pools  []Pool
		evicts []evict
		keep   map[string]Assignment
	}{
		{name: "same config keeps everything", pools: base,
			keep: map[string]Assignment{"x": as("a", "10.0.0.200"), "y": as("b", "10.0.1.0"), "z": as("a", "10.0.0.0"), "d": as("b", "10.0.1.1", "2001:db8::")}},
		{name: "shrink evicts only what left the pool",
			pools:  []Pool{pool(t, "a", "10.0.0.0/25"), pool(t, "b", "10.0.1.0/24")},
			evicts: []evict{{ServiceKey{"ns", "d"}, ErrIPNotInPool}, {ServiceKey{"ns", "x"}, ErrIPNotInPool}},
			keep:   map[string]Assignment{"y": as("b", "10.0.1.0"), "z": as("a", "10.0.0.0")}},
		{name: "avoidBuggyIPs turned on evicts .0",
			pools:  []Pool{func() Pool { p := pool(t, "a", "10.0.0.0/24"); p.AvoidBuggyIPs = true; return p }(), base[1]},
			evicts: []evict{{ServiceKey{"ns", "z"}, ErrIPNotInPool}},
			keep:   map[string]Assignment{"x": as("a", "10.0.0.200")}},
		{name: "selector change evicts the services it no longer admits",
			pools: []Pool{base[0], func() Pool {
				p := base[1]
				p.Allocation = &ServiceAllocation{ServiceSelectors: []labels.Selector{sel(t, "app=y")}}
				return p
			}()},
			evicts: []evict{{ServiceKey{"ns", "d"}, ErrNotAdmitted}},
			keep:   map[string]Assignment{"y": as("b", "10.0.1.0")}},
		{name: "autoAssign off and priority changes move nothing",
			pools: []Pool{func() Pool {
				p := base[0]
				p.AutoAssign = false
				p.Allocation = &ServiceAllocation{Priority: 3}
				return p
			}(), base[1]},
			keep: map[string]Assignment{"x": as("a", "10.0.0.200"), "z": as("a", "10.0.0.0")}},
		{name: "rename keeps IPs unless the old name was requested",
			pools:  []Pool{pool(t, "a2", "10.0.0.0/24"), pool(t, "b2", "10.0.1.0/24", "2001:db8::/64")},
			evicts: []evict{{ServiceKey{"ns", "d"}, ErrIPNotInPool}, {ServiceKey{"ns", "y"}, ErrIPNotInPool}},
			keep:   map[string]Assignment{"x": as("a2", "10.0.0.200"), "z": as("a2", "10.0.0.0")}},
		{name: "pool deleted",
			pools:  []Pool{base[1]},
			evicts: []evict{{ServiceKey{"ns", "x"}, ErrIPNotInPool}, {ServiceKey{"ns", "z"}, ErrIPNotInPool}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := setup(t)
			got, err := a.SetPools(tt.pools)
			if err != nil {
				t.Fatal(err)
			}
			var gotEv []evict
			for _, r := range got {
				var s error
				for _, e := range []error{ErrIPNotInPool, ErrNotAdmitted} {
					if errors.Is(r.Err, e) {
						s = e
					}
				}
				gotEv = append(gotEv, evict{r.Service, s})
				if _, held := a.Assignment(r.Service); held {
					t.Errorf("%v evicted but still held", r.Service)
				}
			}
			if diff := cmp.Diff(tt.evicts, gotEv, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
				t.Errorf("evictions (-want +got):\n%s", diff)
			}
			for name, want := range tt.keep {
				got, ok := a.Assignment(ServiceKey{"ns", name})
				if !ok {
					t.Errorf("%s lost its IPs", name)
				}
				if diff := cmp.Diff(want, got, addrCmp); diff != "" {
					t.Errorf("%s (-want +got):\n%s", name, diff)
				}
			}
			checkInvariants(t, a)
		})
	}
}

func TestSetPoolsRefusesBadPools(t *testing.T) {
	tests := []struct {
		name  string
		pools []Pool
		want  error
		msg   string
	}{
		{"overlap", []Pool{pool(t, "a", "10.0.0.0/24"), pool(t, "b", "10.0.0.128/25")}, ErrOverlappingPools, `pools "a" and "b" both contain 10.0.0.128`},
		{"overlap v6", []Pool{pool(t, "a", "2001:db8::/64"), pool(t, "b", "2001:db8::5-2001:db8::9")}, ErrOverlappingPools, "2001:db8::5"},
		{"duplicate name", []Pool{pool(t, "a", "10.0.0.0/24"), pool(t, "a", "10.0.1.0/24")}, ErrInvalidPool, "two pools are named"},
		{"no name", []Pool{pool(t, "", "10.0.0.0/24")}, ErrInvalidPool, "no name"},
		{"backwards range", []Pool{{Name: "a", Ranges: []Range{{First: netip.MustParseAddr("10.0.0.9"), Last: netip.MustParseAddr("10.0.0.1")}}}}, ErrInvalidPool, "ends before it starts"},
	}
	for _, tt := range tests {
		a := newAlloc(t, pool(t, "keep", "192.168.0.0/24"))
		mustAllocate(t, a, svc("ns", "s"))
		_, err := a.SetPools(tt.pools)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: got %v, want %v containing %q", tt.name, err, tt.want, tt.msg)
		}
		if got, ok := a.Assignment(ServiceKey{"ns", "s"}); !ok || got.Pool != "keep" {
			t.Errorf("%s: refused config changed state: %v", tt.name, got)
		}
	}
}

func TestRestoreIsDeterministic(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(name, key string, age int, port int32, ip ...string) Claim {
		s := svc("ns", name)
		s.SharingKey = key
		s.Ports = []Port{{Port: port}}
		return Claim{Service: s, IPs: ips(ip...), Created: t0.Add(time.Duration(age) * time.Hour)}
	}
	claims := []Claim{
		mk("young", "", 5, 80, "10.0.0.1"),
		mk("old", "", 1, 80, "10.0.0.1"),
		mk("tie-b", "", 2, 80, "10.0.0.2"),
		mk("tie-a", "", 2, 80, "10.0.0.2"),
		mk("share1", "k", 3, 80, "10.0.0.3"),
		mk("share2", "k", 4, 81, "10.0.0.3"),
		mk("share3", "k", 6, 81, "10.0.0.3"),
		mk("outside", "", 0, 80, "10.9.9.9"),
	}
	want := []string{"outside", "tie-b", "young", "share3"}
	for perm := 0; perm < 20; perm++ {
		shuffled := make([]Claim, len(claims))
		for i := range claims {
			shuffled[(i*7+perm*3)%len(claims)] = claims[i]
		}
		a := newAlloc(t, pool(t, "p", "10.0.0.0/24"))
		rej := a.Restore(shuffled)
		var got []string
		for _, r := range rej {
			got = append(got, r.Service.Name)
			if r.Err == nil {
				t.Fatal("rejection without reason")
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("perm %d rejected (-want +got):\n%s", perm, diff)
		}
		if u := a.Users(netip.MustParseAddr("10.0.0.3")); len(u) != 2 {
			t.Fatalf("shared IP users %v", u)
		}
		if !errors.Is(rej[2].Err, ErrIPInUse) || !strings.Contains(rej[2].Err.Error(), "in use by ns/old") {
			t.Fatalf("young's reason: %v", rej[2].Err)
		}
	}
}

func TestStats(t *testing.T) {
	p := pool(t, "p", "10.0.0.0/24", "2001:db8::/64")
	p.AvoidBuggyIPs = true
	a := newAlloc(t, p)
	mustAllocate(t, a, with(svc("ns", "a"), func(s *Service) { s.Policy, s.Families = RequireDualStack, []Family{IPv4, IPv6} }))
	mustAllocate(t, a, with(svc("ns", "b"), func(s *Service) { s.SharingKey = "k"; s.Ports = []Port{{Port: 1}} }))
	mustAllocate(t, a, with(svc("ns", "c"), func(s *Service) { s.SharingKey = "k"; s.Ports = []Port{{Port: 2}} }))
	got := a.Stats()
	want := []PoolStats{{
		Pool:     "p",
		IPv4:     FamilyStats{Capacity: CountOf(254), Assigned: 2, Available: CountOf(252)},
		IPv6:     FamilyStats{Capacity: Count{u128{1, 0}}, Assigned: 1, Available: Count{u128{0, ^uint64(0)}}},
		Services: 3,
	}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(Count{}, u128{})); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if s := got[0].IPv6.Available.String(); s != "18446744073709551615" {
		t.Errorf("available v6 = %s", s)
	}
}
