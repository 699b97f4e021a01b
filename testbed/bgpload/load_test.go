package bgpload

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/testbed/labtest"
	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
)

// runs are the senders and modes compared, in this order; each run has a
// neighbor address of its own on the node (senderAddr), so FRR's counters
// of it are that run's alone. GoBGP goes first because it only listens
// (routers.StartGoBGP): it must be up before FRR starts and connects.
var runs = []struct{ kind, mode string }{
	{"gobgp", modeUpdate}, {"herald", modeUpdate}, {"gobgp", modeInitial}, {"herald", modeInitial},
}

// senderAddr is run i's address on the node's LAN (.41 up: the lab's own
// hosts use .1, .11 to .13 and .100).
func senderAddr(lab *netlab.Lab, i int) netip.Addr {
	a := lab.LAN4.Masked().Addr().As4()
	a[3] = byte(41 + i)
	return netip.AddrFrom4(a)
}

// The size make test runs; the benchmark sends 100,000.
const testRoutes = 1000

// Each sender in turn sends 1,000 routes with one attribute set to FRR,
// once to a session that is up and once as a session's first table: every
// route arrives, Herald's UPDATEs are the fewest the routes fit in
// (counted by Herald and by FRR), and the session stays up with keepalives
// flowing. BenchmarkHundredThousandRoutes is the same with 100,000.
func TestSessionLoad(t *testing.T) {
	for _, r := range loadRun(t, testRoutes) {
		t.Log(r)
	}
}

// BenchmarkHundredThousandRoutes sends 100,000 routes with one attribute
// set to FRR from Herald's session (bgpwire/peer) and from GoBGP, each as
// updates to an established session and as a session's first table, one
// after the other in one lab, and reports for each the time until FRR
// accepted all of them, the UPDATEs FRR received and the sender's peak
// RSS. One iteration is one whole run.
func BenchmarkHundredThousandRoutes(b *testing.B) {
	const n = 100000
	for range b.N {
		for _, r := range loadRun(b, n) {
			b.Log(r)
			name := r.kind + "-" + r.mode
			b.ReportMetric(r.took.Seconds(), name+"-s")
			b.ReportMetric(float64(r.peakRSS)/(1<<20), name+"-peak-MiB")
			b.ReportMetric(float64(r.frrUpdates), name+"-updates")
		}
	}
}

// loadResult is one sender's run.
type loadResult struct {
	kind, mode string
	routes     int
	// took runs to FRR having accepted every route, from "announce"
	// written (modeUpdate) or from the sender's session coming up
	// (modeInitial).
	took       time.Duration
	handover   time.Duration // modeUpdate: "announce" written → the sender's API returned
	ownUpdates int           // UPDATEs the sender counted
	frrUpdates int           // UPDATEs FRR counted from it
	keepalives int           // KEEPALIVEs FRR received from "announce" to the end
	baseRSS    int64         // bytes, the sender's VmRSS before the routes (modeUpdate)
	peakRSS    int64         // bytes, the sender process's VmHWM
}

func (r loadResult) String() string {
	from := fmt.Sprintf("the handover (API returned after %s)", r.handover.Round(time.Millisecond))
	rss := fmt.Sprintf("RSS %.1f MiB before the routes, peak %.1f MiB", float64(r.baseRSS)/(1<<20), float64(r.peakRSS)/(1<<20))
	if r.mode == modeInitial {
		from = "the session came up"
		rss = fmt.Sprintf("peak RSS %.1f MiB", float64(r.peakRSS)/(1<<20))
	}
	return fmt.Sprintf("%s, %s: %d routes accepted by FRR %s after %s; UPDATEs: %d counted by the sender, %d by FRR; %d keepalives meanwhile; %s",
		r.kind, r.mode, r.routes, r.took.Round(time.Millisecond), from, r.ownUpdates, r.frrUpdates, r.keepalives, rss)
}

func loadRun(tb testing.TB, n int) []loadResult {
	tb.Helper()
	env := labtest.Start(tb, labtest.Options{Nodes: 1, Router: "frr", RouterASN: routerASN, RouterLater: true,
		Neighbors: func(lab *netlab.Lab) []routers.Neighbor {
			var ns []routers.Neighbor
			for i := range runs {
				ns = append(ns, routers.Neighbor{Address: senderAddr(lab, i), ASN: senderASN, HoldTime: holdTime, Keepalive: holdTime / 3})
			}
			return ns
		}})
	node := env.Lab.Nodes[0]
	for i := range runs {
		if _, err := env.Lab.Exec(tb.Context(), node.NS, "ip", "addr", "add", netip.PrefixFrom(senderAddr(env.Lab, i), env.Lab.LAN4.Bits()).String(), "dev", "eth0"); err != nil {
			tb.Fatal(err)
		}
	}
	var results []loadResult
	for i, run := range runs {
		addr := senderAddr(env.Lab, i)
		s := startSender(tb, run.kind, run.mode, env.Lab, addr, n)
		if env.Router == nil {
			env.StartRouter()
		}
		frr := env.Router.(*routers.FRR)
		s.waitFor("established", 60*time.Second)
		results = append(results, s.measure(frr, addr, n, run.mode, time.Now()))
		s.stop()
		// FRR drops the routes with the session; the next sender starts
		// from an empty table.
		eventuallyNeighbor(tb, frr, addr, 60*time.Second, "no routes from the last sender", func(nb routers.FRRNeighbor) bool {
			return nb.State != "Established" && nb.PrefixesAccepted == 0
		})
		if err := waitEmptyRIB(frr); err != nil {
			tb.Fatal(err)
		}
	}
	return results
}

// senderProc is a sender running as a child process of the test binary in
// the node's namespace.
type senderProc struct {
	tb    testing.TB
	kind  string
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string
	done  chan struct{}
}

func startSender(tb testing.TB, kind, mode string, lab *netlab.Lab, local netip.Addr, n int) *senderProc {
	tb.Helper()
	node := lab.Nodes[0]
	self, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", node.NS, self, "-test.run=^$")
	cmd.Env = append(os.Environ(), envSender+"="+kind, envMode+"="+mode, envNS+"="+node.NS, envLocal+"="+local.String(),
		envRouter+"="+lab.Router.LAN4.String(), envRoutes+"="+strconv.Itoa(n))
	cmd.Stderr = &tbWriter{tb: tb, prefix: kind + " sender: "}
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	s := &senderProc{tb: tb, kind: kind, cmd: cmd, in: in, lines: make(chan string, 16), done: make(chan struct{})}
	// Wait closes the pipe: it must come after the last line was read.
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
		_ = cmd.Wait()
		close(s.done)
	}()
	tb.Cleanup(s.stop)
	return s
}

// waitFor returns the first line of the sender's output that starts with
// prefix.
func (s *senderProc) waitFor(prefix string, timeout time.Duration) string {
	s.tb.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				s.tb.Fatalf("%s sender exited before saying %q", s.kind, prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			s.tb.Fatalf("%s sender did not say %q within %s", s.kind, prefix, timeout)
		}
	}
}

func (s *senderProc) ask(line string) {
	s.tb.Helper()
	if _, err := fmt.Fprintln(s.in, line); err != nil {
		s.tb.Fatalf("%s sender: %v", s.kind, err)
	}
}

func (s *senderProc) updates() int {
	s.tb.Helper()
	s.ask("updates")
	l := s.waitFor("updates ", 10*time.Second)
	n, err := strconv.Atoi(strings.TrimPrefix(l, "updates "))
	if err != nil {
		s.tb.Fatalf("%s sender: %q: %v", s.kind, l, err)
	}
	return n
}

// memory reads one line of the sender's /proc status (VmRSS, VmHWM) in
// bytes. ip netns exec execs the test binary, so the child's pid is the
// sender's.
func (s *senderProc) memory(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		s.tb.Fatalf("%s sender: %v", s.kind, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	s.tb.Fatalf("%s sender: no %s in /proc/%d/status", s.kind, field, s.cmd.Process.Pid)
	return 0
}

// stop closes the sender's input (it then stops its session) and waits.
func (s *senderProc) stop() {
	_ = s.in.Close()
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// measure times the sender's routes to FRR and checks what FRR makes of
// them. In modeUpdate it hands the routes over now; in modeInitial they
// were in before the session, which came up at up.
func (s *senderProc) measure(frr *routers.FRR, from netip.Addr, n int, mode string, up time.Time) loadResult {
	tb := s.tb
	tb.Helper()
	r := loadResult{kind: s.kind, mode: mode, routes: n}
	// The counts are FRR's for this run's neighbor, and the sender's, from
	// its start. In modeUpdate the load is counted from the moment FRR has
	// received what the sender sent before (the End-of-RIB of the empty
	// first table may still be on its way when the sender says
	// established).
	var before routers.FRRNeighbor
	var ownBefore int
	start := up
	if mode == modeUpdate {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			ownBefore = s.updates()
			before = neighbor(tb, frr, from)
			if again := neighbor(tb, frr, from); again.UpdatesReceived == before.UpdatesReceived && s.updates() == ownBefore {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("%s sender: FRR's count of its UPDATEs did not settle before the load", s.kind)
			}
		}
		r.baseRSS = s.memory("VmRSS")
		start = time.Now()
		s.ask("announce")
		s.waitFor("announced", 10*time.Minute)
		r.handover = time.Since(start)
	} else {
		r.baseRSS = s.memory("VmRSS")
	}
	eventuallyNeighbor(tb, frr, from, 10*time.Minute, fmt.Sprintf("FRR accepts %d routes from the %s sender", n, s.kind), func(nb routers.FRRNeighbor) bool {
		return nb.PrefixesAccepted >= n
	})
	r.took = time.Since(start)
	if mode == modeInitial {
		// The session's first KEEPALIVE (confirming the OPEN) is not
		// one of those that must keep flowing under the load.
		before.KeepalivesReceived = 1
	}
	// The session must outlive the load by more than a keepalive interval
	// and keep sending them.
	time.Sleep(holdTime/3 + time.Second)
	after := neighbor(tb, frr, from)
	r.ownUpdates = s.updates() - ownBefore
	r.frrUpdates = after.UpdatesReceived - before.UpdatesReceived
	r.keepalives = after.KeepalivesReceived - before.KeepalivesReceived
	r.peakRSS = s.memory("VmHWM")
	if after.State != "Established" || after.ConnectionsDropped != before.ConnectionsDropped || after.ConnectionsEstablished != 1 {
		tb.Errorf("%s sender, %s: the session did not stay up: %s, established %d times, dropped %d times, last reset: %s",
			s.kind, mode, after.State, after.ConnectionsEstablished, after.ConnectionsDropped, after.LastResetDueTo)
	}
	if after.PrefixesAccepted != n {
		tb.Errorf("%s sender, %s: FRR accepted %d routes, want %d", s.kind, mode, after.PrefixesAccepted, n)
	}
	if r.keepalives < 1 {
		tb.Errorf("%s sender, %s: FRR received no KEEPALIVE in the %s after the load began", s.kind, mode, time.Since(start).Round(time.Millisecond))
	}
	if s.kind == "herald" {
		want := minUpdates(n, after.ExtendedMessage)
		if mode == modeInitial {
			want++ // the End-of-RIB after the first table
		}
		if r.ownUpdates != want || r.frrUpdates != want {
			tb.Errorf("herald sender, %s: %d UPDATEs counted by Herald and %d by FRR for %d routes of one attribute set, want the minimum %d (extended messages: %v)",
				mode, r.ownUpdates, r.frrUpdates, n, want, after.ExtendedMessage)
		}
	}
	return r
}

// minUpdates is the fewest UPDATEs that carry n IPv4 /32s with one
// attribute set to an external peer. Each UPDATE holds the 19-byte header,
// the two 2-byte lengths, the attributes (ORIGIN 4 bytes, AS_PATH with one
// 4-octet AS 9, NEXT_HOP 7: 20 bytes) and 5 bytes per /32.
func minUpdates(n int, extended bool) int {
	size := 4096
	if extended {
		size = 65535
	}
	per := (size - 19 - 4 - 20) / 5
	return (n + per - 1) / per
}

func neighbor(tb testing.TB, frr *routers.FRR, addr netip.Addr) routers.FRRNeighbor {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nb, err := frr.Neighbor(ctx, addr.String())
	if err != nil {
		tb.Fatal(err)
	}
	return nb
}

func eventuallyNeighbor(tb testing.TB, frr *routers.FRR, addr netip.Addr, timeout time.Duration, what string, ok func(routers.FRRNeighbor) bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := netlab.Eventually(ctx, 50*time.Millisecond, func(ctx context.Context) error {
		nb, err := frr.Neighbor(ctx, addr.String())
		if err != nil {
			return err
		}
		if !ok(nb) {
			return fmt.Errorf("%s, %d routes accepted", nb.State, nb.PrefixesAccepted)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("waiting for %s: %v", what, err)
	}
}

// waitEmptyRIB waits until FRR's IPv4 BGP table holds no route (its
// summary's ribCount): FRR clears 100,000 routes of a session that went
// in the background, and the next sender should not be timed against it.
func waitEmptyRIB(frr *routers.FRR) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := frr.Exec(ctx, "show bgp ipv4 unicast summary json")
		cancel()
		var sum struct {
			RIBCount *int `json:"ribCount"`
		}
		if err == nil {
			err = json.Unmarshal([]byte(out), &sum)
		}
		if err == nil && sum.RIBCount == nil {
			return fmt.Errorf("FRR's summary has no ribCount: %.300s", out)
		}
		if err == nil && *sum.RIBCount == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("FRR's table is not empty 2m after the session went: %v %.300s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tbWriter sends a child's stderr to the test log, line by line.
type tbWriter struct {
	tb     testing.TB
	prefix string
}

func (w *tbWriter) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.tb.Log(w.prefix + l)
	}
	return len(p), nil
}
