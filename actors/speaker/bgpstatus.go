package speaker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cenkalti/backoff/v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/announce"
	"github.com/heraldlb/herald/api/v1beta1"
)

// Labels of the ServiceBGPStatus and ServiceL2Status objects (MetalLB's).
const (
	LabelServiceName      = "metallb.io/service-name"
	LabelServiceNamespace = "metallb.io/service-namespace"
)

// Event reasons a speaker publishes on Services.
const (
	ReasonAnnouncing        = "Announcing"
	ReasonStoppedAnnouncing = "StoppedAnnouncing"
)

// maxStatusWrites bounds the status writes in flight, so a node that starts
// announcing 10,000 Services does not open 10,000 requests at once.
const maxStatusWrites = 8

// bgpStatusActor keeps one ServiceBGPStatus per Service this node
// announces over BGP, listing the BGPPeers it goes to, and says on the
// Service when the node starts and stops announcing it. What it writes is
// level-triggered: the newest wish per Service, one write at a time each,
// at most maxStatusWrites at once.
type bgpStatusActor struct {
	e *env
	// desired are the peers each Service goes to (absent: none);
	// shown what the API holds, as far as this actor knows.
	desired map[announce.ServiceKey][]string
	shown   map[announce.ServiceKey][]string
	// planned: the planner has planned every Service once, so an object
	// of this node nobody wants is stale and goes.
	planned  bool
	inflight map[announce.ServiceKey]bool
	queue    []announce.ServiceKey
	queued   map[announce.ServiceKey]bool
	bo       *backoff.ExponentialBackOff
	retrying bool
}

// Messages of the bgpStatusActor.
type (
	// planned: the planner has seen every Service once.
	planned struct{}
	// statusWrote is the outcome of one ServiceBGPStatus write.
	statusWrote struct {
		key   announce.ServiceKey
		peers []string
		err   error
	}
)

func newBGPStatusActor(e *env) actor.Actor { return &bgpStatusActor{e: e} }

func (a *bgpStatusActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.desired, a.shown = map[announce.ServiceKey][]string{}, map[announce.ServiceKey][]string{}
		a.inflight, a.queued = map[announce.ServiceKey]bool{}, map[announce.ServiceKey]bool{}
		a.bo = a.e.NewBackoff()
		for _, o := range a.e.inf.ServiceBGPStatuses(labels.SelectorFromSet(labels.Set{LabelNode: a.e.node})) {
			k := announce.ServiceKey{Namespace: o.Status.ServiceNamespace, Name: o.Status.ServiceName}
			a.shown[k] = o.Status.Peers
		}
	case serviceAnnounced:
		a.want(c, m.key, m.peers)
	case planned:
		a.planned = true
		for k := range a.shown {
			if _, ok := a.desired[k]; !ok {
				a.enqueue(c, k)
			}
		}
	case statusWrote:
		delete(a.inflight, m.key)
		if m.err != nil {
			a.e.metrics.apiError("servicebgpstatus")
			a.e.Log.Warn("writing a ServiceBGPStatus failed; will retry", "service", m.key.String(), "err", m.err)
			a.enqueueLater(c, m.key)
		} else {
			a.bo.Reset()
			a.shown[m.key] = m.peers
			if m.peers == nil {
				delete(a.shown, m.key)
			}
			if !slices.Equal(a.shown[m.key], a.desired[m.key]) {
				a.enqueue(c, m.key)
			}
		}
		a.next(c)
	case actors.Retry:
		a.retrying = false
		a.next(c)
	}
}

// want records where a Service is announced now, says so on the Service
// when it starts or stops, and schedules the write.
func (a *bgpStatusActor) want(c actor.Context, k announce.ServiceKey, peers []string) {
	before := a.desired[k]
	if len(peers) == 0 {
		delete(a.desired, k)
	} else {
		a.desired[k] = peers
	}
	// Events compare with what the API showed: a restarted speaker that
	// announces what it announced before says nothing new.
	was := len(before) > 0 || (before == nil && len(a.shown[k]) > 0)
	switch {
	case !was && len(peers) > 0:
		a.event(k, ReasonAnnouncing, fmt.Sprintf("node %s announces it over BGP to %s", a.e.node, strings.Join(peers, ", ")))
	case was && len(peers) == 0:
		a.event(k, ReasonStoppedAnnouncing, fmt.Sprintf("node %s no longer announces it over BGP", a.e.node))
	}
	a.enqueue(c, k)
}

func (a *bgpStatusActor) event(k announce.ServiceKey, reason, msg string) {
	if a.e.recorder == nil {
		return
	}
	if obj, ok := a.e.inf.ServiceObject(alloc.ServiceKey{Namespace: k.Namespace, Name: k.Name}); ok {
		a.e.recorder.Event(obj, corev1.EventTypeNormal, reason, msg)
	}
}

func (a *bgpStatusActor) enqueue(c actor.Context, k announce.ServiceKey) {
	if !a.queued[k] {
		a.queued[k] = true
		a.queue = append(a.queue, k)
	}
	a.next(c)
}

func (a *bgpStatusActor) enqueueLater(c actor.Context, k announce.ServiceKey) {
	if !a.queued[k] {
		a.queued[k] = true
		a.queue = append(a.queue, k)
	}
	if !a.retrying {
		a.retrying = true
		a.e.After(actors.NextDelay(a.bo), c.Self(), actors.Retry{})
	}
}

// next starts writes while there are free slots, skipping Services whose
// object already says what is wanted, or that have a write in flight (it
// comes back through statusWrote).
func (a *bgpStatusActor) next(c actor.Context) {
	if a.retrying {
		return
	}
	for len(a.inflight) < maxStatusWrites && len(a.queue) > 0 {
		k := a.queue[0]
		a.queue = a.queue[1:]
		delete(a.queued, k)
		if a.inflight[k] {
			continue
		}
		peers, wanted := a.desired[k]
		if !wanted && !a.planned {
			// Not planned yet: the object may be wanted after all.
			continue
		}
		if slices.Equal(peers, a.shown[k]) && (wanted == (a.shown[k] != nil)) {
			continue
		}
		a.inflight[k] = true
		a.write(c, k, peers)
	}
}

func (a *bgpStatusActor) write(c actor.Context, k announce.ServiceKey, peers []string) {
	e := a.e
	client := e.mlb.MetallbV1beta1().ServiceBGPStatuses(e.namespace)
	name := serviceStatusName(k, e.node)
	actors.GoAPI(e.Runtime, c.Self(), func(ctx context.Context) statusWrote {
		if len(peers) == 0 {
			err := client.Delete(ctx, name, metav1.DeleteOptions{})
			if apierrors.IsNotFound(err) {
				err = nil
			}
			return statusWrote{key: k, err: err}
		}
		cur, err := client.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cur, err = client.Create(ctx, &v1beta1.ServiceBGPStatus{ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: e.namespace,
				Labels: map[string]string{LabelNode: e.node, LabelServiceName: k.Name, LabelServiceNamespace: k.Namespace},
			}}, metav1.CreateOptions{})
		}
		if err != nil {
			return statusWrote{key: k, peers: peers, err: err}
		}
		want := v1beta1.ServiceBGPStatusStatus{Node: e.node, ServiceName: k.Name, ServiceNamespace: k.Namespace, Peers: peers}
		if cur.Status.Node == want.Node && cur.Status.ServiceName == want.ServiceName &&
			cur.Status.ServiceNamespace == want.ServiceNamespace && slices.Equal(cur.Status.Peers, peers) {
			return statusWrote{key: k, peers: peers}
		}
		cur.Status = want
		_, err = client.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return statusWrote{key: k, peers: peers, err: err}
	})
}

// serviceStatusName names a node's status object of a Service. It is
// readable when it fits a name; a long one keeps its start and ends with a
// hash of the whole, so two long names never collide.
func serviceStatusName(k announce.ServiceKey, node string) string {
	name := k.Namespace + "-" + k.Name + "-" + node
	if len(name) <= 253 {
		return name
	}
	sum := sha256.Sum256([]byte(k.Namespace + "/" + k.Name + "/" + node))
	return name[:253-17] + "-" + hex.EncodeToString(sum[:8])
}
