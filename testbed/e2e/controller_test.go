package e2e

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/heraldlb/herald/actors/controller"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/informers"
)

// The allocation cases of MetalLB's documentation, each against a real API
// server with the controller running under the chart's RBAC.

func TestControllerPinnedIP(t *testing.T) {
	l := newLab(t)
	l.pool(newPool("default", "192.168.10.0/24"))
	l.runController("r1", nil)

	l.create(lbService("default", "pinned", func(s *corev1.Service) {
		s.Annotations = map[string]string{informers.AnnotationLoadBalancerIPs: "192.168.10.42"}
	}))
	l.waitIngress("default", "pinned", "192.168.10.42")
	l.waitAnnotation("default", "pinned", "default")
	l.waitEvent("default", "pinned", controller.ReasonIPAllocated, "192.168.10.42", "default")

	// The deprecated field works too, and an automatic Service skips the
	// pinned address only if it is taken: here it takes the lowest.
	l.create(lbService("default", "legacy", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "192.168.10.7" }))
	l.waitIngress("default", "legacy", "192.168.10.7")
	l.create(lbService("default", "auto", nil))
	l.waitIngress("default", "auto", "192.168.10.0")

	// Asking for a taken address fails and names the holder.
	l.create(lbService("default", "thief", func(s *corev1.Service) {
		s.Annotations = map[string]string{"metallb.universe.tf/loadBalancerIPs": "192.168.10.42"}
	}))
	l.waitEvent("default", "thief", controller.ReasonAllocationFailed, "192.168.10.42", "default/pinned")
	l.waitEvent("default", "thief", controller.ReasonDeprecatedAnnotation, "metallb.universe.tf/loadBalancerIPs")
	if got := ingress(l.get("default", "thief")); got != "" {
		t.Errorf("thief got %q", got)
	}
	// An address outside every pool fails with the reason.
	l.create(lbService("default", "outside", func(s *corev1.Service) {
		s.Annotations = map[string]string{informers.AnnotationLoadBalancerIPs: "10.99.0.1"}
	}))
	l.waitEvent("default", "outside", controller.ReasonAllocationFailed, "10.99.0.1")
	l.poolStatus("default", v1beta1.IPAddressPoolStatus{AssignedIPv4: 3, AvailableIPv4: 253})
}

func TestControllerPinnedPoolAndAutoAssignFalse(t *testing.T) {
	l := newLab(t)
	manual := newPool("gold", "10.1.0.0/30")
	f := false
	manual.Spec.AutoAssign = &f
	l.pool(manual)
	l.runController("r1", nil)

	// Only a pool with autoAssign=false: nothing is given unasked.
	l.create(lbService("default", "plain", nil))
	l.waitEvent("default", "plain", controller.ReasonAllocationFailed, "gold")
	l.stays("default", "plain", "", 500*time.Millisecond)

	// Asking for the pool by name works, autoAssign or not.
	l.create(lbService("default", "asks", func(s *corev1.Service) {
		s.Annotations = map[string]string{informers.AnnotationAddressPool: "gold"}
	}))
	l.waitIngress("default", "asks", "10.1.0.0")
	l.waitEvent("default", "asks", controller.ReasonIPAllocated, "gold")

	// An automatic pool appears: the waiting Service is served from it, and
	// a request for an unknown pool says so.
	l.pool(newPool("silver", "10.2.0.0/30"))
	l.waitIngress("default", "plain", "10.2.0.0")
	l.create(lbService("default", "unknown", func(s *corev1.Service) {
		s.Annotations = map[string]string{informers.AnnotationAddressPool: "platinum"}
	}))
	l.waitEvent("default", "unknown", controller.ReasonAllocationFailed, "platinum")
}

func TestControllerNamespaceSelectorAndPriority(t *testing.T) {
	l := newLab(t)
	l.namespace("team-a", map[string]string{"team": "a"})
	l.namespace("team-a2", map[string]string{"team": "a"})
	l.namespace("team-b", map[string]string{"team": "b"})
	// "named" lists team-a by name at priority 10; "selected" selects
	// team=a at priority 20; "rest" admits everyone, without priority.
	named := newPool("named", "10.10.0.0/30")
	named.Spec.AllocateTo = &v1beta1.ServiceAllocation{Priority: 10, Namespaces: []string{"team-a"}}
	selected := newPool("selected", "10.20.0.0/30")
	selected.Spec.AllocateTo = &v1beta1.ServiceAllocation{Priority: 20,
		NamespaceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"team": "a"}}}}
	l.pool(named)
	l.pool(selected)
	l.pool(newPool("rest", "10.30.0.0/30"))
	l.runController("r1", nil)

	l.create(lbService("team-a", "svc", nil))
	l.create(lbService("team-a2", "svc", nil))
	l.create(lbService("team-b", "svc", nil))
	l.waitIngress("team-a", "svc", "10.10.0.0")  // both match; priority 10 wins
	l.waitIngress("team-a2", "svc", "10.20.0.0") // only the selector matches
	l.waitIngress("team-b", "svc", "10.30.0.0")  // neither admits team-b

	// A pool that does not admit the namespace is refused even on request.
	l.create(lbService("team-b", "asks", func(s *corev1.Service) {
		s.Annotations = map[string]string{informers.AnnotationAddressPool: "named"}
	}))
	l.waitEvent("team-b", "asks", controller.ReasonAllocationFailed, "named")

	// When the preferred pool is full, the next by priority serves.
	for i := range 4 {
		l.create(lbService("team-a", "fill"+string(rune('a'+i)), nil))
	}
	l.waitIngress("team-a", "filld", "10.20.0.1")

	// Relabelling a namespace changes admission: team-a2 leaves team a,
	// so "selected" no longer admits its Service, which moves to "rest";
	// team-b joins team a, but its Service keeps its address (a change
	// never moves an IP its pool still admits).
	relabel := func(name, team string) {
		ns, err := l.admin.CoreV1().Namespaces().Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ns.Labels["team"] = team
		if _, err := l.admin.CoreV1().Namespaces().Update(t.Context(), ns, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	relabel("team-a2", "b")
	relabel("team-b", "a")
	l.waitIngress("team-a2", "svc", "10.30.0.1")
	l.waitEvent("team-a2", "svc", controller.ReasonIPAllocated, "10.30.0.1", "rest")
	l.stays("team-b", "svc", "10.30.0.0", 500*time.Millisecond)
}

func TestControllerServiceSelector(t *testing.T) {
	l := newLab(t)
	web := newPool("web", "10.40.0.0/30")
	web.Spec.AllocateTo = &v1beta1.ServiceAllocation{
		ServiceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "web"}}}}
	l.pool(web)
	l.pool(newPool("any", "10.50.0.0/30"))
	l.runController("r1", nil)
	l.create(lbService("default", "frontend", func(s *corev1.Service) { s.Labels = map[string]string{"tier": "web"} }))
	l.create(lbService("default", "backend", func(s *corev1.Service) { s.Labels = map[string]string{"tier": "db"} }))
	l.waitIngress("default", "frontend", "10.40.0.0")
	l.waitIngress("default", "backend", "10.50.0.0")
	l.waitEvent("default", "frontend", controller.ReasonIPAllocated, "web")
}

func TestControllerDualStack(t *testing.T) {
	l := newLab(t)
	l.pool(newPool("v4only", "10.60.0.0/30"))
	l.pool(newPool("dual", "10.70.0.0/30", "2001:db8:70::/126"))
	l.runController("r1", nil)
	require := corev1.IPFamilyPolicyRequireDualStack
	prefer := corev1.IPFamilyPolicyPreferDualStack
	l.create(lbService("default", "both", func(s *corev1.Service) {
		s.Spec.IPFamilyPolicy = &require
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
	}))
	// Both from one pool, primary family first; "v4only" sorts after
	// "dual" anyway but could not serve it.
	l.waitIngress("default", "both", "2001:db8:70::,10.70.0.0")
	l.waitEvent("default", "both", controller.ReasonIPAllocated, "2001:db8:70::", "10.70.0.0", "dual")
	l.create(lbService("default", "prefer", func(s *corev1.Service) { s.Spec.IPFamilyPolicy = &prefer }))
	l.waitIngress("default", "prefer", "10.70.0.1,2001:db8:70::1")
	l.create(lbService("default", "v6", func(s *corev1.Service) {
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
	}))
	l.waitIngress("default", "v6", "2001:db8:70::2")
	// Requiring two families from a pool that has one is refused, naming
	// the pool.
	l.create(lbService("default", "v4pool", func(s *corev1.Service) {
		s.Spec.IPFamilyPolicy = &require
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		s.Annotations = map[string]string{informers.AnnotationAddressPool: "v4only"}
	}))
	l.waitEvent("default", "v4pool", controller.ReasonAllocationFailed, "v4only")
	l.poolStatus("dual", v1beta1.IPAddressPoolStatus{AssignedIPv4: 2, AssignedIPv6: 3, AvailableIPv4: 2, AvailableIPv6: 1})
}

func TestControllerSharing(t *testing.T) {
	l := newLab(t)
	l.pool(newPool("shared", "10.80.0.0/30"))
	l.runController("r1", nil)
	share := func(name string, port int32, mod func(*corev1.Service)) *corev1.Service {
		return lbService("default", name, func(s *corev1.Service) {
			s.Annotations = map[string]string{informers.AnnotationAllowSharedIP: "key", informers.AnnotationLoadBalancerIPs: "10.80.0.1"}
			s.Spec.Ports = []corev1.ServicePort{{Name: "p", Protocol: corev1.ProtocolTCP, Port: port}}
			if mod != nil {
				mod(s)
			}
		})
	}
	l.create(share("http", 80, nil))
	l.create(share("https", 443, nil))
	l.waitIngress("default", "http", "10.80.0.1")
	l.waitIngress("default", "https", "10.80.0.1")

	// Same key, same port: cannot share, and the Event says which port.
	l.create(share("clash", 80, nil))
	l.waitEvent("default", "clash", controller.ReasonAllocationFailed, "10.80.0.1", "80")
	// Different key: cannot share.
	l.create(share("otherkey", 8080, func(s *corev1.Service) { s.Annotations[informers.AnnotationAllowSharedIP] = "other" }))
	l.waitEvent("default", "otherkey", controller.ReasonAllocationFailed, "10.80.0.1")
	// Local traffic policy with a different backend: cannot share.
	l.create(share("local", 9090, func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}))
	l.waitEvent("default", "local", controller.ReasonAllocationFailed, "10.80.0.1")

	// Without a pinned IP, a Service with the key joins the shared address
	// (the lowest it may share) rather than taking a fresh one.
	l.create(lbService("default", "joins", func(s *corev1.Service) {
		s.Annotations = map[string]string{informers.AnnotationAllowSharedIP: "key"}
		s.Spec.Ports = []corev1.ServicePort{{Name: "p", Protocol: corev1.ProtocolUDP, Port: 53}}
	}))
	l.waitIngress("default", "joins", "10.80.0.0")
	l.poolStatus("shared", v1beta1.IPAddressPoolStatus{AssignedIPv4: 2, AvailableIPv4: 2})
}

func TestControllerPoolDeletionAndShrink(t *testing.T) {
	l := newLab(t)
	ctx := t.Context()
	l.pool(newPool("big", "10.90.0.0/29"))
	l.runController("r1", nil)
	for _, n := range []string{"s0", "s1", "s2", "s3", "s4"} {
		l.create(lbService("default", n, nil))
		l.waitIngress("default", n, "10.90.0."+n[1:])
	}

	// Shrink to a /30 plus another range: s0..s3 stay where they are, s4
	// moves into the new range.
	l.pool(newPool("big", "10.90.0.0/30", "10.91.0.0/30"))
	l.waitIngress("default", "s4", "10.91.0.0")
	for _, n := range []string{"s0", "s1", "s2", "s3"} {
		l.stays("default", n, "10.90.0."+n[1:], 100*time.Millisecond)
	}
	// Shrink with no room: s3 loses its address and is told why.
	l.pool(newPool("big", "10.90.0.0/31", "10.91.0.0/31"))
	l.waitIngress("default", "s3", "")
	l.waitIngress("default", "s2", "10.91.0.1")
	l.waitEvent("default", "s3", controller.ReasonAllocationFailed, "no free address")

	// Deleting the pool releases everything; another pool takes over.
	l.pool(newPool("spare", "10.95.0.0/29"))
	if err := l.mlb.MetallbV1beta1().IPAddressPools(herald).Delete(ctx, "big", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, n := range []string{"s0", "s1", "s2", "s3", "s4"} {
		eventually(t, 20*time.Second, n+" moved to spare", func() (bool, string) {
			ip := ingress(l.get("default", n))
			return len(ip) > 8 && ip[:8] == "10.95.0.", ip
		})
		ip := ingress(l.get("default", n))
		if got[ip] {
			t.Errorf("duplicate %s", ip)
		}
		got[ip] = true
		l.waitEvent("default", n, controller.ReasonIPAllocated, ip, "spare")
	}
	// With no pool at all, the status is cleared and the reason given.
	if err := l.mlb.MetallbV1beta1().IPAddressPools(herald).Delete(ctx, "spare", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	l.waitIngress("default", "s0", "")
	l.waitEvent("default", "s0", controller.ReasonClearedIP)
	l.waitEvent("default", "s0", controller.ReasonAllocationFailed, "no address pool")
}

func TestControllerTypeChangeAndConfigurationState(t *testing.T) {
	l := newLab(t)
	ctx := t.Context()
	l.pool(newPool("p", "10.100.0.0/30"))
	l.runController("r1", nil)
	l.create(lbService("default", "web", nil))
	l.waitIngress("default", "web", "10.100.0.0")

	// The controller may still be writing the pool annotation after the
	// status: re-read on conflict, as any client of a live object must.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s := l.get("default", "web")
		s.Spec.Type = corev1.ServiceTypeClusterIP
		s.Spec.Ports[0].NodePort = 0
		_, err := l.admin.CoreV1().Services("default").Update(ctx, s, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	l.waitIngress("default", "web", "")
	l.waitAnnotation("default", "web", "")
	l.waitEvent("default", "web", controller.ReasonClearedIP, "10.100.0.0")
	l.poolStatus("p", v1beta1.IPAddressPoolStatus{AssignedIPv4: 0, AvailableIPv4: 4})

	eventually(t, 10*time.Second, "ConfigurationState Valid", func() (bool, string) {
		st, err := l.mlb.MetallbV1beta1().ConfigurationStates(herald).Get(ctx, controller.ConfigurationStateName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return st.Status.Result == v1beta1.ConfigurationValid, string(st.Status.Result)
	})
}

// An invalid configuration from the start: the ConfigurationState says
// Invalid naming the field, each Service says why it waits, and fixing the
// pool allocates.
func TestControllerInvalidConfigurationExplains(t *testing.T) {
	l := newLab(t)
	l.pool(newPool("p", "10.110.0.9-10.110.0.1"))
	l.runController("r1", nil)
	l.create(lbService("default", "web", nil))
	l.waitEvent("default", "web", controller.ReasonAllocationFailed, "ConfigurationState", "spec.addresses")
	eventually(t, 10*time.Second, "ConfigurationState Invalid", func() (bool, string) {
		st, err := l.mlb.MetallbV1beta1().ConfigurationStates(herald).Get(t.Context(), controller.ConfigurationStateName, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return st.Status.Result == v1beta1.ConfigurationInvalid && strings.Contains(st.Status.ErrorSummary, "spec.addresses[0]"), st.Status.ErrorSummary
	})
	l.stays("default", "web", "", 300*time.Millisecond)
	l.pool(newPool("p", "10.110.0.1-10.110.0.9"))
	l.waitIngress("default", "web", "10.110.0.1")
}
