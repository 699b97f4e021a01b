package speaker

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/config/manifest"
)

// A BGPPeer edit that both changes the session and stops selecting this
// node: the peers actor gets the changed BGPPeer (the session's actor
// leaves, a replacement would follow) and then the planner's close, before
// the old actor is gone. No session follows, and the BGPSessionState goes
// (the leaving actor writes it no more, and the peers actor deletes it
// once nothing of the session is left).
func TestSessionReplacedThenClosedLeavesNoState(t *testing.T) {
	router := startTestRouter(t, 64513)
	s, _, mlb := startWebSpeaker(t, router, nil)
	ctx := context.Background()
	count := func() int {
		l, err := mlb.MetallbV1beta1().BGPSessionStates(testNS).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}
	eventually(t, "the session's state", func() bool { return count() == 1 })
	var set manifest.Set
	set.DefaultNamespace = testNS
	set.Add("c.yaml", []byte(fmt.Sprintf(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p}
spec: {addresses: [10.10.0.0/24]}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: r}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 127.0.0.1, peerPort: %d, holdTime: 31s, nodeSelectors: [{matchLabels: {rack: b}}]}
`, router.port())))
	cfg, err := config.Compile(set.Input)
	if err != nil {
		t.Fatal(err)
	}
	peers := s.system.NewLocalPID("speaker/peers")
	s.system.Root.Send(peers, configUpdated{cfg: cfg})
	s.system.Root.Send(peers, sessionChange{peer: "r", open: false})
	eventually(t, "the Cease", func() bool { return router.notificationCount() >= 1 })
	// Under load the old actor can stop before the close arrives: a
	// replacement starts, and its first state write, in flight when the
	// close stops it, can land after the peers actor's deletion. The
	// deletion made again forgetRecheck later removes it; that is the
	// bound to wait for.
	deadline := time.Now().Add(forgetRecheck + 2*time.Second)
	for count() != 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := count(); n != 0 {
		l, _ := mlb.MetallbV1beta1().BGPSessionStates(testNS).List(ctx, metav1.ListOptions{})
		t.Errorf("%d BGPSessionState(s) left for a session no longer planned: %s says %q", n, l.Items[0].Name, l.Items[0].Status.BGPState)
	}
}
