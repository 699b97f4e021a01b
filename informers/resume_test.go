package informers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// refusing fails its first n round trips with a transport error, then
// answers 200.
type refusing struct {
	n, calls int
}

var errRefused = errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")

func (r *refusing) RoundTrip(*http.Request) (*http.Response, error) {
	r.calls++
	if r.calls <= r.n {
		return nil, errRefused
	}
	return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
}

func TestResumeQuicklyRetriesOnlyTheReflectorsReads(t *testing.T) {
	for _, tc := range []struct {
		name, method, url string
		body              bool
		retried           bool
	}{
		{"watch", "GET", "/api/v1/services?watch=true&resourceVersion=41&timeoutSeconds=300", false, true},
		{"watch, 1", "GET", "/apis/metallb.io/v1beta1/namespaces/ns/ipaddresspools?watch=1", false, true},
		{"list at a resourceVersion", "GET", "/api/v1/nodes?limit=500&resourceVersion=0", false, true},
		{"consistent list", "GET", "/api/v1/services", false, false},
		{"read of the Lease", "GET", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/herald-controller", false, false},
		{"write", "PUT", "/api/v1/namespaces/ns/services/web/status?resourceVersion=41", true, false},
		{"create", "POST", "/api/v1/namespaces/ns/events", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := &refusing{n: 3}
			rt := &resumeTransport{next: next, first: time.Millisecond, max: 2 * time.Millisecond, giveUp: time.Minute}
			req, err := http.NewRequest(tc.method, "https://127.0.0.1:6443"+tc.url, nil)
			if tc.body {
				req, err = http.NewRequest(tc.method, "https://127.0.0.1:6443"+tc.url, strings.NewReader("{}"))
			}
			if err != nil {
				t.Fatal(err)
			}
			resp, err := rt.RoundTrip(req)
			if tc.retried {
				if err != nil || resp.StatusCode != http.StatusOK || next.calls != 4 {
					t.Fatalf("got %v, %v after %d calls; want 200 after 4 (3 refused, retried)", resp, err, next.calls)
				}
				return
			}
			if !errors.Is(err, errRefused) || next.calls != 1 {
				t.Fatalf("got %v, %v after %d calls; want the first error, not retried", resp, err, next.calls)
			}
		})
	}
}

// A retried read ends with its context: the reflector stopping is never
// held up by the retries.
func TestResumeQuicklyStopsWithTheRequest(t *testing.T) {
	next := &refusing{n: 1 << 30}
	rt := &resumeTransport{next: next, first: time.Millisecond, max: 5 * time.Millisecond, giveUp: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "https://127.0.0.1:6443/api/v1/services?watch=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.RoundTrip(req); !errors.Is(err, errRefused) {
		t.Fatalf("got %v, want the last transport error once the context ended", err)
	}
	if next.calls < 2 {
		t.Fatalf("%d calls before the context ended, want retries", next.calls)
	}
}

// The wrapper is on the copy only: the caller's configuration (used for
// writes and the Lease) is unchanged.
func TestResumeQuicklyCopiesTheConfig(t *testing.T) {
	base := restConfigForTest()
	got := ResumeQuickly(base)
	if base.WrapTransport != nil {
		t.Fatal("ResumeQuickly changed the caller's configuration")
	}
	if got.WrapTransport == nil {
		t.Fatal("the copy has no transport wrapper")
	}
	if _, ok := got.WrapTransport(&refusing{}).(*resumeTransport); !ok {
		t.Fatal("the copy's wrapper is not the resuming transport")
	}
}

func restConfigForTest() *rest.Config { return &rest.Config{Host: "https://127.0.0.1:6443"} }

// An error that lasts reaches the reflector after giveUp, so that it is
// logged: retries must not hide a wrong CA or an unreachable host forever.
func TestResumeQuicklyGivesUpOnALastingError(t *testing.T) {
	next := &refusing{n: 1 << 30}
	rt := &resumeTransport{next: next, first: time.Millisecond, max: 2 * time.Millisecond, giveUp: 30 * time.Millisecond}
	req, err := http.NewRequest("GET", "https://127.0.0.1:6443/api/v1/services?watch=true", nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := rt.RoundTrip(req); !errors.Is(err, errRefused) {
		t.Fatalf("got %v, want the transport error once giveUp passed", err)
	}
	if next.calls < 2 || time.Since(start) > 5*time.Second {
		t.Fatalf("%d calls in %s: want retries, then the error after about giveUp", next.calls, time.Since(start))
	}
}
