package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/testbed/internal/logtail"
	"github.com/heraldlb/herald/testbed/jaeger"
	"github.com/heraldlb/herald/testbed/kube"
	"github.com/heraldlb/herald/testbed/labtest"
	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
)

// speakerLab is the lab with Herald in it as a cluster runs it: the real
// `herald controller` (without its webhook) and one real `herald speaker`
// per node namespace, each under its ServiceAccount and the chart's RBAC,
// a Node object per node namespace (there is no kubelet), a router, and a
// client behind the router.
type speakerLab struct {
	t      *testing.T
	env    *labtest.Env
	lab    *netlab.Lab
	cp     *kube.ControlPlane
	router routers.Router
	admin  kubernetes.Interface
	mlb    versioned.Interface
	bin    string

	speakers map[string]*heraldProc
	jaeger   *jaeger.Jaeger
	// speakerEnv is speakerLabOptions.speakerEnv.
	speakerEnv []string
	// controllerMetrics is the controller's metrics address on the host's
	// loopback ("": not served; see speakerLabOptions.controllerMetrics).
	controllerMetrics string
	// starts counts the processes started under each name.
	starts map[string]int
}

// startRouter starts the router of a lab made with routerLater.
func (l *speakerLab) startRouter() routers.Router {
	l.t.Helper()
	l.router = l.env.StartRouter()
	return l.router
}

// heraldProc is one running herald process.
type heraldProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

type speakerLabOptions struct {
	nodes     int
	router    string // frr, bird
	routerASN uint32
	neighbors func(*netlab.Lab) []routers.Neighbor
	// speakerArgs are added to every speaker's command line.
	speakerArgs []string
	// speakerEnv ("NAME=value") is added to every speaker's environment.
	speakerEnv []string
	// routerListenPort is where the router accepts sessions (default 179).
	routerListenPort uint16
	// apiServerArgs are added to kube-apiserver's flags.
	apiServerArgs []string // routerLater leaves the router to l.startRouter, so a test can have
	// everything in place before the sessions come up.
	routerLater bool
	// dualStack gives the API server an IPv6 service range too, for
	// IPv6 and dual-stack Services.
	dualStack bool
	// jaeger, when set, receives every Herald process's spans (OTLP over
	// HTTP; speakers reach it through a relay in their namespace).
	jaeger *jaeger.Jaeger
	// controllerMetrics has the controller serve /metrics on a free port
	// of the host's loopback (speakerLab.controllerMetrics).
	controllerMetrics bool
}

// apiServerArgs are the kube-apiserver flags o asks for. The lab's API
// server is dual-stack already (kube's service range), so dualStack only
// says what the test relies on.
func apiServerArgs(o speakerLabOptions) []string {
	return nil
}

func newSpeakerLab(t *testing.T, o speakerLabOptions) *speakerLab {
	t.Helper()
	bin := buildHerald(t)
	env := labtest.Start(t, labtest.Options{Nodes: o.nodes, Router: o.router, RouterASN: o.routerASN,
		Neighbors: o.neighbors, ControlPlane: true, RouterListenPort: o.routerListenPort, RouterLater: o.routerLater,
		APIServerArgs: append(apiServerArgs(o), o.apiServerArgs...)})
	l := &speakerLab{t: t, env: env, lab: env.Lab, cp: env.ControlPlane, router: env.Router, bin: bin,
		speakers: map[string]*heraldProc{}, jaeger: o.jaeger, speakerEnv: o.speakerEnv}
	ctx := t.Context()
	_, err := l.cp.ApplyYAML(ctx, chartRBAC(t))
	if err != nil {
		t.Fatalf("applying the chart's RBAC: %v", err)
	}
	if l.admin, err = kubernetes.NewForConfig(l.cp.AdminRESTConfig()); err != nil {
		t.Fatal(err)
	}
	if l.mlb, err = versioned.NewForConfig(l.cp.AdminRESTConfig()); err != nil {
		t.Fatal(err)
	}
	for _, n := range l.lab.Nodes {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: map[string]string{"kubernetes.io/hostname": n.Name}},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: n.LAN4.String()}, {Type: corev1.NodeInternalIP, Address: n.LAN6.String()}}}}
		if _, err := l.admin.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	kc, err := l.cp.KubeconfigFor(ctx, herald, "herald-controller")
	if err != nil {
		t.Fatal(err)
	}
	if o.controllerMetrics {
		l.controllerMetrics = freeAddr(t)
	}
	l.start("controller", "", "controller", "--kubeconfig", kc, "--namespace", herald, "--webhook-addr", "",
		"--metrics-addr", l.controllerMetrics, "--identity", "c1", "--lease-duration", "4s", "--renew-deadline", "3s", "--retry-period", "500ms")
	for _, n := range l.lab.Nodes {
		l.startSpeaker(n, o.speakerArgs...)
	}
	return l
}

const (
	speakerOTLPAddr    = "127.0.0.1:4318"
	speakerRelayAddr   = "127.0.0.1:6443"
	speakerMetricsAddr = "127.0.0.1:7472"
)

// startSpeaker runs `herald speaker` in n's namespace, reaching the API
// server through a relay on that namespace's loopback.
func (l *speakerLab) startSpeaker(n netlab.Host, args ...string) *heraldProc {
	l.t.Helper()
	p := l.launchSpeaker(n, args...)
	l.waitReady(n)
	return p
}

// launchSpeaker is startSpeaker without waiting for the speaker to be
// ready, so that several can start at the same moment.
func (l *speakerLab) launchSpeaker(n netlab.Host, args ...string) *heraldProc {
	t := l.t
	t.Helper()
	ctx := t.Context()
	var ln net.Listener
	if err := netlab.RunInNamespace(n.NS, func() (err error) { ln, err = net.Listen("tcp", speakerRelayAddr); return err }); err == nil {
		t.Cleanup(l.cp.Relay(ln))
	} // else: a restarted speaker finds its relay still there
	if l.jaeger != nil {
		var otlp net.Listener
		if err := netlab.RunInNamespace(n.NS, func() (err error) { otlp, err = net.Listen("tcp", speakerOTLPAddr); return err }); err == nil {
			go relayTo(otlp, l.jaeger.OTLPHTTPEndpoint())
			t.Cleanup(func() { otlp.Close() })
		}
	}
	kc, err := l.cp.KubeconfigAt(ctx, herald, "herald-speaker", "https://"+speakerRelayAddr)
	if err != nil {
		t.Fatal(err)
	}
	argv := append([]string{"speaker", "--kubeconfig", kc, "--namespace", herald, "--node-name", n.Name,
		"--metrics-addr", speakerMetricsAddr, "--log-level", "debug"}, args...)
	p := l.start("speaker-"+n.Name, n.NS, argv...)
	l.speakers[n.Name] = p
	return p
}

// start runs the herald binary (in namespace ns when given), its output in
// a log the lab's failure report shows.
func (l *speakerLab) start(name, ns string, argv ...string) *heraldProc {
	t := l.t
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	l.env.AddLog(name, logPath)
	cmd := exec.Command(l.bin, argv...)
	if ns != "" {
		// ip netns exec execs the binary itself: signals reach it.
		cmd = exec.Command("ip", append([]string{"netns", "exec", ns, l.bin}, argv...)...)
	}
	cmd.Stdout, cmd.Stderr = f, f
	if strings.HasPrefix(name, "speaker-") && len(l.speakerEnv) > 0 {
		cmd.Env = append(os.Environ(), l.speakerEnv...)
	}
	if l.jaeger != nil {
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		cmd.Env = append(cmd.Env, l.jaeger.Env("http/protobuf")...)
		if ns != "" {
			// The speaker's own loopback has the relay to Jaeger.
			cmd.Env = append(cmd.Env, "OTEL_EXPORTER_OTLP_ENDPOINT=http://"+speakerOTLPAddr, "NODE_NAME="+strings.TrimPrefix(name, "speaker-"))
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if l.starts == nil {
		l.starts = map[string]int{}
	}
	l.starts[name]++
	if dir := os.Getenv("HERALD_E2E_KEEP_LOGS"); dir != "" {
		// A restarted process's log is kept beside the first's, numbered
		// in the order they started (cleanups run in the reverse order).
		kept := name + ".log"
		if k := l.starts[name]; k > 1 {
			kept = fmt.Sprintf("%s.%d.log", name, k)
		}
		// Registered before the stop below, so it runs after it: the
		// whole log, up to the process's last line.
		t.Cleanup(func() {
			d := filepath.Join(dir, strings.ReplaceAll(t.Name(), "/", "_"))
			b, _ := os.ReadFile(logPath)
			if os.MkdirAll(d, 0o755) == nil {
				_ = os.WriteFile(filepath.Join(d, kept), b, 0o644)
			}
		})
	}
	p := &heraldProc{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(5 * time.Second) })
	return p
}

// stop sends SIGTERM and waits up to grace, then kills.
func (p *heraldProc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (l *speakerLab) waitReady(n netlab.Host) {
	l.t.Helper()
	p := l.speakers[n.Name]
	eventually(l.t, time.Minute, "the speaker on "+n.Name+" reports ready", func() (bool, string) {
		if p != nil {
			select {
			case <-p.done:
				// A speaker that exited will not become ready: say why
				// now rather than after the minute.
				l.t.Fatalf("the speaker on %s exited before it was ready (%v); its log ends:\n%s", n.Name, p.err, logtail.Lines(p.log, 20))
			default:
			}
		}
		body, err := l.lab.HTTPGet(l.t.Context(), n.NS, "http://"+speakerMetricsAddr+"/readyz")
		if err != nil {
			return false, err.Error()
		}
		return body == "ok", body
	})
}

// apply applies YAML to the API server (the configuration).
func (l *speakerLab) apply(yaml string) {
	l.t.Helper()
	if _, err := l.cp.ApplyYAML(l.t.Context(), []byte(yaml)); err != nil {
		l.t.Fatalf("applying:\n%s\n%v", yaml, err)
	}
}

// service creates a LoadBalancer Service with an EndpointSlice holding one
// ready endpoint on each of nodes (there is no EndpointSlice controller),
// and an HTTP backend on port 80 of each of those nodes once the Service has
// an IP. It returns the IP.
func (l *speakerLab) service(name string, mod func(*corev1.Service), nodes ...string) netip.Addr {
	t := l.t
	t.Helper()
	ctx := t.Context()
	s := lbService("default", name, mod)
	if _, err := l.admin.CoreV1().Services("default").Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating Service %s: %v", name, err)
	}
	l.endpoints(name, nodes...)
	var ip netip.Addr
	eventually(t, 30*time.Second, "Service "+name+" gets an IP", func() (bool, string) {
		got, err := l.admin.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, in := range got.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(in.IP); err == nil {
				ip = a
				return true, ""
			}
		}
		return false, "no ingress"
	})
	for _, n := range nodes {
		b, err := l.lab.StartBackend(ctx, n, netip.AddrPortFrom(ip, 80))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
	}
	return ip
}

// endpoints makes the Service's EndpointSlice hold one ready endpoint on
// each of nodes.
func (l *speakerLab) endpoints(svc string, nodes ...string) {
	t := l.t
	t.Helper()
	ctx := t.Context()
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: svc + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for i, n := range nodes {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.244.%d.5", i)},
			NodeName: ptr.To(n), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
	}
	c := l.admin.DiscoveryV1().EndpointSlices("default")
	cur, err := c.Get(ctx, es.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = c.Create(ctx, es, metav1.CreateOptions{})
	case err == nil:
		cur.Endpoints = es.Endpoints
		_, err = c.Update(ctx, cur, metav1.UpdateOptions{})
	}
	if err != nil {
		t.Fatalf("EndpointSlice of %s: %v", svc, err)
	}
}

// route waits until the router's table holds prefix as cond wants it (ok
// false: withdrawn), and returns the route.
func (l *speakerLab) route(prefix netip.Prefix, what string, cond func(r routers.Route, ok bool) bool) routers.Route {
	l.t.Helper()
	var got routers.Route
	eventually(l.t, 30*time.Second, what, func() (bool, string) {
		rs, err := l.router.Routes(l.t.Context())
		if err != nil {
			return false, err.Error()
		}
		r, ok := routers.FindRoute(rs, prefix)
		got = r
		return cond(r, ok), fmt.Sprintf("%+v (present %v)", r, ok)
	})
	return got
}

// get requests url from the client namespace, through the router.
func (l *speakerLab) get(ip netip.Addr) (string, error) {
	ctx, cancel := context.WithTimeout(l.t.Context(), 3*time.Second)
	defer cancel()
	body, err := l.lab.HTTPGetFromClient(ctx, netlab.ServiceURL(netip.AddrPortFrom(ip, 80)))
	return strings.TrimSpace(body), err
}

// relayTo copies every connection ln accepts to and from target until ln
// closes: a process in a node namespace reaching a service on the host's
// loopback.
func relayTo(ln net.Listener, target string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			u, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer u.Close()
			go func() { _, _ = io.Copy(u, c); u.(*net.TCPConn).CloseWrite() }()
			_, _ = io.Copy(c, u)
		}()
	}
}
