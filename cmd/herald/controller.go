package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"

	"github.com/heraldlb/herald/actors/controller"
	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/webhook"
)

// controllerFlags are `herald controller`'s settings.
type controllerFlags struct {
	kubeconfig    string
	namespace     string
	leaseName     string
	class         string
	metricsAddr   string
	identity      string
	logLevel      string
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
on --metrics-addr.

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
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
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
	log, err := newLogger(f.logLevel, stderr)
	if err != nil {
		return err
	}

	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = f.qps, f.burst
	cfg.UserAgent = "herald-controller"
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	mlb, err := versioned.NewForConfig(cfg)
	if err != nil {
		return err
	}
	// The Lease gets a client (and so a rate limiter) of its own, so
	// renewals never wait behind a burst of status writes.
	electionCfg := rest.CopyConfig(cfg)
	electionCfg.UserAgent = "herald-controller-election"
	election, err := kubernetes.NewForConfig(electionCfg)
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

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ctrl, err := controller.New(controller.Options{
		Kube: kube, Metallb: mlb, ElectionKube: election, Recorder: recorder, Registry: reg, Logger: log,
		Namespace: f.namespace, LoadBalancerClass: f.class, LeaseName: f.leaseName, Identity: identity,
		LeaseDuration: f.leaseDuration, RenewDeadline: f.renewDeadline, RetryPeriod: f.retryPeriod,
	})
	if err != nil {
		return err
	}

	if f.metricsAddr != "" {
		srv, err := serveMetrics(f.metricsAddr, reg, ctrl.Synced, log)
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
			Source:    webhook.ClientSource{Kube: kube, Metallb: mlb, Namespace: f.namespace},
			Kube:      kube, Addr: f.webhookAddr,
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
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: eventsClient.CoreV1().Events("")})
	return broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component, Host: host}), broadcaster.Shutdown, nil
}

func newLogger(level string, stderr io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: l})), nil
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

// serveMetrics serves /metrics, /healthz (the process is alive) and
// /readyz (ready says so: for the controller, the caches have synced, and a
// standby is ready too, since it must be able to take over; for a speaker,
// its tree runs).
func serveMetrics(addr string, reg *prometheus.Registry, ready func() bool, log *slog.Logger) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready: informer caches not synced", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return srv, nil
}
