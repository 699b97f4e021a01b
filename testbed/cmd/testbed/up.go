package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/heraldlb/herald/testbed/kube"
	"github.com/heraldlb/herald/testbed/netlab"

	"github.com/heraldlb/herald/testbed/internal/logtail"
)

// upTimeout bounds a cold start: building kube-apiserver takes about five
// minutes on two cores, the rest seconds.
const upTimeout = 20 * time.Minute

// up starts the owner process detached from this terminal and waits until it
// has written the state file, or has died (then its log says why).
func up(ctx context.Context, opts upOptions, out io.Writer) (*labState, error) {
	if st, err := readState(); err == nil && alive(st.PID) {
		fmt.Fprintf(out, "a lab is already up (pid %d); `testbed down` removes it\n\n", st.PID)
		printSummary(out, st)
		return st, nil
	}
	_ = os.Remove(stateFile)
	if err := os.MkdirAll(filepath.Dir(stateFile), 0o755); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	args := []string{"serve", "--nodes", fmt.Sprint(opts.Nodes), "--router", opts.Router, "--herald", opts.Herald}
	if opts.IPv6 {
		args = append(args, "--ipv6")
	}
	args = append(args, fmt.Sprintf("--tracing=%t", opts.Tracing))
	cmd := exec.Command(self, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlive this command and its terminal
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Fprintf(out, "bringing the lab up (log: %s)...\n", logFile)

	deadline := time.After(upTimeout)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("%w: the owner process exited (%v); its log ends with:\n%s", errLabFailed, err, logtail.Lines(logFile, 30))
		case <-deadline:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return nil, fmt.Errorf("%w within %s; its log ends with:\n%s", errLabFailed, upTimeout, logtail.Lines(logFile, 30))
		case <-ctx.Done():
			_ = cmd.Process.Signal(syscall.SIGTERM)
			return nil, ctx.Err()
		case <-tick.C:
			st, err := readState()
			if err != nil {
				continue
			}
			printSummary(out, st)
			return st, nil
		}
	}
}

func printSummary(out io.Writer, st *labState) {
	fmt.Fprintf(out, "lab %s is up (owner pid %d)\n\n", st.Lab, st.PID)
	fmt.Fprintf(out, "Kubernetes API server %s\n  export KUBECONFIG=%s\n  alias kubectl=%s\n\n", st.APIServer, st.Kubeconfig, st.Kubectl)
	fmt.Fprintf(out, "network namespaces (ip netns exec NAME ...):\n")
	for _, n := range st.Nodes {
		fmt.Fprintf(out, "  %-8s %-12s %s  %s   HTTP backend on port %d\n", n.Name, n.Namespace, n.Address4, n.Address6, backendPort)
	}
	fmt.Fprintf(out, "  %-8s %-12s %s  %s\n", "client", st.Client.Namespace, st.Client.Address4, st.Client.Address6)
	fmt.Fprintf(out, "  %-8s %-12s %s  %s   %s, AS %d, peers %s (AS %d)\n", "router", st.Router.Namespace,
		st.Router.Address4, st.Router.Address6, st.Router.Kind, st.Router.ASN, strings.Join(st.Router.Neighbors, " "), st.HeraldASN)
	fmt.Fprintf(out, "\naddresses for services: L2 %s, BGP %s\n", strings.Join(st.L2Pool, " "), strings.Join(st.BGPPool, " "))
	fmt.Fprintf(out, "\ninspect the router:\n  %s\n", routerCommand(st, "summary"))
	fmt.Fprintf(out, "  %s\n", routerCommand(st, "routes"))
	if len(st.Herald) > 0 {
		fmt.Fprintf(out, "\nHerald: %s\n  logs: %s\n", strings.Join(st.Herald, "; "), strings.Join(st.HeraldLogs, " "))
	}
	if st.JaegerURL != "" {
		fmt.Fprintf(out, "\ntraces: Jaeger's query API %s (curl %s/api/services; kubectl herald trace svc/NAME --jaeger-url %s)\n",
			st.JaegerURL, st.JaegerURL, st.JaegerURL)
	}
	if st.TracingOff != "" {
		fmt.Fprintf(out, "\ntraces: none, Herald runs with tracing off: %s\n", st.TracingOff)
	}
	for _, nb := range st.NotBuilt {
		fmt.Fprintf(out, "\nnot running: %s", nb)
	}
	fmt.Fprintf(out, "\n\nremove everything: testbed down\n")
}

// routerCommand is the shell command a person types to see the router's
// sessions or routes.
func routerCommand(st *labState, what string) string {
	if st.Router.Kind == "bird" {
		if what == "summary" {
			return st.Router.CLI + " show protocols"
		}
		return st.Router.CLI + " show route all"
	}
	if what == "summary" {
		return st.Router.CLI + " -c 'show bgp summary'"
	}
	return st.Router.CLI + " -c 'show bgp ipv4 unicast' -c 'show ip route bgp'"
}

func status(ctx context.Context, out io.Writer) error {
	st, err := readState()
	if err != nil {
		labs, lerr := netlab.ListLabs(netlab.DefaultPrefix)
		if lerr == nil && len(labs) > 0 {
			fmt.Fprintf(out, "no lab is recorded as up, but these lab namespaces exist: %v (testbed down removes them)\n", labs)
			return nil
		}
		return err
	}
	if !alive(st.PID) {
		return fmt.Errorf("the lab's owner process %d is gone; run testbed down to clean up", st.PID)
	}
	printSummary(out, st)
	cp, err := kube.Attach(ctx, st.ControlPlaneDir, nil)
	if err != nil {
		fmt.Fprintf(out, "\nAPI server: not reachable: %v\n", err)
	} else if c, err := cp.AdminClient(); err != nil {
		fmt.Fprintf(out, "\nAPI server: %v\n", err)
	} else if body, err := c.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err != nil {
		fmt.Fprintf(out, "\nAPI server: not ready: %v\n", err)
	} else {
		fmt.Fprintf(out, "\nAPI server: /readyz %s\n", strings.TrimSpace(string(body)))
	}
	summary, err := exec.CommandContext(ctx, "sh", "-c", routerCommand(st, "summary")).CombinedOutput()
	fmt.Fprintf(out, "\nrouter sessions (%s):\n%s", routerCommand(st, "summary"), summary)
	if err != nil {
		fmt.Fprintf(out, "(%v)\n", err)
	}
	return nil
}

// down stops the owner process, which removes everything; whatever a crashed
// owner left behind (namespaces, a control plane directory) is removed here.
func down(ctx context.Context, out io.Writer) error {
	st, err := readState()
	if err == nil && alive(st.PID) {
		_ = syscall.Kill(st.PID, syscall.SIGTERM)
		deadline := time.Now().Add(30 * time.Second)
		for alive(st.PID) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if alive(st.PID) {
			_ = syscall.Kill(st.PID, syscall.SIGKILL)
		}
		fmt.Fprintf(out, "stopped the lab's owner process %d\n", st.PID)
	}
	if err == nil && st.ControlPlaneDir != "" {
		if serr := kube.StopDir(st.ControlPlaneDir); serr == nil {
			fmt.Fprintf(out, "removed the control plane in %s\n", st.ControlPlaneDir)
		}
	}
	// The recorded lab is removed; without a record, every persistent lab
	// (only `testbed up` makes those) is an orphan of a crashed owner. The
	// labs of tests running at the same time are never touched.
	labs, rerr := netlab.ListLabs(netlab.DefaultPrefix)
	var names []string
	for name, persistent := range labs {
		if (err == nil && name == st.Lab) || (err != nil && persistent) {
			names = append(names, name)
		}
	}
	for _, name := range names {
		lab, err := netlab.Attach(name, slog.New(slog.DiscardHandler))
		if err == nil {
			err = lab.Close()
		}
		if err != nil {
			rerr = errors.Join(rerr, fmt.Errorf("removing lab %s: %w", name, err))
			continue
		}
		fmt.Fprintf(out, "removed lab %s and its namespaces\n", name)
	}
	_ = os.Remove(stateFile)
	if rerr != nil {
		return rerr
	}
	fmt.Fprintln(out, "nothing of the lab is left")
	return nil
}
