package speaker

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/config/manifest"
)

// The peers actor fails while a replaced session's actor is leaving: its
// old incarnation gets the leaving child's Terminated during the restart
// and must not spawn the replacement (protoactor would wait for a child
// nobody stops, and the peers actor would never run again): a stopping
// term starts nothing.
func TestPeersActorRestartedWhileASessionLeaves(t *testing.T) {
	router := startTestRouter(t, 64513)
	s, kube, _ := startWebSpeaker(t, router, nil)
	var set manifest.Set
	set.DefaultNamespace = testNS
	set.Add("c.yaml", []byte(fmt.Sprintf(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p}
spec: {addresses: [10.10.0.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: adv}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: r}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 127.0.0.1, peerPort: %d, holdTime: 31s}
`, router.port())))
	if len(set.Errors) > 0 {
		t.Fatal(set.Errors)
	}
	cfg, err := config.Compile(set.Input)
	if err != nil {
		t.Fatal(err)
	}
	peers := s.system.NewLocalPID("speaker/peers")
	s.system.Root.Send(peers, configUpdated{cfg: cfg}) // the session is replaced
	s.system.Root.Send(peers, &actor.Terminated{})     // any panic of the peers actor (nil Who)
	time.Sleep(300 * time.Millisecond)
	ctx := context.Background()
	if _, err := kube.CoreV1().Services("app").Create(ctx, lbService("api", "10.10.0.2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.DiscoveryV1().EndpointSlices("app").Create(ctx, endpoints("api", "n1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "api's route after the peers actor's restart", func() bool {
		return slices.Equal(router.routes(), []string{"10.10.0.1/32", "10.10.0.2/32"})
	})
}
