package inspect

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/tracing"
	"github.com/heraldlb/herald/tracing/timeline"
)

func TestFetchTrace(t *testing.T) {
	body, err := os.ReadFile("../tracing/timeline/testdata/service-journey.json")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../tracing/timeline/testdata/service-journey.txt")
	if err != nil {
		t.Fatal(err)
	}
	const id = "4bf92f3577b34da6a3ce929d0e0e4736"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/jaeger/api/traces/" + id:
			_, _ = w.Write(body)
		case "/jaeger/api/traces/broken":
			http.Error(w, "boom", http.StatusInternalServerError)
		default:
			http.Error(w, `{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}`, http.StatusNotFound)
		}
	}))
	defer srv.Close()
	tr, err := FetchTrace(t.Context(), srv.Client(), srv.URL+"/jaeger/", id)
	if err != nil {
		t.Fatal(err)
	}
	if got := FormatTrace(tr); got != string(want) {
		t.Errorf("timeline:\n%s\nwant:\n%s", got, want)
	}
	if _, err := FetchTrace(t.Context(), srv.Client(), srv.URL+"/jaeger", "0000000000000000000000000000abcd"); !errors.Is(err, timeline.ErrNoTrace) {
		t.Errorf("missing trace: err = %v, want ErrNoTrace", err)
	}
	if _, err := FetchTrace(t.Context(), srv.Client(), srv.URL+"/jaeger", "broken"); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("server error: err = %v, want the status", err)
	}
}

func TestTraceIDOf(t *testing.T) {
	svc := func(ann map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Annotations: ann}}
	}
	id, err := traceIDOf(svc(map[string]string{tracing.TraceparentAnnotation: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}))
	if err != nil || id != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("traceIDOf = %q, %v", id, err)
	}
	if _, err := traceIDOf(svc(nil)); err == nil || !strings.Contains(err.Error(), "no "+tracing.TraceparentAnnotation) {
		t.Errorf("no annotation: err = %v", err)
	}
	if _, err := traceIDOf(svc(map[string]string{tracing.TraceparentAnnotation: "garbage"})); !errors.Is(err, tracing.ErrTraceparent) {
		t.Errorf("bad annotation: err = %v, want ErrTraceparent", err)
	}
}
