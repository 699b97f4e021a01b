package alloc

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time. The benchmarks report it
// beside wall time because the shared 2-core machines they run on are often
// oversubscribed, which inflates wall time but not CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// phaseClock accumulates wall and CPU time of the alloc and release phases.
type phaseClock struct {
	wall, cpu [2]time.Duration
	t0        [2]time.Time
	cs        [2]time.Duration
}

func (p *phaseClock) start(i int) { p.t0[i], p.cs[i] = time.Now(), cpuTime() }
func (p *phaseClock) stop(i int) {
	p.wall[i] += time.Since(p.t0[i])
	p.cpu[i] += cpuTime() - p.cs[i]
}

func (p *phaseClock) report(b *testing.B, n int) {
	ops := float64(b.N * n)
	b.ReportMetric(float64(p.wall[0].Nanoseconds())/ops, "ns/alloc")
	b.ReportMetric(float64(p.wall[1].Nanoseconds())/ops, "ns/release")
	b.ReportMetric(float64(p.cpu[0].Nanoseconds())/ops, "cpu-ns/alloc")
	b.ReportMetric(float64(p.cpu[1].Nanoseconds())/ops, "cpu-ns/release")
}

// linearAllocator is the benchmark baseline: MetalLB's algorithm. To
// allocate, it walks the pool from its first address, skipping avoided
// ones, and checks each against the set of used addresses; release deletes
// from that set. (MetalLB additionally builds an error for every taken
// address it passes, so it is slower still.)
type linearAllocator struct {
	ranges     []Range
	avoidBuggy bool
	used       map[netip.Addr]ServiceKey
	bySvc      map[ServiceKey]netip.Addr
}

func newLinear(p Pool) *linearAllocator {
	return &linearAllocator{ranges: p.Ranges, avoidBuggy: p.AvoidBuggyIPs,
		used: map[netip.Addr]ServiceKey{}, bySvc: map[ServiceKey]netip.Addr{}}
}

func (l *linearAllocator) allocate(k ServiceKey) (netip.Addr, bool) {
	for _, r := range l.ranges {
		for ip := r.First; ; ip = ip.Next() {
			b := ip.As4()
			if !(l.avoidBuggy && (b[3] == 0 || b[3] == 255)) {
				if _, taken := l.used[ip]; !taken {
					l.used[ip] = k
					l.bySvc[k] = ip
					return ip, true
				}
			}
			if ip == r.Last {
				break
			}
		}
	}
	return netip.Addr{}, false
}

func (l *linearAllocator) release(k ServiceKey) {
	delete(l.used, l.bySvc[k])
	delete(l.bySvc, k)
}

type benchPool struct {
	name string
	pool func(testing.TB) Pool
}

var benchPools = []benchPool{
	{"slash15", func(t testing.TB) Pool { return pool(t, "p", "10.0.0.0/15") }},
	{"10ranges", func(t testing.TB) Pool {
		// Ten ranges of 40 /24s each (10,160 usable with avoidBuggyIPs),
		// each crossing /24 boundaries, so every allocation maps ordinals
		// through the range table and the .0/.255 arithmetic.
		var specs []string
		for i := range 10 {
			specs = append(specs, fmt.Sprintf("10.%d.0.0-10.%d.39.255", i, i))
		}
		p := pool(t, "p", specs...)
		p.AvoidBuggyIPs = true
		return p
	}},
}

var benchSizes = []int{1_000, 10_000, 100_000}

// linearMax bounds the quadratic baseline: 100k services take it minutes.
// Set HERALD_BENCH_LINEAR_MAX=100000 to run it anyway.
func linearMax() int {
	if v := os.Getenv("HERALD_BENCH_LINEAR_MAX"); v != "" {
		var n int
		fmt.Sscan(v, &n)
		return n
	}
	return 10_000
}

func benchServices(n int) []Service {
	out := make([]Service, n)
	for i := range out {
		out[i] = Service{Key: ServiceKey{"bench", fmt.Sprint("svc-", i)}, Ports: []Port{{"TCP", 80}}}
	}
	return out
}

// releaseOrder is a fixed shuffle, so releases punch holes all over the
// used runs instead of peeling them from one end.
func releaseOrder(n int) []int {
	r := rand.New(rand.NewPCG(1, 2))
	return r.Perm(n)
}

// BenchmarkAllocate allocates n Services into one pool and releases them
// all (in shuffled order); one op is the whole cycle. ns/alloc and
// ns/release are the per-Service costs, comparable across n: flat means
// O(log n) or better per call.
func BenchmarkAllocate(b *testing.B) {
	for _, bp := range benchPools {
		for _, n := range benchSizes {
			svcs := benchServices(n)
			order := releaseOrder(n)
			b.Run(fmt.Sprintf("pool=%s/n=%d/impl=herald", bp.name, n), func(b *testing.B) {
				p := bp.pool(b)
				var clock phaseClock
				for b.Loop() {
					a := newAlloc(b, p)
					clock.start(0)
					for i := range svcs {
						if _, err := a.Allocate(svcs[i]); err != nil {
							b.Fatal(err)
						}
					}
					clock.stop(0)
					clock.start(1)
					for _, i := range order {
						a.Release(svcs[i].Key)
					}
					clock.stop(1)
				}
				clock.report(b, n)
			})
			if n > linearMax() {
				continue
			}
			b.Run(fmt.Sprintf("pool=%s/n=%d/impl=linear", bp.name, n), func(b *testing.B) {
				p := bp.pool(b)
				var clock phaseClock
				for b.Loop() {
					l := newLinear(p)
					clock.start(0)
					for i := range svcs {
						if _, ok := l.allocate(svcs[i].Key); !ok {
							b.Fatal("linear baseline exhausted")
						}
					}
					clock.stop(0)
					clock.start(1)
					for _, i := range order {
						l.release(svcs[i].Key)
					}
					clock.stop(1)
				}
				clock.report(b, n)
			})
		}
	}
}

// BenchmarkReleaseInAllocationOrder is BenchmarkAllocate's cycle with the
// Services released oldest first instead of at random: the same work per
// release, but the structures it reaches are mostly in cache. Set beside
// the shuffled figures, it separates the algorithm's growth from the
// memory hierarchy's.
func BenchmarkReleaseInAllocationOrder(b *testing.B) {
	for _, bp := range benchPools {
		for _, n := range benchSizes {
			svcs := benchServices(n)
			b.Run(fmt.Sprintf("pool=%s/n=%d", bp.name, n), func(b *testing.B) {
				p := bp.pool(b)
				var clock phaseClock
				for b.Loop() {
					a := newAlloc(b, p)
					clock.start(0)
					for i := range svcs {
						if _, err := a.Allocate(svcs[i]); err != nil {
							b.Fatal(err)
						}
					}
					clock.stop(0)
					clock.start(1)
					for i := range svcs {
						a.Release(svcs[i].Key)
					}
					clock.stop(1)
				}
				clock.report(b, n)
			})
		}
	}
}

// BenchmarkAllocateIPv6 shows a /64 costs what a /15 costs.
func BenchmarkAllocateIPv6(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		svcs := benchServices(n)
		for i := range svcs {
			svcs[i].Families = []Family{IPv6}
		}
		b.Run(fmt.Sprintf("pool=slash64/n=%d", n), func(b *testing.B) {
			p := pool(b, "p", "2001:db8::/64")
			var clock phaseClock
			for b.Loop() {
				a := newAlloc(b, p)
				clock.start(0)
				for i := range svcs {
					if _, err := a.Allocate(svcs[i]); err != nil {
						b.Fatal(err)
					}
				}
				clock.stop(0)
			}
			clock.report(b, n)
		})
	}
}

// TestLinearBaselineAgrees keeps the baseline honest: on a pool where only
// allocation order matters, it hands out what the allocator hands out.
func TestLinearBaselineAgrees(t *testing.T) {
	for _, bp := range benchPools {
		p := bp.pool(t)
		a, l := newAlloc(t, p), newLinear(p)
		svcs := benchServices(2_000)
		for i, s := range svcs {
			if i%3 == 2 {
				a.Release(svcs[i-1].Key)
				l.release(svcs[i-1].Key)
			}
			got := mustAllocate(t, a, s)
			want, _ := l.allocate(s.Key)
			if got.IPs[0] != want {
				t.Fatalf("%s: service %d: allocator %v, baseline %v", bp.name, i, got.IPs[0], want)
			}
		}
	}
}

// BenchmarkMapFloor is the cost of only the bookkeeping any allocator
// needs: one Go map insert and delete per Service, keyed by namespace/name,
// in the same order as BenchmarkAllocate. Its growth from 1k to 100k is
// memory-hierarchy growth, the floor under the allocator's own.
func BenchmarkMapFloor(b *testing.B) {
	for _, n := range benchSizes {
		svcs := benchServices(n)
		order := releaseOrder(n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			var clock phaseClock
			for b.Loop() {
				m := map[ServiceKey]netip.Addr{}
				clock.start(0)
				for i := range svcs {
					m[svcs[i].Key] = netip.Addr{}
				}
				clock.stop(0)
				clock.start(1)
				for _, i := range order {
					delete(m, svcs[i].Key)
				}
				clock.stop(1)
			}
			clock.report(b, n)
		})
	}
}
