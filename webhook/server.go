package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// Defaults for Options.
const (
	DefaultAddr         = ":9443"
	DefaultSecretName   = "herald-webhook-cert"
	DefaultResyncPeriod = 10 * time.Minute
	// retryPeriod is how soon a failed certificate pass is retried.
	retryPeriod = 5 * time.Second
)

// Options configure a Server.
type Options struct {
	// Namespace is Herald's namespace: where the configuration objects
	// are read and the certificate Secret is kept. Required.
	Namespace string
	// Source is the configuration the webhook validates against: normally
	// ClientSource{Kube, Metallb, Namespace, Cluster: <the controller's
	// *informers.Informers>}. Required.
	Source Source
	// Live, if set, confirms every refusal against another source. It is
	// for a Source that may lag (a cache); with a ClientSource it is not
	// needed.
	Live Source
	// Kube reads and writes the certificate Secret and patches the
	// ValidatingWebhookConfiguration. Required.
	Kube kubernetes.Interface

	// Addr is the HTTPS listen address (DefaultAddr). Ignored if Listener
	// is set.
	Addr string
	// Listener, if set, is served instead of listening on Addr (tests pass
	// a loopback listener to learn the port first).
	Listener net.Listener

	// SecretName holds the CA and serving certificate (DefaultSecretName).
	SecretName string
	// ConfigurationName is the ValidatingWebhookConfiguration whose
	// webhooks get the caBundle; empty injects nowhere.
	ConfigurationName string
	// DNSNames and IPAddresses the serving certificate is valid for: the
	// Service's names in a cluster (ServiceDNSNames), 127.0.0.1 in a lab.
	DNSNames    []string
	IPAddresses []net.IP
	// CAValidity and CertValidity default to DefaultCAValidity and
	// DefaultCertValidity.
	CAValidity   time.Duration
	CertValidity time.Duration
	// ResyncPeriod is how often the Secret is re-read, renewed if due and
	// the bundle re-injected (DefaultResyncPeriod). It bounds how long a
	// replica serves a pair that the other replica replaced.
	ResyncPeriod time.Duration

	// Clock drives renewal decisions and the resync ticker (clock.RealClock).
	Clock clock.WithTicker
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

// ServiceDNSNames are the names by which the API server reaches a Service.
func ServiceDNSNames(namespace, service string) []string {
	return []string{
		service,
		service + "." + namespace,
		service + "." + namespace + ".svc",
		service + "." + namespace + ".svc.cluster.local",
	}
}

// Server is the HTTPS admission server with its certificate rotator.
type Server struct {
	opts    Options
	handler *Handler
	rot     *rotator
	ready   chan struct{}
}

// NewServer checks opts and builds a server; Run starts it.
func NewServer(opts Options) (*Server, error) {
	switch {
	case opts.Namespace == "":
		return nil, errors.New("webhook: Options.Namespace is required")
	case opts.Source == nil:
		return nil, errors.New("webhook: Options.Source is required")
	case opts.Kube == nil:
		return nil, errors.New("webhook: Options.Kube is required")
	case len(opts.DNSNames) == 0 && len(opts.IPAddresses) == 0:
		return nil, errors.New("webhook: the serving certificate needs DNSNames or IPAddresses")
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	if opts.SecretName == "" {
		opts.SecretName = DefaultSecretName
	}
	if opts.ResyncPeriod <= 0 {
		opts.ResyncPeriod = DefaultResyncPeriod
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	log := opts.Logger.With("component", "webhook")
	return &Server{
		opts:    opts,
		handler: NewHandler(opts.Namespace, opts.Source, opts.Live, log),
		rot: &rotator{
			kube: opts.Kube, namespace: opts.Namespace, secretName: opts.SecretName,
			vwcName: opts.ConfigurationName, clock: opts.Clock, log: log,
			spec: CertSpec{DNSNames: opts.DNSNames, IPAddresses: opts.IPAddresses,
				CAValidity: opts.CAValidity, CertValidity: opts.CertValidity},
		},
		ready: make(chan struct{}),
	}, nil
}

// Handler serves Path (AdmissionReviews) and /healthz. The controller may
// mount it on a server of its own; Run serves it over TLS.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(Path, s.handler)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if s.rot.current.Load() == nil {
			http.Error(w, "no serving certificate yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	return mux
}

// Review is the validating handler alone, for callers that serve
// AdmissionReviews themselves.
func (s *Server) Review() *Handler { return s.handler }

// Ready is closed once the server has a certificate and is listening.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// GetCertificate is the current serving pair, for a caller that serves
// Handler on its own TLS listener.
func (s *Server) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.rot.getCertificate(hello)
}

// Run obtains a certificate (creating or renewing the Secret as needed),
// serves HTTPS until ctx ends, and keeps the certificate current meanwhile.
// It returns nil after a clean shutdown.
func (s *Server) Run(ctx context.Context) error {
	log := s.opts.Logger.With("component", "webhook")
	// The first pass must succeed before serving: a TLS listener without a
	// certificate fails every handshake, which with failurePolicy Fail
	// refuses every write anyway, so waiting costs nothing.
	for {
		err := s.rot.sync(ctx)
		if err == nil {
			break
		}
		log.Warn("webhook certificate not ready; retrying", "err", err, "in", retryPeriod)
		select {
		case <-ctx.Done():
			return nil
		case <-s.opts.Clock.After(retryPeriod):
		}
	}

	ln := s.opts.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.opts.Addr); err != nil {
			return fmt.Errorf("webhook: %w", err)
		}
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.rot.getCertificate},
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.ServeTLS(ln, "", "") }()
	// The ticker exists before Ready is closed, so a caller that moves a
	// fake clock after Ready never steps past an unregistered ticker.
	ticker := s.opts.Clock.NewTicker(s.opts.ResyncPeriod)
	defer ticker.Stop()
	log.Info("serving admission reviews", "addr", ln.Addr().String(), "path", Path)
	close(s.ready)
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return srv.Shutdown(shutdown)
		case err := <-serveErr:
			return fmt.Errorf("webhook: serving: %w", err)
		case <-ticker.C():
		case <-retry:
		}
		retry = nil
		if err := s.rot.sync(ctx); err != nil && ctx.Err() == nil {
			log.Warn("webhook certificate pass failed; retrying", "err", err, "in", retryPeriod)
			retry = s.opts.Clock.After(retryPeriod)
		}
	}
}
