package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/heraldlb/herald/testbed/netlab"
)

// demoL2 is the demo's L2 part for both families: a dual-stack pool on the
// LAN, a dual-stack Service from it, and the client reaching both of its
// IPs through the one node that answers ARP (IPv4) and NDP (IPv6) for
// them. It runs after the rest of the demo, in a namespace of its own.
func demoL2(ctx context.Context, out io.Writer, step func(string), c kubernetes.Interface, st *labState) error {
	const ns, name = "l2-dual-demo", "web"
	step("a dual-stack Service over L2: one pool with IPv4 and IPv6 addresses on the LAN")
	path, err := writeDualStackL2Config(st, ns)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "$ cat %s\n", path)
	if err := show(ctx, out, "cat", path); err != nil {
		return err
	}
	if err := kubectl(ctx, out, st, "apply", "-f", path); err != nil {
		return err
	}
	svc := demoService{Namespace: ns, Name: name, Mode: "L2", Families: []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}, Pool: "lab-l2-dual"}
	if err := createDemoService(ctx, c, st, svc); err != nil {
		return fmt.Errorf("%w (does the API server serve dual-stack Services?)", err)
	}
	var ips []netip.Addr
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = netlab.Eventually(waitCtx, 250*time.Millisecond, func(ctx context.Context) error {
		svc, err := c.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		ips = ips[:0]
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if ip, err := netip.ParseAddr(in.IP); err == nil {
				ips = append(ips, ip)
			}
		}
		if len(ips) != 2 {
			return fmt.Errorf("service %s/%s has %d ingress IPs, want 2", ns, name, len(ips))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := kubectl(ctx, out, st, "get", "svc", "-n", ns, name, "-o", "wide"); err != nil {
		return err
	}
	// As for the other Services: the nodes accept the IPs on lo, where
	// the kernel does not answer ARP/NDP for them on eth0.
	for _, ip := range ips {
		for _, n := range st.Nodes {
			argv := []string{"ip", "netns", "exec", n.Namespace, "ip", "addr", "replace", netip.PrefixFrom(ip, ip.BitLen()).String(), "dev", "lo"}
			if ip.Is6() {
				argv = append(argv, "nodad")
			}
			if b, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
				return fmt.Errorf("binding %s on %s: %v: %s", ip, n.Name, err, b)
			}
		}
	}
	step("who answers: arping (IPv4) and ndisc6 (IPv6) from the client, one answer each")
	client := netlab.HTTPClient(st.Client.Namespace, 5*time.Second)
	for _, ip := range ips {
		url := netlab.ServiceURL(netip.AddrPortFrom(ip, 80))
		var body string
		err := netlab.Eventually(waitCtx, 200*time.Millisecond, func(ctx context.Context) error {
			resp, err := client.Get(url)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			body = strings.TrimSpace(string(b))
			return err
		})
		if err != nil {
			return fmt.Errorf("%s/%s at %s: %w", ns, name, url, err)
		}
		argv := []string{"arping", "-c", "2", "-w", "3", "-I", "eth0", ip.String()}
		if ip.Is6() {
			argv = []string{"ndisc6", "-n", "-r", "1", ip.String(), "eth0"}
		}
		fmt.Fprintf(out, "$ %s\n", strings.Join(argv, " "))
		_ = show(ctx, out, "ip", append([]string{"netns", "exec", st.Client.Namespace}, argv...)...)
		fmt.Fprintf(out, "$ curl %s\n%s\n", url, body)
	}
	step("the client's neighbour entries: each IP at the MAC of the node answering for it (the election is per IP)")
	for _, ip := range ips {
		if err := show(ctx, out, "ip", "netns", "exec", st.Client.Namespace, "ip", "neigh", "show", ip.String()); err != nil {
			return err
		}
	}
	return nil
}

// writeDualStackL2Config writes a pool with a few IPv4 and IPv6 addresses
// of the LAN (apart from the other demo pools'), for the Services of ns,
// and the L2Advertisement that answers for it.
func writeDualStackL2Config(st *labState, ns string) (string, error) {
	if len(st.L2Pool) < 2 {
		return "", fmt.Errorf("the lab has no IPv6 L2 pool (%v)", st.L2Pool)
	}
	v4, v6 := netip.MustParsePrefix(st.L2Pool[0]), netip.MustParsePrefix(st.L2Pool[1])
	// The IPv4 L2 demo pool takes the first ten addresses after the
	// prefix's first; these come after them.
	first4 := v4.Addr()
	for range 20 {
		first4 = first4.Next()
	}
	data := fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: lab-l2-dual
  namespace: metallb-system
spec:
  addresses:
  - %s-%s
  - %s
  serviceAllocation:
    namespaces: [%s]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: lab-l2-dual
  namespace: metallb-system
spec:
  ipAddressPools: [lab-l2-dual]
`, first4, first4.Next().Next(), netip.PrefixFrom(v6.Addr(), 124), ns)
	path := filepath.Join(filepath.Dir(stateFile), "demo-l2-dual.yaml")
	return path, os.WriteFile(path, []byte(data), 0o644)
}
