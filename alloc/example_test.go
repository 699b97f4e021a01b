package alloc_test

import (
	"fmt"
	"net/netip"

	"github.com/heraldlb/herald/alloc"
	"k8s.io/apimachinery/pkg/labels"
)

func Example() {
	a := alloc.New()
	web, _ := alloc.ParseRange("192.168.10.0/24")
	v6, _ := alloc.ParseRange("2001:db8:10::/64")
	spare, _ := alloc.ParseRange("192.168.20.1-192.168.20.5")
	if _, err := a.SetPools([]alloc.Pool{
		{Name: "web", Ranges: []alloc.Range{web, v6}, AutoAssign: true, AvoidBuggyIPs: true,
			Allocation: &alloc.ServiceAllocation{Priority: 10, ServiceSelectors: []labels.Selector{labels.SelectorFromSet(labels.Set{"tier": "web"})}}},
		{Name: "spare", Ranges: []alloc.Range{spare}, AutoAssign: false},
	}); err != nil {
		panic(err)
	}

	// After a restart: claim what the Services' status already says.
	rejected := a.Restore([]alloc.Claim{{
		Service: alloc.Service{Key: alloc.ServiceKey{Namespace: "shop", Name: "old"}, Labels: labels.Set{"tier": "web"}},
		IPs:     []netip.Addr{netip.MustParseAddr("192.168.10.1")},
	}})
	fmt.Println("rejected:", len(rejected))

	// New Services.
	got, _ := a.Allocate(alloc.Service{
		Key:      alloc.ServiceKey{Namespace: "shop", Name: "front"},
		Labels:   labels.Set{"tier": "web"},
		Families: []alloc.Family{alloc.IPv4, alloc.IPv6}, Policy: alloc.RequireDualStack,
	})
	fmt.Println(got.Pool, got.IPs)

	_, err := a.Allocate(alloc.Service{Key: alloc.ServiceKey{Namespace: "shop", Name: "db"}})
	fmt.Println(err)

	got, _ = a.Allocate(alloc.Service{Key: alloc.ServiceKey{Namespace: "shop", Name: "db"}, RequestedPool: "spare"})
	fmt.Println(got.Pool, got.IPs)

	st := a.Stats()[1]
	fmt.Println(st.Pool, st.IPv4.Assigned, "of", st.IPv4.Capacity, "IPv4;", st.IPv6.Assigned, "of", st.IPv6.Capacity, "IPv6;", st.Services, "services")
	// Output:
	// rejected: 0
	// web [192.168.10.2 2001:db8:10::]
	// shop/db: no address pool can serve the service: pool "spare" has autoAssign: false (request it with metallb.io/address-pool or one of its IPs); pool "web": pool's serviceAllocation does not select the service: service labels {} match none of its serviceSelectors [tier=web]
	// spare [192.168.20.1]
	// web 2 of 254 IPv4; 1 of 18446744073709551616 IPv6; 2 services
}
