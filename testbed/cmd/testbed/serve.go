package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/heraldlb/herald/testbed/chart"
	"github.com/heraldlb/herald/testbed/jaeger"
	"github.com/heraldlb/herald/testbed/kube"
	"github.com/heraldlb/herald/testbed/netlab"
	"github.com/heraldlb/herald/testbed/routers"
	"github.com/heraldlb/herald/webhook"
)

// The lab's autonomous systems: the router, and Herald's speakers (eBGP).
const (
	routerASN = 64512
	heraldASN = 64513
	// heraldNamespace is where the metallb.io objects and Herald's
	// ServiceAccounts live, as in MetalLB's documentation.
	heraldNamespace = "metallb-system"
	// relayAddr is where, inside each node namespace, the API server is
	// reachable through a relay (the serving certificate covers 127.0.0.1).
	relayAddr = "127.0.0.1:6443"
	// webhookAddr is where the controller serves the validating webhook;
	// the API server, on the same host, calls it there.
	webhookAddr = "127.0.0.1:9443"
	backendPort = 80
	// otlpRelayAddr is where, inside each node namespace, the speakers send
	// their spans (OTLP over HTTP); a relay carries them to Jaeger.
	otlpRelayAddr = "127.0.0.1:4318"
	// jaegerQueryPort is Jaeger's usual query API port, on the host.
	jaegerQueryPort = 16686
)

// serve is the owner process: it builds every part of the lab, records it in
// the state file, and tears it all down when it is told to stop. Whatever
// fails half-way is undone before it returns.
func serve(ctx context.Context, opts upOptions, log *slog.Logger) (err error) {
	var undo []func()
	defer func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
		_ = os.Remove(stateFile)
		if err != nil {
			log.Error("lab stopped", "err", err)
		} else {
			log.Info("lab removed")
		}
	}()
	logf := func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) }

	crdDir, err := kube.RepoCRDDir()
	if err != nil {
		return err
	}
	log.Info("starting the control plane (the first run builds kube-apiserver, etcd and kubectl: about 5 minutes)")
	bins, err := kube.EnsureBinaries(ctx, logf)
	if err != nil {
		return err
	}
	cp, err := kube.Start(ctx, kube.Options{Logf: logf, CRDDir: crdDir})
	if err != nil {
		return err
	}
	undo = append(undo, cp.Stop)

	rbac, err := chart.RBACYAML(nil)
	if err != nil {
		return fmt.Errorf("the chart's RBAC: %w", err)
	}
	if _, err := cp.ApplyYAML(ctx, rbac); err != nil {
		return fmt.Errorf("applying the chart's RBAC: %w", err)
	}

	lab, err := netlab.New(ctx, netlab.Options{Nodes: opts.Nodes, Persistent: true, Log: log})
	if err != nil {
		return err
	}
	undo = append(undo, func() { _ = lab.Close() })

	admin, err := cp.AdminClient()
	if err != nil {
		return err
	}
	if err := createNodes(ctx, admin, lab); err != nil {
		return err
	}

	// kube-proxy is not part of the lab: every node serves port 80 on all
	// its addresses, so a service IP bound on a node's lo answers with the
	// node's name.
	for _, n := range lab.Nodes {
		if _, err := lab.StartBackend(ctx, n.Name, netip.AddrPortFrom(netip.IPv6Unspecified(), backendPort)); err != nil {
			return err
		}
	}

	router, err := startRouter(ctx, opts, lab, log)
	if err != nil {
		return err
	}
	undo = append(undo, func() { _ = router.Stop() })

	st := &labState{
		PID: os.Getpid(), Lab: lab.Name, Namespaces: lab.Namespaces(),
		ControlPlaneDir: cp.Dir(), Kubeconfig: cp.AdminKubeconfig(), APIServer: cp.Host(), Kubectl: bins.Kubectl,
		Router: routerState{Kind: router.Kind(), Namespace: lab.Router.NS, ASN: routerASN,
			Address4: lab.Router.LAN4.String(), Address6: lab.Router.LAN6.String(), CLI: router.CLI()},
		Client:    host(lab.Client),
		L2Pool:    []string{lab.L2Pool4.String(), lab.L2Pool6.String()},
		BGPPool:   []string{lab.BGPPool4.String(), lab.BGPPool6.String()},
		HeraldASN: heraldASN,
	}
	for _, n := range lab.Nodes {
		st.Nodes = append(st.Nodes, host(n))
		st.Router.Neighbors = append(st.Router.Neighbors, n.LAN4.String())
	}

	stopHerald, err := startHerald(ctx, opts, cp, lab, st, log)
	if err != nil {
		return err
	}
	undo = append(undo, stopHerald)

	if err := writeState(st); err != nil {
		return err
	}
	log.Info("lab is up", "lab", lab.Name, "kubeconfig", st.Kubeconfig)
	<-ctx.Done()
	log.Info("stopping the lab")
	return nil
}

func host(h netlab.Host) hostState {
	return hostState{Name: h.Name, Namespace: h.NS, Address4: h.LAN4.String(), Address6: h.LAN6.String()}
}

// createNodes registers a Node for each node namespace, as a kubelet would,
// with its lab addresses, so speakers and node selectors see real Nodes.
func createNodes(ctx context.Context, c kubernetes.Interface, lab *netlab.Lab) error {
	for _, n := range lab.Nodes {
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: map[string]string{
			"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux", "herald.dev/lab": lab.Name}}}
		created, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating Node %s: %w", n.Name, err)
		}
		created.Status.Addresses = []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: n.LAN4.String()},
			{Type: corev1.NodeInternalIP, Address: n.LAN6.String()},
			{Type: corev1.NodeHostName, Address: n.Name},
		}
		created.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(), Reason: "Lab", Message: "network namespace " + n.NS}}
		if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("setting the status of Node %s: %w", n.Name, err)
		}
	}
	return nil
}

// startRouter peers the router with every node (eBGP, Herald's ASN). The
// router connects as well as listens, so a speaker that comes later is
// picked up within its connect-retry time.
func startRouter(ctx context.Context, opts upOptions, lab *netlab.Lab, log *slog.Logger) (routers.Router, error) {
	cfg := routers.Config{Name: "router", Namespace: lab.Router.NS, Dir: filepath.Join(lab.Dir, "router"),
		ASN: routerASN, RouterID: lab.Router.LAN4, Log: log}
	for _, n := range lab.Nodes {
		cfg.Neighbors = append(cfg.Neighbors, routers.Neighbor{Address: n.LAN4, ASN: heraldASN})
		if opts.IPv6 {
			cfg.Neighbors = append(cfg.Neighbors, routers.Neighbor{Address: n.LAN6, ASN: heraldASN})
		}
	}
	var r routers.Router
	var err error
	if opts.Router == "bird" {
		r, err = routers.NewBIRD(cfg)
	} else {
		r, err = routers.NewFRR(cfg)
	}
	if err != nil {
		return nil, err
	}
	if err := r.Start(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// startHerald runs whatever of Herald is built: the controller on the host
// under its ServiceAccount, a speaker in each node namespace under its own,
// reaching the API server through a relay. What is not built is recorded,
// so the demo and status can say so plainly.
func startHerald(ctx context.Context, opts upOptions, cp *kube.ControlPlane, lab *netlab.Lab, st *labState, log *slog.Logger) (func(), error) {
	var undo []func()
	stop := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	logDir := filepath.Join(lab.Dir, "herald")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return stop, err
	}
	if !hasSubcommand(opts.Herald, "controller") {
		st.NotBuilt = append(st.NotBuilt, "herald controller (IP allocation): not built yet")
		return stop, nil
	}
	var controllerEnv, speakerEnv []string
	if opts.Tracing {
		stopTracing, cenv, senv, err := startTracing(ctx, lab, st, log)
		undo = append(undo, stopTracing)
		if err != nil {
			return stop, err
		}
		controllerEnv, speakerEnv = cenv, senv
	}
	kc, err := cp.KubeconfigFor(ctx, heraldNamespace, "herald-controller")
	if err != nil {
		return stop, err
	}
	logPath := filepath.Join(logDir, "controller.log")
	proc, err := startLogged(logPath, controllerEnv, opts.Herald, "controller", "--kubeconfig", kc, "--namespace", heraldNamespace,
		"--webhook-addr", webhookAddr, "--webhook-cert-ip", "127.0.0.1", "--metrics-addr", "127.0.0.1:7472")
	if err != nil {
		return stop, err
	}
	undo = append(undo, func() { terminate(proc) })
	st.Herald = append(st.Herald, fmt.Sprintf("controller pid %d (ServiceAccount %s/herald-controller), webhook https://%s", proc.Pid, heraldNamespace, webhookAddr))
	st.HeraldLogs = append(st.HeraldLogs, logPath)
	if err := registerWebhook(ctx, cp, log); err != nil {
		return stop, fmt.Errorf("%w (controller log: %s)", err, logPath)
	}
	if !hasSubcommand(opts.Herald, "speaker") {
		st.NotBuilt = append(st.NotBuilt, "herald speaker (ARP/NDP answers, BGP announcements): not built yet")
		return stop, nil
	}
	for _, n := range lab.Nodes {
		var ln net.Listener
		if err := netlab.RunInNamespace(n.NS, func() (err error) { ln, err = net.Listen("tcp", relayAddr); return err }); err != nil {
			return stop, fmt.Errorf("relay in %s: %w", n.NS, err)
		}
		undo = append(undo, cp.Relay(ln))
		kc, err := cp.KubeconfigAt(ctx, heraldNamespace, "herald-speaker", "https://"+relayAddr)
		if err != nil {
			return stop, err
		}
		logPath := filepath.Join(logDir, "speaker-"+n.Name+".log")
		argv := append(append([]string{"env", "NODE_NAME=" + n.Name}, speakerEnv...), opts.Herald, "speaker", "--kubeconfig", kc,
			"--namespace", heraldNamespace, "--node-name", n.Name)
		proc, err := lab.StartProcess(n.NS, logPath, argv...)
		if err != nil {
			return stop, err
		}
		undo = append(undo, func() { terminate(proc) })
		st.Herald = append(st.Herald, fmt.Sprintf("speaker on %s pid %d", n.Name, proc.Pid))
		st.HeraldLogs = append(st.HeraldLogs, logPath)
	}
	log.Info("herald started", "processes", strings.Join(st.Herald, "; "))
	return stop, nil
}

// startTracing runs Jaeger on the host and a relay to its OTLP receiver in
// every node namespace, and returns the OTEL_* settings for the controller
// (on the host) and the speakers (in the namespaces). Herald's traces go to
// a real tracing backend so the demo can show a Service's journey as one
// trace. If Jaeger cannot be had, the lab still comes up, with tracing off
// as it is by default, and says why.
func startTracing(ctx context.Context, lab *netlab.Lab, st *labState, log *slog.Logger) (stop func(), controllerEnv, speakerEnv []string, err error) {
	var undo []func()
	stop = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	log.Info("starting Jaeger (the first run builds it: about 5 minutes)")
	dir := filepath.Join(lab.Dir, "jaeger")
	jerr := os.MkdirAll(dir, 0o755)
	var j *jaeger.Jaeger
	if jerr == nil {
		j, jerr = jaeger.Start(ctx, jaeger.Options{Dir: dir, QueryPort: jaegerQueryPort,
			Logf: func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) }})
	}
	if jerr != nil {
		log.Warn("no tracing backend: Herald runs with tracing off", "err", jerr)
		st.TracingOff = fmt.Sprintf("Jaeger did not start: %v", jerr)
		return stop, nil, nil, nil
	}
	undo = append(undo, func() { _ = j.Stop() })
	for _, n := range lab.Nodes {
		var ln net.Listener
		if err := netlab.RunInNamespace(n.NS, func() (err error) { ln, err = net.Listen("tcp", otlpRelayAddr); return err }); err != nil {
			return stop, nil, nil, fmt.Errorf("OTLP relay in %s: %w", n.NS, err)
		}
		undo = append(undo, kube.RelayTo(ln, j.OTLPHTTPEndpoint(), nil))
	}
	st.JaegerURL = "http://" + net.JoinHostPort("127.0.0.1", fmt.Sprint(jaegerQueryPort))
	speakerEnv = []string{"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + otlpRelayAddr, "OTEL_BSP_SCHEDULE_DELAY=100"}
	return stop, j.Env("grpc"), speakerEnv, nil
}

// registerWebhook installs the ValidatingWebhookConfiguration the chart
// would, pointing at the controller on loopback, and waits until the
// controller has injected its CA: from then on every metallb.io write is
// validated, as in a cluster.
func registerWebhook(ctx context.Context, cp *kube.ControlPlane, log *slog.Logger) error {
	admin, err := cp.AdminClient()
	if err != nil {
		return err
	}
	vwc := webhook.NewConfiguration(webhook.DefaultConfigurationName, webhook.URLClientConfig("https://"+webhookAddr))
	vwcs := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	if _, err := vwcs.Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("registering the validating webhook: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	err = netlab.Eventually(wctx, 200*time.Millisecond, func(ctx context.Context) error {
		got, err := vwcs.Get(ctx, vwc.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, w := range got.Webhooks {
			if len(w.ClientConfig.CABundle) == 0 {
				return fmt.Errorf("webhook %s has no caBundle yet", w.Name)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("the controller did not make the webhook ready: %w", err)
	}
	log.Info("validating webhook ready", "url", "https://"+webhookAddr+webhook.Path)
	return nil
}

// hasSubcommand reports whether the herald binary has a working subcommand.
func hasSubcommand(bin, sub string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, bin, sub, "--help").Run() == nil
}

func startLogged(logPath string, env []string, bin string, args ...string) (*os.Process, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s %s: %w", bin, strings.Join(args, " "), err)
	}
	go func() { _ = cmd.Wait() }()
	return cmd.Process, nil
}

// terminate asks a process to stop and kills it if it has not after 5s.
func terminate(p *os.Process) {
	_ = p.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() {
		for alive(p.Pid) {
			time.Sleep(50 * time.Millisecond)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.Kill()
	}
}

// defaultHeraldPath is bin/herald at the top of the repository.
func defaultHeraldPath() string {
	dir, err := kube.RepoCRDDir() // <repo>/charts/herald/crds
	if err != nil {
		return "herald"
	}
	return filepath.Join(dir, "..", "..", "..", "bin", "herald")
}

var errLabFailed = errors.New("the lab did not come up")
