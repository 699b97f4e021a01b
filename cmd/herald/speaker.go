package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/heraldlb/herald/actors/speaker"
	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/bfdnet"
	"github.com/heraldlb/herald/informers"
	"github.com/heraldlb/herald/l2"
)

// speakerFlags are `herald speaker`'s settings.
type speakerFlags struct {
	kubeconfig  string
	namespace   string
	nodeName    string
	metricsAddr string
	metricsTLS  metricsTLS
	profiling   bool
	class       string
	listenPort  uint16
	logLevel    string
	logFormat   string
	qps         float32
	burst       int

	livenessPort     int
	livenessInterval time.Duration
	livenessMult     uint32
	livenessHold     time.Duration
	l2Exclude        []string
	restartTime      time.Duration
}

func newSpeakerCommand() *cobra.Command {
	var f speakerFlags
	cmd := &cobra.Command{
		Use:   "speaker",
		Short: "Make this node's LoadBalancer IPs reachable (runs on every node)",
		Long: `speaker runs on every node (a DaemonSet with hostNetwork). It watches the
Services, their EndpointSlices, the Nodes and the metallb.io configuration,
decides what its node announces, and announces it. It keeps its own
ConfigurationState, speaker-<node>, in --namespace. /metrics, /healthz and
/readyz are served on --metrics-addr (HTTPS with --metrics-tls-cert and
--metrics-tls-key).

Traces are exported over OTLP when the standard OTEL_* environment variables
configure an exporter (see docs/tracing.md); otherwise tracing costs nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runSpeaker(ctx, f, cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster config, then $KUBECONFIG)")
	fl.StringVar(&f.namespace, "namespace", "metallb-system", "namespace of the metallb.io objects and the status objects")
	fl.StringVar(&f.nodeName, "node-name", "", "the Node this speaker runs on (default: $NODE_NAME)")
	fl.StringVar(&f.class, "lb-class", "", "spec.loadBalancerClass to serve; empty serves Services without a class")
	fl.Uint16Var(&f.listenPort, "bgp-listen-port", 0, "TCP port where BGP sessions also accept the peers' connections (179 needs CAP_NET_BIND_SERVICE); 0: only dial")
	fl.StringVar(&f.metricsAddr, "metrics-addr", ":7472", "address for /metrics, /healthz and /readyz; empty disables")
	addObservabilityFlags(fl, &f.metricsTLS, &f.profiling, &f.logLevel, &f.logFormat)
	fl.IntVar(&f.livenessPort, "liveness-port", bfdnet.LivenessPort, "UDP port of the speakers' liveness mesh (BFD between speakers); its statuses use the next port; 0 turns the mesh off (every speaker then counts as alive)")
	fl.DurationVar(&f.livenessInterval, "liveness-interval", 100*time.Millisecond, "BFD transmit and receive interval of the liveness mesh")
	fl.DurationVar(&f.livenessHold, "liveness-start-hold", 3*time.Second, "how long a speaker that finds no other speaker listed when it starts (a new cluster, or all restarted after their ConfigurationStates were deleted) answers no L2 IP, so that speakers starting together do not all answer until they hear of each other; 0 turns it off")
	fl.Uint32Var(&f.livenessMult, "liveness-multiplier", 3, "BFD detect multiplier of the liveness mesh: a speaker is dead after this many intervals without a packet")
	fl.DurationVar(&f.restartTime, "graceful-restart-time", 120*time.Second, "restart time advertised to BGPPeers that enable graceful restart (RFC 4724): how long they keep this node's routes while it restarts; whole seconds up to 4095s")
	fl.StringSliceVar(&f.l2Exclude, "l2-exclude", l2.DefaultExclude, "interface name patterns (path.Match globs) never used to answer ARP/NDP")
	fl.Float32Var(&f.qps, "kube-api-qps", 50, "client-side rate limit for API requests")
	fl.IntVar(&f.burst, "kube-api-burst", 100, "client-side burst for API requests")
	return cmd
}

func runSpeaker(ctx context.Context, f speakerFlags, stderr io.Writer) error {
	log, err := newLogger(f.logLevel, f.logFormat, stderr)
	if err != nil {
		return err
	}
	setMemoryLimit(os.Getenv, os.ReadFile, debug.SetMemoryLimit, log)
	setGCPercent(speakerGCPercent, os.Getenv, debug.SetGCPercent, log)
	if err := f.metricsTLS.check(); err != nil {
		return err
	}
	node := f.nodeName
	if node == "" {
		node = os.Getenv("NODE_NAME")
	}
	if node == "" {
		return errors.New("--node-name (or $NODE_NAME) is required: the speaker announces for one Node")
	}
	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = f.qps, f.burst
	cfg.UserAgent = "herald-speaker"
	// The informers' reads resume within 2 s of an API server outage's
	// end rather than after client-go's backoff (informers.ResumeQuickly).
	kube, err := kubernetes.NewForConfig(informers.ResumeQuickly(cfg))
	if err != nil {
		return err
	}
	mlb, err := versioned.NewForConfig(informers.ResumeQuickly(cfg))
	if err != nil {
		return err
	}
	recorder, stopEvents, err := newRecorder(ctx, cfg, "herald-speaker", node)
	if err != nil {
		return err
	}
	defer stopEvents()
	traces, stopTracing, err := startTracing(ctx, "herald-speaker", log)
	if err != nil {
		return err
	}
	defer stopTracing() // deferred before the metrics server's, so it runs after
	reg := newRegistry()
	profile := speaker.DefaultLivenessProfile
	ms := f.livenessInterval.Milliseconds()
	if ms < 10 || ms > 60000 || f.livenessInterval%time.Millisecond != 0 {
		return fmt.Errorf("--liveness-interval %s: must be whole milliseconds from 10ms to 60s", f.livenessInterval)
	}
	if f.restartTime < time.Second || f.restartTime > 4095*time.Second || f.restartTime%time.Second != 0 {
		return fmt.Errorf("--graceful-restart-time %s: must be whole seconds from 1s to 4095s (the OPEN's 12-bit field)", f.restartTime)
	}
	profile.ReceiveInterval, profile.TransmitInterval, profile.DetectMultiplier = uint32(ms), uint32(ms), f.livenessMult
	port := f.livenessPort
	if port == 0 {
		port = -1
	}
	if f.livenessHold < 0 {
		return fmt.Errorf("--liveness-start-hold %s: must not be negative", f.livenessHold)
	}
	hold := f.livenessHold
	if hold == 0 {
		hold = -1 // speaker.Options: negative is no hold, zero the default
	}
	sp, err := speaker.New(speaker.Options{Kube: kube, Metallb: mlb, Registry: reg, Logger: log, Recorder: recorder,
		TracerProvider: traces.TracerProvider(),
		NodeName:       node, Namespace: f.namespace, LoadBalancerClass: f.class,
		Net:          speaker.NewBGPNet(f.listenPort, log),
		LivenessPort: port, LivenessProfile: &profile, LivenessStartHold: hold, L2Exclude: f.l2Exclude, GracefulRestartTime: f.restartTime})
	if err != nil {
		return err
	}
	if f.metricsAddr != "" {
		srv, _, err := serveMetrics(f.metricsAddr, f.metricsTLS, f.profiling, reg, sp.Ready, log)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	log.Info("starting speaker", "node", node, "namespace", f.namespace)
	return sp.Run(ctx)
}
