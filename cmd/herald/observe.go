package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/heraldlb/herald/tracing"
)

// Log formats of --log-format.
const (
	logFormatAuto = "auto"
	logFormatJSON = "json"
	logFormatText = "text"
)

// newLogger builds the process's logger: JSON lines (what log pipelines
// parse), or text when format says so or, with auto, when stderr is a
// terminal (a person running the binary by hand). Every record logged
// with a context that carries a span gets trace_id and span_id.
func newLogger(level, format string, stderr io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: l}
	var h slog.Handler
	switch format {
	case logFormatJSON:
		h = slog.NewJSONHandler(stderr, opts)
	case logFormatText:
		h = slog.NewTextHandler(stderr, opts)
	case logFormatAuto, "":
		if isTerminal(stderr) {
			h = slog.NewTextHandler(stderr, opts)
		} else {
			h = slog.NewJSONHandler(stderr, opts)
		}
	default:
		return nil, fmt.Errorf("--log-format: %q is not auto, json or text", format)
	}
	return slog.New(tracing.NewLogHandler(h)), nil
}

// isTerminal says whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// startTracing sets tracing up from the OTEL_* environment for service
// (herald-controller, herald-speaker) and says what it chose. The
// returned stop flushes the spans still buffered; call it after the actor
// tree has stopped.
func startTracing(ctx context.Context, service string, log *slog.Logger) (*tracing.Provider, func(), error) {
	p, err := tracing.Setup(ctx, tracing.Options{ServiceName: service, ServiceVersion: version})
	if err != nil {
		return nil, nil, err
	}
	for _, w := range p.Warnings {
		log.Warn("tracing setting ignored", "warning", w)
	}
	if p.Enabled() {
		log.Info("tracing", "exporter", p.Exporter, "sampler", p.Sampler)
	}
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p.Shutdown(sctx); err != nil {
			log.Warn("tracing: spans not flushed", "err", err)
		}
	}
	return p, stop, nil
}

// addObservabilityFlags adds the flags both in-cluster commands share:
// logging and the metrics endpoint's TLS.
func addObservabilityFlags(fl *pflag.FlagSet, tlsFiles *metricsTLS, profiling *bool, level, format *string) {
	fl.StringVar(level, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(format, "log-format", logFormatAuto, "json, text, or auto: text when stderr is a terminal, else JSON")
	fl.StringVar(&tlsFiles.certFile, "metrics-tls-cert", "", "PEM certificate (chain) to serve --metrics-addr over HTTPS; re-read when the file changes")
	fl.StringVar(&tlsFiles.keyFile, "metrics-tls-key", "", "PEM private key of --metrics-tls-cert")
	fl.BoolVar(profiling, "profiling", false, "also serve Go's profiles (/debug/pprof/: heap, CPU, goroutines) on --metrics-addr; off by default, since a heap profile shows what the process holds")
}
