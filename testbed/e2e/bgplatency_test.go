package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// latencyPool has room for the soak run's 200 Services.
const latencyPool = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: latency
  namespace: metallb-system
spec:
  addresses:
  - 198.51.100.0/24
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: latency
  namespace: metallb-system
spec:
  ipAddressPools: [latency]
`

// The time from creating a LoadBalancer Service (pool, peers and
// advertisement in place; its EndpointSlice written right after it, as
// the endpoint-slice controller would) to its route at FRR, one Service at a time. The
// route is seen in the router's kernel table, which FRR's zebra fills from
// its RIB: `ip monitor route` there timestamps the first path's arrival to
// the millisecond, which polling vtysh could not. Under HERALD_SOAK it
// creates 200 Services and logs p50 and p99 for docs/BENCHMARKS.md; in
// make test, 10, and it asserts only that every route arrives (nothing
// timed).
func TestBGPServiceToRouteLatency(t *testing.T) {
	n := 10
	if soak() {
		n = 200
	}
	l := bgpModeLab(t, "frr", speakerLabOptions{})
	l.kubectlApply(latencyPool)
	l.kubectlApply(l.labPeers("peer"))
	for _, node := range l.lab.Nodes {
		eventually(t, 60*time.Second, node.Name+"'s IPv4 session Established at the router", func() (bool, string) {
			st, err := l.router.SessionState(t.Context(), node.LAN4)
			if err != nil {
				return false, err.Error()
			}
			return st == "Established", st
		})
	}
	mon := l.monitorRouterRoutes()

	// took is create to route; toIP, create to the IP in the Service's
	// status (the controller's share, seen by polling every 5 ms);
	// toRoute, that to the route (the speakers' and FRR's share).
	var took, toIP, toRoute []time.Duration
	for i := range n {
		name := fmt.Sprintf("lat-%03d", i)
		start := time.Now()
		if _, err := l.admin.CoreV1().Services("default").Create(t.Context(), lbService("default", name, nil), metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating Service %s: %v", name, err)
		}
		// The EndpointSlice follows the Service, as the endpoint-slice
		// controller would write it (there is none in the lab).
		l.setEndpoints(&lbSvc{ns: "default", name: name}, "node1", "node2", "node3")
		var ip netip.Addr
		eventuallyEvery(t, 30*time.Second, 5*time.Millisecond, name+" gets an IP", func() (bool, string) {
			got, err := l.admin.CoreV1().Services("default").Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			if ing := got.Status.LoadBalancer.Ingress; len(ing) > 0 {
				ip, _ = netip.ParseAddr(ing[0].IP)
				return ip.IsValid(), ing[0].IP
			}
			return false, "no ingress"
		})
		allocated := time.Now()
		var at time.Time
		eventuallyEvery(t, 30*time.Second, 5*time.Millisecond, "the router's kernel route to "+ip.String(), func() (bool, string) {
			var ok bool
			at, ok = mon.seen(ip)
			if !ok && time.Since(start) > 20*time.Second {
				out, _ := l.router.Exec(t.Context(), "show bgp ipv4 unicast")
				return false, "FRR: " + out
			}
			return ok, "not yet"
		})
		took = append(took, at.Sub(start))
		toIP = append(toIP, allocated.Sub(start))
		toRoute = append(toRoute, at.Sub(allocated))
	}
	// The RIB agrees with the kernel table: every route is there.
	r, err := l.router.Routes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	in := 0
	for _, rt := range r {
		if netip.MustParsePrefix("198.51.100.0/24").Overlaps(rt.Prefix) {
			in++
		}
	}
	if in != n {
		t.Errorf("FRR's RIB holds %d routes of the pool, want %d", in, n)
	}
	for _, d := range []struct {
		what string
		ds   []time.Duration
	}{{"Service create to the route at FRR", took}, {"of which create to the IP in its status", toIP}, {"and the IP to the route", toRoute}} {
		slices.Sort(d.ds)
		t.Logf("%s over %d Services: p50 %s, p99 %s, max %s", d.what, n,
			quantile(d.ds, 0.50).Round(time.Millisecond), quantile(d.ds, 0.99).Round(time.Millisecond), d.ds[len(d.ds)-1].Round(time.Millisecond))
	}
}

// quantile returns the q-quantile of sorted (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// routeMonitor records when each address's host route first appeared in
// the router namespace's kernel table.
type routeMonitor struct {
	mu    sync.Mutex
	first map[netip.Addr]time.Time
}

func (m *routeMonitor) seen(a netip.Addr) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.first[a]
	return t, ok
}

// monitorRouterRoutes runs `ip -o monitor route` in the router's namespace
// until the test ends.
func (l *speakerLab) monitorRouterRoutes() *routeMonitor {
	t := l.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ip", "-n", l.lab.Router.NS, "-o", "monitor", "route")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &routeMonitor{first: map[netip.Addr]time.Time{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			now := time.Now()
			f := strings.Fields(sc.Text())
			if len(f) == 0 || f[0] == "Deleted" {
				continue
			}
			a, err := netip.ParseAddr(strings.TrimSuffix(f[0], "/32"))
			if err != nil {
				continue
			}
			m.mu.Lock()
			if _, ok := m.first[a]; !ok {
				m.first[a] = now
			}
			m.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		<-done
	})
	return m
}
