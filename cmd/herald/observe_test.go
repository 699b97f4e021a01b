package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/heraldlb/herald/tracing"
)

func TestNewLogger(t *testing.T) {
	span := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{15: 1}, SpanID: trace.SpanID{7: 2}})
	for _, tc := range []struct {
		level, format string
		wantJSON      bool
		wantErr       string
	}{
		// A bytes.Buffer is no terminal: auto writes JSON.
		{level: "info", format: "auto", wantJSON: true},
		{level: "info", format: "", wantJSON: true},
		{level: "debug", format: "json", wantJSON: true},
		{level: "info", format: "text"},
		{level: "loud", format: "json", wantErr: "--log-level"},
		{level: "info", format: "xml", wantErr: "--log-format"},
	} {
		t.Run(tc.level+"/"+tc.format, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := newLogger(tc.level, tc.format, &buf)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			log.DebugContext(tracing.Context(context.Background(), span), "m", "k", "v")
			log.InfoContext(tracing.Context(context.Background(), span), "m", "k", "v")
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if want := map[string]int{"debug": 2, "info": 1}[tc.level]; len(lines) != want {
				t.Fatalf("%d lines at level %s, want %d:\n%s", len(lines), tc.level, want, buf.String())
			}
			var line map[string]any
			isJSON := json.Unmarshal([]byte(lines[0]), &line) == nil
			if isJSON != tc.wantJSON {
				t.Fatalf("JSON %v, want %v: %s", isJSON, tc.wantJSON, lines[0])
			}
			for _, want := range []string{span.TraceID().String(), span.SpanID().String(), tracing.LogTraceID, tracing.LogSpanID} {
				if !strings.Contains(lines[0], want) {
					t.Errorf("line does not carry %s: %s", want, lines[0])
				}
			}
		})
	}
}

func TestStartTracingOff(t *testing.T) {
	t.Setenv(tracing.EnvTracesExporter, "")
	t.Setenv(tracing.EnvEndpoint, "")
	t.Setenv(tracing.EnvTracesEndpoint, "")
	t.Setenv(tracing.EnvTracesSampler, "nonsense")
	var buf bytes.Buffer
	log, _ := newLogger("info", "json", &buf)
	p, stop, err := startTracing(t.Context(), "herald-test", log)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if p.Enabled() || tracing.NewTracer(p.TracerProvider(), "t").Enabled() {
		t.Error("tracing on with no exporter configured")
	}
	if strings.Contains(buf.String(), "nonsense") {
		t.Errorf("an off provider read the sampler: %s", buf.String())
	}

	// Configured, it says what it chose and warns about what it ignored.
	t.Setenv(tracing.EnvTracesExporter, "otlp")
	t.Setenv(tracing.EnvEndpoint, "http://127.0.0.1:1")
	buf.Reset()
	p, stop, err = startTracing(t.Context(), "herald-test", log)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if !p.Enabled() || !strings.Contains(buf.String(), `"exporter":"otlp http/protobuf"`) || !strings.Contains(buf.String(), "nonsense") {
		t.Errorf("enabled %v, logs:\n%s", p.Enabled(), buf.String())
	}
}
