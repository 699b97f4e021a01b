package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/heraldlb/herald/testbed/netlab"
)

// demoConfig is the configuration the demo applies: one pool answered by
// ARP/NDP on the LAN, and the BGP example of the documentation MetalLB
// users read (OpenShift's "Configuring MetalLB with a BGP advertisement
// and a basic use case": its IPAddressPool and BGPAdvertisement as
// written), with a BGPPeer towards the lab's router. The client reaches
// the documentation's addresses through the router like any other.
var demoConfig = template.Must(template.New("demo").Parse(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: lab-l2
  namespace: metallb-system
spec:
  addresses:
  - {{.L2First}}-{{.L2Last}}
  serviceAllocation:
    namespaces: [l2-demo]
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: lab-l2
  namespace: metallb-system
spec:
  ipAddressPools: [lab-l2]
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  namespace: metallb-system
  name: doc-example-bgp-basic
spec:
  addresses:
    - 203.0.113.200/30
    - fc00:f853:ccd:e799::/124
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: bgpadvertisement-basic
  namespace: metallb-system
spec:
  ipAddressPools:
  - doc-example-bgp-basic
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: lab-router
  namespace: metallb-system
spec:
  myASN: {{.HeraldASN}}
  peerASN: {{.RouterASN}}
  peerAddress: {{.Router}}
`))

// demoOverlap is a range that overlaps the documentation's pool, which
// the webhook must refuse.
const demoOverlap = "203.0.113.192/28"

// demoService is one LoadBalancer Service of the demo, in its own namespace
// so the pools' namespace rules pick its pool.
type demoService struct {
	Namespace, Name, Mode string
	// Families, when more than one, makes a dual-stack Service; Pool
	// names its pool (metallb.io/address-pool).
	Families []corev1.IPFamily
	Pool     string
}

var demoServices = []demoService{
	{Namespace: "bgp-demo", Name: "web", Mode: "BGP"},
	{Namespace: "l2-demo", Name: "web", Mode: "L2"},
}

func demo(ctx context.Context, opts upOptions, out io.Writer) error {
	step := stepper(out)
	step("a fresh lab")
	if err := down(ctx, io.Discard); err != nil {
		return err
	}
	st, err := up(ctx, opts, out)
	if err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", st.Kubeconfig)
	if err != nil {
		return err
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}

	step("the configuration, checked offline by herald validate")
	configPath, err := writeDemoConfig(st)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "$ herald validate -f %s\n", configPath)
	if err := show(ctx, out, opts.Herald, "validate", "-f", configPath); err != nil {
		return fmt.Errorf("herald validate rejected the demo configuration: %w", err)
	}

	step("the configuration, applied to the API server")
	if err := kubectl(ctx, out, st, "apply", "-f", configPath); err != nil {
		return err
	}
	if err := kubectl(ctx, out, st, "get", "ipaddresspools,l2advertisements,bgpadvertisements,bgppeers", "-n", heraldNamespace); err != nil {
		return err
	}

	if webhookRunning(st) {
		step("a configuration mistake is refused at apply time, by Herald's validating webhook")
		bad, err := writeOverlappingPool()
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "$ cat %s\n", bad)
		if err := show(ctx, out, "cat", bad); err != nil {
			return err
		}
		if err := kubectl(ctx, out, st, "apply", "-f", bad); err == nil {
			return fmt.Errorf("the webhook admitted a pool that overlaps doc-example-bgp-basic")
		}
	}

	step("LoadBalancer Services with EndpointSlices on every node")
	for _, s := range demoServices {
		if err := createDemoService(ctx, c, st, s); err != nil {
			return err
		}
	}
	if err := kubectl(ctx, out, st, "get", "svc", "-A", "--field-selector", "spec.type=LoadBalancer"); err != nil {
		return err
	}

	step("the controller gives each Service an IP")
	ips, err := waitForIPs(ctx, c, 30*time.Second)
	if err != nil {
		fmt.Fprintf(out, "no IP yet: %v\n", err)
		return notBuilt(out, st, "the Services stay <pending>")
	}
	if err := kubectl(ctx, out, st, "get", "svc", "-A", "--field-selector", "spec.type=LoadBalancer"); err != nil {
		return err
	}
	// kube-proxy is not part of the lab: the nodes accept the service IPs
	// on lo (arp_ignore=1 keeps the kernel from answering ARP for them).
	for _, ip := range ips {
		for _, n := range st.Nodes {
			if out, err := exec.CommandContext(ctx, "ip", "netns", "exec", n.Namespace, "ip", "addr", "replace", ip.String()+"/32", "dev", "lo").CombinedOutput(); err != nil {
				return fmt.Errorf("binding %s on %s: %v: %s", ip, n.Name, err, out)
			}
		}
	}

	if len(st.NotBuilt) > 0 {
		return notBuilt(out, st, "the IPs are allocated but nobody announces them")
	}
	step("the route at the router (BGP)")
	// Every node announces the Service (eTP Cluster, endpoints on every
	// node); show the router's table once it has a path from each, the
	// ECMP the client's requests are spread over.
	if missing := waitForPathsFromEveryNode(ctx, st, 30*time.Second); len(missing) > 0 {
		fmt.Fprintf(out, "(after 30 s the router has no path from %s)\n", strings.Join(missing, ", "))
	}
	fmt.Fprintf(out, "$ %s\n", routerCommand(st, "routes"))
	if err := show(ctx, out, "sh", "-c", routerCommand(st, "routes")); err != nil {
		return err
	}
	step("the client's neighbour entry (L2) and route (BGP)")
	if err := show(ctx, out, "ip", "netns", "exec", st.Client.Namespace, "ip", "neigh"); err != nil {
		return err
	}
	if err := show(ctx, out, "ip", "netns", "exec", st.Client.Namespace, "ip", "route"); err != nil {
		return err
	}
	step("an HTTP request from the client to each service IP")
	client := netlab.HTTPClient(st.Client.Namespace, 5*time.Second)
	for svc, ip := range ips {
		url := netlab.ServiceURL(netip.AddrPortFrom(ip, 80))
		var body string
		err := netlab.Eventually(ctx, 200*time.Millisecond, func(ctx context.Context) error {
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
			return fmt.Errorf("%s (%s): %w", svc, url, err)
		}
		fmt.Fprintf(out, "$ curl %s   # %s\n%s\n", url, svc, body)
	}
	if err := demoTrace(ctx, out, step, c, st, opts.Herald, demoServices[0]); err != nil {
		return err
	}
	if err := demoL2(ctx, out, step, c, st); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nThe lab stays up: export KUBECONFIG=%s and look around; `testbed down` removes it.\n", st.Kubeconfig)
	return nil
}

// notBuilt ends the demo where the project ends, saying what is missing,
// after showing that the lab's own data path works.
func notBuilt(out io.Writer, st *labState, consequence string) error {
	fmt.Fprintf(out, "\nThe demo stops here: %s, because Herald is not finished:\n", consequence)
	for _, nb := range st.NotBuilt {
		fmt.Fprintf(out, "  - %s\n", nb)
	}
	fmt.Fprintf(out, "\nThe lab itself works: from the client, node1's backend answers on its LAN address:\n")
	client := netlab.HTTPClient(st.Client.Namespace, 5*time.Second)
	url := "http://" + st.Nodes[0].Address4 + "/"
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("the lab's own data path is broken: %s: %w", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Fprintf(out, "$ ip netns exec %s curl %s\n%s", st.Client.Namespace, url, b)
	fmt.Fprintf(out, "\nThe lab stays up: export KUBECONFIG=%s and look around; `testbed down` removes it.\n", st.Kubeconfig)
	return nil
}

func stepper(out io.Writer) func(string) {
	n := 0
	return func(title string) {
		n++
		fmt.Fprintf(out, "\n== Step %d: %s\n", n, title)
	}
}

func writeDemoConfig(st *labState) (string, error) {
	l2 := netip.MustParsePrefix(st.L2Pool[0])
	first := l2.Addr().Next()
	last := first
	for range 9 {
		last = last.Next()
	}
	var buf bytes.Buffer
	if err := demoConfig.Execute(&buf, map[string]any{
		"L2First": first, "L2Last": last,
		"HeraldASN": st.HeraldASN, "RouterASN": st.Router.ASN, "Router": st.Router.Address4,
	}); err != nil {
		return "", err
	}
	path := filepath.Join(filepath.Dir(stateFile), "demo.yaml")
	return path, os.WriteFile(path, buf.Bytes(), 0o644)
}

// webhookRunning reports whether the lab runs Herald's controller, which
// serves the validating webhook.
func webhookRunning(st *labState) bool {
	for _, h := range st.Herald {
		if strings.Contains(h, "webhook") {
			return true
		}
	}
	return false
}

// writeOverlappingPool writes a pool whose addresses overlap
// doc-example-bgp-basic's.
func writeOverlappingPool() (string, error) {
	data := fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: overlapping
  namespace: metallb-system
spec:
  addresses:
  - %s
`, demoOverlap)
	path := filepath.Join(filepath.Dir(stateFile), "overlapping-pool.yaml")
	return path, os.WriteFile(path, []byte(data), 0o644)
}

func createDemoService(ctx context.Context, c kubernetes.Interface, st *labState, s demoService) error {
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.Namespace}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name, Labels: map[string]string{"app": s.Name}},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": s.Name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(backendPort), Protocol: corev1.ProtocolTCP}},
		},
	}
	if len(s.Families) > 1 {
		svc.Spec.IPFamilies, svc.Spec.IPFamilyPolicy = s.Families, ptr.To(corev1.IPFamilyPolicyRequireDualStack)
	}
	if s.Pool != "" {
		svc.Annotations = map[string]string{"metallb.io/address-pool": s.Pool}
	}
	if _, err := c.CoreV1().Services(s.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating Service %s/%s: %w", s.Namespace, s.Name, err)
	}
	// No controller-manager runs in the lab, so the EndpointSlice that the
	// endpoint-slice controller would write is written here: one ready
	// endpoint per node.
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name + "-lab",
			Labels: map[string]string{discoveryv1.LabelServiceName: s.Name, discoveryv1.LabelManagedBy: "testbed"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](backendPort), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, n := range st.Nodes {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses: []string{n.Address4}, NodeName: ptr.To(n.Name),
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true)},
		})
	}
	if _, err := c.DiscoveryV1().EndpointSlices(s.Namespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating EndpointSlice for %s/%s: %w", s.Namespace, s.Name, err)
	}
	return nil
}

// waitForIPs waits until every demo Service has an ingress IP.
func waitForIPs(ctx context.Context, c kubernetes.Interface, timeout time.Duration) (map[string]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ips := map[string]netip.Addr{}
	err := netlab.Eventually(ctx, 250*time.Millisecond, func(ctx context.Context) error {
		for _, s := range demoServices {
			svc, err := c.CoreV1().Services(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(svc.Status.LoadBalancer.Ingress) == 0 {
				return fmt.Errorf("no ingress IP on Service %s/%s (%s)", s.Namespace, s.Name, s.Mode)
			}
			ip, err := netip.ParseAddr(svc.Status.LoadBalancer.Ingress[0].IP)
			if err != nil {
				return err
			}
			ips[s.Namespace+"/"+s.Name+" ("+s.Mode+")"] = ip
		}
		return nil
	})
	return ips, err
}

// kubectl shows a kubectl command and its output, as a person would type it,
// with the kubectl built alongside the lab's API server.
func kubectl(ctx context.Context, out io.Writer, st *labState, args ...string) error {
	fmt.Fprintf(out, "$ kubectl %s\n", strings.Join(args, " "))
	return show(ctx, out, st.Kubectl, append([]string{"--kubeconfig", st.Kubeconfig}, args...)...)
}

// waitForPathsFromEveryNode polls the router's BGP table until each
// node's address is a next hop in it, and returns the nodes still missing
// when timeout ends.
func waitForPathsFromEveryNode(ctx context.Context, st *labState, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	hop := make([]*regexp.Regexp, len(st.Nodes))
	for k, n := range st.Nodes {
		hop[k] = regexp.MustCompile(`\b` + regexp.QuoteMeta(n.Address4) + `\b`)
	}
	for {
		table, _ := exec.CommandContext(ctx, "sh", "-c", routerCommand(st, "routes")).CombinedOutput()
		var missing []string
		for k, n := range st.Nodes {
			if !hop[k].Match(table) {
				missing = append(missing, n.Name)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return missing
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func show(ctx context.Context, out io.Writer, bin string, args ...string) error {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	return cmd.Run()
}
