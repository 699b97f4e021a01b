package controller

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// refusingHost returns the address of a port nothing listens on, as an API
// server that is down: every connection is refused.
func refusingHost(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := "http://" + ln.Addr().String()
	ln.Close()
	return host
}

// While the API server is down, the informers' client keeps retrying a
// watch until its context ends; the Lease's client gives up at the first
// refusal, so leader election sees the failure at once.
func TestNewClientsRetryOnlyTheInformersReads(t *testing.T) {
	c, err := NewClients(&rest.Config{Host: refusingHost(t), UserAgent: "herald-controller"})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	_, err = c.Kube.CoreV1().Services("").Watch(ctx, metav1.ListOptions{ResourceVersion: "1"})
	if err == nil {
		t.Fatal("a watch of a server that is down succeeded")
	}
	if ctx.Err() == nil {
		t.Errorf("the informers' client gave up on a watch before its context ended, not retrying: %v", err)
	}

	// Shorter than ResumeQuickly gives a read, so a retried read ends
	// with the context.
	ctx, cancel = context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = c.Election.CoordinationV1().Leases("ns").Get(ctx, "herald-controller", metav1.GetOptions{})
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("reading the Lease from a server that is down: %v (context: %v), want the refusal at once", err, ctx.Err())
	}
}
