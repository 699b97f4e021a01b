package alloc

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/labels"
)

// step is one call in a scenario: Allocate (default), Claim (claim set) or
// Release; with the expected assignment or error.
type step struct {
	svc     Service
	claim   []netip.Addr
	release bool
	want    Assignment
	wantErr []error  // every sentinel the error must wrap
	wantMsg []string // substrings of the error text
}

func runSteps(t *testing.T, a *Allocator, steps []step) {
	t.Helper()
	for i, s := range steps {
		var got Assignment
		var err error
		switch {
		case s.release:
			got, _ = a.Release(s.svc.Key)
		case s.claim != nil:
			got, err = a.Claim(s.svc, s.claim)
		default:
			got, err = a.Allocate(s.svc)
		}
		if len(s.wantErr) > 0 {
			if err == nil {
				t.Fatalf("step %d (%v): got %v, want error %v", i, s.svc.Key, got, s.wantErr)
			}
			for _, want := range s.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("step %d (%v): error %q does not wrap %q", i, s.svc.Key, err, want)
				}
			}
			for _, sub := range s.wantMsg {
				if !strings.Contains(err.Error(), sub) {
					t.Errorf("step %d (%v): error %q lacks %q", i, s.svc.Key, err, sub)
				}
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d (%v): %v", i, s.svc.Key, err)
		}
		if diff := cmp.Diff(s.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Fatalf("step %d (%v) (-want +got):\n%s", i, s.svc.Key, diff)
		}
	}
}

func with(s Service, f func(*Service)) Service { f(&s); return s }

func as(pool string, addrs ...string) Assignment { return Assignment{Pool: pool, IPs: ips(addrs...)} }

func TestAllocationRules(t *testing.T) {
	p := func(name string, f func(*Pool), specs ...string) Pool {
		pl := pool(t, name, specs...)
		if f != nil {
			f(&pl)
		}
		return pl
	}
	manual := func(p *Pool) { p.AutoAssign = false }
	alloc := func(prio int, ns []string, nsSel, svcSel string) func(*Pool) {
		return func(p *Pool) {
			p.Allocation = &ServiceAllocation{Priority: prio, Namespaces: ns}
			if nsSel != "" {
				p.Allocation.NamespaceSelectors = []labels.Selector{sel(t, nsSel)}
			}
			if svcSel != "" {
				p.Allocation.ServiceSelectors = []labels.Selector{sel(t, svcSel)}
			}
		}
	}
	a1, b1 := svc("ns", "a"), svc("ns", "b")
	tcp := func(ports ...int32) []Port {
		var out []Port
		for _, n := range ports {
			out = append(out, Port{Protocol: "TCP", Port: n})
		}
		return out
	}
	shared := func(s Service, key string, ports []Port) Service {
		s.SharingKey, s.Ports = key, ports
		return s
	}
	dual := func(s Service, pol FamilyPolicy, fams ...Family) Service {
		s.Policy, s.Families = pol, fams
		return s
	}

	tests := []struct {
		name  string
		pools []Pool
		steps []step
	}{
		{
			name:  "lowest free address, reused after release",
			pools: []Pool{p("p", nil, "10.0.0.0/30")},
			steps: []step{
				{svc: a1, want: as("p", "10.0.0.0")},
				{svc: b1, want: as("p", "10.0.0.1")},
				{svc: svc("ns", "c"), want: as("p", "10.0.0.2")},
				{svc: a1, release: true, want: as("p", "10.0.0.0")},
				{svc: svc("ns", "d"), want: as("p", "10.0.0.0")},
				{svc: a1, want: as("p", "10.0.0.3")},
				{svc: svc("ns", "e"), wantErr: []error{ErrPoolExhausted}, wantMsg: []string{`pool "p"`, "all 4 usable IPv4 addresses are in use", "ns/e"}},
			},
		},
		{
			name:  "avoidBuggyIPs skips .0 and .255 across /24s",
			pools: []Pool{p("p", func(p *Pool) { p.AvoidBuggyIPs = true }, "10.0.0.254-10.0.1.1")},
			steps: []step{
				{svc: a1, want: as("p", "10.0.0.254")},
				{svc: b1, want: as("p", "10.0.1.1")},
				{svc: svc("ns", "c"), wantErr: []error{ErrPoolExhausted}},
				{svc: with(svc("ns", "d"), func(s *Service) { s.RequestedIPs = ips("10.0.1.0") }),
					wantErr: []error{ErrIPNotInPool}, wantMsg: []string{"avoidBuggyIPs"}},
			},
		},
		{
			name:  "requested IP, in use, not in pool",
			pools: []Pool{p("p", nil, "10.0.0.0/24")},
			steps: []step{
				{svc: with(a1, func(s *Service) { s.RequestedIPs = ips("10.0.0.7") }), want: as("p", "10.0.0.7")},
				{svc: b1, want: as("p", "10.0.0.0")},
				{svc: with(svc("ns", "c"), func(s *Service) { s.RequestedIPs = ips("10.0.0.7") }),
					wantErr: []error{ErrIPInUse}, wantMsg: []string{"10.0.0.7", "in use by ns/a"}},
				{svc: with(svc("ns", "c"), func(s *Service) { s.RequestedIPs = ips("192.168.0.1") }),
					wantErr: []error{ErrIPNotInPool}, wantMsg: []string{"192.168.0.1", "no address pool contains it"}},
				{svc: with(svc("ns", "c"), func(s *Service) { s.RequestedIPs = ips("10.0.0.1", "10.0.0.2") }),
					wantErr: []error{ErrInvalidRequest}, wantMsg: []string{"both IPv4"}},
			},
		},
		{
			name: "candidate order: pinned by priority, 0 last, ties by name, then autoAssign by name",
			pools: []Pool{
				p("a-plain", nil, "10.0.1.0/32"),
				p("z-prio0", alloc(0, []string{"ns"}, "", ""), "10.0.2.0/32"),
				p("m-prio5", alloc(5, []string{"ns"}, "", ""), "10.0.3.0/32"),
				p("k-prio5", alloc(5, nil, "team=x", ""), "10.0.4.0/32"),
				p("b-prio1", alloc(1, nil, "", "app=web"), "10.0.5.0/32"),
				p("c-manual", func(p *Pool) { alloc(1, []string{"ns"}, "", "")(p); manual(p) }, "10.0.6.0/32"),
				p("d-other", alloc(1, []string{"elsewhere"}, "", ""), "10.0.7.0/32"),
				p("e-manual", manual, "10.0.8.0/32"),
			},
			steps: []step{
				{svc: with(svc("ns", "1"), func(s *Service) { s.Labels = labels.Set{"app": "web"}; s.NamespaceLabels = labels.Set{"team": "x"} }), want: as("b-prio1", "10.0.5.0")},
				{svc: with(svc("ns", "2"), func(s *Service) { s.NamespaceLabels = labels.Set{"team": "x"} }), want: as("k-prio5", "10.0.4.0")},
				{svc: svc("ns", "3"), want: as("m-prio5", "10.0.3.0")},
				{svc: svc("ns", "4"), want: as("z-prio0", "10.0.2.0")},
				{svc: svc("ns", "5"), want: as("a-plain", "10.0.1.0")},
				{svc: svc("ns", "6"), wantErr: []error{ErrPoolExhausted}, wantMsg: []string{`pool "z-prio0"`, `pool "a-plain"`}},
				{svc: svc("other", "1"), wantErr: []error{ErrPoolExhausted}, wantMsg: []string{`pool "a-plain": no free address`,
					`not tried: pools "c-manual", "e-manual" have autoAssign: false`, `pool "d-other"`, `namespace "other"`}},
			},
		},
		{
			name:  "no pool admits the namespace",
			pools: []Pool{p("x", alloc(0, []string{"prod"}, "", ""), "10.0.0.0/30"), p("y", alloc(0, nil, "env=prod", ""), "10.0.1.0/30")},
			steps: []step{
				{svc: with(a1, func(s *Service) { s.NamespaceLabels = labels.Set{"env": "dev"} }), wantErr: []error{ErrNoPool},
					wantMsg: []string{`ns/a: no address pool can serve the service`, `pool "x"`, `namespace "ns" is not among its namespaces [prod]`, `pool "y"`, `env=dev`}},
				{svc: with(a1, func(s *Service) { s.NamespaceLabels = labels.Set{"env": "prod"} }), want: as("y", "10.0.1.0")},
			},
		},
		{
			name:  "no pools at all",
			steps: []step{{svc: a1, wantErr: []error{ErrNoPool}, wantMsg: []string{"no address pools are configured"}}},
		},
		{
			name:  "autoAssign=false only by request",
			pools: []Pool{p("manual", manual, "10.0.0.0/30")},
			steps: []step{
				{svc: a1, wantErr: []error{ErrNoPool}},
				{svc: with(a1, func(s *Service) { s.RequestedPool = "manual" }), want: as("manual", "10.0.0.0")},
				{svc: with(b1, func(s *Service) { s.RequestedIPs = ips("10.0.0.2") }), want: as("manual", "10.0.0.2")},
				{svc: with(svc("ns", "c"), func(s *Service) { s.RequestedPool = "nope" }), wantErr: []error{ErrUnknownPool}, wantMsg: []string{`"nope"`}},
			},
		},
		{
			name: "a pool that does not admit the service is not used even when requested",
			pools: []Pool{
				p("web", alloc(0, nil, "", "app=web"), "10.0.0.0/30"),
				p("fallback", nil, "10.0.1.0/30"),
			},
			steps: []step{
				{svc: with(a1, func(s *Service) { s.RequestedPool = "web" }), wantErr: []error{ErrNotAdmitted}, wantMsg: []string{"serviceSelectors"}},
				{svc: with(a1, func(s *Service) { s.RequestedIPs = ips("10.0.0.1") }), wantErr: []error{ErrNotAdmitted}},
				{svc: a1, want: as("fallback", "10.0.1.0")},
				{svc: with(b1, func(s *Service) { s.Labels = labels.Set{"app": "web"} }), want: as("web", "10.0.0.0")},
			},
		},
		{
			name:  "requested pool with requested IP elsewhere",
			pools: []Pool{p("x", nil, "10.0.0.0/30"), p("y", nil, "10.0.1.0/30")},
			steps: []step{
				{svc: with(a1, func(s *Service) { s.RequestedPool = "y"; s.RequestedIPs = ips("10.0.0.1") }),
					wantErr: []error{ErrIPNotInPool}, wantMsg: []string{`in pool "x", not in the requested pool "y"`}},
				{svc: with(a1, func(s *Service) { s.RequestedPool = "y" }), want: as("y", "10.0.1.0")},
			},
		},
		{
			name:  "sharing: same key, disjoint ports share the lowest IP",
			pools: []Pool{p("p", nil, "10.0.0.0/29")},
			steps: []step{
				{svc: shared(a1, "k", tcp(80)), want: as("p", "10.0.0.0")},
				{svc: shared(b1, "k", []Port{{Protocol: "UDP", Port: 80}}), want: as("p", "10.0.0.0")},
				{svc: shared(svc("ns", "c"), "k", tcp(80)), want: as("p", "10.0.0.1")},
				{svc: shared(svc("ns", "d"), "k", tcp(443)), want: as("p", "10.0.0.0")},
				{svc: shared(svc("ns", "e"), "other", tcp(22)), want: as("p", "10.0.0.2")},
				{svc: svc("ns", "f"), want: as("p", "10.0.0.3")},
			},
		},
		{
			name:  "sharing: requested IP rules and reasons",
			pools: []Pool{p("p", nil, "10.0.0.0/29")},
			steps: []step{
				{svc: with(shared(a1, "k", tcp(80, 443)), func(s *Service) { s.RequestedIPs = ips("10.0.0.5") }), want: as("p", "10.0.0.5")},
				{svc: with(shared(b1, "k", tcp(443)), func(s *Service) { s.RequestedIPs = ips("10.0.0.5") }),
					wantErr: []error{ErrIPInUse, ErrSharingIncompatible}, wantMsg: []string{"TCP/443 also used by ns/a"}},
				{svc: with(shared(b1, "k2", tcp(22)), func(s *Service) { s.RequestedIPs = ips("10.0.0.5") }),
					wantErr: []error{ErrIPInUse, ErrSharingIncompatible}, wantMsg: []string{`key "k2" differs from their key "k"`}},
				{svc: with(shared(b1, "", tcp(22)), func(s *Service) { s.RequestedIPs = ips("10.0.0.5") }),
					wantErr: []error{ErrIPInUse}, wantMsg: []string{"this service has no allow-shared-ip key"}},
				{svc: with(shared(b1, "k", tcp(22)), func(s *Service) { s.RequestedIPs = ips("10.0.0.5"); s.LocalTraffic = true; s.Backend = "app=x" }),
					wantErr: []error{ErrSharingIncompatible}, wantMsg: []string{"externalTrafficPolicy Local", "externalTrafficPolicy Cluster"}},
				{svc: with(shared(b1, "k", tcp(22)), func(s *Service) { s.RequestedIPs = ips("10.0.0.5") }), want: as("p", "10.0.0.5")},
				{svc: with(svc("ns", "c"), func(s *Service) { s.RequestedIPs = ips("10.0.0.6") }), want: as("p", "10.0.0.6")},
				{svc: with(shared(svc("ns", "d"), "k", tcp(1)), func(s *Service) { s.RequestedIPs = ips("10.0.0.6") }),
					wantErr: []error{ErrIPInUse}, wantMsg: []string{"ns/c, which does not allow sharing"}},
			},
		},
		{
			name:  "sharing: Local needs the same backend",
			pools: []Pool{p("p", nil, "10.0.0.0/29")},
			steps: []step{
				{svc: with(shared(a1, "k", tcp(80)), func(s *Service) { s.LocalTraffic = true; s.Backend = "app=x" }), want: as("p", "10.0.0.0")},
				{svc: with(shared(b1, "k", tcp(81)), func(s *Service) { s.LocalTraffic = true; s.Backend = "app=x" }), want: as("p", "10.0.0.0")},
				{svc: with(shared(svc("ns", "c"), "k", tcp(82)), func(s *Service) { s.LocalTraffic = true; s.Backend = "app=y" }), want: as("p", "10.0.0.1")},
				{svc: shared(svc("ns", "d"), "k", tcp(83)), want: as("p", "10.0.0.2")},
			},
		},
		{
			name:  "dual-stack: both families from one pool, policies",
			pools: []Pool{p("v4only", nil, "10.0.0.0/30"), p("w-dual", nil, "10.0.1.0/30", "2001:db8::/64"), p("z-v6", nil, "2001:db8:1::/126")},
			steps: []step{
				{svc: dual(a1, RequireDualStack, IPv4, IPv6), want: as("w-dual", "10.0.1.0", "2001:db8::")},
				{svc: dual(b1, PreferDualStack, IPv6, IPv4), want: as("w-dual", "2001:db8::1", "10.0.1.1")},
				{svc: dual(svc("ns", "c"), SingleStack, IPv6), want: as("w-dual", "2001:db8::2")},
				{svc: dual(svc("ns", "d"), SingleStack), want: as("v4only", "10.0.0.0")},
				{svc: with(dual(svc("ns", "e"), RequireDualStack, IPv4, IPv6), func(s *Service) { s.RequestedIPs = ips("2001:db8::99", "10.0.1.3") }),
					want: as("w-dual", "10.0.1.3", "2001:db8::99")},
				{svc: with(dual(svc("ns", "f"), RequireDualStack, IPv4, IPv6), func(s *Service) { s.RequestedIPs = ips("10.0.0.3") }),
					wantErr: []error{ErrInvalidRequest}, wantMsg: []string{"RequireDualStack"}},
				{svc: with(dual(svc("ns", "f"), RequireDualStack, IPv4, IPv6), func(s *Service) { s.RequestedIPs = ips("10.0.0.3", "2001:db8::5") }),
					wantErr: []error{ErrInvalidRequest}, wantMsg: []string{"different pools"}},
				{svc: with(dual(svc("ns", "f"), SingleStack, IPv4), func(s *Service) { s.RequestedIPs = ips("2001:db8::5") }),
					wantErr: []error{ErrInvalidRequest}},
				{svc: with(dual(svc("ns", "f"), RequireDualStack, IPv4, IPv6), func(s *Service) { s.RequestedPool = "v4only" }),
					wantErr: []error{ErrFamilyUnavailable}, wantMsg: []string{`pool "v4only"`, "no IPv6 addresses", "both IPv4 and IPv6"}},
				{svc: with(svc("ns", "f2"), func(s *Service) { s.RequestedPool = "w-dual" }), want: as("w-dual", "10.0.1.2")},
				// w-dual's IPv4 is now full (10.0.1.0-3): Require fails everywhere,
				// Prefer falls back to the primary family, then the secondary.
				{svc: dual(svc("ns", "g"), RequireDualStack, IPv4, IPv6), wantErr: []error{ErrPoolExhausted, ErrFamilyUnavailable}},
				{svc: dual(svc("ns", "h"), PreferDualStack, IPv4, IPv6), want: as("v4only", "10.0.0.1")},
				{svc: dual(svc("ns", "i"), PreferDualStack, IPv6, IPv4), want: as("w-dual", "2001:db8::3")},
			},
		},
		{
			name:  "claim keeps status IPs and refuses conflicts",
			pools: []Pool{p("p", nil, "10.0.0.0/29"), p("q", manual, "10.0.1.0/29")},
			steps: []step{
				{svc: a1, claim: ips("10.0.0.4"), want: as("p", "10.0.0.4")},
				{svc: b1, claim: ips("10.0.0.4"), wantErr: []error{ErrIPInUse}},
				{svc: b1, claim: ips("10.0.1.3"), want: as("q", "10.0.1.3")},
				{svc: svc("ns", "c"), claim: ips("10.9.0.1"), wantErr: []error{ErrIPNotInPool}},
				{svc: with(svc("ns", "c"), func(s *Service) { s.RequestedIPs = ips("10.0.0.1") }), claim: ips("10.0.0.2"),
					wantErr: []error{ErrInvalidRequest}, wantMsg: []string{"not the requested IPs"}},
				{svc: a1, want: as("p", "10.0.0.4")}, // Allocate keeps a valid holding
				{svc: with(a1, func(s *Service) { s.RequestedPool = "q" }), want: as("q", "10.0.1.0")},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runSteps(t, newAlloc(t, tt.pools...), tt.steps)
		})
	}
}

// Huge IPv6 pools: claims at the far end and allocations at the start of a
// /48 cost nothing extra, and the counts stay exact.
func TestHugeIPv6Pool(t *testing.T) {
	a := newAlloc(t, pool(t, "big", "2001:db8:1::/48"))
	v6 := func(s Service) Service { s.Families = []Family{IPv6}; return s }
	last := netip.MustParseAddr("2001:db8:1:ffff:ffff:ffff:ffff:ffff")
	runSteps(t, a, []step{
		{svc: v6(svc("ns", "far")), claim: []netip.Addr{last}, want: Assignment{"big", []netip.Addr{last}}},
		{svc: v6(svc("ns", "a")), want: as("big", "2001:db8:1::")},
		{svc: v6(svc("ns", "b")), want: as("big", "2001:db8:1::1")},
		{svc: with(v6(svc("ns", "mid")), func(s *Service) { s.RequestedIPs = ips("2001:db8:1:8000::2") }), want: as("big", "2001:db8:1:8000::2")},
		{svc: svc("ns", "a"), release: true, want: as("big", "2001:db8:1::")},
		{svc: v6(svc("ns", "c")), want: as("big", "2001:db8:1::")},
	})
	st := a.Stats()[0].IPv6
	if st.Assigned != 4 || st.Capacity.String() != "1208925819614629174706176" || st.Available.String() != "1208925819614629174706172" {
		t.Errorf("stats %+v (%v, %v)", st, st.Capacity, st.Available)
	}
	checkInvariants(t, a)
}

// A pool whose IPv4 ranges hold only avoided addresses still owns them: a
// request for one names the pool and the reason instead of crashing.
func TestPoolOfOnlyAvoidedAddresses(t *testing.T) {
	p := pool(t, "edge", "10.0.0.255-10.0.1.0")
	p.AvoidBuggyIPs = true
	a := newAlloc(t, p)
	runSteps(t, a, []step{
		{svc: svc("ns", "a"), claim: ips("10.0.1.0"), wantErr: []error{ErrIPNotInPool}, wantMsg: []string{`pool "edge" avoids`}},
		{svc: svc("ns", "a"), wantErr: []error{ErrFamilyUnavailable}, wantMsg: []string{"no IPv4 addresses"}},
	})
}
