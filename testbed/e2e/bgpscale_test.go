package e2e

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/heraldlb/herald/testbed/netlab"
)

// scalePool has room for the soak run's 10,000 Services.
const scalePool = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: scale
  namespace: metallb-system
spec:
  addresses:
  - 100.64.0.0/18
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: scale
  namespace: metallb-system
spec:
  ipAddressPools: [scale]
`

// Many Services announced to two peers (the lab's FRR and a GoBGP on the
// router's port 1790) from three speakers: all of them converge, every
// route at FRR through all three nodes and in GoBGP's Adj-RIB-In from each
// node. Under HERALD_SOAK, 10,000 Services (logging the time to converge
// and each speaker's peak RSS for docs/BENCHMARKS.md); in make test, 30;
// HERALD_SCALE_SERVICES sets another count. The speakers run with
// --profiling and each one's heap profile is saved at the end, in
// HERALD_SCALE_HEAP_DIR when set (go tool pprof reads it).
// HERALD_SCALE_GOMEMLIMIT, when set, is the speakers' GOMEMLIMIT: what a
// container memory limit gives them in a cluster (cmd/herald's
// setMemoryLimit), for comparing the peak with and without one;
// HERALD_SCALE_GOGC likewise sets their GOGC.
func TestBGPScale(t *testing.T) {
	n := 30
	if soak() {
		n = 10000
	}
	if v, err := strconv.Atoi(os.Getenv("HERALD_SCALE_SERVICES")); err == nil && v > 0 {
		n = v
	}
	o := speakerLabOptions{speakerArgs: []string{"--profiling"}}
	for _, name := range []string{"GOMEMLIMIT", "GOGC"} {
		if v := os.Getenv("HERALD_SCALE_" + name); v != "" {
			o.speakerEnv = append(o.speakerEnv, name+"="+v)
		}
	}
	l := bgpModeLab(t, "frr", o)
	g := l.goBGPOnRouter(1790, "192.0.2.2")
	l.kubectlApply(scalePool)
	l.kubectlApply(l.labPeers("peer") + fmt.Sprintf(`---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: gobgp
  namespace: metallb-system
spec:
  myASN: %d
  peerASN: %d
  peerAddress: %s
  peerPort: 1790
`, bgpModeASN, bgpModeASN, l.lab.Router.LAN4))

	start := time.Now()
	names := make(chan string)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for name := range names {
				if _, err := l.admin.CoreV1().Services("default").Create(t.Context(), lbService("default", name, nil), metav1.CreateOptions{}); err != nil {
					t.Errorf("creating Service %s: %v", name, err)
					continue
				}
				if _, err := l.admin.DiscoveryV1().EndpointSlices("default").Create(t.Context(), l.readySlice(name), metav1.CreateOptions{}); err != nil {
					t.Errorf("creating the EndpointSlice of %s: %v", name, err)
				}
			}
		})
	}
	for i := range n {
		names <- fmt.Sprintf("scale-%05d", i)
	}
	close(names)
	wg.Wait()
	l.took(fmt.Sprintf("creating %d Services and their EndpointSlices", n), start)

	pool := netip.MustParsePrefix("100.64.0.0/18")
	eventuallyEvery(t, 30*time.Minute, 2*time.Second, fmt.Sprintf("%d routes at FRR through three nodes each", n), func() (bool, string) {
		rs, err := l.router.Routes(t.Context())
		if err != nil {
			return false, err.Error()
		}
		full := 0
		for _, r := range rs {
			if pool.Overlaps(r.Prefix) && len(r.Paths) == 3 {
				full++
			}
		}
		return full == n, fmt.Sprintf("%d of %d", full, n)
	})
	l.took("FRR converged", start)
	eventuallyEvery(t, 30*time.Minute, 2*time.Second, fmt.Sprintf("%d routes from each node at GoBGP", n), func() (bool, string) {
		var got []string
		ok := true
		for _, node := range l.lab.Nodes {
			rs, err := g.Received(t.Context(), node.LAN4)
			if err != nil {
				return false, err.Error()
			}
			c := 0
			for _, r := range rs {
				if pool.Overlaps(r.Prefix) {
					c++
				}
			}
			ok = ok && c == n
			got = append(got, fmt.Sprintf("%s %d", node.Name, c))
		}
		return ok, strings.Join(got, ", ")
	})
	l.took("both peers converged", start)
	dir := os.Getenv("HERALD_SCALE_HEAP_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	for _, node := range l.lab.Nodes {
		t.Logf("speaker on %s: peak RSS %s; %s", node.Name, peakRSS(t, l.speakers[node.Name].cmd.Process.Pid), l.runtimeFigures(node))
		saveHeapProfile(t, l, node, filepath.Join(dir, fmt.Sprintf("heap-%s-%d.pb.gz", node.Name, n)))
	}
}

// saveHeapProfile writes a speaker's heap profile (served with
// --profiling) to path, and reads it back whole: a profile is gzipped
// protobuf, and an error page or a cut-off copy does not unzip.
func saveHeapProfile(t *testing.T, l *speakerLab, node netlab.Host, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+speakerMetricsAddr+"/debug/pprof/heap", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := netlab.HTTPClient(node.NS, 30*time.Second).Do(req)
	if err != nil {
		t.Fatalf("%s's heap profile: %v", node.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s's heap profile: %s", node.Name, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	size, err := io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("%s's heap profile: %v", node.Name, err)
	}
	f, err = os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err == nil {
		_, err = io.Copy(io.Discard, z)
	}
	if err != nil {
		t.Fatalf("%s's heap profile in %s does not unzip: %v", node.Name, path, err)
	}
	t.Logf("speaker on %s: heap profile in %s (%d bytes)", node.Name, path, size)
}

// readySlice is an EndpointSlice of the Service in default with one ready
// endpoint on every node.
func (l *speakerLab) readySlice(svc string) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: svc + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for i, n := range l.lab.Nodes {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.244.%d.5", i)},
			NodeName: ptr.To(n.Name), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	return es
}

// peakRSS reads a process's high-water resident set (VmHWM), and what it
// holds now: anonymous memory (the Go heap, stacks and the runtime's own)
// and file pages (mostly the binary's code, shared with any other process
// running it).
func peakRSS(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	kib := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[2] == "kB" {
			kib[strings.TrimSuffix(f[0], ":")], _ = strconv.Atoi(f[1])
		}
	}
	for _, k := range []string{"VmHWM", "VmRSS", "RssAnon", "RssFile"} {
		if _, ok := kib[k]; !ok {
			t.Fatalf("no %s in /proc/%d/status", k, pid)
		}
	}
	mib := func(k string) float64 { return float64(kib[k]) / 1024 }
	return fmt.Sprintf("%.1f MiB (now %.1f MiB: anonymous %.1f, file %.1f)", mib("VmHWM"), mib("VmRSS"), mib("RssAnon"), mib("RssFile"))
}

// runtimeFigures reads what a speaker's Go runtime says of its memory and
// of the work spent on it, from its /metrics: the heap in use, the
// collections run, and the CPU the process has used in all.
func (l *speakerLab) runtimeFigures(node netlab.Host) string {
	var parts []string
	for _, m := range []struct{ name, format string }{
		{"go_memstats_heap_inuse_bytes", "heap in use %.1f MiB"},
		{"go_gc_duration_seconds_count", "%.0f collections"},
		{"process_cpu_seconds_total", "%.1f s of CPU"},
	} {
		v, err := l.metric(node, m.name)
		if err != nil {
			l.t.Errorf("%s: %v", node.Name, err)
			continue
		}
		if strings.HasSuffix(m.name, "_bytes") {
			v /= 1 << 20
		}
		parts = append(parts, fmt.Sprintf(m.format, v))
	}
	return strings.Join(parts, ", ")
}
