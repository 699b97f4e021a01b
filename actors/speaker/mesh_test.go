package speaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/bfdnet"
	"github.com/heraldlb/herald/liveness"
)

// meshNode is one in-process speaker of a mesh test: its own loopback
// address, sharing the API with the others.
type meshNode struct {
	s      *Speaker
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	// drop, while set, loses every liveness datagram this speaker sends.
	drop atomic.Bool
}

type droppingNet struct {
	meshTransport
	n *meshNode
}

func (d droppingNet) Send(to netip.AddrPort, b []byte) error {
	if d.n.drop.Load() {
		return nil
	}
	return d.meshTransport.Send(to, b)
}

// startMesh runs n speakers on 127.0.0.1..n, their liveness mesh on
// port and port+1 of their own addresses (no root needed).
func startMesh(t *testing.T, n int, port int, dropping ...int) []*meshNode {
	t.Helper()
	return startMeshAPI(t, n, port, nil, dropping...)
}

// startMeshAPI is startMesh with setup run on the shared metallb.io API
// before the speakers start (to add reactors).
func startMeshAPI(t *testing.T, n int, port int, setup func(*mlbfake.Clientset), dropping ...int) []*meshNode {
	t.Helper()
	return startMeshWith(t, n, port, setup, nil, dropping...)
}

// startMeshWith is startMeshAPI with options changed by opts.
func startMeshWith(t *testing.T, n int, port int, setup func(*mlbfake.Clientset), opts func(*Options), dropping ...int) []*meshNode {
	t.Helper()
	kube := kubefake.NewClientset()
	mlb := mlbfake.NewSimpleClientset()
	if setup != nil {
		setup(mlb)
	}
	for i := 1; i <= n; i++ {
		if _, err := kube.CoreV1().Nodes().Create(context.Background(), &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("n%d", i)},
			Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("127.0.0.%d", i)}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	level := slog.LevelWarn
	if os.Getenv("HERALD_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	var nodes []*meshNode
	for i := 1; i <= n; i++ {
		addr := netip.AddrFrom4([4]byte{127, 0, 0, byte(i)})
		mn := &meshNode{reg: prometheus.NewRegistry(), done: make(chan error, 1)}
		mn.drop.Store(slices.Contains(dropping, i))
		udp := UDPMeshNet(addr)
		// No start hold (speakers started together here would each wait
		// it out) but in the test of it.
		o := Options{Kube: kube, Metallb: mlb, Registry: mn.reg, NodeName: fmt.Sprintf("n%d", i), NoL2: true, LivenessStartHold: -1,
			Namespace: testNS, BackoffInitial: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
			LivenessPort: port, MeshBFDNetwork: bfdnet.OSNetwork{ListenAddr4: addr},
			MeshNet: func(p uint16, deliver func(netip.AddrPort, []byte)) (meshTransport, error) {
				tr, err := udp(p, deliver)
				if err != nil {
					return nil, err
				}
				return droppingNet{tr, mn}, nil
			},
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("test", t.Name())}
		if opts != nil {
			opts(&o)
		}
		s, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		mn.s = s
		ctx, cancel := context.WithCancel(context.Background())
		mn.cancel = cancel
		go func() { mn.done <- s.Run(ctx) }()
		nodes = append(nodes, mn)
	}
	t.Cleanup(func() {
		for _, mn := range nodes {
			mn.stop(t)
		}
	})
	return nodes
}

func (mn *meshNode) stop(t *testing.T) {
	mn.once.Do(func() {
		mn.cancel()
		select {
		case <-mn.done:
		case <-time.After(10 * time.Second):
			t.Error("a speaker did not stop")
		}
	})
}

func gauge(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		return -1
	}
	return m.GetGauge().GetValue()
}

func (mn *meshNode) alive() float64 { return gauge(mn.s.metrics.meshAlive) }

// bfdUp counts this speaker's mesh BFD sessions that are Up.
func (mn *meshNode) bfdUp(t *testing.T) int {
	mfs, err := mn.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	up := 0
	for _, mf := range mfs {
		if mf.GetName() != "herald_bfd_session_up" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == "mesh" && m.GetGauge().GetValue() == 1 {
					up++
				}
			}
		}
	}
	return up
}

// Three speakers find each other through the API, run BFD with each other
// and agree that all three are alive; one that stops cleanly is out of the
// others' alive set at once.
func TestMeshAgreesAndHearsALeave(t *testing.T) {
	nodes := startMesh(t, 3, 24785)
	for i, mn := range nodes {
		eventually(t, fmt.Sprintf("n%d sees 3 speakers alive with 2 BFD sessions up", i+1), func() bool {
			return mn.alive() == 3 && mn.bfdUp(t) == 2
		})
	}
	nodes[2].stop(t)
	// Through its leaving status, not the grace period a silent session
	// gets (3 s; TestMeshFindsASpeakerWhoseLeaveWasLost): the bound tells
	// the two ways apart with a wide margin, it does not measure speed.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for i, mn := range nodes[:2] {
		for mn.alive() != 2 {
			if time.Now().After(deadline) {
				t.Fatalf("n%d did not hear n3 leave", i+1)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// A speaker whose leaving status is lost is still found dead: its
// AdminDown starts a grace period after which its silent sessions vote
// Down.
func TestMeshFindsASpeakerWhoseLeaveWasLost(t *testing.T) {
	nodes := startMesh(t, 3, 24795)
	for i, mn := range nodes {
		eventually(t, fmt.Sprintf("n%d sees 3 speakers alive", i+1), func() bool { return mn.alive() == 3 && mn.bfdUp(t) == 2 })
	}
	// n3 leaves, but its leaving status is lost: only AdminDown (not a
	// vote) and the digests tell the others.
	nodes[2].drop.Store(true)
	nodes[2].stop(t)
	for i, mn := range nodes[:2] {
		eventually(t, fmt.Sprintf("n%d sees n3 dead", i+1), func() bool { return mn.alive() == 2 })
	}
}

// Statuses lost on the way are repaired by the digests: every status n3
// sends while the mesh forms is lost, and the others learn n3's last one
// from the gossip alone (n3's observations no longer change).
func TestMeshRepairsLostStatuses(t *testing.T) {
	nodes := startMesh(t, 3, 24805, 3)
	for i, mn := range nodes {
		eventually(t, fmt.Sprintf("n%d sees 3 speakers alive with 2 BFD sessions up", i+1), func() bool {
			return mn.alive() == 3 && mn.bfdUp(t) == 2
		})
	}
	for i, mn := range nodes[:2] {
		if held := gauge(mn.s.metrics.meshHeld); held != 1 {
			t.Fatalf("n%d holds %v statuses while n3's are lost, want 1 (n2's or n1's)", i+1, held)
		}
	}
	nodes[2].drop.Store(false)
	for i, mn := range nodes[:2] {
		deadline := time.Now().Add(4*gossipInterval + 2*time.Second)
		for gauge(mn.s.metrics.meshHeld) != 2 {
			if time.Now().After(deadline) {
				t.Fatalf("n%d did not get n3's status from the digests", i+1)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// A speaker whose ConfigurationState the API never shows (its writes
// fail) is still a member of the others' mesh: its Status, from its own
// Node's address, tells them it runs. All three agree on three speakers
// alive; without that, n1 and n3 would count two and n2 three, and two of
// them could answer for the same L2 IP.
func TestMeshCountsASpeakerTheAPIHasNotListed(t *testing.T) {
	var api *mlbfake.Clientset
	nodes := startMeshAPI(t, 3, 24815, func(mlb *mlbfake.Clientset) {
		api = mlb
		hideConfigurationState(mlb, "speaker-n2")
	})
	for i, mn := range nodes {
		eventually(t, fmt.Sprintf("n%d sees 3 speakers alive with 2 BFD sessions up", i+1), func() bool {
			return mn.alive() == 3 && mn.bfdUp(t) == 2
		})
	}
	if _, err := api.MetallbV1beta1().ConfigurationStates(testNS).Get(context.Background(), "speaker-n2", metav1.GetOptions{}); err == nil {
		t.Fatal("speaker-n2's ConfigurationState exists: the test no longer hides it")
	}
}

// hideConfigurationState makes every create of the named ConfigurationState
// fail, so the API never lists that speaker.
func hideConfigurationState(mlb *mlbfake.Clientset, name string) {
	mlb.PrependReactor("create", "configurationstates", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if cs, ok := a.(k8stesting.CreateAction).GetObject().(*v1beta1.ConfigurationState); ok && cs.Name == name {
			return true, nil, errors.New("the API is slow today")
		}
		return false, nil, nil
	})
}

// The same hidden speaker, whose Statuses are also lost until its
// observations have stopped changing (its sessions, refused by the others,
// voted Down after the grace period): nothing it sends afterwards is a
// change, so only the resending of its Status to the members it has never
// heard from lets the others count it. Without that, n1 and n3 would never
// count n2.
func TestMeshResendsToMembersItHasNotHeard(t *testing.T) {
	nodes := startMeshAPI(t, 3, 24825, func(mlb *mlbfake.Clientset) { hideConfigurationState(mlb, "speaker-n2") }, 2)
	// n2's sessions to n1 and n3 are refused (n2 is no member of theirs),
	// so after the 3 s grace n2 counts itself isolated: one alive in its
	// view, none of whom is itself.
	// Past the 3 s grace: n2's refused sessions have voted Down and its
	// last change has been published (and lost). Only the n2 side is
	// timed; nothing is measured.
	time.Sleep(liveness.DefaultConfig().Grace + time.Second)
	if nodes[1].bfdUp(t) != 0 || nodes[0].alive() != 2 {
		t.Fatalf("before n2's datagrams flow: n2 has %d sessions up, n1 counts %v alive; want 0 and 2 (n2 unknown)", nodes[1].bfdUp(t), nodes[0].alive())
	}
	nodes[1].drop.Store(false)
	for i, mn := range nodes {
		eventually(t, fmt.Sprintf("n%d sees 3 speakers alive with 2 BFD sessions up", i+1), func() bool {
			return mn.alive() == 3 && mn.bfdUp(t) == 2
		})
	}
}

// A speaker that finds no other speaker listed when it starts (the first
// of a new cluster) leaves itself out of its alive set for the start hold,
// and so answers no L2 IP; then it counts itself. The decision is
// liveness.View's (TestStartHold); this checks the shell gives the View
// its first, empty, member list. Only a lower bound is checked: the hold
// cannot end before it began.
func TestMeshHoldsASpeakerThatStartsAlone(t *testing.T) {
	const hold = 1500 * time.Millisecond
	began := time.Now()
	nodes := startMeshWith(t, 1, 24835, nil, func(o *Options) { o.LivenessStartHold = hold })
	eventually(t, "n1 counts itself alive", func() bool { return nodes[0].alive() == 1 })
	if took := time.Since(began); took < hold {
		t.Fatalf("n1 counted itself alive %v after it started, before its %v start hold ended", took, hold)
	}
}
