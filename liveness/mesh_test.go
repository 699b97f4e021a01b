package liveness

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// soak is set by HERALD_SOAK=1: TestMeshPartition and
// TestMeshCorrelatedFailure then run at the sizes design.md quotes (50
// speakers partitioned, 100 with a quarter failing) instead of the small
// ones go test uses. Their benchmarks run those sizes too.
func soak() bool { return os.Getenv("HERALD_SOAK") != "" }

// crashResult is what one crash experiment measured.
type crashResult struct {
	n, sessions int
	// BFD packets sent plus received per speaker per second, in the
	// steady state before the crashes: mean and largest.
	ppsMean, ppsMax float64
	// Reports received per speaker per crash.
	reports float64
	// detect: how long after each crash each other speaker counted the
	// victim dead, over every (crash, speaker) pair.
	detect stats
}

// crash brings up n speakers (every session starts at once and comes up
// within a few round trips, then polls its way to 100 ms), measures the
// steady state over a second, then crashes `crashes` speakers one after
// the other, a second apart and spread over the ring, and times each
// detection.
func crash(t testing.TB, seed uint64, n, crashes int, cfg Config) crashResult {
	s := newMeshSim(seed, n, cfg)
	s.run(time.Second)
	if err := s.allUp(); err != nil {
		t.Fatalf("n=%d: after 1 s: %v", n, err)
	}
	s.seedReports()
	s.run(1500 * time.Millisecond)
	c0 := s.counts()
	s.run(2500 * time.Millisecond)
	c1 := s.counts()
	res := crashResult{n: n, sessions: len(s.nodes[0].view.Sessions())}
	for i := range s.nodes {
		pps := float64(c1[i].sent + c1[i].recv - c0[i].sent - c0[i].recv)
		res.ppsMean += pps / float64(n)
		res.ppsMax = max(res.ppsMax, pps)
	}
	ring := Ring(names(n))
	killed := map[int]bool{}
	var ds []time.Duration
	var received uint64
	for k := range crashes {
		victim := s.byName[ring[(k*n/crashes+int(seed))%n]]
		s.watch, s.deadAt = victim, map[int]time.Duration{}
		before := s.counts()
		s.kill(victim)
		killed[victim] = true
		t0 := s.now
		s.run(t0 + time.Second)
		after := s.counts()
		for i := range s.nodes {
			if killed[i] {
				continue
			}
			at, ok := s.deadAt[i]
			if !ok {
				t.Fatalf("n=%d: %s never counted %s dead", n, s.nodes[i].name, s.nodes[victim].name)
			}
			ds = append(ds, at-t0)
			received += after[i].repRecv - before[i].repRecv
		}
		// Everyone else stays alive in everyone's view.
		for i, nd := range s.nodes {
			if killed[i] {
				continue
			}
			if got := len(nd.view.Alive()); got != n-len(killed) {
				t.Fatalf("n=%d: %s sees %d alive, want %d", n, nd.name, got, n-len(killed))
			}
		}
	}
	res.detect = statsOf(ds)
	res.reports = float64(received) / float64(len(ds))
	return res
}

// A crash at 10 and 100 speakers: 4 sessions per speaker whatever the
// size, about 91 packets per second each way together, and every speaker
// counts the victim dead within its watchers' Detection Time. The numbers
// of design.md come from BenchmarkMesh, which adds 1000 speakers and the
// full mesh at 100.
func TestMeshCrashDetection(t *testing.T) {
	for _, n := range []int{10, 100} {
		ring := crash(t, 1, n, 3, Config{Neighbors: 2})
		t.Logf("ring n=%d: %d sessions, %.0f pkt/s per speaker (max %.0f), %.1f reports received per speaker per crash, detection %v",
			n, ring.sessions, ring.ppsMean, ring.ppsMax, ring.reports, ring.detect)
		// 4 sessions, each sending and receiving a packet every 75 to
		// 100 ms: about 2 × 4 / 87.5 ms = 91 per second.
		if ring.sessions != 4 || ring.ppsMean < 80 || ring.ppsMean > 105 {
			t.Errorf("n=%d: %d sessions, %.0f pkt/s per speaker", n, ring.sessions, ring.ppsMean)
		}
		// Detection: the watchers' BFD Detection Time (300 ms after the
		// last packet, so 200 to 300 ms after the crash) and a report.
		if ring.detect.max > 320*time.Millisecond || ring.detect.min < 200*time.Millisecond {
			t.Errorf("n=%d: detection %v", n, ring.detect)
		}
	}
	full := crash(t, 1, 10, 3, Config{Neighbors: 10})
	t.Logf("full n=10: %d sessions, %.0f pkt/s per speaker, detection %v", full.sessions, full.ppsMean, full.detect)
	if full.sessions != 9 || full.ppsMean < 180 || full.ppsMean > 230 {
		t.Errorf("full mesh n=10: %d sessions, %.0f pkt/s", full.sessions, full.ppsMean)
	}
}

// BenchmarkMesh runs the crash experiment once per iteration and reports
// its measurements (go test -run '^$' -bench Mesh -benchtime 1x).
func BenchmarkMesh(b *testing.B) {
	for _, c := range []struct {
		name               string
		n, neighb, crashes int
	}{{"ring/10", 10, 2, 3}, {"ring/100", 100, 2, 10}, {"ring/1000", 1000, 2, 10}, {"full/10", 10, 10, 3}, {"full/100", 100, 100, 10}} {
		b.Run(c.name, func(b *testing.B) {
			var r crashResult
			for i := 0; b.Loop(); i++ {
				r = crash(b, uint64(i+1), c.n, c.crashes, Config{Neighbors: c.neighb})
			}
			b.ReportMetric(float64(r.sessions), "sessions")
			b.ReportMetric(r.ppsMean, "pkt/s/speaker")
			b.ReportMetric(r.ppsMax, "max-pkt/s/speaker")
			b.ReportMetric(r.reports, "reports/speaker/crash")
			b.ReportMetric(float64(r.detect.min)/1e6, "detect-min-ms")
			b.ReportMetric(float64(r.detect.median)/1e6, "detect-median-ms")
			b.ReportMetric(float64(r.detect.p99)/1e6, "detect-p99-ms")
			b.ReportMetric(float64(r.detect.max)/1e6, "detect-max-ms")
		})
	}
}

// settled brings n speakers up and seeds the reports (t = 1.5 s).
func settled(t testing.TB, n int, cfg Config) *meshSim {
	t.Helper()
	s := newMeshSim(7, n, cfg)
	s.run(time.Second)
	if err := s.allUp(); err != nil {
		t.Fatal(err)
	}
	s.seedReports()
	s.run(1500 * time.Millisecond)
	return s
}

// breakLinks drops the BFD packets between x and each of ws, both ways
// (reports still flow: the failure is on the BFD path only).
func (s *meshSim) breakLinks(x int, ws []int) {
	broken := map[[2]int]bool{}
	for _, w := range ws {
		broken[[2]int{x, w}], broken[[2]int{w, x}] = true, true
	}
	s.linkDown = func(a, b int) bool { return broken[[2]int{a, b}] }
}

// deadIn lists the speakers that count name dead.
func (s *meshSim) deadIn(name string) []string {
	var out []string
	for _, nd := range s.nodes {
		if !nd.dead && !nd.view.IsAlive(name) {
			out = append(out, nd.name)
		}
	}
	return out
}

// When a watcher sees X Down, four more speakers (the next two alive on
// each side of the ring) watch X too and the majority of all the votes
// decides: X stays when it lost the BFD paths to one, two, three or all
// four of its watchers but the second opinions still see it. A speaker
// that lost its paths to everyone is dead everywhere, itself included: it
// stands down although it runs.
func TestMeshWatchersDisagree(t *testing.T) {
	const n = 20
	for _, c := range []struct {
		broken int // watchers; 0: every speaker
		dead   bool
	}{{1, false}, {2, false}, {3, false}, {4, false}, {0, true}} {
		name := fmt.Sprintf("%d-of-4-watcher-links-broken", c.broken)
		if c.broken == 0 {
			name = "every-link-broken"
		}
		t.Run(name, func(t *testing.T) {
			s := settled(t, n, Config{Neighbors: 2})
			x := 3
			name := s.nodes[x].name
			var ws []int
			if c.broken == 0 {
				for i := range s.nodes {
					ws = append(ws, i)
				}
			}
			for _, w := range Neighbors(Ring(names(n)), name, 2)[:c.broken] {
				ws = append(ws, s.byName[w])
			}
			s.breakLinks(x, ws)
			t0 := s.now
			s.watch = x
			s.run(t0 + 2*time.Second)
			dead := s.deadIn(name)
			if c.dead != (len(dead) == n) {
				t.Fatalf("%s counted dead by %d of %d: %v", name, len(dead), n, dead)
			}
			// Nobody else is touched: the watchers with a broken link keep
			// the majority of their own watchers.
			for i, nd := range s.nodes {
				if i == x {
					continue
				}
				if d := s.deadIn(nd.name); len(d) != 0 {
					t.Fatalf("%s counted dead by %v", nd.name, d)
				}
			}
			if c.dead {
				var ds []time.Duration
				for i := range s.nodes {
					if i != x {
						ds = append(ds, s.deadAt[i]-t0)
					}
				}
				t.Logf("all links broken: %s dead for all after %v", name, statsOf(ds))
			}
		})
	}
}

// A partition splits the speakers 60/40 (BFD and reports alike). At once
// each side counts dead the other side's speakers that most of their
// watchers can no longer see. The others have stale Up votes from their
// watchers on the far side: a far speaker any watcher on this side sees
// Down gets second opinions from this side, which never come up; one
// watched only from the far side is found when its far watchers are dead
// here and the ring heals around it. Each round takes a grace period, so
// in the end each side counts the whole other side dead and carries on.
// With a ReportTTL the far side's votes also expire, which is faster.
// Nobody counts anyone on its own side dead, and when the partition ends
// everyone is back. 16 speakers (50 with HERALD_SOAK, and in
// BenchmarkMeshPartition).
func TestMeshPartition(t *testing.T) {
	n := 16
	if soak() {
		n = 50
	}
	for _, c := range partitionCases {
		t.Run(c.name, func(t *testing.T) { partition(t, n, c.ttl, c.until) })
	}
}

var partitionCases = []struct {
	name       string
	ttl, until time.Duration
}{{"no-ttl", 0, 20 * time.Second}, {"ttl-5s", 5 * time.Second, 12 * time.Second}}

// partitionChecks are the times after the cut at which partition looks.
var partitionChecks = []time.Duration{time.Second, 6 * time.Second, 12 * time.Second, 20 * time.Second}

// partition cuts n speakers 60/40, checks that by until each side counts
// the other dead, then ends the partition. It returns, for each of
// partitionChecks up to until, the share of the 40% the 60% count dead
// and the share of the 60% the 40% count dead.
func partition(t testing.TB, n int, ttl, until time.Duration) [][2]float64 {
	s := settled(t, n, Config{Neighbors: 2, Grace: 3 * time.Second, ReportTTL: ttl})
	side := func(i int) bool { return i < n*6/10 }
	s.linkDown = func(a, b int) bool { return side(a) != side(b) }
	s.reportDown = s.linkDown
	t0 := s.now
	check := func(when time.Duration) (crossDead [2]float64) {
		s.run(t0 + when)
		var pairs [2]int
		for i, nd := range s.nodes {
			for j, other := range s.nodes {
				if i == j {
					continue
				}
				if side(i) == side(j) {
					if !nd.view.IsAlive(other.name) {
						t.Fatalf("at +%v %s counts %s, on its side, dead", when, nd.name, other.name)
					}
					continue
				}
				k := 0
				if !side(i) {
					k = 1
				}
				pairs[k]++
				if !nd.view.IsAlive(other.name) {
					crossDead[k]++
				}
			}
		}
		crossDead[0] /= float64(pairs[0])
		crossDead[1] /= float64(pairs[1])
		return crossDead
	}
	var got [2]float64
	var out [][2]float64
	for _, at := range partitionChecks {
		if at > until {
			break
		}
		got = check(at)
		out = append(out, got)
		t.Logf("partition 60/40 of %d, TTL %v, +%v: the 60%% count %.0f%% of the 40%% dead, the 40%% count %.0f%% of the 60%% dead",
			n, ttl, at, 100*got[0], 100*got[1])
	}
	if got[0] != 1 || got[1] != 1 {
		t.Errorf("partition: %v at the end", got)
	}
	// Healing the partition brings everyone back.
	s.linkDown = func(int, int) bool { return false }
	s.reportDown = s.linkDown
	s.run(t0 + until + 5*time.Second)
	for _, nd := range s.nodes {
		if got := len(nd.view.Alive()); got != n {
			t.Errorf("after the partition healed %s sees %d alive", nd.name, got)
		}
	}
	return out
}

// BenchmarkMeshPartition is TestMeshPartition with the 50 speakers of
// design.md (go test -run '^$' -bench MeshPartition -benchtime 1x); it
// reports the share of the other side each side counts dead at each check.
func BenchmarkMeshPartition(b *testing.B) {
	for _, c := range partitionCases {
		b.Run(c.name, func(b *testing.B) {
			var got [][2]float64
			for b.Loop() {
				got = partition(b, 50, c.ttl, c.until)
			}
			for i, g := range got {
				at := partitionChecks[i] / time.Second
				b.ReportMetric(100*g[0], fmt.Sprintf("%%40dead-for-60@%ds", at))
				b.ReportMetric(100*g[1], fmt.Sprintf("%%60dead-for-40@%ds", at))
			}
		})
	}
}

// A quarter of the speakers fail at once (a rack, say, spread over the
// ring by the hash). Speakers with a surviving watcher are found dead
// within the Detection Time; those whose watchers mostly died too get
// second opinions, whose sessions never come up and vote after the grace
// period. No survivor is counted dead. 40 speakers (100 with HERALD_SOAK,
// and in BenchmarkMeshCorrelatedFailure). TestMeshOrphanedSpeaker has a
// victim none of whose watchers survive.
func TestMeshCorrelatedFailure(t *testing.T) {
	n := 40
	if soak() {
		n = 100
	}
	correlated(t, n)
}

// correlatedChecks are the times after the failure at which correlated
// looks; by the last every victim must be found.
var correlatedChecks = []time.Duration{time.Second, 5 * time.Second}

// correlated fails a quarter of n speakers at once and returns, for each
// of correlatedChecks, the share of (survivor, victim) pairs in which the
// survivor counts the victim dead. The victims are drawn at random, again
// until at least one of them lost half of its watchers or more (at 100
// speakers the first draw does), so that the slow paths are exercised.
func correlated(t testing.TB, n int) []float64 {
	s := settled(t, n, Config{Neighbors: 2, Grace: 3 * time.Second})
	ring := Ring(names(n))
	rng := rand.New(rand.NewPCG(3, 4))
	var victims map[int]bool
	for shared := false; !shared; {
		victims = map[int]bool{}
		for len(victims) < n/4 {
			victims[rng.IntN(n)] = true
		}
		for v := range victims {
			ws, dead := Neighbors(ring, s.nodes[v].name, 2), 0
			for _, w := range ws {
				if victims[s.byName[w]] {
					dead++
				}
			}
			shared = shared || 2*dead >= len(ws)
		}
	}
	t0 := s.now
	for v := range victims {
		s.kill(v)
	}
	deadBy := func(at time.Duration) (found, falses int) {
		s.run(t0 + at)
		for _, nd := range s.nodes {
			if nd.dead {
				continue
			}
			for j, other := range s.nodes {
				switch alive := nd.view.IsAlive(other.name); {
				case victims[j] && !alive:
					found++
				case !victims[j] && !alive:
					falses++
				}
			}
		}
		return found, falses
	}
	pairs := (n - len(victims)) * len(victims)
	var out []float64
	for i, at := range correlatedChecks {
		found, falses := deadBy(at)
		out = append(out, float64(found)/float64(pairs))
		t.Logf("%d of %d fail at once: +%v, %.1f%% of (survivor, victim) pairs see the victim dead, %d survivors counted dead",
			len(victims), n, at, 100*float64(found)/float64(pairs), falses)
		if falses != 0 || i == len(correlatedChecks)-1 && found != pairs {
			t.Errorf("+%v: %d of %d found, %d false", at, found, pairs, falses)
		}
	}
	return out
}

// BenchmarkMeshCorrelatedFailure is TestMeshCorrelatedFailure with the 100
// speakers of design.md (go test -run '^$' -bench MeshCorrelated
// -benchtime 1x); it reports the share of (survivor, victim) pairs that
// see the victim dead at each check.
func BenchmarkMeshCorrelatedFailure(b *testing.B) {
	var got []float64
	for b.Loop() {
		got = correlated(b, 100)
	}
	for i, g := range got {
		b.ReportMetric(100*g, fmt.Sprintf("%%found@%ds", correlatedChecks[i]/time.Second))
	}
}

// A speaker fails with all of its watchers: five neighbours on the ring
// (2 × Neighbors + 1) fail at once, and the middle one has no watcher left
// to see it go. The others' watchers find them dead (with second opinions:
// each still has stale Up votes from dead watchers); once its watchers are
// dead the healed ring gives the middle one new watchers, whose sessions
// never come up and vote Down after the grace period. So every survivor
// counts all five dead within two grace periods and a Detection Time, and
// no survivor is counted dead.
func TestMeshOrphanedSpeaker(t *testing.T) {
	const n, neighbors = 20, 2
	cfg := Config{Neighbors: neighbors, Grace: 3 * time.Second}
	s := settled(t, n, cfg)
	ring := Ring(names(n))
	victims := map[int]bool{}
	for k := range 2*neighbors + 1 {
		victims[s.byName[ring[k]]] = true
	}
	orphan := s.byName[ring[neighbors]]
	for _, w := range Neighbors(ring, s.nodes[orphan].name, neighbors) {
		if !victims[s.byName[w]] {
			t.Fatalf("%s's watcher %s survives", s.nodes[orphan].name, w)
		}
	}
	s.watch = orphan
	t0 := s.now
	for v := range victims {
		s.kill(v)
	}
	s.run(t0 + 2*cfg.Grace + time.Second)
	var ds []time.Duration
	for i, nd := range s.nodes {
		if nd.dead {
			continue
		}
		for j, other := range s.nodes {
			if alive := nd.view.IsAlive(other.name); alive == victims[j] {
				t.Errorf("%s: %s alive %v", nd.name, other.name, alive)
			}
		}
		ds = append(ds, s.deadAt[i]-t0)
	}
	t.Logf("the orphaned speaker counted dead after %v", statsOf(ds))
}

// A speaker that stops cleanly says so (Leave): the others count it dead
// as soon as its report arrives, before any Detection Time.
func TestMeshCleanStop(t *testing.T) {
	s := settled(t, 20, Config{})
	x := 5
	s.watch = x
	t0 := s.now
	s.nodes[x].view.Leave(t0)
	s.afterView(x)
	s.run(t0 + 10*time.Millisecond)
	s.kill(x)
	for i := range s.nodes {
		if i == x {
			continue
		}
		if at, ok := s.deadAt[i]; !ok || at-t0 > time.Millisecond {
			t.Fatalf("%s: dead at %v (found %v)", s.nodes[i].name, at-t0, ok)
		}
	}
}
