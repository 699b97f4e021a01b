package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/testbed/routers"
)

// BFD (issue 12) against the routers' own BFD: FRR's bfdd and BIRD's bfd
// protocol, node1 in eBGP with the router, the BGP hold time 9 s.

// Interop: the session comes Up with Herald's profile at 300×3, then
// 50×3 (the router asks for 50 ms throughout, so the first runs at
// Herald's 300 and the second at 50); the change reaches the router (it
// sees Herald's new Required Min RX Interval) by a Poll Sequence, without
// resetting the BGP session. On FRR, the router's AdminDown (a shutdown of
// its BFD profile) shows as AdminDown in Herald's status and leaves BGP
// up on both sides.
func TestBFDInterop(t *testing.T) {
	for _, router := range []string{"frr", "bird"} {
		t.Run(router, func(t *testing.T) { testBFDInterop(t, router) })
	}
}

func testBFDInterop(t *testing.T, router string) {
	l := newBFDLab(t, router, routers.BFDProfile{ReceiveInterval: 50 * time.Millisecond,
		TransmitInterval: 50 * time.Millisecond, DetectMultiplier: 3})
	l.configure(&heraldBFD{rxMs: 300, txMs: 300, mult: 3})
	l.waitEstablished()

	t.Run("Up at 300x3", func(t *testing.T) {
		l.waitBFD("Up", "up", 30*time.Second)
		l.waitRemoteRx(300)
	})
	t.Run("renegotiated to 50x3 without a BGP reset", func(t *testing.T) {
		before := l.bgpIncarnation()
		l.configure(&heraldBFD{rxMs: 50, txMs: 50, mult: 3})
		l.waitRemoteRx(50)
		l.stayUp(2 * time.Second)
		if after := l.bgpIncarnation(); after != before {
			t.Errorf("the router's BGP session changed across the profile change: before %q, after %q", before, after)
		}
	})
	if router != "frr" {
		return // BIRD has no command to put one session in AdminDown
	}
	t.Run("the router's AdminDown leaves BGP up", func(t *testing.T) {
		before := l.bgpIncarnation()
		l.vtysh("configure terminal", "bfd", "profile p1", "shutdown")
		l.waitBFD("AdminDown", "admindown", 10*time.Second)
		// Far longer than the 150 ms detection time: a failure would
		// have taken BGP down by now.
		time.Sleep(2 * time.Second)
		if _, bgp, err := l.heraldBFDState(); err != nil || bgp != "Established" {
			t.Errorf("Herald's BGP state %q (%v) after the router's AdminDown, want Established", bgp, err)
		}
		if after := l.bgpIncarnation(); after != before {
			t.Errorf("the router's BGP session changed across its BFD AdminDown: before %q, after %q", before, after)
		}
		l.vtysh("configure terminal", "bfd", "profile p1", "no shutdown")
		l.waitBFD("Up", "up", 10*time.Second)
	})
}

// waitRemoteRx waits until the router has Herald's Required Min RX
// Interval as ms.
func (l *bfdLab) waitRemoteRx(ms int) {
	l.t.Helper()
	eventuallyEvery(l.t, 10*time.Second, 100*time.Millisecond, fmt.Sprintf("the router using Herald's %d ms interval", ms),
		func() (bool, string) {
			got, err := l.routerRemoteRx()
			return err == nil && got == ms, fmt.Sprintf("%d ms (%v)", got, err)
		})
}

// stayUp checks that BFD stays Up on both sides for d.
func (l *bfdLab) stayUp(d time.Duration) {
	l.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		h, _, err := l.heraldBFDState()
		r, rerr := l.router.BFDState(l.t.Context(), l.node.LAN4)
		if err != nil || rerr != nil || h != "Up" || r != "up" {
			l.t.Fatalf("BFD left Up: Herald %q (%v), router %q (%v)", h, err, r, rerr)
		}
	}
}

// Cutting the path (every packet of node1's eth0 dropped): with BFD at
// 300×3 each side detects the other's loss within detectMultiplier ×
// interval + 50 ms, and the router withdraws the Service's route in under
// a second; without a bfdProfile the route stays until the 9 s hold time
// runs out. One trial in a plain run, 20 under HERALD_SOAK (the
// percentiles go to docs/BENCHMARKS.md).
func TestBFDPathCut(t *testing.T) {
	const bound = 3*300*time.Millisecond + 50*time.Millisecond
	l := newBFDLab(t, "frr", routers.BFDProfile{ReceiveInterval: 300 * time.Millisecond,
		TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3})
	l.configure(&heraldBFD{rxMs: 300, txMs: 300, mult: 3})
	l.waitEstablished()
	prefix := l.serviceRoute()

	trials := 1
	if soak() {
		trials = 20
	}
	var heraldDet, routerDet, withdrawn []time.Duration
	for i := range trials {
		l.waitBFD("Up", "up", 60*time.Second)
		l.route(prefix, "the Service's route at the router", func(_ routers.Route, ok bool) bool { return ok })
		capt := l.startCapture()
		fib := l.watchNextHops(prefix)
		begin := time.Now()
		l.cut()
		cutTook := time.Since(begin)
		// The router's BFD, then its route (BGP withdraws on BFD down),
		// polled at its CLI; the times come from the capture, as a poll
		// on a loaded machine lags by hundreds of ms.
		var rPolled, gonePolled time.Duration
		eventuallyEvery(t, 15*time.Second, 0, "the router's BFD down", func() (bool, string) {
			s, err := l.router.BFDState(t.Context(), l.node.LAN4)
			rPolled = time.Since(begin)
			return err == nil && s == "down", fmt.Sprintf("%q %v", s, err)
		})
		eventuallyEvery(t, 15*time.Second, 0, "the route withdrawn", func() (bool, string) {
			ok, err := l.routePresent(prefix)
			gonePolled = time.Since(begin)
			return err == nil && !ok, fmt.Sprintf("present %v (%v)", ok, err)
		})
		var hAt time.Time
		eventually(t, 10*time.Second, "Herald's log line \"BFD session down\"", func() (bool, string) {
			at, ok := l.heraldDownAt(begin)
			hAt = at
			return ok, "none yet"
		})
		// FRR bfdd sends its first State Down up to a slow-rate interval
		// (1 s) after it declares the session down; on an idle machine
		// the polls above can all be done before that.
		routerDown := []string{l.lab.Router.LAN4.String() + ".", "> " + l.node.LAN4.String() + ".3784", "State Down"}
		eventuallyEvery(t, 5*time.Second, 50*time.Millisecond, "the router's BFD State Down in the capture", func() (bool, string) {
			_, ok := firstAfter(capt.read(t), begin, routerDown...)
			return ok, "not yet"
		})
		ps := capt.stop(t)
		// The drop rules took effect within the nft call, after Herald's
		// last packet that left: the cut is counted from the middle of
		// that interval (± half of it, logged).
		lo, hi := begin, begin.Add(cutTook)
		for _, p := range ps {
			if p.at.Before(hi) && p.at.After(lo) && strings.Contains(p.text, l.node.LAN4.String()+".") &&
				strings.Contains(p.text, "> "+l.lab.Router.LAN4.String()+".3784") {
				lo = p.at
			}
		}
		start := lo.Add(hi.Sub(lo) / 2)
		frrAt, ok := firstAfter(ps, lo, routerDown...)
		if !ok {
			t.Fatalf("trial %d: no BFD State Down from the router in the capture", i+1)
		}
		hDown, rDown, rGone := hAt.Sub(start), frrAt.Sub(start), gonePolled-start.Sub(begin)
		// bgpd's Cease/BFD Down marks when it dropped the session and
		// its routes. Some captures have none (the cut drops it before
		// tcpdump on node1 sees it); then the route leaving the router's
		// kernel table stands (a netlink notification, stamped as it
		// arrives: later by zebra's time, tens of ms), and failing that
		// the CLI poll's time (a vtysh per poll: hundreds of ms late on
		// a loaded machine).
		var fibGone time.Duration
		for wait := time.Now().Add(3 * time.Second); fibGone == 0 && time.Now().Before(wait); time.Sleep(10 * time.Millisecond) {
			changes, _ := fib.all()
			if at, ok := firstRemoval(changes, begin); ok {
				fibGone = at.Sub(start)
			}
		}
		switch notifyAt, ok := firstAfter(ps, lo, l.lab.Router.LAN4.String()+".", "Notification"); {
		case ok:
			rGone = notifyAt.Sub(start)
		case fibGone != 0:
			rGone = fibGone
			t.Logf("trial %d: no BGP NOTIFICATION from the router in the capture; the route's withdrawal is its removal from the router's kernel table", i+1)
		default:
			t.Logf("trial %d: no BGP NOTIFICATION in the capture and no removal from the router's kernel table seen; the route's withdrawal is the CLI poll's", i+1)
		}
		t.Logf("trial %d: cut at ±%v; Herald detected after %v, FRR bfdd after %v, FRR bgpd closed (route withdrawn) after %v; "+
			"route out of the router's kernel table after %v; polled at FRR's CLI: BFD down after %v, route gone after %v", i+1, (hi.Sub(lo) / 2).Round(time.Millisecond),
			hDown.Round(time.Millisecond), rDown.Round(time.Millisecond), rGone.Round(time.Millisecond),
			fibGone.Round(time.Millisecond), rPolled.Round(time.Millisecond), gonePolled.Round(time.Millisecond))
		if hDown > bound {
			t.Errorf("trial %d: Herald detected the cut after %v, want within %v", i+1, hDown, bound)
		}
		if rDown > bound {
			t.Errorf("trial %d: FRR detected Herald's loss after %v, want within %v", i+1, rDown, bound)
		}
		if rGone >= time.Second {
			t.Errorf("trial %d: the router withdrew the route after %v, want under 1 s", i+1, rGone)
		}
		heraldDet, routerDet, withdrawn = append(heraldDet, hDown), append(routerDet, rDown), append(withdrawn, rGone)
		l.mend()
	}
	t.Logf("%d trials, p50/p99: Herald detection %v/%v, FRR bfdd detection %v/%v, route withdrawal %v/%v", trials,
		pct(heraldDet, 50), pct(heraldDet, 99), pct(routerDet, 50), pct(routerDet, 99), pct(withdrawn, 50), pct(withdrawn, 99))

	t.Run("without BFD the route waits for the hold time", func(t *testing.T) {
		l.configure(nil)
		l.waitBFD("", "down", 30*time.Second)
		l.waitEstablished()
		l.route(prefix, "the Service's route at the router", func(_ routers.Route, ok bool) bool { return ok })
		start := time.Now()
		l.cut()
		defer l.mend()
		var gone time.Duration
		eventuallyEvery(t, 2*bfdHoldTime, 50*time.Millisecond, "the route withdrawn", func() (bool, string) {
			ok, err := l.routePresent(prefix)
			gone = time.Since(start)
			return err == nil && !ok, fmt.Sprintf("present %v (%v)", ok, err)
		})
		t.Logf("without BFD the route was withdrawn after %v (hold time %v)", gone.Round(time.Millisecond), bfdHoldTime)
		// The hold timer restarts on every keepalive (every 3 s): it runs
		// out 6 to 9 s after the cut.
		if gone < bfdHoldTime*2/3-time.Second {
			t.Errorf("without BFD the route went after %v: something other than the hold time took it", gone)
		}
	})
}

// pct is the p-th percentile of ds (nearest rank).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (p*len(s) + 99) / 100
	return s[max(i, 1)-1].Round(time.Millisecond)
}

// Authentication against BIRD (FRR's bfdd has none): keyed SHA1 with the
// same key comes Up with no authentication failure counted; with a wrong
// key the session stays Down on both sides and Herald counts the
// router's packets in herald_bfd_auth_failures_total.
func TestBFDAuthentication(t *testing.T) {
	l := newBFDLab(t, "bird", routers.BFDProfile{ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond,
		DetectMultiplier: 3, Auth: &routers.BFDAuth{Type: "keyed-sha1", KeyID: 3, Password: "bfd-shared-key"}})
	l.configure(&heraldBFD{rxMs: 300, txMs: 300, mult: 3, authType: "keyed-sha1", keyID: 3, key: "bfd-shared-key"})
	l.waitEstablished()

	t.Run("the same key comes Up", func(t *testing.T) {
		l.waitBFD("Up", "up", 30*time.Second)
		l.stayUp(2 * time.Second)
		if n, err := l.metric("herald_bfd_auth_failures_total"); err != nil || n != 0 {
			t.Errorf("herald_bfd_auth_failures_total %v (%v), want 0 with the right key", n, err)
		}
	})
	t.Run("malformed and badly signed packets are dropped and counted, the session stays Up", func(t *testing.T) {
		before, err := l.metricBy("herald_bfd_packets_dropped_total", "reason")
		if err != nil {
			t.Fatal(err)
		}
		authBefore, err := l.metric("herald_bfd_auth_failures_total")
		if err != nil {
			t.Fatal(err)
		}
		// A keyed SHA1 section (§4.4) whose digest is not the key's.
		badAuth := append([]byte{4, 28, 3, 0, 0, 0, 0, 1}, make([]byte, 20)...)
		const n = 5
		l.sendBFD(n,
			bfdControl(0, 0, 0x1234, 0, nil),       // version 0
			bfdControl(1, 24, 0x1234, 0, nil)[:20], // 20 bytes, length field 24
			bfdControl(1, 0, 0, 0, nil),            // My Discriminator 0
			bfdControl(1, 0, 0x1234, 0, badAuth),   // State Down, signed with the wrong key
		)
		// Had the last one been accepted, its State Down would have
		// taken the session down.
		l.stayUp(2 * time.Second)
		after, err := l.metricBy("herald_bfd_packets_dropped_total", "reason")
		if err != nil {
			t.Fatal(err)
		}
		for _, reason := range []string{"BadVersion", "BadLength", "ZeroMyDiscriminator"} {
			if d := after[reason] - before[reason]; d < n {
				t.Errorf("herald_bfd_packets_dropped_total{reason=%q} grew by %v, want at least %d (before %v, after %v)",
					reason, d, n, before, after)
			}
		}
		// The signed packet fails on its sequence number (outside BIRD's
		// window) or its digest, whichever the check meets first.
		authDrops := 0.0
		for reason, v := range after {
			if strings.HasPrefix(reason, "Auth") {
				authDrops += v - before[reason]
			}
		}
		if authDrops < n {
			t.Errorf("herald_bfd_packets_dropped_total{reason=~\"Auth.*\"} grew by %v, want at least %d (before %v, after %v)",
				authDrops, n, before, after)
		}
		if a, err := l.metric("herald_bfd_auth_failures_total"); err != nil || a-authBefore < n {
			t.Errorf("herald_bfd_auth_failures_total grew from %v to %v (%v), want by at least %d", authBefore, a, err, n)
		}
	})
	t.Run("a wrong key stays Down and is counted", func(t *testing.T) {
		l.configure(&heraldBFD{rxMs: 300, txMs: 300, mult: 3, authType: "keyed-sha1", keyID: 3, key: "not-the-key"})
		l.waitBFD("Down", "down", 30*time.Second)
		for end := time.Now().Add(4 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			h, _, err := l.heraldBFDState()
			r, rerr := l.router.BFDState(t.Context(), l.node.LAN4)
			if err != nil || rerr != nil || h == "Up" || r == "up" {
				t.Fatalf("with a wrong key: Herald %q (%v), router %q (%v); want neither Up", h, err, r, rerr)
			}
		}
		eventually(t, 10*time.Second, "auth failures counted", func() (bool, string) {
			n, err := l.metric("herald_bfd_auth_failures_total")
			return err == nil && n > 0, fmt.Sprintf("%v (%v)", n, err)
		})
	})
}

// firstRemoval is when the watched route left the table after since.
func firstRemoval(changes []nextHopChange, since time.Time) (time.Time, bool) {
	for _, c := range changes {
		if c.hops == "" && c.from != "" && c.at.After(since) {
			return c.at, true
		}
	}
	return time.Time{}, false
}
