package speaker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cenkalti/backoff/v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

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

// statusKind is one kind of per-Service status object a speaker keeps:
// ServiceBGPStatus (the BGPPeers a Service goes to) or ServiceL2Status (the
// interfaces it is answered on). What it lists is a set of names.
type statusKind struct {
	what string // for logs and the API error counter
	// l2 says which of the planner's records feeds it (resendAnnounced).
	l2 bool
	// list reads one page of this node's objects from the API: the
	// Service and what each lists, and the token of the next page ("" at
	// the end).
	list func(ctx context.Context, e *env, opts metav1.ListOptions) (map[announce.ServiceKey][]string, string, error)
	// write makes the object of k say names; none deletes it. absent
	// says this actor believes there is no object yet (getOrCreate).
	write func(ctx context.Context, e *env, k announce.ServiceKey, names []string, absent bool) error
	// started and stopped are the Events' messages.
	started func(node string, names []string) string
	stopped func(node string) string
}

// statusActor keeps one status object of its kind per Service this node
// announces, and says on the Service when the node starts and stops
// announcing it. What it writes is level-triggered: the newest wish per
// Service, one write at a time each, at most maxStatusWrites at once.
//
// It reads what the API holds once, when it starts, and from then on
// knows it from its own writes: no other writer touches this node's
// objects, and a cache of them would hold a decoded object per Service
// (about a tenth of a speaker's heap at 10,000 Services) to answer a
// question asked once.
type statusActor struct {
	term
	e    *env
	kind statusKind
	// desired are the names each Service lists (absent: none); shown
	// what the API holds, as far as this actor knows.
	desired map[announce.ServiceKey][]string
	shown   map[announce.ServiceKey][]string
	// listed: shown has been read from the API. Until then nothing is
	// written and no Event said; unsaid are the Services whose wish
	// changed meanwhile, compared with shown once it is known, and early
	// the writes of this actor's previous term (a restart) that came
	// back meanwhile: names, or nil for a deletion, laid over the list,
	// which may have been read before they reached the API.
	listed, listing bool
	unsaid          map[announce.ServiceKey]bool
	early           map[announce.ServiceKey][]string
	// planned: the planner has planned every Service once, so an object
	// of this node nobody wants is stale and goes. fenced: a restarted
	// term has not yet seen its restartFence, so a planned is the
	// previous term's.
	planned  bool
	fenced   bool
	inflight map[announce.ServiceKey]bool
	// unknown are the Services whose object may differ from shown: a
	// write failed (it may have done part, a Create without its status,
	// or all of it with the answer lost), or the previous term's came
	// back after the list. Their next write goes out even when the wish
	// equals shown, a deletion included.
	unknown map[announce.ServiceKey]bool
	// incarnation tells this term's writes from the previous one's.
	incarnation uint64
	queue       []announce.ServiceKey
	queued      map[announce.ServiceKey]bool
	bo          *backoff.ExponentialBackOff
	retrying    bool
}

// Messages of the statusActor.
type (
	// planned: the planner has seen every Service once.
	planned struct{}
	// serviceAnnounced: this node now announces the Service, listing
	// names (none: no longer).
	serviceAnnounced struct {
		key   announce.ServiceKey
		names []string
	}
	// statusWrote is the outcome of one status write.
	statusWrote struct {
		key   announce.ServiceKey
		names []string
		err   error
		// incarnation is the writing term's.
		incarnation uint64
	}
	// resendAnnounced, to the planner: a restarted status actor lost
	// every wish; send a serviceAnnounced for each Service announced now,
	// then planned (nothing, before the planner has planned once: it
	// sends them all then).
	resendAnnounced struct{ l2 bool }
	// restartFence, to itself: the messages before it were sent to the
	// previous term of a restarted status actor.
	restartFence struct{}
	// forgetWishes, from a restarted planner: the wishes so far were
	// its previous term's; this term says again every Service announced
	// now, then planned, and the objects of the others go.
	forgetWishes struct{}
	// statusListed is what the API holds of this node's objects.
	statusListed struct {
		shown map[announce.ServiceKey][]string
		err   error
	}
)

// statusListPage is how many objects one list request asks for.
const statusListPage = 500

func newStatusActor(e *env, kind statusKind) actor.Actor { return &statusActor{e: e, kind: kind} }

func (a *statusActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		a.desired, a.shown = map[announce.ServiceKey][]string{}, map[announce.ServiceKey][]string{}
		a.inflight, a.queued = map[announce.ServiceKey]bool{}, map[announce.ServiceKey]bool{}
		a.unsaid, a.early = map[announce.ServiceKey]bool{}, map[announce.ServiceKey][]string{}
		a.unknown = map[announce.ServiceKey]bool{}
		a.incarnation = a.e.statusTerms.Add(1)
		a.bo = a.e.NewBackoff()
		a.list(c)
		if a.restarted {
			// Restarted alone: the planner has the wishes this term
			// lacks. Without them nothing stale would ever be deleted
			// and no Service written until it changed again. The
			// mailbox outlives a restart: a planned the previous term
			// left in it must not count, or this term could delete
			// objects before it knows they are wanted. Whatever comes
			// after restartFence (sent first, so the planner's answer
			// follows it) is this term's.
			a.fenced = true
			c.Send(c.Self(), restartFence{})
			c.Send(a.e.planner, resendAnnounced{l2: a.kind.l2})
		}
	case restartFence:
		a.fenced = false
	case forgetWishes:
		// Events still compare with what the API shows (want), so a
		// Service announced before and again says nothing new.
		clear(a.desired)
		a.planned = false
	case statusListed:
		a.listing = false
		if a.listed {
			// After a restart the previous term's list may answer too;
			// the first answer, with the writes laid over it, counts.
			return
		}
		if m.err != nil {
			a.e.Log.Warn("listing this node's status objects failed; will retry", "kind", a.kind.what, "err", m.err)
			if !a.retrying {
				a.retrying = true
				a.e.After(actors.NextDelay(a.bo), c.Self(), actors.Retry{})
			}
			return
		}
		a.bo.Reset()
		a.listed, a.shown = true, m.shown
		for k, names := range a.early {
			if names == nil {
				delete(a.shown, k)
			} else {
				a.shown[k] = names
			}
		}
		for k := range a.unsaid {
			a.say(k, len(a.shown[k]) > 0)
			a.enqueue(c, k)
		}
		a.unsaid, a.early = nil, nil
		for k := range a.unknown {
			a.enqueue(c, k)
		}
		a.dropStale(c)
	case serviceAnnounced:
		a.want(c, m.key, m.names)
	case planned:
		if a.fenced {
			return // the previous term's
		}
		a.planned = true
		a.dropStale(c)
	case statusWrote:
		if m.incarnation != a.incarnation {
			// The previous term's write (this term writes nothing
			// before it has listed): before the list, laid over it;
			// after, the list may or may not show it. Either way it
			// is not this term's write in flight.
			switch {
			case !a.listed && m.err == nil:
				a.early[m.key] = m.names
			case !a.listed:
				a.unknown[m.key] = true
			default:
				a.unknown[m.key] = true
				a.enqueue(c, m.key)
			}
			return
		}
		delete(a.inflight, m.key)
		if m.err != nil {
			a.e.metrics.apiError(strings.ToLower(a.kind.what))
			a.e.Log.Warn("writing a status object failed; will retry", "kind", a.kind.what, "service", m.key.String(), "err", m.err)
			a.unknown[m.key] = true
			a.enqueueLater(c, m.key)
		} else {
			delete(a.unknown, m.key)
			a.bo.Reset()
			a.shown[m.key] = m.names
			if m.names == nil {
				delete(a.shown, m.key)
			}
			if !slices.Equal(a.shown[m.key], a.desired[m.key]) {
				a.enqueue(c, m.key)
			}
		}
		a.next(c)
	case actors.Retry:
		a.retrying = false
		if !a.listed {
			if !a.listing {
				a.list(c)
			}
			return
		}
		a.next(c)
	}
}

// list reads this node's objects, page by page, off the actor.
func (a *statusActor) list(c actor.Context) {
	e, kind := a.e, a.kind
	a.listing = true
	actors.GoAPI(e.Runtime, c.Self(), func(ctx context.Context) statusListed {
		shown := map[announce.ServiceKey][]string{}
		if len(validation.IsValidLabelValue(e.node)) != 0 {
			// No object can name this node in a label (New warned), so
			// none exists, and a selector with it would be refused.
			return statusListed{shown: shown}
		}
		opts := metav1.ListOptions{LabelSelector: labels.SelectorFromSet(labels.Set{LabelNode: e.node}).String(), Limit: statusListPage}
		for {
			page, next, err := kind.list(ctx, e, opts)
			if err != nil {
				return statusListed{err: err}
			}
			maps.Copy(shown, page)
			if next == "" {
				return statusListed{shown: shown}
			}
			opts.Continue = next
		}
	})
}

// dropStale queues the deletion of this node's objects that no Service
// wants, once both what the API holds and every Service's plan are known.
func (a *statusActor) dropStale(c actor.Context) {
	if !a.listed || !a.planned {
		return
	}
	for k := range a.shown {
		if _, ok := a.desired[k]; !ok {
			a.enqueue(c, k)
		}
	}
	// An object whose last write is uncertain may exist though shown
	// says not: it goes too, if nobody wants it.
	for k := range a.unknown {
		if _, ok := a.desired[k]; !ok {
			a.enqueue(c, k)
		}
	}
}

// want records where a Service is announced now, says so on the Service
// when it starts or stops, and schedules the write.
func (a *statusActor) want(c actor.Context, k announce.ServiceKey, names []string) {
	before, had := a.desired[k]
	if len(names) == 0 {
		delete(a.desired, k)
	} else {
		a.desired[k] = names
	}
	if !a.listed {
		a.unsaid[k] = true
		return
	}
	// Events compare with what the API showed: a restarted speaker that
	// announces what it announced before says nothing new.
	a.say(k, len(before) > 0 || (!had && len(a.shown[k]) > 0))
	a.enqueue(c, k)
}

// say publishes the Event of k's change, if it changed: was is whether the
// Service was announced before, the wish in desired is now.
func (a *statusActor) say(k announce.ServiceKey, was bool) {
	names := a.desired[k]
	switch {
	case !was && len(names) > 0:
		a.event(k, ReasonAnnouncing, a.kind.started(a.e.node, names))
	case was && len(names) == 0:
		a.event(k, ReasonStoppedAnnouncing, a.kind.stopped(a.e.node))
	}
}

func (a *statusActor) event(k announce.ServiceKey, reason, msg string) {
	if a.e.recorder == nil {
		return
	}
	if ref, ok := a.e.inf.ServiceRef(alloc.ServiceKey{Namespace: k.Namespace, Name: k.Name}); ok {
		a.e.recorder.Event(ref, corev1.EventTypeNormal, reason, msg)
	}
}

func (a *statusActor) enqueue(c actor.Context, k announce.ServiceKey) {
	if !a.queued[k] {
		a.queued[k] = true
		a.queue = append(a.queue, k)
	}
	a.next(c)
}

func (a *statusActor) enqueueLater(c actor.Context, k announce.ServiceKey) {
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
func (a *statusActor) next(c actor.Context) {
	if a.retrying || !a.listed {
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
		if !a.unknown[k] && slices.Equal(peers, a.shown[k]) && (wanted == (a.shown[k] != nil)) {
			continue
		}
		a.inflight[k] = true
		a.write(c, k, peers, !a.unknown[k] && a.shown[k] == nil)
	}
}

func (a *statusActor) write(c actor.Context, k announce.ServiceKey, names []string, absent bool) {
	e, kind, incarnation := a.e, a.kind, a.incarnation
	actors.GoAPI(e.Runtime, c.Self(), func(ctx context.Context) statusWrote {
		return statusWrote{key: k, names: names, err: kind.write(ctx, e, k, names, absent), incarnation: incarnation}
	})
}

// getOrCreate returns the object to write the status of: created first
// when the caller believes it absent (a new Service's, the usual case: a
// create and a status update, where reading first would add a request
// answered NotFound), read first otherwise, and by the other way when the
// first says it was wrong.
func getOrCreate[T any](ctx context.Context, absent bool, get, create func(context.Context) (T, error)) (T, error) {
	if absent {
		obj, err := create(ctx)
		if !apierrors.IsAlreadyExists(err) {
			return obj, err
		}
		return get(ctx)
	}
	obj, err := get(ctx)
	if apierrors.IsNotFound(err) {
		return create(ctx)
	}
	return obj, err
}

// bgpStatusKind is ServiceBGPStatus: the BGPPeers a Service goes to.
var bgpStatusKind = statusKind{
	what: "ServiceBGPStatus",
	list: func(ctx context.Context, e *env, opts metav1.ListOptions) (map[announce.ServiceKey][]string, string, error) {
		l, err := e.mlb.MetallbV1beta1().ServiceBGPStatuses(e.namespace).List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		out := map[announce.ServiceKey][]string{}
		for _, o := range l.Items {
			if stray(ctx, e, o.ObjectMeta, e.mlb.MetallbV1beta1().ServiceBGPStatuses(e.namespace).Delete) {
				continue
			}
			out[statusService(o.ObjectMeta)] = shownNames(o.Status.Peers)
		}
		return out, l.Continue, nil
	},
	write: func(ctx context.Context, e *env, k announce.ServiceKey, peers []string, absent bool) error {
		client := e.mlb.MetallbV1beta1().ServiceBGPStatuses(e.namespace)
		name := serviceStatusName(k, e.node)
		if len(peers) == 0 {
			return ignoreNotFound(client.Delete(ctx, name, metav1.DeleteOptions{}))
		}
		cur, err := getOrCreate(ctx, absent,
			func(ctx context.Context) (*v1beta1.ServiceBGPStatus, error) {
				return client.Get(ctx, name, metav1.GetOptions{})
			},
			func(ctx context.Context) (*v1beta1.ServiceBGPStatus, error) {
				return client.Create(ctx, &v1beta1.ServiceBGPStatus{ObjectMeta: statusMeta(e, k, name)}, metav1.CreateOptions{})
			})
		if err != nil {
			return err
		}
		want := v1beta1.ServiceBGPStatusStatus{Node: e.node, ServiceName: k.Name, ServiceNamespace: k.Namespace, Peers: peers}
		if cur.Status.Node == want.Node && cur.Status.ServiceName == want.ServiceName &&
			cur.Status.ServiceNamespace == want.ServiceNamespace && slices.Equal(cur.Status.Peers, peers) {
			return nil
		}
		cur.Status = want
		_, err = client.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	},
	started: func(node string, peers []string) string {
		return fmt.Sprintf("node %s announces it over BGP to %s", node, strings.Join(peers, ", "))
	},
	stopped: func(node string) string { return fmt.Sprintf("node %s no longer announces it over BGP", node) },
}

// l2StatusKind is ServiceL2Status: the interfaces a Service's IPs are
// answered on ("*" for any).
var l2StatusKind = statusKind{
	l2:   true,
	what: "ServiceL2Status",
	list: func(ctx context.Context, e *env, opts metav1.ListOptions) (map[announce.ServiceKey][]string, string, error) {
		l, err := e.mlb.MetallbV1beta1().ServiceL2Statuses(e.namespace).List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		out := map[announce.ServiceKey][]string{}
		for _, o := range l.Items {
			if stray(ctx, e, o.ObjectMeta, e.mlb.MetallbV1beta1().ServiceL2Statuses(e.namespace).Delete) {
				continue
			}
			var names []string
			for _, i := range o.Status.Interfaces {
				names = append(names, i.Name)
			}
			out[statusService(o.ObjectMeta)] = shownNames(names)
		}
		return out, l.Continue, nil
	},
	write: func(ctx context.Context, e *env, k announce.ServiceKey, ifaces []string, absent bool) error {
		client := e.mlb.MetallbV1beta1().ServiceL2Statuses(e.namespace)
		name := serviceStatusName(k, e.node)
		if len(ifaces) == 0 {
			return ignoreNotFound(client.Delete(ctx, name, metav1.DeleteOptions{}))
		}
		cur, err := getOrCreate(ctx, absent,
			func(ctx context.Context) (*v1beta1.ServiceL2Status, error) {
				return client.Get(ctx, name, metav1.GetOptions{})
			},
			func(ctx context.Context) (*v1beta1.ServiceL2Status, error) {
				return client.Create(ctx, &v1beta1.ServiceL2Status{ObjectMeta: statusMeta(e, k, name)}, metav1.CreateOptions{})
			})
		if err != nil {
			return err
		}
		want := v1beta1.ServiceL2StatusStatus{Node: e.node, ServiceName: k.Name, ServiceNamespace: k.Namespace}
		for _, i := range ifaces {
			want.Interfaces = append(want.Interfaces, v1beta1.InterfaceInfo{Name: i})
		}
		if cur.Status.Node == want.Node && cur.Status.ServiceName == want.ServiceName &&
			cur.Status.ServiceNamespace == want.ServiceNamespace && slices.Equal(cur.Status.Interfaces, want.Interfaces) {
			return nil
		}
		cur.Status = want
		_, err = client.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	},
	started: func(node string, ifaces []string) string {
		return fmt.Sprintf("node %s answers ARP/NDP for it on %s", node, strings.Join(ifaces, ", "))
	},
	stopped: func(node string) string { return fmt.Sprintf("node %s no longer answers ARP/NDP for it", node) },
}

// stray deletes an object of this node that is not named as this speaker
// names the object of its Service (serviceStatusName): one written under
// an earlier naming, which no write would ever reach again. It reports
// whether the object was one; a failed deletion is retried at the next
// start.
func stray(ctx context.Context, e *env, m metav1.ObjectMeta, del func(context.Context, string, metav1.DeleteOptions) error) bool {
	if m.Name == serviceStatusName(statusService(m), e.node) {
		return false
	}
	uid := m.UID
	if err := ignoreNotFound(del(ctx, m.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})); err != nil {
		e.Log.Warn("deleting a status object of an earlier name failed", "name", m.Name, "err", err)
	}
	return true
}

func statusMeta(e *env, k announce.ServiceKey, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: e.namespace,
		Labels: map[string]string{LabelNode: e.node, LabelServiceName: k.Name, LabelServiceNamespace: k.Namespace}}
}

// statusService is the Service a status object is about, from the labels
// it was created with (statusMeta): they are there from its creation, its
// status fields only once the first status write succeeded.
func statusService(m metav1.ObjectMeta) announce.ServiceKey {
	return announce.ServiceKey{Namespace: m.Labels[LabelServiceNamespace], Name: m.Labels[LabelServiceName]}
}

// shownNames is what an existing object lists, never nil: an object whose
// status is still empty exists all the same, and goes if nobody wants it.
func shownNames(names []string) []string {
	if names == nil {
		return []string{}
	}
	return names
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// serviceStatusName names a node's status object of a Service:
// namespace.name.node. Namespace and Service names are DNS labels, without
// dots, so no two (Service, node) pairs share a name, as they did joined
// by dashes (team-a/web and team/a-web on one node; app/web on node
// worker-1 and app/web-worker on node 1), overwriting and deleting each
// other's object. A name too long keeps its start and ends with a hash of
// the whole.
func serviceStatusName(k announce.ServiceKey, node string) string {
	return objectName(k.Namespace+"."+k.Name+"."+node, k.Namespace, k.Name, node)
}

// objectName is readable when it fits an object's name (253 characters);
// a longer one keeps its start and ends with a hash of parts, so two long
// names never collide.
func objectName(readable string, parts ...string) string {
	if len(readable) <= 253 {
		return readable
	}
	return strings.TrimRight(readable[:253-17], ".-") + "-" + partsHash(parts...)
}

// partsHash is 16 hex digits of a hash of parts, joined unambiguously.
func partsHash(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "/")))
	return hex.EncodeToString(sum[:8])
}
