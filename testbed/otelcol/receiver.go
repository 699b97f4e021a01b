package otelcol

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const maxRequestBytes = 32 << 20

// grpcReceiver is the OTLP TraceService.
type grpcReceiver struct {
	ptraceotlp.UnimplementedGRPCServer
	next consumer.Traces
}

func (r *grpcReceiver) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	if err := r.next.ConsumeTraces(ctx, req.Traces()); err != nil {
		return ptraceotlp.NewExportResponse(), status.Error(codes.Unavailable, err.Error())
	}
	return ptraceotlp.NewExportResponse(), nil
}

// httpReceiver serves POST /v1/traces in OTLP/HTTP.
type httpReceiver struct {
	next consumer.Traces
}

const (
	protoType = "application/x-protobuf"
	jsonType  = "application/json"
)

func (r *httpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(w, "405 method not allowed, supported: [POST]", http.StatusMethodNotAllowed)
		return
	}
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if ct != protoType && ct != jsonType {
		http.Error(w, fmt.Sprintf("415 unsupported media type, supported: [%s, %s]", jsonType, protoType), http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = http.MaxBytesReader(w, req.Body, maxRequestBytes)
	switch req.Header.Get("Content-Encoding") {
	case "", "identity":
	case "gzip":
		gz, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, "bad gzip body: "+err.Error(), http.StatusBadRequest)
			return
		}
		defer gz.Close()
		body = gz
	default:
		http.Error(w, "unsupported Content-Encoding "+req.Header.Get("Content-Encoding"), http.StatusUnsupportedMediaType)
		return
	}
	data, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	exp := ptraceotlp.NewExportRequest()
	if ct == protoType {
		err = exp.UnmarshalProto(data)
	} else {
		err = exp.UnmarshalJSON(data)
	}
	if err != nil {
		http.Error(w, "decode OTLP request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := r.next.ConsumeTraces(req.Context(), exp.Traces()); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	resp := ptraceotlp.NewExportResponse()
	var out []byte
	if ct == protoType {
		out, err = resp.MarshalProto()
	} else {
		out, err = resp.MarshalJSON()
	}
	if err != nil {
		http.Error(w, "encode response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}
