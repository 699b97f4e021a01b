package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// newRegistry is the registry a binary's /metrics serves: the Go runtime's
// and the process's collectors, and whatever the actor tree registers.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// metricsTLS are --metrics-tls-cert and --metrics-tls-key: PEM files of
// the serving certificate (chain) and its key. Both empty: plain HTTP.
type metricsTLS struct{ certFile, keyFile string }

func (m metricsTLS) enabled() bool { return m.certFile != "" || m.keyFile != "" }

func (m metricsTLS) check() error {
	if (m.certFile == "") != (m.keyFile == "") {
		return errors.New("--metrics-tls-cert and --metrics-tls-key go together: give both or neither")
	}
	return nil
}

// serveMetrics serves /metrics, /healthz (the process is alive) and
// /readyz (ready says so: for the controller, the caches have synced, and a
// standby is ready too, since it must be able to take over; for a speaker,
// its tree runs), over HTTPS when tlsFiles names a key pair, and with
// profiling Go's /debug/pprof/ too. It returns the server and the address
// it listens on.
func serveMetrics(addr string, tlsFiles metricsTLS, profiling bool, reg *prometheus.Registry, ready func() bool, log *slog.Logger) (*http.Server, net.Addr, error) {
	if err := tlsFiles.check(); err != nil {
		return nil, nil, err
	}
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
	if profiling {
		// Registered on this mux by hand: net/http/pprof's init also puts
		// them on http.DefaultServeMux, which nothing in herald serves.
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	if tlsFiles.enabled() {
		certs, err := newCertReloader(tlsFiles.certFile, tlsFiles.keyFile, log)
		if err != nil {
			return nil, nil, err
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	go func() {
		var err error
		if srv.TLSConfig != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return srv, ln.Addr(), nil
}

// certReloader serves the key pair in two PEM files and picks up a new one
// when the files change (cert-manager or a kubelet-mounted Secret replace
// them while the process runs). It reads both files at every TLS
// handshake: a scrape is one handshake a minute or so, and comparing the
// bytes, unlike modification times, cannot miss a change made within
// the clock's resolution. A pair that does not load (the certificate
// written, its key not yet) is logged once and the last good pair stays.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu              sync.Mutex
	cert            *tls.Certificate
	certPEM         []byte // what cert was loaded from
	keyPEM          []byte
	badCert, badKey []byte // the last pair that failed, so it is logged once
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log}
	certPEM, keyPEM, err := r.read()
	if err == nil {
		err = r.load(certPEM, keyPEM)
	}
	if err != nil {
		return nil, fmt.Errorf("--metrics-tls-cert %s, --metrics-tls-key %s: %w", certFile, keyFile, err)
	}
	return r, nil
}

func (r *certReloader) read() (certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(r.certFile); err != nil {
		return nil, nil, err
	}
	if keyPEM, err = os.ReadFile(r.keyFile); err != nil {
		return nil, nil, err
	}
	return certPEM, keyPEM, nil
}

// load parses a pair and makes it the served one. The caller holds mu, or
// is the constructor.
func (r *certReloader) load(certPEM, keyPEM []byte) error {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return err
	}
	r.cert, r.certPEM, r.keyPEM = &cert, certPEM, keyPEM
	r.badCert, r.badKey = nil, nil
	return nil
}

// GetCertificate is tls.Config.GetCertificate: the newest pair that loads.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	certPEM, keyPEM, err := r.read()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil:
		r.log.Warn("metrics TLS: cannot read the key pair; serving the last one", "cert", r.certFile, "key", r.keyFile, "err", err)
	case bytes.Equal(certPEM, r.certPEM) && bytes.Equal(keyPEM, r.keyPEM):
	case bytes.Equal(certPEM, r.badCert) && bytes.Equal(keyPEM, r.badKey):
	default:
		if err := r.load(certPEM, keyPEM); err != nil {
			r.badCert, r.badKey = certPEM, keyPEM
			r.log.Warn("metrics TLS: the new key pair does not load; serving the last one", "cert", r.certFile, "key", r.keyFile, "err", err)
		} else {
			r.log.Info("metrics TLS: serving a new certificate", "cert", r.certFile)
		}
	}
	return r.cert, nil
}
