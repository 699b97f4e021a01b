package tracing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The standard variables Setup reads itself. The OTLP exporters read their
// own (OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _TIMEOUT,
// _COMPRESSION, _CERTIFICATE, _INSECURE, ...), the batch span processor
// OTEL_BSP_*, the span limits OTEL_SPAN_*_LIMIT, and the resource
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
const (
	EnvSDKDisabled        = "OTEL_SDK_DISABLED"
	EnvTracesExporter     = "OTEL_TRACES_EXPORTER"
	EnvEndpoint           = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint     = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvProtocol           = "OTEL_EXPORTER_OTLP_PROTOCOL"
	EnvTracesProtocol     = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	EnvTracesSampler      = "OTEL_TRACES_SAMPLER"
	EnvTracesSamplerArg   = "OTEL_TRACES_SAMPLER_ARG"
	EnvServiceName        = "OTEL_SERVICE_NAME"
	EnvResourceAttributes = "OTEL_RESOURCE_ATTRIBUTES"
	EnvNodeName           = "NODE_NAME"
	EnvPodName            = "POD_NAME"
	EnvPodNamespace       = "POD_NAMESPACE"
)

const (
	protocolGRPC           = "grpc"
	protocolHTTPProtobuf   = "http/protobuf"
	defaultProtocol        = protocolHTTPProtobuf
	exporterOTLP           = "otlp"
	exporterNone           = "none"
	samplerParentBasedOn   = "parentbased_always_on"
	samplerParentBasedOff  = "parentbased_always_off"
	samplerParentBasedRate = "parentbased_traceidratio"
)

// Options say who is tracing.
type Options struct {
	// ServiceName is the resource's service.name (herald-controller,
	// herald-speaker) unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES
	// name another.
	ServiceName string
	// ServiceVersion is service.version (the build's version).
	ServiceVersion string
}

// Provider is the process's tracing: the TracerProvider to hand to the
// actor trees and a Shutdown that flushes what is still buffered.
type Provider struct {
	tp  trace.TracerProvider
	sdk *sdktrace.TracerProvider // nil when off

	// Exporter says where spans go: "none", "otlp grpc" or
	// "otlp http/protobuf".
	Exporter string
	// Sampler is the sampler's description (empty when off).
	Sampler string
	// Warnings name each OTEL_* setting that was not understood and what
	// was used instead, as the specification asks (warn, and go on with
	// the default).
	Warnings []string
}

// Off returns a Provider that traces nothing: its TracerProvider is
// OpenTelemetry's no-op, for which NewTracer gives an off Tracer.
func Off() *Provider { return &Provider{tp: noop.NewTracerProvider(), Exporter: exporterNone} }

// Setup builds the process's tracing from the standard OTEL_* environment
// variables. Tracing is on when OTEL_TRACES_EXPORTER is otlp, or when it
// is unset and an OTLP endpoint is (OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): a Herald with no tracing
// configured neither dials a collector nor buffers spans. It is off when
// OTEL_SDK_DISABLED is true or OTEL_TRACES_EXPORTER is none.
//
// The protocol is OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else
// OTEL_EXPORTER_OTLP_PROTOCOL: grpc or http/protobuf (the specification's
// default). The sampler is OTEL_TRACES_SAMPLER with
// OTEL_TRACES_SAMPLER_ARG (default parentbased_always_on). The resource
// has service.name, service.version, k8s.node.name ($NODE_NAME),
// k8s.pod.name ($POD_NAME) and k8s.namespace.name ($POD_NAMESPACE), then
// whatever OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME say.
//
// Errors are those of building the exporter or the resource; settings
// that are merely not understood become Warnings.
func Setup(ctx context.Context, o Options) (*Provider, error) {
	var warnings []string
	on, err := enabled(&warnings)
	if err != nil || !on {
		p := Off()
		p.Warnings = warnings
		return p, err
	}
	protocol := protocolFromEnv(&warnings)
	var exp sdktrace.SpanExporter
	switch protocol {
	case protocolGRPC:
		exp, err = otlptracegrpc.New(ctx)
	default:
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP %s exporter: %w", protocol, err)
	}
	res, err := newResource(ctx, o, &warnings)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, err
	}
	sampler := samplerFromEnv(&warnings)
	sdk := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler),
	)
	return &Provider{tp: sdk, sdk: sdk, Exporter: exporterOTLP + " " + protocol, Sampler: sampler.Description(), Warnings: warnings}, nil
}

// TracerProvider is what the actor trees start their spans from.
func (p *Provider) TracerProvider() trace.TracerProvider { return p.tp }

// Enabled says whether spans are exported.
func (p *Provider) Enabled() bool { return p.sdk != nil }

// ForceFlush exports every span that has ended.
func (p *Provider) ForceFlush(ctx context.Context) error {
	if p.sdk == nil {
		return nil
	}
	return p.sdk.ForceFlush(ctx)
}

// Shutdown exports every span that has ended and stops the exporter;
// spans that end afterwards are dropped. Call it once, when the process
// stops, with a deadline: an unreachable collector otherwise holds it for
// the exporter's timeout.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.sdk == nil {
		return nil
	}
	return p.sdk.Shutdown(ctx)
}

// enabled decides from OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER and the
// endpoint variables whether to trace.
func enabled(warnings *[]string) (bool, error) {
	if v := os.Getenv(EnvSDKDisabled); v != "" {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return false, nil
		case "false":
		default:
			*warnings = append(*warnings, fmt.Sprintf("%s=%q is not true or false: using false", EnvSDKDisabled, v))
		}
	}
	v := os.Getenv(EnvTracesExporter)
	if strings.TrimSpace(v) == "" {
		return os.Getenv(EnvEndpoint) != "" || os.Getenv(EnvTracesEndpoint) != "", nil
	}
	otlp, none := false, false
	for _, e := range strings.Split(v, ",") {
		switch e = strings.ToLower(strings.TrimSpace(e)); e {
		case exporterOTLP:
			otlp = true
		case exporterNone:
			none = true
		default:
			*warnings = append(*warnings, fmt.Sprintf("%s: exporter %q is not supported (only otlp and none): ignored", EnvTracesExporter, e))
		}
	}
	if none && otlp {
		return false, fmt.Errorf("tracing: %s=%q asks for none and otlp at once", EnvTracesExporter, v)
	}
	return otlp, nil
}

func protocolFromEnv(warnings *[]string) string {
	for _, name := range []string{EnvTracesProtocol, EnvProtocol} {
		v := strings.TrimSpace(os.Getenv(name))
		switch v {
		case "":
			continue
		case protocolGRPC, protocolHTTPProtobuf:
			return v
		default:
			*warnings = append(*warnings, fmt.Sprintf("%s=%q is not supported (grpc or http/protobuf): using %s", name, v, defaultProtocol))
			return defaultProtocol
		}
	}
	return defaultProtocol
}

// samplerFromEnv reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG.
// An unknown sampler or a bad ratio is a warning, and the default
// (parentbased_always_on, ratio 1.0) is used.
func samplerFromEnv(warnings *[]string) sdktrace.Sampler {
	name := strings.ToLower(strings.TrimSpace(os.Getenv(EnvTracesSampler)))
	arg := strings.TrimSpace(os.Getenv(EnvTracesSamplerArg))
	ratio := func() float64 {
		if arg == "" {
			return 1
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			*warnings = append(*warnings, fmt.Sprintf("%s=%q is not a ratio in [0, 1]: using 1.0", EnvTracesSamplerArg, arg))
			return 1
		}
		return r
	}
	switch name {
	case "", samplerParentBasedOn:
		return sdktrace.ParentBased(sdktrace.AlwaysSample())
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio())
	case samplerParentBasedOff:
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case samplerParentBasedRate:
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio()))
	default:
		*warnings = append(*warnings, fmt.Sprintf("%s=%q is not supported: using %s", EnvTracesSampler, name, samplerParentBasedOn))
		return sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
}

// newResource describes the process: Herald's defaults first, so that the
// standard variables, read last, win.
func newResource(ctx context.Context, o Options, warnings *[]string) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{}
	if o.ServiceName != "" {
		attrs = append(attrs, semconv.ServiceName(o.ServiceName))
	}
	if o.ServiceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(o.ServiceVersion))
	}
	for _, e := range []struct {
		env string
		key attribute.Key
	}{{EnvNodeName, semconv.K8SNodeNameKey}, {EnvPodName, semconv.K8SPodNameKey}, {EnvPodNamespace, semconv.K8SNamespaceNameKey}} {
		if v := os.Getenv(e.env); v != "" {
			attrs = append(attrs, e.key.String(v))
		}
	}
	res, err := resource.New(ctx,
		resource.WithSchemaURL(SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(),
	)
	switch {
	case errors.Is(err, resource.ErrPartialResource):
		*warnings = append(*warnings, fmt.Sprintf("%s: %v: using the attributes that parsed", EnvResourceAttributes, err))
	case err != nil:
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	return res, nil
}
