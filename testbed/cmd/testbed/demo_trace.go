package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/heraldlb/herald/testbed/jaeger"
	"github.com/heraldlb/herald/tracing"
)

// demoTrace shows one Service's journey as the single trace Herald records
// for it: the controller's reconcile and status write, then on every
// announcing node the plan, the peer update and the UPDATE on the wire. It
// reads the trace from the lab's Jaeger with `kubectl herald trace`, as a
// person would, and says how to query Jaeger directly.
func demoTrace(ctx context.Context, out io.Writer, step func(string), c kubernetes.Interface, st *labState, herald string, s demoService) error {
	step(fmt.Sprintf("the journey of %s/%s as one trace, from the API event to the UPDATE on the wire", s.Namespace, s.Name))
	if st.JaegerURL == "" {
		fmt.Fprintf(out, "the lab runs no tracing backend, so there is no trace to show (%s)\n", st.TracingOff)
		return nil
	}
	svc, err := c.CoreV1().Services(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	sc, err := tracing.FromAnnotations(svc.Annotations)
	if err != nil || !sc.IsValid() {
		return fmt.Errorf("no trace recorded in the %[3]s annotation of Service %[1]s/%[2]s (%[4]v)", s.Namespace, s.Name, tracing.TraceparentAnnotation, err)
	}
	id := sc.TraceID().String()

	// Spans reach Jaeger a batch interval after they end, each process's
	// on its own (the controller's status.write ends after the speakers
	// have begun under it); wait until every node's UPDATE and every
	// span's parent is there, or show what arrived after a while.
	waitCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	client := jaeger.NewClient(st.JaegerURL)
	for {
		tr, err := client.Trace(waitCtx, id)
		if err == nil && countSpans(tr, "bgp.update.send") >= len(st.Nodes) && len(tr.MissingParents()) == 0 {
			break
		}
		select {
		case <-waitCtx.Done():
			fmt.Fprintln(out, "(not every node's UPDATE span has reached Jaeger yet; the trace so far:)")
		case <-time.After(250 * time.Millisecond):
			continue
		}
		break
	}

	plugin := filepath.Join(filepath.Dir(herald), "kubectl-herald")
	fmt.Fprintf(out, "$ kubectl herald trace svc/%s -n %s --jaeger-url %s\n", s.Name, s.Namespace, st.JaegerURL)
	cmd := exec.CommandContext(ctx, plugin, "trace", "svc/"+s.Name, "-n", s.Namespace, "--jaeger-url", st.JaegerURL)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+st.Kubeconfig)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl herald trace: %w", err)
	}
	fmt.Fprintf(out, "\nThe same trace from Jaeger's query API:\n  curl %s/api/traces/%s\n", st.JaegerURL, id)
	fmt.Fprintf(out, "Every traced Service: curl '%s/api/traces?service=herald-controller&operation=service.reconcile'\n", st.JaegerURL)
	fmt.Fprintf(out, "(kubectl herald is bin/kubectl-herald; put bin/ on PATH and `kubectl herald` finds it.)\n")
	return nil
}

func countSpans(tr jaeger.Trace, name string) int {
	n := 0
	for _, s := range tr.Spans {
		if strings.EqualFold(s.OperationName, name) {
			n++
		}
	}
	return n
}
