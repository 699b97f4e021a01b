package speaker

import (
	"context"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A planner that fails on a speaker without L2 (NoL2, or netlink not
// available) plans again: a restarted planner waits for this node's
// interfaces, and an ifaces actor that will never list them says so
// (noInterfaces). Before, it never answered and the planner waited for
// good, dropping every Service event.
func TestRestartedPlannerWithoutL2PlansAgain(t *testing.T) {
	router := startTestRouter(t, 64513)
	s, kube, _ := startWebSpeaker(t, router, nil)
	planner := s.system.NewLocalPID("speaker/planner")
	// Any panic in the planner: here a send to the (absent) mesh.
	s.system.Root.Send(planner, localInterfaces{names: []string{"eth0"}})
	s.system.Root.Send(planner, resendInterfaces{})
	time.Sleep(300 * time.Millisecond)
	ctx := context.Background()
	if _, err := kube.CoreV1().Services("app").Create(ctx, lbService("api", "10.10.0.2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.DiscoveryV1().EndpointSlices("app").Create(ctx, endpoints("api", "n1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "api's route after the planner's restart", func() bool {
		return slices.Equal(router.routes(), []string{"10.10.0.1/32", "10.10.0.2/32"})
	})
}
