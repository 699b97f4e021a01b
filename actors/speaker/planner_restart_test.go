package speaker

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/announce"
	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/config/manifest"
	"github.com/heraldlb/herald/informers"
	"github.com/heraldlb/herald/internal/testlog"
)

// failOn is a message that makes failingPlanner panic, as any broken
// invariant would: its supervisor restarts it.
type failOn struct{}

type failingPlanner struct{ *plannerActor }

func (f failingPlanner) Receive(c actor.Context) {
	if _, ok := c.Message().(failOn); ok {
		panic("a broken invariant")
	}
	f.plannerActor.Receive(c)
}

// inbox records what an actor standing in for one of the planner's
// siblings receives.
type inbox struct {
	mu   sync.Mutex
	msgs []any
}

func (b *inbox) add(m any) { b.mu.Lock(); b.msgs = append(b.msgs, m); b.mu.Unlock() }
func (b *inbox) all() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.msgs)
}

// A planner restarted by its supervisor gets back this node's interfaces
// (it waits for them before it plans), and replaces what the actors it
// feeds hold of its previous term: a Service deleted while it was down is
// withdrawn from the session and no longer answered on the link, a
// Service created meanwhile is, and the status actors drop the previous
// term's wishes, so the deleted Service's status objects go. Before, the
// new term only added to what the others held: the deleted Service stayed
// announced for good, and with no interfaces known L2 froze.
func TestRestartedPlannerReplacesWhatItsSiblingsHold(t *testing.T) {
	var s manifest.Set
	s.DefaultNamespace = testNS
	s.Add("config.yaml", []byte(`
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: blue}
spec: {addresses: [10.0.1.0/24]}
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2}
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata: {name: bgp}
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: r}
spec: {myASN: 64512, peerASN: 64513, peerAddress: 192.0.2.1}
`))
	if len(s.Errors) > 0 {
		t.Fatal(s.Errors)
	}
	cfg, err := config.Compile(s.Input)
	if err != nil {
		t.Fatal(err)
	}
	kube := kubefake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, lbService("web", "10.0.1.1"), endpoints("web", "n1"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := testlog.New(t)
	inf, err := informers.New(kube, mlbfake.NewSimpleClientset(), informers.Options{Namespace: testNS, Watch: Watches(), Transform: informers.SpeakerTransform})
	if err != nil {
		t.Fatal(err)
	}
	inf.Start(ctx)
	if err := inf.WaitForSync(ctx); err != nil {
		t.Fatal(err)
	}
	system := actors.NewSystem(log)
	metrics, _ := NewMetrics(prometheus.NewRegistry())
	e := &env{Runtime: &actors.Runtime{Log: log, Ctx: ctx, Root: system.Root, BackoffInitial: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond},
		inf: inf, metrics: metrics, node: "n1", namespace: testNS}
	var ifaces, l2st, bgpst, peers inbox
	stand := func(b *inbox, answer func(c actor.Context)) *actor.PID {
		return system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			switch c.Message().(type) {
			case *actor.Started, *actor.Stopping, *actor.Stopped:
				return
			}
			b.add(c.Message())
			if answer != nil {
				answer(c)
			}
		}))
	}
	e.ifaces = stand(&ifaces, func(c actor.Context) {
		if _, ok := c.Message().(resendLocalInterfaces); ok {
			c.Send(e.planner, localInterfaces{names: []string{"eth0"}})
		}
	})
	e.l2Status, e.bgpStatus, e.peers = stand(&l2st, nil), stand(&bgpst, nil), stand(&peers, nil)
	// The config actor answers a restarted planner only once the test
	// lets it: the Service changes land meanwhile.
	release := make(chan struct{})
	e.config = system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if m, ok := c.Message().(resendConfig); ok {
			<-release
			c.Send(m.to, configUpdated{cfg: cfg})
		}
	}))
	e.planner = system.Root.Spawn(actors.NewProps(log, "planner", incarnations(func() actor.Actor {
		return failingPlanner{newPlannerActor(e).(*plannerActor)}
	})))
	system.Root.Send(e.planner, configUpdated{cfg: cfg})
	system.Root.Send(e.planner, localInterfaces{names: []string{"eth0"}})

	ip1, ip2 := netip.MustParseAddr("10.0.1.1"), netip.MustParseAddr("10.0.1.2")
	lastOwned := func() map[netip.Addr][]string {
		var out map[netip.Addr][]string
		for _, m := range ifaces.all() {
			if o, ok := m.(l2Owned); ok {
				out = o.ips
			}
		}
		return out
	}
	eventually(t, "n1 answering web's IP", func() bool { _, ok := lastOwned()[ip1]; return ok })

	system.Root.Send(e.planner, failOn{})
	if err := kube.CoreV1().Services("app").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Services("app").Create(ctx, lbService("api", "10.0.1.2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.DiscoveryV1().EndpointSlices("app").Create(ctx, endpoints("api", "n1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the cache", func() bool {
		_, web := inf.Service(alloc.ServiceKey{Namespace: "app", Name: "web"})
		_, api := inf.Service(alloc.ServiceKey{Namespace: "app", Name: "api"})
		return !web && api && len(inf.EndpointSlices(alloc.ServiceKey{Namespace: "app", Name: "api"})) == 1
	})
	close(release)

	eventually(t, "the sessions and routes replaced", func() bool {
		for _, m := range peers.all() {
			if r, ok := m.(routesResync); ok {
				rs := r.sessions["r"]
				return len(r.sessions) == 1 && len(rs) == 1 && rs[0].Prefix == netip.MustParsePrefix("10.0.1.2/32")
			}
		}
		return false
	})
	eventually(t, "only api's IP answered", func() bool {
		got := lastOwned()
		_, web := got[ip1]
		_, api := got[ip2]
		return !web && api
	})
	web := announce.ServiceKey{Namespace: "app", Name: "web"}
	for what, b := range map[string]*inbox{"ServiceBGPStatus": &bgpst, "ServiceL2Status": &l2st} {
		eventually(t, what+" actor told to forget, then planned", func() bool {
			msgs := b.all()
			f := slices.IndexFunc(msgs, func(m any) bool { _, ok := m.(forgetWishes); return ok })
			if f < 0 {
				return false
			}
			for _, m := range msgs[f:] {
				if sa, ok := m.(serviceAnnounced); ok && sa.key == web && len(sa.names) > 0 {
					t.Fatalf("%s actor told web is announced after the restart", what)
				}
				if _, ok := m.(planned); ok {
					return true
				}
			}
			return false
		})
	}
}
