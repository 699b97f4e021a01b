package inspect

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/informers"
	"github.com/heraldlb/herald/servicestatus"
	"github.com/heraldlb/herald/tracing"
)

const testUID = types.UID("uid-1")

func service(mod func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", UID: testUID, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
	}
	if mod != nil {
		mod(s)
	}
	return s
}

func withIP(ip, pool string) func(*corev1.Service) {
	return func(s *corev1.Service) {
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[informers.AnnotationAllocatedFromPool] = pool
	}
}

func event(rv, reason, msg string) corev1.Event {
	return corev1.Event{ObjectMeta: metav1.ObjectMeta{ResourceVersion: rv}, Reason: reason, Message: msg,
		InvolvedObject: corev1.ObjectReference{Kind: "Service", Namespace: "shop", Name: "web", UID: testUID}}
}

func compile(t *testing.T, in config.Input) *config.Config {
	t.Helper()
	for i := range in.IPAddressPools {
		in.IPAddressPools[i].Namespace = "metallb-system"
	}
	cfg, err := config.Compile(in)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func pool(name, addrs string, lbls map[string]string) v1beta1.IPAddressPool {
	return v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{addrs}}}
}

func TestExplain(t *testing.T) {
	unannounced := config.Input{IPAddressPools: []v1beta1.IPAddressPool{pool("web", "10.0.0.0/30", nil)}}
	otherServices := config.Input{
		IPAddressPools: []v1beta1.IPAddressPool{pool("web", "10.0.0.0/30", nil)},
		L2Advertisements: []v1beta1.L2Advertisement{{ObjectMeta: metav1.ObjectMeta{Name: "only-db", Namespace: "metallb-system"},
			Spec: v1beta1.L2AdvertisementSpec{ServiceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"app": "db"}}}}}},
	}
	advertised := config.Input{
		IPAddressPools:   []v1beta1.IPAddressPool{pool("web", "10.0.0.0/30", nil)},
		L2Advertisements: []v1beta1.L2Advertisement{{ObjectMeta: metav1.ObjectMeta{Name: "all", Namespace: "metallb-system"}}},
	}
	invalidState := &v1beta1.ConfigurationState{Status: v1beta1.ConfigurationStateStatus{Result: v1beta1.ConfigurationInvalid,
		ErrorSummary: "IPAddressPool metallb-system/p: spec.addresses[0]: \"x\": not a CIDR or an address range\nsecond error"}}
	exhausted := `no IP for shop/web: pool "web": no free address: all 2 usable IPv4 addresses are in use`

	tests := []struct {
		name   string
		facts  func(t *testing.T) Facts
		reason Reason
		// summary must appear in the Summary; the other fields, when set,
		// must be equal.
		summary     string
		requestedBy string
		bgp         []BGPAnnouncement
		l2          []L2Announcement
		traceID     string
	}{
		{
			name: "pending: the newest AllocationFailed decides, by resourceVersion not list order",
			facts: func(*testing.T) Facts {
				return Facts{Service: service(nil), Events: []corev1.Event{
					event("120", servicestatus.ReasonAllocationFailed, exhausted),
					event("99", servicestatus.ReasonIPAllocated, "Assigned IP [10.0.0.1] from pool web"),
					event("100", servicestatus.ReasonClearedIP, "Cleared IP [10.0.0.1]"),
				}}
			},
			reason: ReasonPoolExhausted, summary: "pending: pool exhausted: " + exhausted, requestedBy: "automatic",
		},
		{
			name: "pending: an Event of an earlier Service of the same name is not this one's",
			facts: func(*testing.T) Facts {
				old := event("500", servicestatus.ReasonAllocationFailed, exhausted)
				old.InvolvedObject.UID = "uid-0"
				return Facts{Service: service(nil), Events: []corev1.Event{old}}
			},
			reason: ReasonNoReport, summary: "the controller has said nothing about it",
		},
		{
			name: "pending: the last word is an older IPAllocated",
			facts: func(*testing.T) Facts {
				return Facts{Service: service(nil), Events: []corev1.Event{
					event("7", servicestatus.ReasonAllocationFailed, exhausted),
					event("9", servicestatus.ReasonIPAllocated, "Assigned IP [10.0.0.1] from pool web"),
				}}
			},
			reason: ReasonNoReport, summary: "last Event is IPAllocated",
		},
		{
			name: "pending without an Event, the controller's ConfigurationState is Invalid",
			facts: func(*testing.T) Facts {
				return Facts{Service: service(nil), ControllerState: invalidState}
			},
			reason: ReasonConfigInvalid, summary: "pending: the newest configuration is invalid (an older valid one, if the controller loaded one, still allocates; no Event about this Service yet): IPAddressPool metallb-system/p",
		},
		{
			name: "pending, requested IP taken, requested by annotation",
			facts: func(*testing.T) Facts {
				return Facts{Service: service(func(s *corev1.Service) {
					s.Annotations = map[string]string{informers.AnnotationLoadBalancerIPs: "10.0.0.1"}
				}), Events: []corev1.Event{event("5", servicestatus.ReasonAllocationFailed,
					"shop/web: requested IP 10.0.0.1: IP is in use by shop/db, which does not allow sharing (no allow-shared-ip key)")}}
			},
			reason: ReasonIPInUse, summary: "pending: the requested IP is taken: shop/web: requested IP 10.0.0.1",
			requestedBy: "annotation " + informers.AnnotationLoadBalancerIPs,
		},
		{
			name: "announced over BGP by the one node of two whose session is Established, with session states, and the trace",
			facts: func(*testing.T) Facts {
				svc := service(withIP("10.0.0.1", "web"))
				svc.Annotations[tracing.TraceparentAnnotation] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
				bgp := func(node string, peers ...string) v1beta1.ServiceBGPStatus {
					return v1beta1.ServiceBGPStatus{Status: v1beta1.ServiceBGPStatusStatus{Node: node, ServiceName: "web", ServiceNamespace: "shop", Peers: peers}}
				}
				other := bgp("node9", "tor")
				other.Status.ServiceName = "db"
				return Facts{Service: svc, Config: compile(t, unannounced),
					BGP: []v1beta1.ServiceBGPStatus{bgp("node2", "tor"), other, bgp("node1", "tor", "spine")},
					Sessions: []v1beta1.BGPSessionState{
						{Status: v1beta1.BGPSessionStateStatus{Node: "node1", Peer: "tor", BGPState: "Established", BFDState: "Up"}},
						{Status: v1beta1.BGPSessionStateStatus{Node: "node1", Peer: "spine", BGPState: "Active"}},
					}}
			},
			reason: ReasonAnnounced, summary: `10.0.0.1 from pool "web" (chosen automatically), announced over BGP by 1 node(s)`,
			bgp: []BGPAnnouncement{
				{Node: "node1", Peers: []PeerSession{{Peer: "spine", BGPState: "Active"}, {Peer: "tor", BGPState: "Established", BFDState: "Up"}}},
				{Node: "node2", Peers: []PeerSession{{Peer: "tor"}}},
			},
			traceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		},
		{
			name: "meant for BGP peers, but no session is Established",
			facts: func(*testing.T) Facts {
				return Facts{Service: service(withIP("10.0.0.1", "web")),
					BGP: []v1beta1.ServiceBGPStatus{{Status: v1beta1.ServiceBGPStatusStatus{Node: "node1", ServiceName: "web", ServiceNamespace: "shop", Peers: []string{"tor"}}}},
					Sessions: []v1beta1.BGPSessionState{
						{Status: v1beta1.BGPSessionStateStatus{Node: "node1", Peer: "tor", BGPState: "Active"}},
					}}
			},
			reason: ReasonSessionsDown, summary: `1 node(s) would announce it over BGP, but none of their sessions to those peers is Established`,
			bgp: []BGPAnnouncement{{Node: "node1", Peers: []PeerSession{{Peer: "tor", BGPState: "Active"}}}},
		},
		{
			name: "another load balancer's class and IP, no word from Herald",
			facts: func(*testing.T) Facts {
				svc := service(withIP("203.0.113.9", ""))
				delete(svc.Annotations, informers.AnnotationAllocatedFromPool)
				svc.Spec.LoadBalancerClass = ptrTo("cloud.example.com/lb")
				return Facts{Service: svc}
			},
			reason: ReasonOtherClass, summary: `loadBalancerClass "cloud.example.com/lb" and no word from Herald's controller`,
		},
		{
			name: "Herald's own class (--lb-class), pending: the controller's Event decides",
			facts: func(*testing.T) Facts {
				svc := service(func(s *corev1.Service) { s.Spec.LoadBalancerClass = ptrTo("herald") })
				return Facts{Service: svc, Events: []corev1.Event{event("3", servicestatus.ReasonAllocationFailed, exhausted)}}
			},
			reason: ReasonPoolExhausted, summary: "pending: pool exhausted",
		},
		{
			name: "answered on L2, requested by spec.loadBalancerIP",
			facts: func(*testing.T) Facts {
				svc := service(withIP("10.0.0.2", "web"))
				svc.Spec.LoadBalancerIP = "10.0.0.2"
				return Facts{Service: svc, L2: []v1beta1.ServiceL2Status{{Status: v1beta1.ServiceL2StatusStatus{
					Node: "node3", ServiceName: "web", ServiceNamespace: "shop", Interfaces: []v1beta1.InterfaceInfo{{Name: "eth0"}}}}}}
			},
			reason: ReasonAnnounced, summary: `10.0.0.2 from pool "web" (requested by spec.loadBalancerIP), answered on L2 by node3`,
			requestedBy: "spec.loadBalancerIP",
			l2:          []L2Announcement{{Node: "node3", Interfaces: []string{"eth0"}}},
		},
		{
			name: "has an IP but no advertisement selects its pool",
			facts: func(t *testing.T) Facts {
				return Facts{Service: service(withIP("10.0.0.1", "web")), Config: compile(t, unannounced)}
			},
			reason: ReasonNoAdvertisement, summary: `but no L2Advertisement or BGPAdvertisement selects pool "web": nothing announces it`,
		},
		{
			name: "has an IP; the pool's advertisement selects other Services",
			facts: func(t *testing.T) Facts {
				return Facts{Service: service(withIP("10.0.0.1", "web")), Config: compile(t, otherServices)}
			},
			reason: ReasonNoAdvertisement, summary: `the advertisements of pool "web" (L2Advertisement only-db) select other Services by label`,
		},
		{
			name: "has an IP, an advertisement selects it, no speaker reports it; pool found from the IP",
			facts: func(t *testing.T) Facts {
				svc := service(withIP("10.0.0.1", ""))
				delete(svc.Annotations, informers.AnnotationAllocatedFromPool)
				return Facts{Service: svc, Config: compile(t, advertised)}
			},
			reason: ReasonAllocated, summary: `10.0.0.1 from pool "web" (chosen automatically); an advertisement selects it, but no speaker reports`,
		},
		{
			name: "not a LoadBalancer",
			facts: func(*testing.T) Facts {
				return Facts{Service: service(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP })}
			},
			reason: ReasonNotLoadBalancer, summary: "type ClusterIP, not LoadBalancer",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := Explain(tc.facts(t))
			if x.Reason != tc.reason {
				t.Errorf("Reason = %s, want %s (summary %q)", x.Reason, tc.reason, x.Summary)
			}
			if !strings.Contains(x.Summary, tc.summary) {
				t.Errorf("Summary = %q, want it to contain %q", x.Summary, tc.summary)
			}
			if tc.requestedBy != "" && x.RequestedBy != tc.requestedBy {
				t.Errorf("RequestedBy = %q, want %q", x.RequestedBy, tc.requestedBy)
			}
			if diff := cmp.Diff(tc.bgp, x.BGP); diff != "" {
				t.Errorf("BGP (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.l2, x.L2); diff != "" {
				t.Errorf("L2 (-want +got):\n%s", diff)
			}
			if x.TraceID != tc.traceID {
				t.Errorf("TraceID = %q, want %q", x.TraceID, tc.traceID)
			}
		})
	}
}

func TestWriteExplanation(t *testing.T) {
	x := Explanation{Service: "shop/web", Reason: ReasonAnnounced, Summary: `10.0.0.1 from pool "web" (chosen automatically), announced over BGP by 1 node(s)`,
		BGP:     []BGPAnnouncement{{Node: "node1", Peers: []PeerSession{{Peer: "spine", BGPState: "Active"}, {Peer: "tor", BGPState: "Established", BFDState: "Up"}}}},
		L2:      []L2Announcement{{Node: "node3", Interfaces: []string{"eth0", "eth1"}}},
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Configuration: "Invalid: BGPPeer metallb-system/tor: spec.holdTime: bad"}
	want := `shop/web: Announced: 10.0.0.1 from pool "web" (chosen automatically), announced over BGP by 1 node(s)
  BGP: node1 announces it to spine (Active), tor (Established, BFD Up)
  L2: node3 answers ARP/NDP for it on eth0, eth1
  configuration: Invalid: BGPPeer metallb-system/tor: spec.holdTime: bad
  trace: 4bf92f3577b34da6a3ce929d0e0e4736 (kubectl herald trace svc/web -n shop)
`
	var b bytes.Buffer
	if err := WriteExplanation(&b, x); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestServiceName(t *testing.T) {
	tests := []struct {
		arg, want string
		ok        bool
	}{
		{"svc/web", "web", true}, {"service/web", "web", true}, {"services/web", "web", true}, {"web", "web", true},
		{"Service/web", "web", true}, {"pod/web", "", false}, {"svc/", "", false}, {"svc/a/b", "", false},
	}
	for _, tc := range tests {
		got, err := ServiceName(tc.arg)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ServiceName(%q) = %q, %v; want %q, ok %t", tc.arg, got, err, tc.want, tc.ok)
		}
	}
}

func ptrTo[T any](v T) *T { return &v }
