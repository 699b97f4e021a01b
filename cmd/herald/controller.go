package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"

	"github.com/heraldlb/herald/actors/controller"
	"github.com/heraldlb/herald/webhook"
)

// controllerFlags are `herald controller`'s settings.
type controllerFlags struct {
	kubeconfig    string
	namespace     string
	leaseName     string
	class         string
	metricsAddr   string
	metricsTLS    metricsTLS
	profiling     bool
	identity      string
	logLevel      string
	logFormat     string
	qps           float32
	burst         int
	leaseDuration time.Duration
	renewDeadline time.Duration
	retryPeriod   time.Duration

	webhookAddr    string
	webhookConfig  string
	webhookSecret  string
	webhookService string
	webhookIPs     []net.IP
}

func newControllerCommand() *cobra.Command {
	var f controllerFlags
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Allocate LoadBalancer IPs and write Service status (leader-elected)",
		Long: `controller watches Services and the metallb.io configuration, allocates
LoadBalancer IPs from the IPAddressPools and writes status.loadBalancer,
pool status, Events and the ConfigurationState. Run two replicas: they elect
a leader on a Lease and only the leader writes; the standby keeps its caches
warm and takes over when the Lease expires. /metrics and /healthz are served
on --metrics-addr (HTTPS with --metrics-tls-cert and --metrics-tls-key).

Traces are exported over OTLP when the standard OTEL_* environment variables
configure an exporter (see docs/tracing.md); otherwise tracing costs nothing.

Every replica, leader or not, also serves the validating webhook on
--webhook-addr (HTTPS): it keeps the webhook's CA and serving certificate in
a Secret, renews them before they expire and injects the CA into the
ValidatingWebhookConfiguration named by --webhook-configuration.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runController(ctx, f, cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster config, then $KUBECONFIG)")
	fl.StringVar(&f.namespace, "namespace", "metallb-system", "namespace of the metallb.io objects, the Lease and the ConfigurationState")
	fl.StringVar(&f.leaseName, "lease-name", "herald-controller", "name of the leader election Lease")
	fl.StringVar(&f.class, "lb-class", "", "spec.loadBalancerClass to serve; empty serves Services without a class")
	fl.StringVar(&f.metricsAddr, "metrics-addr", ":7472", "address for /metrics and /healthz; empty disables")
	fl.StringVar(&f.identity, "identity", "", "this replica's name in the Lease (default: $POD_NAME, else the hostname)")
	addObservabilityFlags(fl, &f.metricsTLS, &f.profiling, &f.logLevel, &f.logFormat)
	fl.Float32Var(&f.qps, "kube-api-qps", 100, "client-side rate limit for API requests")
	fl.IntVar(&f.burst, "kube-api-burst", 200, "client-side burst for API requests")
	fl.DurationVar(&f.leaseDuration, "lease-duration", 15*time.Second, "how long a standby waits after the leader's last renewal")
	fl.DurationVar(&f.renewDeadline, "renew-deadline", 10*time.Second, "how long the leader keeps trying to renew before stepping down")
	fl.DurationVar(&f.retryPeriod, "retry-period", 2*time.Second, "interval between leader election attempts")
	fl.StringVar(&f.webhookAddr, "webhook-addr", webhook.DefaultAddr, "HTTPS address of the validating webhook; empty disables it")
	fl.StringVar(&f.webhookConfig, "webhook-configuration", webhook.DefaultConfigurationName, "ValidatingWebhookConfiguration that gets the webhook's CA bundle")
	fl.StringVar(&f.webhookSecret, "webhook-secret", webhook.DefaultSecretName, "Secret (in --namespace) that holds the webhook's CA and serving certificate")
	fl.StringVar(&f.webhookService, "webhook-service", "herald-webhook", "Service in front of the webhook: its DNS names go into the serving certificate")
	fl.IPSliceVar(&f.webhookIPs, "webhook-cert-ip", nil, "IP addresses the serving certificate also covers (an API server reaching the webhook by IP, as in the lab)")
	return cmd
}

func runController(ctx context.Context, f controllerFlags, stderr io.Writer) error {
	log, err := newLogger(f.logLevel, f.logFormat, stderr)
	if err != nil {
		return err
	}
	setMemoryLimit(os.Getenv, os.ReadFile, debug.SetMemoryLimit, log)
	if err := f.metricsTLS.check(); err != nil {
		return err
	}

	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = f.qps, f.burst
	cfg.UserAgent = "herald-controller"
	// The informers' reads resume within 2 s of an API server outage's
	// end rather than after client-go's backoff, and the Lease has a
	// client of its own (controller.NewClients).
	clients, err := controller.NewClients(cfg)
	if err != nil {
		return err
	}
	identity := f.identity
	if identity == "" {
		identity = os.Getenv("POD_NAME")
	}
	if identity == "" {
		if identity, err = os.Hostname(); err != nil {
			return err
		}
	}

	recorder, stopEvents, err := newRecorder(ctx, cfg, "herald-controller", "")
	if err != nil {
		return err
	}
	defer stopEvents()

	traces, stopTracing, err := startTracing(ctx, "herald-controller", log)
	if err != nil {
		return err
	}
	// Run returns once the tree has stopped; deferred before the servers'
	// shutdowns, this flushes after them what the tree's spans left.
	defer stopTracing()

	reg := newRegistry()
	ctrl, err := controller.New(controller.Options{
		Kube: clients.Kube, Metallb: clients.Metallb, ElectionKube: clients.Election, Recorder: recorder, Registry: reg, Logger: log,
		TracerProvider: traces.TracerProvider(),
		Namespace:      f.namespace, LoadBalancerClass: f.class, LeaseName: f.leaseName, Identity: identity,
		LeaseDuration: f.leaseDuration, RenewDeadline: f.renewDeadline, RetryPeriod: f.retryPeriod,
	})
	if err != nil {
		return err
	}

	if f.metricsAddr != "" {
		srv, _, err := serveMetrics(f.metricsAddr, f.metricsTLS, f.profiling, reg, ctrl.Synced, log)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	// The webhook runs on every replica: the API server calls whichever
	// one its Service picks. If it cannot serve, the process stops, so the
	// failure is seen (failurePolicy Fail would refuse every write anyway).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	webhookErr := make(chan error, 1)
	if f.webhookAddr != "" {
		srv, err := webhook.NewServer(webhook.Options{
			Namespace: f.namespace,
			Source:    webhook.ClientSource{Kube: clients.Kube, Metallb: clients.Metallb, Namespace: f.namespace},
			Kube:      clients.Kube, Addr: f.webhookAddr,
			SecretName: f.webhookSecret, ConfigurationName: f.webhookConfig,
			DNSNames: webhook.ServiceDNSNames(f.namespace, f.webhookService), IPAddresses: f.webhookIPs,
			Logger: log,
		})
		if err != nil {
			return err
		}
		go func() {
			if err := srv.Run(ctx); err != nil {
				webhookErr <- err
				cancel()
			}
		}()
	}
	log.Info("starting controller", "identity", identity, "namespace", f.namespace, "class", f.class, "webhook", f.webhookAddr)
	runErr := ctrl.Run(ctx)
	select {
	case err := <-webhookErr:
		return fmt.Errorf("validating webhook: %w", err)
	default:
		return runErr
	}
}

// eventCacheSize bounds each of client-go's three Event caches (counting
// repeats, aggregating similar Events, rate-limiting each object's
// Events). Its default, 4,096 entries each, held about 3 MB in a speaker
// that had just announced 10,000 Services, once each: those caches only
// pay off for Events that repeat, and a Service whose entry was evicted
// gets a new Event where it would have had a count raised.
const eventCacheSize = 1024

// newRecorder publishes Events as component (on host, when given). Events
// get a client of their own: client-go's event sink writes one Event at a
// time and silently drops what queues up behind it, so it must not also
// wait for the status writes' rate limiter.
func newRecorder(ctx context.Context, cfg *rest.Config, component, host string) (record.EventRecorder, func(), error) {
	eventsCfg := rest.CopyConfig(cfg)
	eventsCfg.UserAgent = component + "-events"
	eventsClient, err := kubernetes.NewForConfig(eventsCfg)
	if err != nil {
		return nil, nil, err
	}
	broadcaster := record.NewBroadcaster(record.WithContext(ctx),
		record.WithCorrelatorOptions(record.CorrelatorOptions{LRUCacheSize: eventCacheSize}))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: eventsClient.CoreV1().Events("")})
	return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component, Host: host}), broadcaster.Shutdown, nil
}

// restConfig prefers an explicit kubeconfig, then the in-cluster config,
// then the usual kubeconfig loading rules ($KUBECONFIG, ~/.kube/config).
func restConfig(path string) (*rest.Config, error) {
	if path != "" {
		return clientcmd.BuildConfigFromFlags("", path)
	}
	if cfg, err := rest.InClusterConfig(); err == nil {
		return cfg, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
}
