// Command testbed brings Herald's local lab up for a person and leaves it
// running: a real kube-apiserver and etcd, network namespaces for N nodes, a
// client and a router (FRR or BIRD), HTTP backends in the nodes, and Herald's
// controller and speakers where they are built.
//
//	testbed up [--nodes 3] [--router frr|bird] [--ipv6]
//	testbed status
//	testbed down
//	testbed demo   (down, up, then a Service's journey step by step)
//
// One detached owner process ("testbed serve") holds every part of the lab;
// up starts it and waits until it is ready, down stops it, which tears
// everything down. A state file in /run/herald-testbed says what is up.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/heraldlb/herald/testbed/jaeger"
	"github.com/heraldlb/herald/testbed/kube"
)

const usage = `usage: testbed <command> [flags]

commands:
  up       bring the lab up and leave it running
  status   say what is up
  down     remove everything the lab created
  demo     a fresh lab, then a LoadBalancer Service's journey, step by step
  binaries build what the lab runs from source (etcd, kube-apiserver,
           kubectl, Jaeger) into the cache, if missing, and say where

flags of up and demo:
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		upFlags(new(upOptions)).PrintDefaults()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1], os.Args[2:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "testbed %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cmd string, args []string, out io.Writer) error {
	if os.Geteuid() != 0 && cmd != "help" && cmd != "binaries" {
		return errors.New("the lab needs root (network namespaces, routers); run it as root")
	}
	var opts upOptions
	fs := upFlags(&opts)
	switch cmd {
	case "up", "demo", "serve":
		if err := fs.Parse(args); err != nil {
			return err
		}
		if err := opts.check(); err != nil {
			return err
		}
	}
	switch cmd {
	case "up":
		_, err := up(ctx, opts, out)
		return err
	case "serve":
		log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		return serve(ctx, opts, log)
	case "status":
		return status(ctx, out)
	case "down":
		return down(ctx, out)
	case "demo":
		return demo(ctx, opts, out)
	case "binaries":
		return binaries(ctx, out)
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		fs.SetOutput(out)
		fs.PrintDefaults()
		return nil
	}
	return fmt.Errorf("unknown command %q (try up, status, down, demo, binaries)", cmd)
}

// binaries builds the lab's programs into the cache. make e2e runs it before
// the tests: on a fresh machine the builds take about 8 minutes on 2
// cores, and inside `go test` they would count against its timeout and slow
// the tests that run beside them.
func binaries(ctx context.Context, out io.Writer) error {
	logf := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	kb, err := kube.EnsureBinaries(ctx, logf)
	if err != nil {
		return err
	}
	j, err := jaeger.EnsureBinary(ctx, logf)
	if err != nil {
		return err
	}
	for _, p := range []string{kb.Etcd, kb.KubeAPIServer, kb.Kubectl, j} {
		fmt.Fprintln(out, p)
	}
	return nil
}

// upOptions shape the lab.
type upOptions struct {
	Nodes  int
	Router string
	IPv6   bool
	Herald string // path of the herald binary
	// Tracing runs Jaeger and points Herald's processes at it.
	Tracing bool
}

func upFlags(o *upOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("testbed", flag.ContinueOnError)
	fs.IntVar(&o.Nodes, "nodes", 3, "number of node namespaces (1 to 50)")
	fs.StringVar(&o.Router, "router", "frr", "the router: frr or bird")
	fs.BoolVar(&o.IPv6, "ipv6", false, "also peer and announce over IPv6")
	fs.StringVar(&o.Herald, "herald", defaultHeraldPath(), "the herald binary (make build puts it in bin/)")
	fs.BoolVar(&o.Tracing, "tracing", true, "run Jaeger (query API on 127.0.0.1:16686) and send Herald's traces to it")
	return fs
}

func (o upOptions) check() error {
	if o.Nodes < 1 || o.Nodes > 50 {
		return fmt.Errorf("--nodes %d: must be 1 to 50", o.Nodes)
	}
	if o.Router != "frr" && o.Router != "bird" {
		return fmt.Errorf("--router %q: must be frr or bird", o.Router)
	}
	return nil
}
