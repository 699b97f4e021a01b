package otelcol

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// emit sends a parent span, a child with attributes and an event, and a
// linked span through exp, and returns the parent's and linked span's contexts.
func emit(t *testing.T, exp sdktrace.SpanExporter, service string) (parent, linked trace.SpanContext) {
	t.Helper()
	res := resource.NewSchemaless(attribute.String("service.name", service))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithResource(res))
	defer func() {
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown tracer provider: %v", err)
		}
	}()
	tr := tp.Tracer("herald/testbed/otelcol-test")
	ctx, p := tr.Start(context.Background(), "reconcile", trace.WithSpanKind(trace.SpanKindServer))
	_, c := tr.Start(ctx, "announce", trace.WithAttributes(
		attribute.String("herald.service", "default/web"),
		attribute.Int("herald.ips", 2),
		attribute.Bool("herald.bgp", true)))
	c.AddEvent("route advertised", trace.WithAttributes(attribute.String("prefix", "192.0.2.10/32")))
	c.End()
	p.End()
	_, l := tr.Start(context.Background(), "withdraw", trace.WithLinks(trace.Link{
		SpanContext: p.SpanContext(), Attributes: []attribute.KeyValue{attribute.String("why", "caused-by")}}))
	l.End()
	return p.SpanContext(), l.SpanContext()
}

func checkSpans(t *testing.T, col *Collector, service string, parent trace.SpanContext) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	spans, err := col.WaitForSpans(ctx, func(s []Span) bool { return len(s) >= 3 })
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Span{}
	for _, s := range spans {
		if s.ServiceName != service {
			t.Errorf("span %s: service %q, want %q", s.Name, s.ServiceName, service)
		}
		byName[s.Name] = s
	}
	p, c, w := byName["reconcile"], byName["announce"], byName["withdraw"]
	if p.TraceID != parent.TraceID().String() || p.SpanID != parent.SpanID().String() || p.ParentSpanID != "" {
		t.Errorf("parent span = %s, want trace %s span %s and no parent", p, parent.TraceID(), parent.SpanID())
	}
	if p.Kind != "Server" {
		t.Errorf("parent kind = %q, want Server", p.Kind)
	}
	if c.TraceID != p.TraceID || c.ParentSpanID != p.SpanID {
		t.Errorf("child span = %s, want trace %s parent %s", c, p.TraceID, p.SpanID)
	}
	if c.Attr("herald.service") != "default/web" || c.Attributes["herald.ips"] != int64(2) || c.Attributes["herald.bgp"] != true {
		t.Errorf("child attributes = %v", c.Attributes)
	}
	if len(c.Events) != 1 || c.Events[0].Name != "route advertised" || c.Events[0].Attributes["prefix"] != "192.0.2.10/32" {
		t.Errorf("child events = %+v", c.Events)
	}
	if len(w.Links) != 1 || w.Links[0].TraceID != p.TraceID || w.Links[0].SpanID != p.SpanID || w.Links[0].Attributes["why"] != "caused-by" {
		t.Errorf("linked span links = %+v, want one to %s/%s", w.Links, p.TraceID, p.SpanID)
	}
	if w.TraceID == p.TraceID {
		t.Errorf("linked span should start a new trace")
	}
	if w.ScopeName != "herald/testbed/otelcol-test" {
		t.Errorf("scope = %q", w.ScopeName)
	}
}

func TestOTLPGRPC(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "traces.jsonl")
	col := StartForTest(t, Options{File: file, Debug: true})
	exp, err := otlptracegrpc.New(context.Background(),
		otlptracegrpc.WithEndpoint(col.GRPCEndpoint()), otlptracegrpc.WithInsecure(),
		otlptracegrpc.WithCompressor("gzip"))
	if err != nil {
		t.Fatal(err)
	}
	parent, _ := emit(t, exp, "herald-speaker")
	checkSpans(t, col, "herald-speaker", parent)

	// The file holds one OTLP-JSON batch a line, readable by pdata.
	if err := col.Stop(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(sc.Bytes())
		if err != nil {
			t.Fatalf("file line: %v", err)
		}
		n += td.SpanCount()
	}
	if n != 3 {
		t.Errorf("file has %d spans, want 3", n)
	}
}

func TestOTLPHTTP(t *testing.T) {
	t.Parallel()
	col := StartForTest(t, Options{})
	exp, err := otlptracehttp.New(context.Background(),
		otlptracehttp.WithEndpoint(col.HTTPEndpoint()), otlptracehttp.WithInsecure(),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
	if err != nil {
		t.Fatal(err)
	}
	parent, _ := emit(t, exp, "herald-controller")
	checkSpans(t, col, "herald-controller", parent)
	col.Reset()
	if n := len(col.Spans()); n != 0 {
		t.Errorf("after Reset: %d spans", n)
	}
}

func TestOTLPHTTPErrors(t *testing.T) {
	t.Parallel()
	col := StartForTest(t, Options{})
	url := "http://" + col.HTTPEndpoint() + "/v1/traces"
	for _, tc := range []struct {
		method, ctype, body string
		want                int
	}{
		{http.MethodGet, "application/json", "", http.StatusMethodNotAllowed},
		{http.MethodPost, "text/plain", "x", http.StatusUnsupportedMediaType},
		{http.MethodPost, "application/json", "{not json", http.StatusBadRequest},
		{http.MethodPost, "application/json", `{"resourceSpans":[]}`, http.StatusOK},
	} {
		req, _ := http.NewRequest(tc.method, url, bytes.NewBufferString(tc.body))
		req.Header.Set("Content-Type", tc.ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s %q: status %d, want %d", tc.method, tc.ctype, tc.body, resp.StatusCode, tc.want)
		}
	}
}

func TestWaitForSpanTimeout(t *testing.T) {
	t.Parallel()
	col := StartForTest(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := col.WaitForSpan(ctx, Named("never")); err == nil {
		t.Fatal("WaitForSpan returned no error without spans")
	}
}

// TestEnv: an exporter configured only by Env's variables reaches the
// collector, over gRPC and over HTTP.
func TestEnv(t *testing.T) {
	for _, proto := range []string{"grpc", "http/protobuf"} {
		t.Run(strings.ReplaceAll(proto, "/", "-"), func(t *testing.T) {
			col := StartForTest(t, Options{})
			for _, kv := range col.Env(proto) {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			var exp sdktrace.SpanExporter
			var err error
			if proto == "grpc" {
				exp, err = otlptracegrpc.New(context.Background())
			} else {
				exp, err = otlptracehttp.New(context.Background())
			}
			if err != nil {
				t.Fatal(err)
			}
			parent, _ := emit(t, exp, "env-"+proto)
			checkSpans(t, col, "env-"+proto, parent)
		})
	}
}
