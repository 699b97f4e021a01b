// Package labtest assembles the lab for end-to-end tests. One call gives a
// test its own isolated Env (network namespaces, optionally a router, a
// control plane and a collector), removed when the test ends, and, when the
// test fails, a report a person can read without rerunning it: the router's
// sessions, routes, configuration and logs, every namespace's addresses,
// routes and neighbours, and the tail of every log registered with AddLog
// (Herald's speakers and controller).
//
// Labs are isolated by construction (netlab claims a unique ID per lab), so
// tests that use labtest may run in parallel.
package labtest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldlb/herald/testbed/kube"
	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/otelcol"
	"github.com/heraldlb/herald/testbed/routers"

	"github.com/heraldlb/herald/testbed/internal/logtail"
)

// Options choose the parts of the lab a test needs.
type Options struct {
	// Nodes is the number of node namespaces (default 3).
	Nodes int
	// Router is "frr", "bird" or "" (no router).
	Router string
	// RouterASN is the router's AS number (default 64512).
	RouterASN uint32
	// Neighbors returns the router's BGP neighbors once the lab exists.
	Neighbors func(*netlab.Lab) []routers.Neighbor
	// RouterLater leaves the router to Env.StartRouter: FRR and BIRD back
	// off for seconds after a refused connection, so passive peers (GoBGP)
	// should listen before the router starts.
	RouterLater bool
	// ControlPlane starts a kube-apiserver with Herald's CRDs.
	ControlPlane bool
	// APIServerArgs are added to the kube-apiserver's command line (e.g. a
	// dual-stack --service-cluster-ip-range for IPv6 Services).
	APIServerArgs []string
	// Collector starts an OpenTelemetry collector.
	Collector bool
}

// Env is one test's lab. Its fields are nil for parts not asked for.
type Env struct {
	Lab          *netlab.Lab
	Router       routers.Router
	ControlPlane *kube.ControlPlane
	Collector    *otelcol.Collector

	t    testing.TB
	opts Options
	// teardown stops what Start and StartRouter started, last first.
	teardown []func() error
	mu       sync.Mutex
	logs     map[string]string // name -> path
}

// Start builds the lab for t, skipping t when not root.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	if !netlab.IsRoot() {
		t.Skip("the lab needs root (network namespaces); run as root")
	}
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.RouterASN == 0 {
		opts.RouterASN = 64512
	}
	e := &Env{t: t, opts: opts, logs: map[string]string{}}
	// One cleanup tears everything down, after the report: the report needs
	// the namespaces, the router and the API server's log still there.
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(e.Report())
		}
		for i := len(e.teardown) - 1; i >= 0; i-- {
			if err := e.teardown[i](); err != nil {
				t.Errorf("labtest teardown: %v", err)
			}
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute) // a first run builds kube-apiserver
	defer cancel()
	lab, err := netlab.New(ctx, netlab.Options{Nodes: opts.Nodes, Log: Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.Lab = lab
	e.teardown = append(e.teardown, lab.Close)
	if opts.ControlPlane {
		dir, err := kube.RepoCRDDir()
		if err != nil {
			t.Fatal(err)
		}
		cp, err := kube.Start(ctx, kube.Options{CRDDir: dir, Logf: t.Logf, ExtraAPIServerArgs: opts.APIServerArgs})
		if err != nil {
			t.Fatal(err)
		}
		e.ControlPlane = cp
		e.teardown = append(e.teardown, func() error { cp.Stop(); return nil })
	}
	if opts.Collector {
		col, err := otelcol.Start(ctx, otelcol.Options{Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		e.Collector = col
		e.teardown = append(e.teardown, col.Stop)
	}
	if opts.Router != "" && !opts.RouterLater {
		e.StartRouter()
	}
	return e
}

// StartRouter starts the router Options named (Start does, unless
// RouterLater).
func (e *Env) StartRouter() routers.Router {
	t, opts := e.t, e.opts
	t.Helper()
	cfg := routers.Config{Name: "router", Namespace: e.Lab.Router.NS, Dir: filepath.Join(e.Lab.Dir, "router"),
		ASN: opts.RouterASN, RouterID: e.Lab.Router.LAN4, Log: Logger(t)}
	if opts.Neighbors != nil {
		cfg.Neighbors = opts.Neighbors(e.Lab)
	}
	var err error
	switch opts.Router {
	case "frr":
		e.Router, err = routers.NewFRR(cfg)
	case "bird":
		e.Router, err = routers.NewBIRD(cfg)
	default:
		t.Fatalf("labtest: unknown router %q (frr or bird)", opts.Router)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.Router.Start(ctx); err != nil {
		t.Fatalf("starting %s: %v", opts.Router, err)
	}
	e.teardown = append(e.teardown, e.Router.Stop)
	return e.Router
}

// AddLog registers a log file (a speaker's, the controller's) for the
// failure report.
func (e *Env) AddLog(name, path string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.logs[name] = path
}

// Report describes the lab's state: what a person would look at first when
// a test fails.
func (e *Env) Report() string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var b strings.Builder
	fmt.Fprintf(&b, "\n======== lab report: %s ========\n%s\n", e.Lab.Name, e.Lab.Summary())
	if r := e.Router; r != nil {
		for _, cmd := range routerCommands(r.Kind()) {
			out, err := r.Exec(ctx, cmd)
			fmt.Fprintf(&b, "---- %s: %s\n%s", r.Kind(), cmd, out)
			if err != nil {
				fmt.Fprintf(&b, "(%v)\n", err)
			}
		}
		fmt.Fprintf(&b, "---- %s configuration\n%s\n---- %s logs\n%s\n", r.Kind(), r.Config(), r.Kind(), r.Logs())
	}
	for _, h := range e.Lab.Hosts() {
		for _, argv := range [][]string{{"ip", "-br", "addr"}, {"ip", "route"}, {"ip", "-6", "route"}, {"ip", "neigh"}} {
			out, err := e.Lab.Exec(ctx, h.NS, argv...)
			fmt.Fprintf(&b, "---- %s: %s\n%s", h.Name, strings.Join(argv, " "), out)
			if err != nil {
				fmt.Fprintf(&b, "(%v)\n", err)
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for name, path := range e.logs {
		fmt.Fprintf(&b, "---- log of %s (%s), last 60 lines\n%s\n", name, path, logtail.Lines(path, 60))
	}
	if e.ControlPlane != nil {
		fmt.Fprintf(&b, "---- kube-apiserver log, last 20 lines\n%s\n", logtail.Lines(e.ControlPlane.APIServerLog(), 20))
	}
	b.WriteString("======== end of lab report ========\n")
	return b.String()
}

func routerCommands(kind string) []string {
	if kind == "bird" {
		return []string{"show protocols all", "show route all", "show bfd sessions"}
	}
	return []string{"show bgp summary", "show bgp ipv4 unicast", "show bgp ipv6 unicast", "show bfd peers brief", "show ip route"}
}

// Logger returns a logger that writes through t.Log until the test ends
// (a goroutine logging after that would panic the test binary).
func Logger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
