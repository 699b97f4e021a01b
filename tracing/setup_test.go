package tracing

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// otelEnv are every variable the tests set, cleared first so the
// machine's own environment does not leak in.
var otelEnv = []string{EnvSDKDisabled, EnvTracesExporter, EnvEndpoint, EnvTracesEndpoint, EnvProtocol, EnvTracesProtocol,
	EnvTracesSampler, EnvTracesSamplerArg, EnvServiceName, EnvResourceAttributes, EnvNodeName, EnvPodName, EnvPodNamespace}

func setEnv(t *testing.T, kv map[string]string) {
	t.Helper()
	for _, k := range otelEnv {
		t.Setenv(k, kv[k])
	}
}

func TestSetupFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name         string
		env          map[string]string
		wantExporter string
		wantSampler  string
		wantWarnings []string // substrings, one per warning
		wantErr      string
	}{
		{name: "nothing configured", env: nil, wantExporter: "none"},
		{name: "endpoint alone turns it on", env: map[string]string{EnvEndpoint: "http://127.0.0.1:1"},
			wantExporter: "otlp http/protobuf", wantSampler: "ParentBased{root:AlwaysOnSampler"},
		{name: "traces endpoint, grpc", env: map[string]string{EnvTracesEndpoint: "http://127.0.0.1:1", EnvProtocol: "grpc"},
			wantExporter: "otlp grpc"},
		{name: "traces protocol wins", env: map[string]string{EnvEndpoint: "http://127.0.0.1:1", EnvProtocol: "grpc", EnvTracesProtocol: "http/protobuf"},
			wantExporter: "otlp http/protobuf"},
		{name: "exporter otlp without endpoint", env: map[string]string{EnvTracesExporter: "otlp"}, wantExporter: "otlp http/protobuf"},
		{name: "exporter none wins over an endpoint", env: map[string]string{EnvTracesExporter: "none", EnvEndpoint: "http://127.0.0.1:1"},
			wantExporter: "none"},
		{name: "sdk disabled", env: map[string]string{EnvSDKDisabled: "TRUE", EnvTracesExporter: "otlp"}, wantExporter: "none"},
		{name: "sdk disabled unreadable", env: map[string]string{EnvSDKDisabled: "yes", EnvTracesExporter: "otlp"},
			wantExporter: "otlp http/protobuf", wantWarnings: []string{"OTEL_SDK_DISABLED=\"yes\""}},
		{name: "unknown exporter", env: map[string]string{EnvTracesExporter: "zipkin, otlp"},
			wantExporter: "otlp http/protobuf", wantWarnings: []string{"exporter \"zipkin\" is not supported"}},
		{name: "only unknown exporters", env: map[string]string{EnvTracesExporter: "console", EnvEndpoint: "http://127.0.0.1:1"},
			wantExporter: "none", wantWarnings: []string{"\"console\""}},
		{name: "none and otlp", env: map[string]string{EnvTracesExporter: "none,otlp"}, wantErr: "none and otlp"},
		{name: "bad protocol", env: map[string]string{EnvTracesExporter: "otlp", EnvProtocol: "http/json"},
			wantExporter: "otlp http/protobuf", wantWarnings: []string{"OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\""}},
		{name: "ratio sampler", env: map[string]string{EnvTracesExporter: "otlp", EnvTracesSampler: "traceidratio", EnvTracesSamplerArg: "0.25"},
			wantExporter: "otlp http/protobuf", wantSampler: "TraceIDRatioBased{0.25}"},
		{name: "parent based ratio", env: map[string]string{EnvTracesExporter: "otlp", EnvTracesSampler: "parentbased_traceidratio", EnvTracesSamplerArg: "0.5"},
			wantExporter: "otlp http/protobuf", wantSampler: "ParentBased{root:TraceIDRatioBased{0.5}"},
		{name: "bad ratio", env: map[string]string{EnvTracesExporter: "otlp", EnvTracesSampler: "traceidratio", EnvTracesSamplerArg: "2"},
			wantExporter: "otlp http/protobuf", wantSampler: "TraceIDRatioBased{1}", wantWarnings: []string{"OTEL_TRACES_SAMPLER_ARG=\"2\""}},
		{name: "always off", env: map[string]string{EnvTracesExporter: "otlp", EnvTracesSampler: "always_off"},
			wantExporter: "otlp http/protobuf", wantSampler: "AlwaysOffSampler"},
		{name: "always on", env: map[string]string{EnvTracesExporter: "otlp", EnvTracesSampler: "always_on"},
			wantExporter: "otlp http/protobuf", wantSampler: "AlwaysOnSampler"},
		{name: "parent based off", env: map[string]string{EnvTracesExporter: "otlp", EnvTracesSampler: "parentbased_always_off"},
			wantExporter: "otlp http/protobuf", wantSampler: "ParentBased{root:AlwaysOffSampler"},
		{name: "unknown sampler", env: map[string]string{EnvTracesExporter: "otlp", EnvTracesSampler: "jaeger_remote"},
			wantExporter: "otlp http/protobuf", wantSampler: "ParentBased{root:AlwaysOnSampler", wantWarnings: []string{"\"jaeger_remote\" is not supported"}},
		{name: "bad resource attributes", env: map[string]string{EnvTracesExporter: "otlp", EnvResourceAttributes: "novalue"},
			wantExporter: "otlp http/protobuf", wantWarnings: []string{"OTEL_RESOURCE_ATTRIBUTES"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, tc.env)
			p, err := Setup(t.Context(), Options{ServiceName: "herald-test"})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				_ = p.Shutdown(ctx)
			}()
			if p.Exporter != tc.wantExporter {
				t.Errorf("exporter %q, want %q", p.Exporter, tc.wantExporter)
			}
			if p.Enabled() != (tc.wantExporter != "none") || NewTracer(p.TracerProvider(), "t").Enabled() != p.Enabled() {
				t.Errorf("Enabled %v and its Tracer's %v, want %v", p.Enabled(), NewTracer(p.TracerProvider(), "t").Enabled(), tc.wantExporter != "none")
			}
			if !strings.HasPrefix(p.Sampler, tc.wantSampler) {
				t.Errorf("sampler %q, want %q...", p.Sampler, tc.wantSampler)
			}
			if len(p.Warnings) != len(tc.wantWarnings) {
				t.Fatalf("warnings %q, want %d", p.Warnings, len(tc.wantWarnings))
			}
			for i, w := range tc.wantWarnings {
				if !strings.Contains(p.Warnings[i], w) {
					t.Errorf("warning %q does not say %q", p.Warnings[i], w)
				}
			}
		})
	}
}

// received collects what an OTLP endpoint got.
type received struct {
	mu    sync.Mutex
	spans []string            // names
	res   map[string]string   // resource attributes of the last batch
	attrs map[string][]string // span name -> its attribute keys
}

func (r *received) add(req *collectortrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		r.res = map[string]string{}
		for _, kv := range rs.GetResource().GetAttributes() {
			r.res[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, s.GetName())
				if r.attrs == nil {
					r.attrs = map[string][]string{}
				}
				for _, kv := range s.GetAttributes() {
					r.attrs[s.GetName()] = append(r.attrs[s.GetName()], kv.GetKey()+"="+anyValue(kv.GetValue()))
				}
			}
		}
	}
}

func anyValue(v *commonpb.AnyValue) string {
	if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		return s.StringValue
	}
	return v.String()
}

type grpcReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	r *received
}

func (g grpcReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	g.r.add(req)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// TestSetupExports sends spans through Setup's provider to an OTLP
// receiver over each protocol: Shutdown alone must deliver them (it
// flushes), with the resource Herald describes.
func TestSetupExports(t *testing.T) {
	for _, protocol := range []string{"http/protobuf", "grpc"} {
		t.Run(protocol, func(t *testing.T) {
			var got received
			var endpoint string
			switch protocol {
			case "grpc":
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				srv := grpc.NewServer()
				collectortrace.RegisterTraceServiceServer(srv, grpcReceiver{r: &got})
				go func() { _ = srv.Serve(ln) }()
				t.Cleanup(srv.Stop)
				endpoint = "http://" + ln.Addr().String()
			default:
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
					body, _ := io.ReadAll(req.Body)
					var m collectortrace.ExportTraceServiceRequest
					if req.URL.Path != "/v1/traces" || proto.Unmarshal(body, &m) != nil {
						http.Error(w, "bad request", http.StatusBadRequest)
						return
					}
					got.add(&m)
					w.Header().Set("Content-Type", "application/x-protobuf")
					out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
					_, _ = w.Write(out)
				}))
				t.Cleanup(srv.Close)
				endpoint = srv.URL
			}
			setEnv(t, map[string]string{EnvEndpoint: endpoint, EnvProtocol: protocol,
				EnvNodeName: "node-a", EnvPodName: "speaker-x", EnvPodNamespace: "metallb-system",
				EnvResourceAttributes: "deployment.environment.name=lab,service.version=overridden"})
			p, err := Setup(t.Context(), Options{ServiceName: "herald-speaker", ServiceVersion: "v1.2.3"})
			if err != nil {
				t.Fatal(err)
			}
			tr := NewTracer(p.TracerProvider(), "github.com/heraldlb/herald/tracing")
			parent := tr.Start(SpanPlan, trace0())
			parent.SetAttributes(ServiceAttrs("app", "web")...)
			child := tr.Start(SpanUpdateSent, parent.SpanContext())
			child.SetAttributes(AttrPrefixes.Int(3))
			child.End()
			parent.End()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := p.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			got.mu.Lock()
			defer got.mu.Unlock()
			slices.Sort(got.spans)
			if diff := cmp.Diff([]string{SpanUpdateSent, SpanPlan}, got.spans); diff != "" {
				t.Errorf("spans (-want +got):\n%s", diff)
			}
			for k, v := range map[string]string{"service.name": "herald-speaker", "service.version": "overridden",
				"k8s.node.name": "node-a", "k8s.pod.name": "speaker-x", "k8s.namespace.name": "metallb-system",
				"deployment.environment.name": "lab", "telemetry.sdk.language": "go"} {
				if got.res[k] != v {
					t.Errorf("resource %s=%q, want %q (all: %v)", k, got.res[k], v, got.res)
				}
			}
			if diff := cmp.Diff([]string{"k8s.namespace.name=app", "k8s.service.name=web"}, got.attrs[SpanPlan]); diff != "" {
				t.Errorf("plan attributes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServiceNameFromEnvironmentWins(t *testing.T) {
	setEnv(t, map[string]string{EnvServiceName: "renamed"})
	var w []string
	res, err := newResource(t.Context(), Options{ServiceName: "herald-controller"}, &w)
	if err != nil || len(w) != 0 {
		t.Fatal(err, w)
	}
	v, _ := res.Set().Value("service.name")
	if v.AsString() != "renamed" {
		t.Errorf("service.name %q, want OTEL_SERVICE_NAME's", v.AsString())
	}
}

func trace0() trace.SpanContext { return trace.SpanContext{} }
