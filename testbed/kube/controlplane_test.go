package kube

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func TestParseStagingReplaces(t *testing.T) {
	gomod := []byte(`module k8s.io/kubernetes
replace k8s.io/single => ./staging/src/k8s.io/single
replace (
	k8s.io/api => ./staging/src/k8s.io/api // comment
	k8s.io/other => k8s.io/other v0.1.0
	k8s.io/client-go => ./staging/src/k8s.io/client-go
)
`)
	got := strings.Join(parseStagingReplaces(gomod), ",")
	if want := "k8s.io/single,k8s.io/api,k8s.io/client-go"; got != want {
		t.Fatalf("parseStagingReplaces = %s, want %s", got, want)
	}
}

// crdDir is Herald's CRD directory ($HERALD_CRD_DIR overrides it) if it
// has manifests, else "".
func crdDir(t *testing.T) string {
	dir, err := os.Getenv("HERALD_CRD_DIR"), error(nil)
	if dir == "" {
		dir, err = RepoCRDDir()
	}
	if err != nil {
		t.Logf("no CRDs: %v", err)
		return ""
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.yaml")); len(m) == 0 {
		t.Logf("no CRDs in %s yet", dir)
		return ""
	}
	return dir
}

func TestControlPlane(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Build (or find) the binaries first so the start below is timed alone.
	buildStart := time.Now()
	if _, err := EnsureBinaries(ctx, t.Logf); err != nil {
		t.Fatal(err)
	}
	t.Logf("binaries ready in %s", time.Since(buildStart).Round(time.Millisecond))
	start := time.Now()
	cp := StartForTest(t, Options{})
	t.Logf("control plane up in %s", time.Since(start).Round(time.Millisecond))

	admin, err := cp.AdminClient()
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "herald-system"}}
	if _, err := admin.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("admin creates namespace: %v", err)
	}
	// The admin kubeconfig on disk works too, as a system:masters member.
	adminFromFile := clientFromKubeconfig(t, cp.AdminKubeconfig())
	who(ctx, t, adminFromFile, AdminUser, "system:masters")

	path, err := cp.KubeconfigFor(ctx, "herald-system", "speaker")
	if err != nil {
		t.Fatal(err)
	}
	sa := clientFromKubeconfig(t, path)
	who(ctx, t, sa, "system:serviceaccount:herald-system:speaker", "system:serviceaccounts:herald-system")

	_, err = sa.CoreV1().Secrets("herald-system").List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("ServiceAccount lists secrets without a Role: err = %v, want Forbidden", err)
	}
	grantSecrets(ctx, t, admin, "herald-system", "speaker")
	waitFor(ctx, t, "RBAC grant to take effect", func() error {
		_, err := sa.CoreV1().Secrets("herald-system").List(ctx, metav1.ListOptions{})
		return err
	})
	if _, err := sa.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("Role in herald-system let the account list secrets in default: err = %v", err)
	}

	t.Run("CRDs", func(t *testing.T) { testCRDs(ctx, t, cp, admin) })
	t.Run("Relay", func(t *testing.T) { testRelay(ctx, t, cp) })
	t.Run("ApplyYAML", func(t *testing.T) { testApplyYAML(ctx, t, cp) })
	t.Run("Kubectl", func(t *testing.T) { testKubectl(ctx, t, cp) })
	t.Run("DualStackServices", func(t *testing.T) { testDualStackServices(ctx, t, admin) })

	// A restart keeps the port, keys, tokens and data.
	restart := time.Now()
	if err := cp.RestartAPIServer(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver restarted in %s", time.Since(restart).Round(time.Millisecond))
	waitFor(ctx, t, "ServiceAccount token to work after restart", func() error {
		_, err := sa.CoreV1().Secrets("herald-system").List(ctx, metav1.ListOptions{})
		return err
	})
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "herald-system", metav1.GetOptions{}); err != nil {
		t.Errorf("namespace lost across restart: %v", err)
	}
}

// TestParallelAndDetached runs a second control plane beside TestControlPlane
// (distinct dirs and ports) in detached mode, attaches to it by directory,
// restarts its API server through the attached handle and stops it.
func TestParallelAndDetached(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cp, err := Start(ctx, Options{Logf: t.Logf, Detach: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Stop() // after the attached Stop only reaps; safe on failure
	cp.mu.Lock()
	pids := []int{cp.etcd.cmd.Process.Pid, cp.apiserver.cmd.Process.Pid}
	cp.mu.Unlock()

	att, err := Attach(ctx, cp.Dir(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if att.Host() != cp.Host() || att.AdminKubeconfig() != cp.AdminKubeconfig() {
		t.Errorf("attached handle: host %s kubeconfig %s, want %s %s", att.Host(), att.AdminKubeconfig(), cp.Host(), cp.AdminKubeconfig())
	}
	if err := att.RestartAPIServer(ctx); err != nil {
		t.Fatalf("restart through attached handle: %v", err)
	}
	if isOurs(pids[1], cp.Dir()) && !isZombie(pids[1]) {
		t.Errorf("old kube-apiserver %d still running after restart", pids[1])
	}
	admin, err := att.AdminClient()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	att.mu.Lock()
	pids = append(pids, att.apiserver.cmd.Process.Pid)
	att.mu.Unlock()

	att.Stop()
	for _, pid := range pids {
		for i := 0; i < 50 && pidAlive(pid) && !isZombie(pid); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if pidAlive(pid) && !isZombie(pid) {
			t.Errorf("pid %d still running after Stop of the attached handle", pid)
		}
	}
	if _, err := os.Stat(cp.Dir()); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Stop (err %v)", cp.Dir(), err)
	}
	if _, err := Attach(ctx, cp.Dir(), t.Logf); err == nil {
		t.Errorf("Attach to a stopped control plane succeeded")
	}
}

// isZombie: our own children stay as zombies until Wait reaps them.
func isZombie(pid int) bool {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	f := strings.Fields(string(data))
	return len(f) > 2 && f[2] == "Z"
}

func clientFromKubeconfig(t *testing.T, path string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatalf("load kubeconfig %s: %v", path, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func who(ctx context.Context, t *testing.T, cs kubernetes.Interface, user, group string) {
	t.Helper()
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview: %v", err)
	}
	ui := r.Status.UserInfo
	found := false
	for _, g := range ui.Groups {
		found = found || g == group
	}
	if ui.Username != user || !found {
		t.Errorf("authenticated as %q groups %v, want %q in %q", ui.Username, ui.Groups, user, group)
	}
}

func grantSecrets(ctx context.Context, t *testing.T, admin kubernetes.Interface, ns, sa string) {
	t.Helper()
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "read-secrets", Namespace: ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"}}},
	}
	if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "read-secrets", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "read-secrets"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}},
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func waitFor(ctx context.Context, t *testing.T, what string, f func() error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		err := f()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: %v", what, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func hasResource(list []metav1.APIResource, plural string) bool {
	for _, r := range list {
		if r.Name == plural {
			return true
		}
	}
	return false
}

// testCRDs installs Herald's CRDs, if the repository has them, and checks
// that discovery serves every one and that a second install updates them.
func testCRDs(ctx context.Context, t *testing.T, cp *ControlPlane, admin kubernetes.Interface) {
	dir := crdDir(t)
	if dir == "" {
		t.Skip("no CRD manifests")
	}
	start := time.Now()
	names, err := cp.InstallCRDs(ctx, dir)
	if err != nil {
		t.Fatalf("InstallCRDs(%s): %v", dir, err)
	}
	t.Logf("%d CRDs installed and established in %s", len(names), time.Since(start).Round(time.Millisecond))
	crds, err := ReadCRDs(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			gv := crd.Spec.Group + "/" + v.Name
			list, err := admin.Discovery().ServerResourcesForGroupVersion(gv)
			if err != nil {
				t.Fatalf("discovery of %s after InstallCRDs: %v", gv, err)
			}
			if !hasResource(list.APIResources, crd.Spec.Names.Plural) {
				t.Errorf("%s not served in %s", crd.Spec.Names.Plural, gv)
			}
		}
	}
	if _, err := cp.InstallCRDs(ctx, dir); err != nil {
		t.Fatalf("second InstallCRDs: %v", err)
	}
}

// testRelay: a kubeconfig pointing at a Relay works, and stop closes the
// listener.
func testRelay(ctx context.Context, t *testing.T, cp *ControlPlane) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := cp.Relay(ln)
	defer stop()
	path, err := cp.KubeconfigAt(ctx, "herald-system", "controller", "https://"+ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cs := clientFromKubeconfig(t, path)
	who(ctx, t, cs, "system:serviceaccount:herald-system:controller", "system:serviceaccounts")
	stop()
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Errorf("relay listener still accepts after stop")
	}
}

const rbacYAML = `
# what a chart renders: an account, a ClusterRole and its binding
apiVersion: v1
kind: ServiceAccount
metadata:
  name: lister
  namespace: herald-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: herald-test-node-reader
rules:
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: herald-test-node-reader
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: herald-test-node-reader
subjects:
- kind: ServiceAccount
  name: lister
  namespace: herald-system
`

// testApplyYAML applies RBAC as a chart would and checks the account gets
// exactly that; with the CRDs, a valid IPAddressPool is accepted and a
// malformed one is rejected as Invalid (the CRD's CEL rule on address
// forms), naming the object.
func testApplyYAML(ctx context.Context, t *testing.T, cp *ControlPlane) {
	objs, err := cp.ApplyYAML(ctx, []byte(rbacYAML))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 {
		t.Fatalf("applied %d objects, want 3", len(objs))
	}
	if _, err := cp.ApplyYAML(ctx, []byte(rbacYAML)); err != nil {
		t.Fatalf("second apply: %v", err)
	}
	cfg, err := cp.RESTConfigFor(ctx, "herald-system", "lister")
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	waitFor(ctx, t, "ClusterRoleBinding to take effect", func() error {
		_, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		return err
	})
	if _, err := cs.CoreV1().Secrets("herald-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("lister may list secrets: %v", err)
	}

	if crdDir(t) == "" {
		return
	}
	good := "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: pool, namespace: herald-system}\nspec: {addresses: [192.0.2.0/24]}\n"
	if _, err := cp.ApplyYAML(ctx, []byte(good)); err != nil {
		t.Errorf("valid IPAddressPool rejected: %v", err)
	}
	bad := "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: bad, namespace: herald-system}\nspec: {addresses: [not-an-address]}\n"
	_, err = cp.ApplyYAML(ctx, []byte(bad))
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "IPAddressPool herald-system/bad") {
		t.Errorf("malformed IPAddressPool: err = %v, want Invalid naming the object", err)
	}
	t.Logf("rejected as expected: %v", err)
}

// testDualStackServices: the API server admits a Service that requires
// both families and gives it a cluster IP of each, as the dual-stack
// clusters Herald serves do (`testbed up` and every test use this).
func testDualStackServices(ctx context.Context, t *testing.T, admin kubernetes.Interface) {
	policy := corev1.IPFamilyPolicyRequireDualStack
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "dual"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, IPFamilyPolicy: &policy,
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol},
			Ports:      []corev1.ServicePort{{Name: "http", Port: 80}}},
	}
	got, err := admin.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating a RequireDualStack Service: %v", err)
	}
	var fams []string
	for _, ip := range got.Spec.ClusterIPs {
		a := net.ParseIP(ip)
		switch {
		case a == nil:
			t.Errorf("cluster IP %q is not an IP", ip)
		case a.To4() != nil:
			fams = append(fams, "IPv4")
		default:
			fams = append(fams, "IPv6")
		}
	}
	if strings.Join(fams, ",") != "IPv4,IPv6" {
		t.Errorf("cluster IPs %v: families %v, want IPv4 then IPv6", got.Spec.ClusterIPs, fams)
	}
}
