package netlab

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if IsRoot() {
		// Leftovers of crashed runs; labs of live runs are kept.
		_, _ = CleanupStale(context.Background(), nil, DefaultPrefix)
	}
	m.Run()
}

// TestL2Reachability: the client reaches each node's backend on the LAN,
// over IPv4 and IPv6, and the node's kernel does not answer ARP for a
// service IP bound on lo.
func TestL2Reachability(t *testing.T) {
	t.Parallel()
	l := NewForTest(t, Options{Nodes: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	for _, n := range l.Nodes {
		for _, ip := range []netip.Addr{n.LAN4, n.LAN6} {
			addr := netip.AddrPortFrom(ip, 8080)
			if _, err := l.StartBackend(ctx, n.Name, addr); err != nil {
				t.Fatal(err)
			}
			got, err := l.HTTPGetFromClient(ctx, ServiceURL(addr))
			if err != nil {
				t.Fatal(err)
			}
			if got != n.Name {
				t.Fatalf("GET %s = %q, want %q", addr, got, n.Name)
			}
		}
	}

	// Service IPs on node1's lo inside the LAN: arp_ignore=1 (and NDP's
	// own rule) keep the kernel silent, so the client cannot resolve them.
	short, c2 := context.WithTimeout(ctx, time.Second)
	defer c2()
	for _, svc := range []netip.Addr{l.L2Pool4.Addr().Next(), l.L2Pool6.Addr().Next()} {
		if _, err := l.StartBackend(ctx, "node1", netip.AddrPortFrom(svc, 80)); err != nil {
			t.Fatal(err)
		}
		if got, err := l.HTTPGetFromClient(short, ServiceURL(netip.AddrPortFrom(svc, 80))); err == nil {
			t.Fatalf("GET %s on lo answered %q without Herald: the node's kernel answered ARP/NDP", svc, got)
		}
		neigh, err := l.Neighbors(ctx, "client")
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range neigh {
			if n.Dst == svc && n.LLAddr != "" {
				t.Fatalf("client resolved %s to %s: kernel ARP/NDP reply from a node", svc, n.LLAddr)
			}
		}
	}
}

// TestRoutedReachability: with a static route at the router (what BGP
// installs), the client reaches a node's backend on a BGP service IP.
func TestRoutedReachability(t *testing.T) {
	t.Parallel()
	l := NewForTest(t, Options{Nodes: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	node := l.Nodes[0]
	for _, c := range []struct {
		svc netip.Addr
		via netip.Addr
	}{
		{l.BGPPool4.Addr().Next(), node.LAN4},
		{l.BGPPool6.Addr().Next(), node.LAN6},
	} {
		addr := netip.AddrPortFrom(c.svc, 80)
		if _, err := l.StartBackend(ctx, node.Name, addr); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Exec(ctx, "router", "ip", "route", "add", netip.PrefixFrom(c.svc, c.svc.BitLen()).String(), "via", c.via.String()); err != nil {
			t.Fatal(err)
		}
		got, err := l.HTTPGetFromClient(ctx, ServiceURL(addr))
		if err != nil {
			t.Fatal(err)
		}
		if got != node.Name {
			t.Fatalf("GET %s = %q, want %q", addr, got, node.Name)
		}
		r, ok, err := l.RouteTo(ctx, "router", netip.PrefixFrom(c.svc, c.svc.BitLen()))
		if err != nil || !ok || len(r.NextHops) != 1 || r.NextHops[0].Gateway != c.via {
			t.Fatalf("router route to %s = %+v, %v, %v; want via %s", c.svc, r, ok, err, c.via)
		}
	}
}

// TestTeardown: Close removes the namespaces and kills what runs in them.
func TestTeardown(t *testing.T) {
	t.Parallel()
	l := NewForTest(t, Options{Nodes: 1})
	ctx := context.Background()
	if _, err := l.Exec(ctx, "node1", "sh", "-c", "sleep 300 >/dev/null 2>&1 &"); err != nil {
		t.Fatal(err)
	}
	p, err := l.StartProcess("client", filepath.Join(l.Dir, "sleep.log"), "sleep", "300")
	if err != nil {
		t.Fatal(err)
	}
	nss := l.Namespaces()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if processAlive(p.Pid) {
		t.Errorf("process %d started with StartProcess survived Close", p.Pid)
	}
	left, err := listNamespaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range left {
		if slices.Contains(nss, ns) || strings.HasPrefix(ns, l.Name+"-") {
			t.Errorf("namespace %s left after Close", ns)
		}
	}
	labs, err := ListLabs(l.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := labs[l.Name]; ok {
		t.Errorf("lab %s still listed after Close", l.Name)
	}
}

// TestCleanupStale: a lab whose owner record names a dead process is
// removed; a live one is kept.
func TestCleanupStale(t *testing.T) {
	t.Parallel()
	live := NewForTest(t, Options{Nodes: 1, Prefix: "hbs"})
	dead := NewForTest(t, Options{Nodes: 1, Prefix: "hbs"})
	// Pretend dead's owner crashed: PID 0x7fffffff does not exist.
	if err := writeOwnerValue(dead.Dir, "2147483647"); err != nil {
		t.Fatal(err)
	}
	removed, err := CleanupStale(context.Background(), nil, "hbs")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(removed, dead.Name) || slices.Contains(removed, live.Name) {
		t.Fatalf("CleanupStale removed %v; want %s and not %s", removed, dead.Name, live.Name)
	}
	labs, _ := ListLabs("hbs")
	if _, ok := labs[dead.Name]; ok {
		t.Errorf("stale lab %s still has namespaces", dead.Name)
	}
	if _, ok := labs[live.Name]; !ok {
		t.Errorf("live lab %s was removed", live.Name)
	}
}

// TestPersistentAttach: a persistent lab survives CleanupStale even with
// its owner gone, Attach rebuilds its description by name, and closing the
// attached lab removes it (testbed up / status / down).
func TestPersistentAttach(t *testing.T) {
	t.Parallel()
	l := NewForTest(t, Options{Nodes: 2, Prefix: "hbp", Persistent: true})
	removed, err := CleanupStale(context.Background(), nil, "hbp")
	if err != nil || slices.Contains(removed, l.Name) {
		t.Fatalf("CleanupStale removed %v (err %v); the persistent lab %s must stay", removed, err, l.Name)
	}
	a, err := Attach(l.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Summary() != l.Summary() || !strings.Contains(l.Summary(), l.Nodes[1].NS) {
		t.Errorf("summaries differ or lack node2:\n%s\n%s", a.Summary(), l.Summary())
	}
	t.Log("\n" + l.Summary())
	if len(a.Nodes) != 2 || a.Nodes[1] != l.Nodes[1] || a.Client != l.Client || a.Router != l.Router || a.BGPPool6 != l.BGPPool6 {
		t.Fatalf("attached lab differs:\n got %+v\nwant %+v", a, l)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	labs, _ := ListLabs("hbp")
	if _, ok := labs[l.Name]; ok {
		t.Errorf("lab %s still there after the attached Close", l.Name)
	}
}

// TestCloseOnSignal: SIGTERM to the process tears the lab down (the testbed
// command's ^C path). signal.Notify keeps the default action (exit) away
// while the handler is installed.
func TestCloseOnSignal(t *testing.T) {
	l := NewForTest(t, Options{Nodes: 1})
	got := make(chan os.Signal, 1)
	stop := l.CloseOnSignal(func(s os.Signal) { got <- s })
	defer stop()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != syscall.SIGTERM {
			t.Fatalf("handler saw %v, want SIGTERM", s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no teardown 10 s after SIGTERM")
	}
	labs, _ := ListLabs(l.Prefix)
	if _, ok := labs[l.Name]; ok {
		t.Errorf("lab %s still there after SIGTERM", l.Name)
	}
}
