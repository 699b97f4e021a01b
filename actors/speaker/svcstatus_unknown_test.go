package speaker

import (
	"context"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/announce"
	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/api/v1beta1"
)

// A restarted status actor: its previous term's Create of web lands after
// this term's list, and its result comes back before planned; web is no
// longer wanted. The result marks web unknown; next() holds back a key
// not wanted while not planned, so dropStale at planned must look at the
// unknown keys as well as at shown, or the object stays for good.
func TestPreviousTermsWriteBeforePlannedLeavesNoOrphan(t *testing.T) {
	mlb := mlbfake.NewSimpleClientset()
	e, system, log := statusTestEnv(t, mlb)
	answer := make(chan struct{})
	var self *actor.PID
	e.planner = system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(resendAnnounced); ok {
			go func() { <-answer; system.Root.Send(self, planned{}) }()
		}
	}))
	prev := e.statusTerms.Add(1) // the previous term's number
	self = system.Root.Spawn(actors.NewProps(log, "bgpstatus", func() actor.Actor {
		a := newStatusActor(e, bgpStatusKind)
		a.(*statusActor).setRestarted(true)
		return a
	}))
	defer system.Root.Stop(self)
	time.Sleep(200 * time.Millisecond) // the list (empty) is in

	web := announce.ServiceKey{Namespace: "app", Name: "web"}
	name := serviceStatusName(web, "n1")
	ctx := context.Background()
	// The previous term's Create lands now, after the list.
	if _, err := mlb.MetallbV1beta1().ServiceBGPStatuses(testNS).Create(ctx,
		&v1beta1.ServiceBGPStatus{ObjectMeta: statusMeta(e, web, name)}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	system.Root.Send(self, statusWrote{key: web, names: []string{"r"}, incarnation: prev})
	time.Sleep(100 * time.Millisecond)
	close(answer) // the planner: nothing announced, planned
	time.Sleep(time.Second)
	if _, err := mlb.MetallbV1beta1().ServiceBGPStatuses(testNS).Get(ctx, name, metav1.GetOptions{}); err == nil {
		t.Errorf("%s stays although no Service wants it", name)
	}
}
