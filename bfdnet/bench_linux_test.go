package bfdnet

import (
	"fmt"
	"net/netip"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldlb/herald/bgpwire/bfd"
)

// BenchmarkTransmitLateness runs 1,000 sessions at 100 ms × 3 between two
// Managers and records, for every periodic packet, how long after its
// jittered deadline the scheduler stepped the timer that sends it: the
// delay the shell adds to the schedule (the heap, the one scheduler
// goroutine, garbage collection, the sends queued before it in the same
// batch). Run it alone, once:
//
//	go test ./bfdnet -run '^$' -bench TransmitLateness -benchtime 1x
//
// "kernel" uses the kernel's UDP sockets between two network namespaces
// (root only); "memnet" the in-memory network, which leaves the kernel
// out. Reported: lateness quantiles in µs, packets sent per second by
// both Managers, the process's CPU time per packet, and session flaps
// during the window (which must be 0).
func BenchmarkTransmitLateness(b *testing.B) {
	const sessions = 1000
	window := 10 * time.Second
	b.Run("kernel", func(b *testing.B) {
		l := newLab(b)
		var batch strings.Builder
		for i := range sessions {
			fmt.Fprintf(&batch, "addr add %s/15 dev %s\n", benchAddr(i), labIfA)
		}
		cmd := exec.Command("ip", "-n", l.a, "-batch", "-")
		cmd.Stdin = strings.NewReader(batch.String())
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("adding addresses: %v\n%s", err, out)
		}
		run(b, "ip", "-n", l.b, "addr", "add", "198.19.0.1/15", "dev", labIfB)
		for _, ns := range []string{l.a, l.b} {
			// More neighbours than the default table's hard limit (1024).
			_ = exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.neigh.default.gc_thresh3=8192").Run()
		}
		ma, la := labManager(b, Options{})
		mb, lb := labManager(b, Options{})
		b.Cleanup(func() {
			// Datagrams the kernel dropped for full receive buffers.
			for _, ns := range []string{l.a, l.b} {
				out, _ := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/snmp").Output()
				lines := strings.Split(string(out), "\n")
				for i := 0; i+1 < len(lines); i++ {
					if strings.HasPrefix(lines[i], "Udp:") && strings.HasPrefix(lines[i+1], "Udp:") {
						b.Logf("%s: %s\n%s", ns, lines[i], lines[i+1])
						break
					}
				}
			}
		})
		benchLateness(b, ma, mb, la, lb, sessions, window, func(i int, ka, kb Key, p bfd.Profile) {
			ka.Interface, kb.Interface = labIfA, labIfB
			addIn(b, l.a, ma, SessionConfig{Key: ka, Profile: p})
			addIn(b, l.b, mb, SessionConfig{Key: kb, Profile: p})
		})
	})
	b.Run("memnet", func(b *testing.B) {
		n := newMemNet(false)
		addrs := make([]string, sessions)
		for i := range addrs {
			addrs[i] = benchAddr(i).String()
		}
		la, lb := newChangeLog(), newChangeLog()
		ma, err := New(Options{Network: n.host(addrs...), Notify: la.notify, Log: quietLog})
		if err != nil {
			b.Fatal(err)
		}
		defer ma.Close()
		mb, err := New(Options{Network: n.host("198.19.0.1"), Notify: lb.notify, Log: quietLog})
		if err != nil {
			b.Fatal(err)
		}
		defer mb.Close()
		benchLateness(b, ma, mb, la, lb, sessions, window, func(i int, ka, kb Key, p bfd.Profile) {
			for _, x := range []struct {
				m *Manager
				k Key
			}{{ma, ka}, {mb, kb}} {
				if _, err := x.m.Add(SessionConfig{Key: x.k, Profile: p}); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("baseline-goroutine-per-session", func(b *testing.B) {
		// The floor any design sits on: 2,000 goroutines (both Managers'
		// sessions) each sleeping on its own runtime timer to a jittered
		// 75-100 ms deadline and doing nothing else, lateness measured the
		// same way.
		var mu sync.Mutex
		got := make([]time.Duration, 0, 1<<20)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 2 * sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t := time.NewTimer(time.Hour)
				defer t.Stop()
				r := uint32(i) * 2654435761
				for {
					r = r*1664525 + 1013904223
					d := bfd.Jitter(100*time.Millisecond, 3, r)
					due := time.Now().Add(d)
					t.Reset(d)
					select {
					case <-t.C:
					case <-stop:
						return
					}
					late := time.Since(due)
					mu.Lock()
					got = append(got, late)
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Second)
		mu.Lock()
		got = got[:0]
		mu.Unlock()
		b.ResetTimer()
		time.Sleep(window)
		b.StopTimer()
		close(stop)
		wg.Wait()
		slices.Sort(got)
		q := func(f float64) float64 { return float64(got[min(len(got)-1, int(f*float64(len(got))))].Microseconds()) }
		b.ReportMetric(q(0.5), "p50-µs")
		b.ReportMetric(q(0.99), "p99-µs")
		b.ReportMetric(q(0.999), "p99.9-µs")
		b.ReportMetric(float64(got[len(got)-1].Microseconds()), "max-µs")
		b.Logf("%d timers: p50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, max %s", len(got), q(0.5), q(0.99), q(0.999), got[len(got)-1])
	})
}

// benchAddr is the i-th address of a's side, in 198.18.0.0/15 (RFC 2544).
func benchAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(i / 250), byte(i%250 + 1)})
}

func benchLateness(b *testing.B, ma, mb *Manager, la, lb *changeLog, sessions int, window time.Duration,
	add func(i int, ka, kb Key, p bfd.Profile)) {
	var mu sync.Mutex
	// Room for every sample, so that recording allocates nothing.
	samples := make([]time.Duration, 0, 1<<20)
	recording := false
	hook := func(d time.Duration) {
		mu.Lock()
		if recording {
			samples = append(samples, d)
		}
		mu.Unlock()
	}
	ma.lateHook, mb.lateHook = hook, hook
	peer := netip.MustParseAddr("198.19.0.1")
	p := profile(100, 3)
	for i := range sessions {
		local := benchAddr(i)
		add(i, Key{Peer: peer, Local: local}, Key{Peer: local, Local: peer}, p)
	}
	ups := func(l *changeLog) (up, down int) {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, c := range l.changes {
			if c.Up {
				up++
			} else {
				down++
			}
		}
		return up, down
	}
	upCount := func(m *Manager) int {
		n := 0
		for _, s := range m.Sessions() {
			if s.State() == bfd.Up {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ua, ub := upCount(ma), upCount(mb)
		if ua == sessions && ub == sessions {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d and %d of %d sessions up", ua, ub, sessions)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // the Poll Sequences to 100 ms end
	_, downA := ups(la)
	_, downB := ups(lb)
	outBefore := sumOut(ma) + sumOut(mb)
	var ru0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	mu.Lock()
	recording = true
	mu.Unlock()
	b.ResetTimer()
	time.Sleep(window)
	b.StopTimer()
	mu.Lock()
	recording = false
	mu.Unlock()
	var ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	mu.Lock()
	got := slices.Clone(samples) // after the memory statistics: not the Managers' allocation
	mu.Unlock()
	packets := sumOut(ma) + sumOut(mb) - outBefore
	_, downA2 := ups(la)
	_, downB2 := ups(lb)
	if len(got) == 0 {
		b.Fatal("no transmit timer recorded")
	}
	slices.Sort(got)
	q := func(f float64) float64 {
		return float64(got[min(len(got)-1, int(f*float64(len(got))))].Microseconds())
	}
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(q(0.5), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(q(0.999), "p99.9-µs")
	b.ReportMetric(float64(got[len(got)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64(packets)/window.Seconds(), "pkts/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(max(packets, 1))/1000, "cpu-µs/pkt")
	b.ReportMetric(float64(downA2-downA+downB2-downB), "flaps")
	b.ReportMetric(float64(ms1.NumGC-ms0.NumGC), "GCs")
	b.ReportMetric(float64(ma.Stats().QueueDrops+mb.Stats().QueueDrops), "queue-drops")
	b.Logf("%d timers in %s: p50 %.0f µs, p99 %.0f µs, p99.9 %.0f µs, max %s; %d packets sent (%.0f/s); CPU %s (%.1f µs per packet sent and received); %d GCs, %d bytes allocated",
		len(got), window, q(0.5), q(0.99), q(0.999), got[len(got)-1], packets, float64(packets)/window.Seconds(), cpu,
		float64(cpu.Microseconds())/float64(max(packets, 1)), ms1.NumGC-ms0.NumGC, ms1.TotalAlloc-ms0.TotalAlloc)
}

func sumOut(m *Manager) uint64 {
	var n uint64
	for _, s := range m.Sessions() {
		n += s.Stats().PacketsOut
	}
	return n
}
