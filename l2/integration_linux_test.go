package l2

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The integration tests put a Responder on one end of a veth pair in its
// own network namespace and real kernel clients (arping, ndisc6, the
// kernel's own neighbour discovery) on the other. They need root (to
// create namespaces) and skip otherwise; arping and ndisc6 come from the
// Debian packages iputils-arping and ndisc6.

const (
	respLink   = "r0"
	clientLink = "c0"
)

var (
	intSvc4  = netip.MustParseAddr("192.0.2.10")
	intSvc4b = netip.MustParseAddr("192.0.2.11")
	intSvc6  = netip.MustParseAddr("2001:db8::10")
	intSvc6b = netip.MustParseAddr("2001:db8::11")
)

type lab struct {
	resp, client string // namespace names
	mac          MAC    // of respLink
	index        int
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to create network namespaces and veth pairs; run go test as root to include it")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipped: needs iproute2 (ip)")
	}
}

func needTool(t *testing.T, tool, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Skipf("skipped: %s not installed (apt-get install -y %s)", tool, pkg)
	}
}

func sh(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newLab builds responder and client namespaces joined by a veth pair.
// The responder's link has no address of its own: the service IPs are
// not kernel addresses there, as with kube-proxy in iptables or nftables
// mode.
func newLab(t *testing.T) *lab {
	needRoot(t)
	id := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%100000)
	l := &lab{resp: "hl2r-" + id, client: "hl2c-" + id}
	for _, ns := range []string{l.resp, l.client} {
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		for _, k := range []string{"all", "default"} {
			sh(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf."+k+".accept_dad=0")
		}
		sh(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	sh(t, "ip", "-n", l.resp, "link", "add", respLink, "type", "veth", "peer", "name", clientLink, "netns", l.client)
	sh(t, "ip", "-n", l.client, "addr", "add", "192.0.2.2/24", "dev", clientLink)
	sh(t, "ip", "-n", l.client, "addr", "add", "2001:db8::2/64", "dev", clientLink, "nodad")
	sh(t, "ip", "-n", l.client, "link", "set", clientLink, "up")
	sh(t, "ip", "-n", l.resp, "link", "set", respLink, "up")
	l.inNetns(t, l.resp, func() {
		link, err := netlink.LinkByName(respLink)
		if err != nil {
			t.Fatal(err)
		}
		l.mac, l.index = MAC(link.Attrs().HardwareAddr), link.Attrs().Index
	})
	return l
}

// inNetns runs fn on a thread switched into namespace ns. Sockets made
// there stay in ns after the thread switches back.
func (l *lab) inNetns(t testing.TB, ns string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("cannot return to the original network namespace: %v", err))
		}
	}()
	fn()
}

func (l *lab) open(t *testing.T, opts Options) *Responder {
	var r *Responder
	l.inNetns(t, l.resp, func() {
		var err error
		r, err = Open(Interface{Name: respLink, Index: l.index, MAC: l.mac}, OpenOptions{Options: opts})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func (l *lab) inClient(t testing.TB, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", l.client}, args...)...).CombinedOutput()
	return string(out), err
}

// neighbour is the client kernel's entry for ip: its MAC and state.
func (l *lab) neighbour(t testing.TB, ip netip.Addr) string {
	return strings.TrimSpace(sh(t, "ip", "-n", l.client, "neigh", "show", ip.String(), "dev", clientLink))
}

func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIntegrationKernelClients(t *testing.T) {
	l := newLab(t)
	r := l.open(t, Options{})
	if _, err := r.Set([]netip.Addr{intSvc4, intSvc6}); err != nil {
		t.Fatal(err)
	}
	mac := l.mac.String()
	// Steady state: the gratuitous schedule is over, so every frame a
	// client sees below answers its own question.
	waitFor(t, "the gratuitous schedule to end", 5*time.Second, func() bool {
		return counters(r, intSvc4).Gratuitous == 2*uint64(len(DefaultSchedule)) &&
			counters(r, intSvc6).Gratuitous == uint64(len(DefaultSchedule))
	})

	t.Run("arping gets exactly one reply per request", func(t *testing.T) {
		needTool(t, "arping", "iputils-arping")
		before := counters(r, intSvc4)
		out, err := l.inClient(t, "arping", "-c", "3", "-I", clientLink, intSvc4.String())
		if err != nil {
			t.Fatalf("arping: %v\n%s", err, out)
		}
		replies := regexp.MustCompile(`(?i)reply from 192\.0\.2\.10 \[([0-9a-f:]+)\]`).FindAllStringSubmatch(out, -1)
		if len(replies) != 3 || !strings.Contains(out, "Received 3 response(s)") {
			t.Fatalf("want 3 replies to 3 requests:\n%s", out)
		}
		for _, m := range replies {
			if !strings.EqualFold(m[1], mac) {
				t.Fatalf("reply from MAC %s, want %s:\n%s", m[1], mac, out)
			}
		}
		after := counters(r, intSvc4)
		if after.Requests-before.Requests != 3 || after.Replies-before.Replies != 3 {
			t.Fatalf("counters went from %+v to %+v, want 3 more requests and replies", before, after)
		}
	})

	t.Run("arping -D (probe from 0.0.0.0) sees the address taken", func(t *testing.T) {
		needTool(t, "arping", "iputils-arping")
		out, err := l.inClient(t, "arping", "-D", "-c", "1", "-w", "2", "-I", clientLink, intSvc4.String())
		if err == nil || !strings.Contains(out, "Received 1 response(s)") {
			t.Fatalf("want the probe answered once (exit status 1):\nerr=%v\n%s", err, out)
		}
	})

	t.Run("arping for an IP not owned gets nothing", func(t *testing.T) {
		needTool(t, "arping", "iputils-arping")
		out, err := l.inClient(t, "arping", "-c", "1", "-w", "1", "-I", clientLink, "192.0.2.99")
		if err == nil || !strings.Contains(out, "Received 0 response(s)") {
			t.Fatalf("want no reply:\nerr=%v\n%s", err, out)
		}
	})

	t.Run("ndisc6 gets exactly one advertisement", func(t *testing.T) {
		needTool(t, "ndisc6", "ndisc6")
		out, err := l.inClient(t, "ndisc6", "-m", "-n", "-r", "1", "-w", "1500", intSvc6.String(), clientLink)
		if err != nil {
			t.Fatalf("ndisc6: %v\n%s", err, out)
		}
		lla := regexp.MustCompile(`(?i)Target link-layer address: ([0-9a-f:]+)`).FindAllStringSubmatch(out, -1)
		if len(lla) != 1 || !strings.EqualFold(lla[0][1], mac) {
			t.Fatalf("want one advertisement with %s:\n%s", mac, out)
		}
	})

	t.Run("the kernel's unicast NUD probe is answered", func(t *testing.T) {
		needTool(t, "ping", "iputils-ping")
		// A stale entry with the right MAC: the next packet to the IP puts
		// it in DELAY, then PROBE, where the kernel sends only unicast NS
		// to the IP itself (mcast_resolicit is 0). Only an answer makes
		// the entry REACHABLE; the IP is no address of the responder's
		// kernel, so an ICMPv6 socket there would never see the probe.
		sh(t, "ip", "netns", "exec", l.client, "sysctl", "-qw", "net.ipv6.neigh."+clientLink+".delay_first_probe_time=0")
		sh(t, "ip", "-n", l.client, "neigh", "replace", intSvc6.String(), "lladdr", mac, "dev", clientLink, "nud", "stale")
		before := counters(r, intSvc6)
		_, _ = l.inClient(t, "ping", "-6", "-c", "1", "-W", "1", intSvc6.String()) // nobody answers the echo
		waitFor(t, "the client's entry to become REACHABLE", 5*time.Second, func() bool {
			return strings.Contains(l.neighbour(t, intSvc6), "REACHABLE")
		})
		if after := counters(r, intSvc6); after.Replies <= before.Replies {
			t.Fatalf("replies %d -> %d: the NS was not answered by the responder", before.Replies, after.Replies)
		}
	})

	t.Run("takeover updates the client's existing entries", func(t *testing.T) {
		// The client still has the old owner's MAC for both IPs.
		for _, ip := range []netip.Addr{intSvc4b, intSvc6b} {
			sh(t, "ip", "-n", l.client, "neigh", "replace", ip.String(), "lladdr", "02:00:00:00:00:99", "dev", clientLink, "nud", "stale")
		}
		ch, err := r.Set([]netip.Addr{intSvc4, intSvc6, intSvc4b, intSvc6b})
		if err != nil || len(ch.Added) != 2 {
			t.Fatalf("Set: %+v, %v", ch, err)
		}
		for _, ip := range []netip.Addr{intSvc4b, intSvc6b} {
			waitFor(t, fmt.Sprintf("the client's entry for %v to hold %s", ip, mac), 5*time.Second, func() bool {
				return strings.Contains(l.neighbour(t, ip), mac)
			})
		}
	})

	t.Run("after Set drops an IP, nobody answers for it", func(t *testing.T) {
		needTool(t, "arping", "iputils-arping")
		if _, err := r.Set([]netip.Addr{intSvc6}); err != nil {
			t.Fatal(err)
		}
		out, err := l.inClient(t, "arping", "-c", "1", "-w", "1", "-I", clientLink, intSvc4.String())
		if err == nil || !strings.Contains(out, "Received 0 response(s)") {
			t.Fatalf("want no reply:\nerr=%v\n%s", err, out)
		}
		if got := r.Groups(); len(got) != 1 || got[0] != SolicitedNodeGroup(intSvc6) {
			t.Fatalf("memberships %v, want only %v", got, SolicitedNodeGroup(intSvc6))
		}
	})
}

// TestIntegrationMembershipIsKernelVisible: the solicited-node group is
// joined on the link (so the NIC accepts the multicast NS and MLD reports
// go out) and left with the last IP.
func TestIntegrationMembershipIsKernelVisible(t *testing.T) {
	l := newLab(t)
	r := l.open(t, Options{})
	group := SolicitedNodeGroup(intSvc6).String()
	maddr := func() string { return sh(t, "ip", "-n", l.resp, "-6", "maddress", "show", "dev", respLink) }
	if strings.Contains(maddr(), group) {
		t.Fatalf("%s joined before any IP is owned:\n%s", group, maddr())
	}
	if _, err := r.Set([]netip.Addr{intSvc6}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(maddr(), group) {
		t.Fatalf("%s not joined on %s:\n%s", group, respLink, maddr())
	}
	if _, err := r.Set(nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(maddr(), group) {
		t.Fatalf("%s still joined after the last IP went:\n%s", group, maddr())
	}
}

// TestIntegrationWatch: link down (by admin or by the peer), up, an
// address added, a link added and deleted are each reported as they happen.
func TestIntegrationWatch(t *testing.T) {
	l := newLab(t)
	filter, err := NewFilter(DefaultExclude)
	if err != nil {
		t.Fatal(err)
	}
	h, err := netns.GetFromName(l.resp)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var mu sync.Mutex
	var events []string
	w, err := Watch(WatchOptions{Filter: filter, Namespace: &h, OnError: func(err error) { t.Logf("watch: %v", err) }}, func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, eventString(e))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	expect := func(want string, change ...string) {
		t.Helper()
		if len(change) > 0 {
			sh(t, change...)
		}
		waitFor(t, "event "+want, 5*time.Second, func() bool {
			mu.Lock()
			defer mu.Unlock()
			for i, e := range events {
				if e == want {
					events = events[i+1:]
					return true
				}
			}
			return false
		})
	}
	expect("LinkAdded lo (loopback)")
	expect("LinkAdded " + respLink)
	expect("LinkDown "+respLink+" (administratively down)", "ip", "-n", l.resp, "link", "set", respLink, "down")
	expect("LinkUp "+respLink, "ip", "-n", l.resp, "link", "set", respLink, "up")
	expect("LinkDown "+respLink+" (operationally down)", "ip", "-n", l.client, "link", "set", clientLink, "down")
	expect("LinkUp "+respLink, "ip", "-n", l.client, "link", "set", clientLink, "up")
	expect("AddrAdded "+respLink+" 198.51.100.1/24", "ip", "-n", l.resp, "addr", "add", "198.51.100.1/24", "dev", respLink)
	expect("LinkAdded d0 (administratively down)", "ip", "-n", l.resp, "link", "add", "d0", "type", "veth", "peer", "name", "d1")
	expect("LinkRemoved d0 (administratively down)", "ip", "-n", l.resp, "link", "del", "d0")
}

// withEffectiveCaps runs fn with the calling thread's effective
// capabilities cut down to caps, then restores them. The caller must
// have locked the goroutine to its thread.
func withEffectiveCaps(t testing.TB, caps []uintptr, fn func()) {
	t.Helper()
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var saved [2]unix.CapUserData
	if err := unix.Capget(&hdr, &saved[0]); err != nil {
		t.Fatal(err)
	}
	cut := saved
	cut[0].Effective, cut[1].Effective = 0, 0
	for _, c := range caps {
		cut[c/32].Effective |= 1 << (c % 32)
	}
	if err := unix.Capset(&hdr, &cut[0]); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := unix.Capset(&hdr, &saved[0]); err != nil {
			panic(fmt.Sprintf("cannot restore capabilities: %v", err))
		}
	}()
	fn()
}

// TestIntegrationOpenNeedsOnlyNetRaw: Open succeeds with CAP_NET_RAW as
// the only effective capability and fails without it; the responder it
// opened then works (joining groups needs no capability).
func TestIntegrationOpenNeedsOnlyNetRaw(t *testing.T) {
	l := newLab(t)
	ifi := Interface{Name: respLink, Index: l.index, MAC: l.mac}
	tests := []struct {
		name string
		caps []uintptr
		ok   bool
	}{
		{"CAP_NET_RAW alone", []uintptr{unix.CAP_NET_RAW}, true},
		{"no capability", nil, false},
		{"CAP_NET_ADMIN and CAP_NET_BIND_SERVICE without CAP_NET_RAW", []uintptr{unix.CAP_NET_ADMIN, unix.CAP_NET_BIND_SERVICE}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r *Responder
			var err error
			l.inNetns(t, l.resp, func() {
				withEffectiveCaps(t, tt.caps, func() { r, err = Open(ifi, OpenOptions{}) })
			})
			if !tt.ok {
				if err == nil {
					r.Close()
					t.Fatal("Open succeeded without CAP_NET_RAW")
				}
				if !errors.Is(err, unix.EPERM) {
					t.Fatalf("Open: %v, want EPERM", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open with CAP_NET_RAW: %v", err)
			}
			defer r.Close()
			if _, err := r.Set([]netip.Addr{intSvc4, intSvc6}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
