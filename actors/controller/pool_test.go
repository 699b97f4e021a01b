package controller

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/informers"
)

// The informer cache can lag behind the controller's own writes: a pool
// status that went 16 → 14 → 16 must be written back to 16 even while the
// cache still shows the first 16. Only the first write of a term may skip,
// and only on a live read. The cache here is fed by one fake clientset and
// the writes go to another, so the cache stays behind by construction.
func TestPoolStatusWriteDoesNotTrustALaggingCache(t *testing.T) {
	ctx := t.Context()
	sixteen := v1beta1.IPAddressPoolStatus{AssignedIPv4: 16, AvailableIPv4: 0}
	fourteen := v1beta1.IPAddressPoolStatus{AssignedIPv4: 14, AvailableIPv4: 2}
	cached := pool("a", "10.0.0.0/28")
	cached.Status = sixteen
	inf, err := informers.New(kubefake.NewClientset(), mlbfake.NewSimpleClientset(cached), informers.Options{Namespace: testNS, Watch: Watches()})
	if err != nil {
		t.Fatal(err)
	}
	inf.Start(ctx)
	if err := inf.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	live := pool("a", "10.0.0.0/28")
	live.Status = fourteen
	api := mlbfake.NewSimpleClientset(live)
	a := &poolActor{e: &env{mlb: api, inf: inf, namespace: testNS}, name: "a"}

	liveStatus := func() v1beta1.IPAddressPoolStatus {
		p, err := api.MetallbV1beta1().IPAddressPools(testNS).Get(context.Background(), "a", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return p.Status
	}
	// Not the first write: the cache says 16 already, the API says 14.
	if err := a.write(ctx, sixteen, false); err != nil {
		t.Fatal(err)
	}
	if got := liveStatus(); got != sixteen {
		t.Fatalf("after a later write the API says %+v, want %+v", got, sixteen)
	}
	// The first write of a term reads live: already right, nothing written.
	api.ClearActions()
	if err := a.write(ctx, sixteen, true); err != nil {
		t.Fatal(err)
	}
	for _, act := range api.Actions() {
		if act.GetVerb() == "update" {
			t.Fatalf("first write updated although the live status was right: %v", act)
		}
	}
	// And when it is not right, the first write writes.
	if err := a.write(ctx, fourteen, true); err != nil {
		t.Fatal(err)
	}
	if got := liveStatus(); got != fourteen {
		t.Fatalf("after a first write the API says %+v, want %+v", got, fourteen)
	}
}
