package otelcol

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // OTLP exporters may compress
)

// Logf is the logger the package takes. Nil discards.
type Logf func(format string, args ...any)

func (l Logf) printf(format string, args ...any) {
	if l != nil {
		l(format, args...)
	}
}

// Options configure a Collector. The zero value is usable.
type Options struct {
	// Logf receives start/stop messages and, with Debug, one line per span.
	Logf Logf
	// Debug logs every received span (name, IDs, attributes) through Logf,
	// like the collector's debug exporter.
	Debug bool
	// File, if set, gets every received batch appended as one line of
	// OTLP-JSON, the collector's file exporter format.
	File string
	// Next, if set, also receives every batch after it is recorded.
	Next consumer.Traces
}

// Collector receives OTLP traces on loopback and records the spans.
type Collector struct {
	opts     Options
	grpcLis  net.Listener
	httpLis  net.Listener
	grpcSrv  *grpc.Server
	httpSrv  *http.Server
	pipeline consumer.Traces
	done     sync.WaitGroup

	mu      sync.Mutex
	spans   []Span
	changed chan struct{} // closed and replaced whenever spans grow
	file    *os.File
	stopped bool
}

// Start listens for OTLP over gRPC and HTTP on free ports of 127.0.0.1.
func Start(ctx context.Context, opts Options) (*Collector, error) {
	c := &Collector{opts: opts, changed: make(chan struct{})}
	var lc net.ListenConfig
	var err error
	if c.grpcLis, err = lc.Listen(ctx, "tcp", "127.0.0.1:0"); err != nil {
		return nil, fmt.Errorf("otelcol: listen for OTLP/gRPC: %w", err)
	}
	if c.httpLis, err = lc.Listen(ctx, "tcp", "127.0.0.1:0"); err != nil {
		c.grpcLis.Close()
		return nil, fmt.Errorf("otelcol: listen for OTLP/HTTP: %w", err)
	}
	if opts.File != "" {
		if c.file, err = os.OpenFile(opts.File, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			c.grpcLis.Close()
			c.httpLis.Close()
			return nil, fmt.Errorf("otelcol: open export file: %w", err)
		}
	}
	if c.pipeline, err = consumer.NewTraces(c.consume); err != nil {
		return nil, fmt.Errorf("otelcol: pipeline: %w", err)
	}

	c.grpcSrv = grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(c.grpcSrv, &grpcReceiver{next: c.pipeline})
	mux := http.NewServeMux()
	mux.Handle("/v1/traces", &httpReceiver{next: c.pipeline})
	c.httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	c.done.Add(2)
	go func() {
		defer c.done.Done()
		if err := c.grpcSrv.Serve(c.grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			c.opts.Logf.printf("otelcol: OTLP/gRPC server: %v", err)
		}
	}()
	go func() {
		defer c.done.Done()
		if err := c.httpSrv.Serve(c.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.opts.Logf.printf("otelcol: OTLP/HTTP server: %v", err)
		}
	}()
	c.opts.Logf.printf("otelcol: receiving OTLP on grpc %s and http %s", c.GRPCEndpoint(), c.HTTPEndpoint())
	return c, nil
}

// StartForTest starts a Collector for t and stops it in t.Cleanup. If
// opts.Logf is nil, t.Logf is used.
func StartForTest(t testing.TB, opts Options) *Collector {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	c, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start collector: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("stop collector: %v", err)
		}
	})
	return c
}

// GRPCEndpoint is the OTLP/gRPC address, host:port, for an exporter's
// WithEndpoint (plaintext: use WithInsecure).
func (c *Collector) GRPCEndpoint() string { return c.grpcLis.Addr().String() }

// HTTPEndpoint is the OTLP/HTTP address, host:port; traces go to
// http://<HTTPEndpoint>/v1/traces.
func (c *Collector) HTTPEndpoint() string { return c.httpLis.Addr().String() }

// Env returns the standard OTEL_* variables that point an OTel SDK's OTLP
// trace exporter at this collector: protocol "grpc" or "http/protobuf".
// For a process in another network namespace, relay the endpoint into it
// (kube.RelayTo) and use the relay's address instead.
func (c *Collector) Env(protocol string) []string {
	addr := c.GRPCEndpoint()
	if protocol != "grpc" {
		addr = c.HTTPEndpoint()
	}
	return []string{
		"OTEL_TRACES_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=" + protocol,
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + addr,
		"OTEL_EXPORTER_OTLP_INSECURE=true",
	}
}

// Stop stops both servers (waiting for requests in flight) and closes the
// export file. It is idempotent.
func (c *Collector) Stop() error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.httpSrv.Shutdown(ctx)
	stopped := make(chan struct{})
	go func() { c.grpcSrv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		c.grpcSrv.Stop()
	}
	c.done.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.file != nil {
		if ferr := c.file.Close(); ferr != nil && err == nil {
			err = ferr
		}
		c.file = nil
	}
	if err != nil {
		return fmt.Errorf("otelcol: stop: %w", err)
	}
	c.opts.Logf.printf("otelcol: stopped after %d spans", len(c.spans))
	return nil
}

// consume is the pipeline: record, then file, debug log and Next.
func (c *Collector) consume(ctx context.Context, td ptrace.Traces) error {
	spans := flatten(td)
	c.mu.Lock()
	c.spans = append(c.spans, spans...)
	close(c.changed)
	c.changed = make(chan struct{})
	var ferr error
	if c.file != nil {
		var line []byte
		if line, ferr = (&ptrace.JSONMarshaler{}).MarshalTraces(td); ferr == nil {
			_, ferr = c.file.Write(append(line, '\n'))
		}
	}
	c.mu.Unlock()
	if ferr != nil {
		c.opts.Logf.printf("otelcol: write %s: %v", c.opts.File, ferr)
	}
	if c.opts.Debug {
		for _, s := range spans {
			c.opts.Logf.printf("otelcol: span %s", s)
		}
	}
	if c.opts.Next != nil {
		return c.opts.Next.ConsumeTraces(ctx, td)
	}
	return nil
}

// Spans returns a copy of every span received so far, in arrival order.
func (c *Collector) Spans() []Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Span(nil), c.spans...)
}

// Reset forgets the spans received so far.
func (c *Collector) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.spans = nil
}

// WaitForSpans waits until pred, called with every span received so far,
// returns true, and returns those spans. It fails when ctx ends, saying how
// many spans had arrived and their names.
func (c *Collector) WaitForSpans(ctx context.Context, pred func([]Span) bool) ([]Span, error) {
	for {
		c.mu.Lock()
		spans := append([]Span(nil), c.spans...)
		changed := c.changed
		c.mu.Unlock()
		if pred(spans) {
			return spans, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return spans, fmt.Errorf("otelcol: spans not as expected: %w; received %d: %v", ctx.Err(), len(spans), names(spans))
		}
	}
}

// WaitForSpan waits for the first span that match accepts.
func (c *Collector) WaitForSpan(ctx context.Context, match func(Span) bool) (Span, error) {
	var found Span
	_, err := c.WaitForSpans(ctx, func(spans []Span) bool {
		for _, s := range spans {
			if match(s) {
				found = s
				return true
			}
		}
		return false
	})
	return found, err
}

// Named is a WaitForSpan matcher for a span name.
func Named(name string) func(Span) bool {
	return func(s Span) bool { return s.Name == name }
}

func names(spans []Span) []string {
	out := make([]string, 0, len(spans))
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
