package jaeger

import (
	"context"
	"errors"
	"go.opentelemetry.io/otel/trace"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldlb/herald/tracing"
)

// TestClientDecodes checks the client against answers shaped like Jaeger's
// query API (recorded from v1.75.0's /api/traces endpoints).
func TestClientDecodes(t *testing.T) {
	const one = `{"data":[{"traceID":"0000000000000000000000000000002a","spans":[
	  {"traceID":"0000000000000000000000000000002a","spanID":"00000000000000b2","operationName":"bgp.update.send",
	   "references":[{"refType":"CHILD_OF","traceID":"0000000000000000000000000000002a","spanID":"00000000000000a1"},
	                 {"refType":"FOLLOWS_FROM","traceID":"0000000000000000000000000000002b","spanID":"00000000000000c3"}],
	   "startTime":2000,"duration":5,"tags":[{"key":"herald.bgp.prefixes","type":"int64","value":3}],"processID":"p1"},
	  {"traceID":"0000000000000000000000000000002a","spanID":"00000000000000a1","operationName":"speaker.plan",
	   "references":[],"startTime":1000,"duration":20,"tags":[],"processID":"p1"}],
	 "processes":{"p1":{"serviceName":"herald-speaker","tags":[{"key":"k8s.node.name","type":"string","value":"node-a"}]}}}],
	 "total":0,"limit":0,"offset":0,"errors":null}`
	var gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/traces/0000000000000000000000000000002a", r.URL.Path == "/api/traces":
			gotQuery = r.URL.RawQuery
			_, _ = w.Write([]byte(one))
		case strings.HasPrefix(r.URL.Path, "/api/traces/"):
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c := NewClient(srv.URL + "/")
	ctx := t.Context()

	tr, err := c.Trace(ctx, "0000000000000000000000000000002a")
	if err != nil {
		t.Fatal(err)
	}
	spans := tr.SortedSpans()
	if len(spans) != 2 || spans[0].OperationName != "speaker.plan" || spans[1].Parent() != "00000000000000a1" || spans[0].Parent() != "" {
		t.Fatalf("spans %+v", spans)
	}
	if v, ok := spans[1].Tag("herald.bgp.prefixes"); !ok || v != "3" {
		t.Errorf("prefixes tag %q %v, want 3", v, ok)
	}
	if tr.Service(spans[0]) != "herald-speaker" {
		t.Errorf("service %q", tr.Service(spans[0]))
	}
	if v, _ := tr.Processes["p1"].Tag("k8s.node.name"); v != "node-a" {
		t.Errorf("node %q", v)
	}
	if _, err := c.Trace(ctx, "0000000000000000000000000000ffff"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing trace: %v, want ErrNotFound", err)
	}
	ts, err := c.Traces(ctx, Query{Service: "herald-speaker", Operation: "speaker.plan", Tags: map[string]string{"k8s.service.name": "web"}})
	if err != nil || len(ts) != 1 {
		t.Fatalf("%d traces, %v", len(ts), err)
	}
	for _, want := range []string{"service=herald-speaker", "operation=speaker.plan", "limit=20", "lookback=1h0m0s", "tags=%7B%22k8s.service.name%22%3A%22web%22%7D"} {
		if !strings.Contains(gotQuery, want) {
			t.Errorf("query %q lacks %q", gotQuery, want)
		}
	}
	if _, err := c.Traces(ctx, Query{}); err == nil {
		t.Error("a search without a service was sent")
	}
}

// TestSpansReachJaeger sends spans through Herald's tracing package, over
// both OTLP protocols, to a real Jaeger and reads them back by trace ID and
// by service, with their parent, links, attributes and resource.
func TestSpansReachJaeger(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Jaeger")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Minute)
	defer cancel()
	bin, err := EnsureBinary(ctx, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	j := StartForTest(t, Options{Binary: bin})
	for _, protocol := range []string{"grpc", "http/protobuf"} {
		t.Run(protocol, func(t *testing.T) {
			for _, kv := range j.Env(protocol) {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			t.Setenv("NODE_NAME", "node-"+strings.ReplaceAll(protocol, "/", "-"))
			service := "herald-test-" + strings.ReplaceAll(protocol, "/", "-")
			p, err := tracing.Setup(ctx, tracing.Options{ServiceName: service, ServiceVersion: "v0.0.1"})
			if err != nil {
				t.Fatal(err)
			}
			tr := tracing.NewTracer(p.TracerProvider(), "github.com/heraldlb/herald/testbed/jaeger")
			other := tr.Start(tracing.SpanServiceReconcile, tracingRoot())
			other.End()
			plan := tr.Start(tracing.SpanPlan, tracingRoot())
			plan.SetAttributes(tracing.ServiceAttrs("app", "web")...)
			update := tr.Start(tracing.SpanUpdateSent, plan.SpanContext(), other.SpanContext())
			update.SetAttributes(tracing.AttrPrefixes.Int(2), tracing.AttrMessageBytes.Int(61))
			update.End()
			plan.End()
			sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
			defer scancel()
			if err := p.Shutdown(sctx); err != nil {
				t.Fatal(err)
			}

			wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
			defer wcancel()
			id := plan.SpanContext().TraceID().String()
			got, err := j.WaitForTrace(wctx, id, 2)
			if err != nil {
				t.Fatal(err)
			}
			byName := map[string]Span{}
			for _, s := range got.Spans {
				byName[s.OperationName] = s
			}
			planSpan, updSpan := byName[tracing.SpanPlan], byName[tracing.SpanUpdateSent]
			if planSpan.SpanID != plan.SpanContext().SpanID().String() || updSpan.Parent() != planSpan.SpanID {
				t.Errorf("spans %+v: want the update a child of the plan %s", got.Spans, plan.SpanContext().SpanID())
			}
			linked := false
			for _, r := range updSpan.References {
				linked = linked || (r.RefType == "FOLLOWS_FROM" && r.SpanID == other.SpanContext().SpanID().String())
			}
			if !linked {
				t.Errorf("update references %+v lack the link to %s", updSpan.References, other.SpanContext().SpanID())
			}
			if v, _ := updSpan.Tag(string(tracing.AttrPrefixes)); v != "2" {
				t.Errorf("prefixes %q, want 2", v)
			}
			if v, _ := planSpan.Tag(string(tracing.AttrServiceName)); v != "web" {
				t.Errorf("service name %q, want web", v)
			}
			if got.Service(planSpan) != service {
				t.Errorf("service.name %q, want %q", got.Service(planSpan), service)
			}
			if v, _ := got.Processes[planSpan.ProcessID].Tag("k8s.node.name"); !strings.HasPrefix(v, "node-") {
				t.Errorf("k8s.node.name %q", v)
			}
			found, err := j.Traces(wctx, Query{Service: service, Operation: tracing.SpanPlan})
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != 1 || found[0].TraceID != id {
				t.Errorf("search by service found %d traces, want exactly %s", len(found), id)
			}
		})
	}
}

func tracingRoot() trace.SpanContext { return trace.SpanContext{} }
