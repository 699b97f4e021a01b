package inspect

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/tracing"
	"github.com/heraldlb/herald/tracing/timeline"
)

// Trace is one trace of Jaeger's query API.
type Trace = timeline.Trace

// FormatTrace is timeline.Format: the same text the lab's demo prints.
func FormatTrace(t Trace) string { return timeline.Format(t) }

// ServiceTraceID reads the trace ID of the Service's last change from its
// herald.io/traceparent annotation.
func ServiceTraceID(ctx context.Context, c Clients, namespace, name string) (string, error) {
	svc, err := c.Kube.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("service %s/%s: %w", namespace, name, err)
	}
	return traceIDOf(svc)
}

func traceIDOf(svc *corev1.Service) (string, error) {
	sc, err := tracing.FromAnnotations(svc.Annotations)
	if err != nil {
		return "", fmt.Errorf("service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	if !sc.IsValid() {
		return "", fmt.Errorf("service %s/%s has no %s annotation: its last change was not traced (is tracing on in the controller? see docs/tracing.md)",
			svc.Namespace, svc.Name, tracing.TraceparentAnnotation)
	}
	return sc.TraceID().String(), nil
}

// FetchTrace gets trace id from Jaeger's query API at base
// (GET <base>/api/traces/<id>).
func FetchTrace(ctx context.Context, client *http.Client, base, id string) (Trace, error) {
	u := strings.TrimRight(base, "/") + "/api/traces/" + url.PathEscape(id)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Trace{}, fmt.Errorf("jaeger: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return Trace{}, fmt.Errorf("jaeger: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return Trace{}, fmt.Errorf("jaeger: reading %s: %w", u, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return Trace{}, fmt.Errorf("jaeger: trace %s: %w (not exported yet, or expired)", id, timeline.ErrNoTrace)
	}
	if resp.StatusCode != http.StatusOK {
		return Trace{}, fmt.Errorf("jaeger: GET %s: %s: %s", u, resp.Status, firstLine(string(body)))
	}
	tr, err := timeline.DecodeBytes(body)
	if err != nil {
		return Trace{}, fmt.Errorf("jaeger: trace %s: %w", id, err)
	}
	return tr, nil
}
