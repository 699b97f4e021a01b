package inspect

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/api/v1beta1"
)

func TestStatus(t *testing.T) {
	no := false
	f := StatusFacts{
		Pools: []v1beta1.IPAddressPool{
			{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.0.0.0/30", "2001:db8::/126"}},
				Status: v1beta1.IPAddressPoolStatus{AssignedIPv4: 1, AvailableIPv4: 3, AssignedIPv6: 0, AvailableIPv6: 4}},
			{ObjectMeta: metav1.ObjectMeta{Name: "spare"}, Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"10.9.0.1-10.9.0.2"}, AutoAssign: &no}},
		},
		Sessions: []v1beta1.BGPSessionState{
			{Status: v1beta1.BGPSessionStateStatus{Node: "node2", Peer: "tor", PeerAddress: "192.0.2.1:179", BGPState: "Active", LastError: "connection refused"}},
			{Status: v1beta1.BGPSessionStateStatus{Node: "node1", Peer: "tor", PeerAddress: "192.0.2.1:179", BGPState: "Established", BFDState: "Up", PrefixesIPv4: 1}},
		},
		BGP: []v1beta1.ServiceBGPStatus{{Status: v1beta1.ServiceBGPStatusStatus{Node: "node1", ServiceName: "web", ServiceNamespace: "shop", Peers: []string{"tor"}}}},
		L2: []v1beta1.ServiceL2Status{{Status: v1beta1.ServiceL2StatusStatus{Node: "node3", ServiceName: "db", ServiceNamespace: "shop",
			Interfaces: []v1beta1.InterfaceInfo{{Name: "eth0"}}}}},
		States: []v1beta1.ConfigurationState{
			{ObjectMeta: metav1.ObjectMeta{Name: "speaker-node1"}, Status: v1beta1.ConfigurationStateStatus{Result: v1beta1.ConfigurationValid}},
			{ObjectMeta: metav1.ObjectMeta{Name: "controller"}, Status: v1beta1.ConfigurationStateStatus{Result: v1beta1.ConfigurationValid,
				WarningSummary: "IPAddressPool metallb-system/spare: no L2Advertisement or BGPAdvertisement selects this pool"}},
		},
		Services: []corev1.Service{{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "10.0.0.1"}}}}}},
	}
	want := `CONFIGURATION  RESULT  ERRORS  WARNINGS
controller     Valid           IPAddressPool metallb-system/spare: no L2Advertisement or BGPAdvertisement selects this pool
speaker-node1  Valid           

POOL   ADDRESSES                   AUTO-ASSIGN  IPv4 ASSIGNED/AVAILABLE  IPv6 ASSIGNED/AVAILABLE
spare  10.9.0.1-10.9.0.2           false        0/0                      0/0
web    10.0.0.0/30,2001:db8::/126  true         1/3                      0/4

NODE   PEER  ADDRESS        BGP          BFD  PREFIXES v4/v6  LAST ERROR
node1  tor   192.0.2.1:179  Established  Up   1/0             
node2  tor   192.0.2.1:179  Active       -    0/0             connection refused

SERVICE   IPS       MODE  NODE   TO
shop/db   -         L2    node3  ARP/NDP on eth0
shop/web  10.0.0.1  BGP   node1  peers tor

not reported: the liveness mesh (which speakers are alive) is not published as an object; see the speakers' metrics and logs
`
	var b bytes.Buffer
	if err := WriteStatus(&b, BuildStatus(f)); err != nil {
		t.Fatal(err)
	}
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
