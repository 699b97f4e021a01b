package alloc

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/labels"
	"pgregory.net/rapid"
)

// Small address slots for generated pools. Each IPv4 slot straddles a /24
// boundary (x.248 to x+1.7) so avoidBuggyIPs always has .255 and .0 to skip.
const slots = 6

func slotRange(t *rapid.T, fam Family, i int, label string) Range {
	off := rapid.IntRange(0, 15).Draw(t, label+"off")
	n := rapid.IntRange(1, 16-off).Draw(t, label+"len")
	var first netip.Addr
	if fam == IPv4 {
		first = netip.AddrFrom4([4]byte{10, 0, byte(2 * i), 248})
	} else {
		first = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(i)})
	}
	for range off {
		first = first.Next()
	}
	last := first
	for range n - 1 {
		last = last.Next()
	}
	return Range{First: first, Last: last}
}

var poolNames = []string{"a", "b", "c"}

func genPools(t *rapid.T) []Pool {
	var pools []Pool
	for _, name := range poolNames {
		if !rapid.Bool().Draw(t, "has_"+name) {
			continue
		}
		p := Pool{Name: name, AutoAssign: rapid.IntRange(0, 3).Draw(t, name+"auto") > 0, AvoidBuggyIPs: rapid.Bool().Draw(t, name+"buggy")}
		switch rapid.IntRange(0, 4).Draw(t, name+"alloc") {
		case 1:
			p.Allocation = &ServiceAllocation{Priority: rapid.IntRange(0, 2).Draw(t, name+"prio"), Namespaces: []string{"ns1"}}
		case 2:
			p.Allocation = &ServiceAllocation{Priority: rapid.IntRange(0, 2).Draw(t, name+"prio"), ServiceSelectors: []labels.Selector{labels.SelectorFromSet(labels.Set{"app": "x"})}}
		case 3:
			p.Allocation = &ServiceAllocation{Priority: rapid.IntRange(0, 2).Draw(t, name+"prio")}
		}
		pools = append(pools, p)
	}
	if len(pools) == 0 {
		return nil
	}
	for _, fam := range []Family{IPv4, IPv6} {
		for i := range slots {
			owner := rapid.IntRange(-1, len(pools)-1).Draw(t, fmt.Sprintf("slot%v%d", fam, i))
			if owner >= 0 {
				pools[owner].Ranges = append(pools[owner].Ranges, slotRange(t, fam, i, fmt.Sprintf("%v%d", fam, i)))
			}
		}
	}
	return pools
}

func genAddr(t *rapid.T, label string) netip.Addr {
	fam := rapid.SampledFrom([]Family{IPv4, IPv6}).Draw(t, label+"fam")
	i := rapid.IntRange(0, slots-1).Draw(t, label+"slot")
	return slotRange(t, fam, i, label).First
}

func genService(t *rapid.T) Service {
	s := Service{Key: ServiceKey{rapid.SampledFrom([]string{"ns1", "ns2"}).Draw(t, "ns"), fmt.Sprint("s", rapid.IntRange(0, 7).Draw(t, "name"))}}
	if rapid.Bool().Draw(t, "app") {
		s.Labels = labels.Set{"app": "x"}
	}
	s.SharingKey = rapid.SampledFrom([]string{"", "", "k", "j"}).Draw(t, "key")
	for _, p := range []Port{{"TCP", 80}, {"UDP", 80}, {"", 443}} {
		if rapid.Bool().Draw(t, "port") {
			s.Ports = append(s.Ports, p)
		}
	}
	s.LocalTraffic = rapid.IntRange(0, 3).Draw(t, "local") == 0
	s.Backend = rapid.SampledFrom([]string{"app=x", "app=y"}).Draw(t, "backend")
	s.Policy = rapid.SampledFrom([]FamilyPolicy{SingleStack, SingleStack, PreferDualStack, RequireDualStack}).Draw(t, "policy")
	switch rapid.IntRange(0, 3).Draw(t, "fams") {
	case 1:
		s.Families = []Family{IPv4, IPv6}
	case 2:
		s.Families = []Family{IPv6, IPv4}
	case 3:
		s.Families = []Family{IPv6}
	}
	switch rapid.IntRange(0, 5).Draw(t, "request") {
	case 0:
		s.RequestedIPs = []netip.Addr{genAddr(t, "req")}
	case 1:
		s.RequestedIPs = []netip.Addr{genAddr(t, "req1"), genAddr(t, "req2")}
	case 2:
		s.RequestedPool = rapid.SampledFrom(poolNames).Draw(t, "reqpool")
	}
	return s
}

func statsCmp() cmp.Option {
	return cmp.Options{cmp.AllowUnexported(Count{}, u128{}), cmpopts.EquateEmpty()}
}

// TestAllocatorMatchesModel drives the allocator and the linear-scan model
// with the same random calls and requires identical answers, identical
// usage counts and consistent internal indexes after every step.
func TestAllocatorMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, m := New(), newModel()
		// gen numbers reservations, as the controller does per term.
		var gen uint64
		pools := genPools(t)
		if _, err := a.SetPools(pools); err != nil {
			t.Fatalf("SetPools: %v", err)
		}
		m.setPools(pools)
		t.Repeat(map[string]func(*rapid.T){
			"allocate": func(t *rapid.T) {
				s := genService(t)
				before := snapshotGhosts(a, s.Key)
				got, err := a.Allocate(s)
				if err == nil {
					checkNoGhostOverrun(t, before, normalize(s), got.IPs)
				}
				want, ok := m.allocate(s)
				if (err == nil) != ok {
					t.Fatalf("Allocate(%+v): err %v, model ok=%v (%v)", s, err, ok, want)
				}
				if ok && !cmp.Equal(want, got, addrCmp) {
					t.Fatalf("Allocate(%+v) = %v, model %v", s, got, want)
				}
			},
			"claim": func(t *rapid.T) {
				s := genService(t)
				claim := []netip.Addr{genAddr(t, "c1")}
				if rapid.Bool().Draw(t, "two") {
					claim = append(claim, genAddr(t, "c2"))
				}
				before := snapshotGhosts(a, s.Key)
				got, err := a.Claim(s, claim)
				if err == nil {
					checkNoGhostOverrun(t, before, normalize(s), got.IPs)
				}
				want, ok := m.claim(s, claim)
				if (err == nil) != ok || (ok && !cmp.Equal(want, got, addrCmp)) {
					t.Fatalf("Claim(%+v, %v) = %v, %v; model %v %v", s, claim, got, err, want, ok)
				}
			},
			"release": func(t *rapid.T) {
				s := genService(t)
				_, held := a.Release(s.Key)
				_, mheld := m.held[s.Key]
				delete(m.held, s.Key)
				if held != mheld {
					t.Fatalf("Release(%v) = %v, model %v", s.Key, held, mheld)
				}
			},
			"reserve": func(t *rapid.T) {
				// What a Service held or was near: its own IPs (after a
				// release, the common case) or any address.
				s := genService(t)
				ips := []netip.Addr{genAddr(t, "r1")}
				if h, ok := a.Assignment(s.Key); ok && rapid.Bool().Draw(t, "own") {
					a.Release(s.Key)
					delete(m.held, s.Key)
					ips = h.IPs
				}
				gen++
				got := a.Reserve(s, ips, gen)
				want := m.reserve(s, ips, gen)
				if !cmp.Equal(want, got, addrCmp, cmpopts.EquateEmpty()) {
					t.Fatalf("Reserve(%v, %v) = %v, model %v", s.Key, ips, got, want)
				}
			},
			"leaveShared": func(t *rapid.T) {
				// A Service leaves an IP others still share, its status
				// still showing it: the case a ghost beside users is for.
				var sharers []*held
				for _, h := range a.sortedHeld() {
					if slices.ContainsFunc(h.ips, func(ip netip.Addr) bool { return len(a.ips[ip].users) > 1 }) {
						sharers = append(sharers, h)
					}
				}
				if len(sharers) == 0 {
					t.Skip("no shared IP")
				}
				h := rapid.SampledFrom(sharers).Draw(t, "leaver")
				s, ips := h.svc, slices.Clone(h.ips)
				a.Release(s.Key)
				delete(m.held, s.Key)
				gen++
				if got, want := a.Reserve(s, ips, gen), m.reserve(s, ips, gen); !cmp.Equal(want, got, addrCmp, cmpopts.EquateEmpty()) {
					t.Fatalf("Reserve(%v, %v) = %v, model %v", s.Key, ips, got, want)
				}
			},
			"unreserve": func(t *rapid.T) {
				s := genService(t)
				rs := a.Reserved(s.Key)
				if len(rs) > 0 && rapid.Bool().Draw(t, "stale") {
					// A late answer about an earlier reservation.
					rs[0].Gen--
				}
				if rapid.Bool().Draw(t, "any") {
					rs = append(rs, Reservation{IP: genAddr(t, "u1"), Gen: gen})
				}
				got, want := a.Unreserve(s.Key, rs), m.unreserve(s.Key, rs)
				if !cmp.Equal(want, got, addrCmp, cmpopts.EquateEmpty()) {
					t.Fatalf("Unreserve(%v, %v) freed %v, model %v", s.Key, rs, got, want)
				}
			},
			"setPools": func(t *rapid.T) {
				pools = genPools(t)
				ev, err := a.SetPools(pools)
				if err != nil {
					t.Fatalf("SetPools: %v", err)
				}
				var got []ServiceKey
				for _, r := range ev {
					got = append(got, r.Service)
				}
				if want := m.setPools(pools); !cmp.Equal(want, got) {
					t.Fatalf("SetPools evicted %v, model %v", got, want)
				}
			},
			"restart": func(t *rapid.T) {
				// A new allocator restoring every holding, in any order,
				// changes no IP.
				var claims []Claim
				for _, h := range a.sortedHeld() {
					claims = append(claims, Claim{Service: h.svc, IPs: h.ips, Created: time.Unix(int64(rapid.IntRange(0, 3).Draw(t, "age")), 0)})
				}
				perm := rapid.Permutation(claims).Draw(t, "order")
				b := New()
				if _, err := b.SetPools(pools); err != nil {
					t.Fatal(err)
				}
				if rej := b.Restore(perm); len(rej) != 0 {
					t.Fatalf("restore rejected %v", rej)
				}
				for _, h := range a.sortedHeld() {
					got, _ := b.Assignment(h.svc.Key)
					if !cmp.Equal(got, h.assignment(), addrCmp) {
						t.Fatalf("restart moved %v: %v -> %v", h.svc.Key, h.assignment(), got)
					}
				}
				checkInvariants(t, b)
			},
			"": func(t *rapid.T) {
				checkInvariants(t, a)
				if diff := cmp.Diff(m.stats(), a.Stats(), statsCmp()); diff != "" {
					t.Fatalf("stats differ from model (-model +allocator):\n%s", diff)
				}
				if len(a.services) != len(m.held) {
					t.Fatalf("%d services held, model %d", len(a.services), len(m.held))
				}
				for k, h := range m.held {
					got, _ := a.Assignment(k)
					if !cmp.Equal(Assignment{h.pool, h.ips}, got, addrCmp) {
						t.Fatalf("%v holds %v, model %v", k, got, h)
					}
				}
				for ip, ghosts := range m.ghosts {
					for _, g := range ghosts {
						if r, ok := a.reservation(g.Key, ip); !ok || r.Gen != m.gens[ghostOf{ip, g.Key}] {
							t.Fatalf("%v should be reserved for %v; allocator reserves %v for it", ip, g.Key, a.Reserved(g.Key))
						}
					}
				}
				for k, rs := range a.reserved {
					for _, r := range rs {
						if !m.hasGhost(r.IP, k) {
							t.Fatalf("%v reserved for %v, not in the model", r.IP, k)
						}
					}
				}
			},
		})
	})
}

// ghostView is, per IP, what the safety rule of Reserve needs: whether
// anyone held it, whether k did, and the ghosts of others on it.
type ghostView struct {
	users  int
	holdsK bool
	ghosts []Service
}

func snapshotGhosts(a *Allocator, k ServiceKey) map[netip.Addr]ghostView {
	out := map[netip.Addr]ghostView{}
	for ip, use := range a.ips {
		v := ghostView{users: len(use.users)}
		for _, u := range use.users {
			v.holdsK = v.holdsK || u.svc.Key == k
		}
		for _, g := range use.ghosts {
			if g.Key != k {
				v.ghosts = append(v.ghosts, *g)
			}
		}
		out[ip] = v
	}
	return out
}

// checkNoGhostOverrun is the safety rule of Reserve, stated on its own
// rather than through the model: an IP s did not hold before and holds
// now had no one else's ghost on it, or had users and every ghost could
// share with s.
func checkNoGhostOverrun(t *rapid.T, before map[netip.Addr]ghostView, s Service, got []netip.Addr) {
	t.Helper()
	for _, ip := range got {
		v := before[ip]
		if v.holdsK || len(v.ghosts) == 0 {
			continue
		}
		if v.users == 0 {
			t.Fatalf("%v given %v, reserved for %v", s.Key, ip, v.ghosts[0].Key)
		}
		for _, g := range v.ghosts {
			if !pairOK(g, s) {
				t.Fatalf("%v given %v beside %v's ghost, which it could not share with", s.Key, ip, g.Key)
			}
		}
	}
}

// Pools are kept across restarts in the test above; this checks the
// generated pools themselves are accepted (non-overlapping by construction).
func TestGeneratedPoolsAreValid(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pools := genPools(t)
		if _, err := New().SetPools(pools); err != nil {
			t.Fatal(err)
		}
		for _, p := range pools {
			if slices.ContainsFunc(p.Ranges, func(r Range) bool { return r.validate() != nil }) {
				t.Fatalf("invalid range in %v", p)
			}
		}
	})
}
