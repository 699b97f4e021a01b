package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cenkalti/backoff/v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/informers"
)

// Event reasons the controller publishes on Services.
const (
	ReasonIPAllocated          = "IPAllocated"
	ReasonAllocationFailed     = "AllocationFailed"
	ReasonClearedIP            = "ClearedIP"
	ReasonDeprecatedAnnotation = "DeprecatedAnnotation"
)

// serviceActor converges one Service: desired (what the allocator decided)
// against actual (status.loadBalancer.ingress and the
// ip-allocated-from-pool annotation). It is the only writer of that
// Service's status, with at most one write in flight; a write that loses a
// conflict re-reads the Service and tries again, other failures wait on the
// actor's backoff.
type serviceActor struct {
	e   *env
	key alloc.ServiceKey

	kicks  uint64
	exists bool
	snap   informers.Service
	// obj is the newest Service object known: the cache's, or the response
	// to our own last write when the cache has not caught up yet.
	obj *corev1.Service

	sent       *alloc.Service // last request sent to the allocator
	have       bool           // the allocator has answered since sent
	assignment alloc.Assignment
	failure    error
	lastFailed string // text of the last AllocationFailed Event
	// failGen numbers failures, so a reminder timer for a failure that has
	// since been resolved or replaced does nothing.
	failGen uint64
	// cleared is set when the ClearedIP Event for a release was already
	// published (the API server itself clears the status of a Service
	// that stops being a LoadBalancer, so no write of ours may follow).
	cleared bool
	warned  bool // deprecation Event sent
	// toClear are IPs the allocator took from this Service and keeps
	// reserved until its status no longer shows them, by generation.
	toClear map[netip.Addr]uint64
	// fwd is the number of the last message the router forwarded
	// (forwarded.n); see idle.
	fwd uint64

	inflight  bool
	dirty     bool
	conflicts int
	bo        *backoff.ExponentialBackOff
}

// written is the outcome of one status (and annotation) write.
type written struct {
	obj      *corev1.Service // the object after the write, or a fresh read after a conflict
	before   []netip.Addr    // what the status said when the write began
	ips      []netip.Addr    // what the status now says
	conflict bool
	gone     bool
	err      error
}

func newServiceActor(e *env, key alloc.ServiceKey) actor.Actor {
	return &serviceActor{e: e, key: key, bo: e.NewBackoff()}
}

func (a *serviceActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		// Also after a supervisor restart: the cache is the snapshot the
		// state is rebuilt from, and the allocator re-sends the
		// reservations waiting for this Service's status to clear.
		c.Send(a.e.allocator, whatReserved{key: a.key})
		a.refresh(c)
	case forwarded:
		a.fwd = m.n
		switch msg := m.msg.(type) {
		case revoked:
			a.revoked(msg)
		case allocResult:
			a.result(c, msg)
		}
		// Whatever it said, the actor may have nothing left to do now
		// (the Service may be gone): the router stops an idle actor only
		// once it has taken every forwarded message, so say so again.
		a.maybeIdle(c)
	case kick:
		a.kicks = m.n
		a.refresh(c)
	case written:
		a.written(c, m)
	case actors.Retry:
		a.reconcile(c)
	case remind:
		a.remind(c, m)
	}
}

// revoked records IPs the allocator took from this Service, to report
// once its status no longer shows them.
func (a *serviceActor) revoked(m revoked) {
	if a.toClear == nil {
		a.toClear = map[netip.Addr]uint64{}
	}
	for _, r := range m.reservations {
		a.toClear[r.IP] = r.Gen
		// The allocator no longer gives this Service the IP; a decision
		// saying otherwise can only be older than this message (both come
		// in the allocator's order), so no write may put it back, not even
		// a retry of an older write.
		if a.have {
			a.assignment.IPs = slices.DeleteFunc(slices.Clone(a.assignment.IPs), func(ip netip.Addr) bool { return ip == r.IP })
		}
	}
	// The caller's maybeIdle reports those the status already dropped.
}

// remind repeats the AllocationFailed Event while the failure lasts.
// client-go's event pipeline drops Events silently when its sink falls
// behind (a burst of Services), and Events expire; a Service that is still
// waiting must still say why. Repeats of one message become a count on the
// same Event object.
func (a *serviceActor) remind(c actor.Context, m remind) {
	if m.gen != a.failGen || a.lastFailed == "" || a.obj == nil || !a.exists {
		return
	}
	a.e.recorder.Event(a.obj, corev1.EventTypeWarning, ReasonAllocationFailed, a.lastFailed)
	a.e.After(a.e.remindEvery, c.Self(), m)
}

// refresh re-reads the Service and asks the allocator for what it needs.
func (a *serviceActor) refresh(c actor.Context) {
	snap, ok := a.e.inf.Service(a.key)
	a.exists = ok
	if !ok {
		a.obj = nil
		a.forget(c)
		a.maybeIdle(c)
		return
	}
	a.snap = snap
	if obj, ok := a.e.inf.ServiceObject(a.key); ok {
		a.obj = newer(a.obj, obj)
	}
	if !snap.Ours(a.e.class) {
		held := a.assignment.IPs
		a.forget(c)
		if !snap.LoadBalancer && len(held) > 0 && a.obj != nil {
			a.cleared = true
			a.e.recorder.Eventf(a.obj, corev1.EventTypeNormal, ReasonClearedIP,
				"Service is no longer of type LoadBalancer; released IP %v", addrStrings(held))
		}
		a.reconcile(c)
		return
	}
	if len(snap.Deprecated) > 0 && !a.warned {
		a.warned = true
		a.e.recorder.Eventf(a.obj, corev1.EventTypeWarning, ReasonDeprecatedAnnotation,
			"annotations %v are deprecated; use the metallb.io/ forms", snap.Deprecated)
	}
	if snap.Invalid != nil {
		// Nothing the allocator could do: the request itself is unreadable.
		a.forget(c)
		a.have, a.assignment, a.failure = true, alloc.Assignment{}, snap.Invalid
		a.reportFailure(c, snap.Invalid)
		a.reconcile(c)
		return
	}
	if a.sent == nil || !reflect.DeepEqual(*a.sent, snap.Alloc) {
		req := snap.Alloc
		a.sent = &req
		c.Send(a.e.allocator, ensure{svc: snap})
	}
	a.reconcile(c)
}

// forget releases whatever the allocator holds for this Service. It tells
// the allocator even when this actor never asked for anything: the
// allocator also learns of Services by itself (restore reads every Service
// from the cache), and an actor that first looks after the Service is gone
// would otherwise leave that entry, and later an IP, behind.
func (a *serviceActor) forget(c actor.Context) {
	c.Send(a.e.allocator, release{key: a.key})
	a.sent = nil
	a.have = false
	a.assignment = alloc.Assignment{}
	a.failure = nil
}

func (a *serviceActor) result(c actor.Context, m allocResult) {
	if !a.exists || !a.snap.Ours(a.e.class) || a.snap.Invalid != nil {
		// A decision for a request this actor has since withdrawn.
		return
	}
	if m.pending != nil {
		// No decision yet: say why, and leave the status alone (it may
		// hold an IP a valid configuration will restore).
		a.reportFailure(c, m.pending)
		return
	}
	a.have = true
	a.assignment, a.failure = m.assignment, m.err
	if m.conflict != nil && a.obj != nil {
		a.e.recorder.Eventf(a.obj, corev1.EventTypeWarning, ReasonAllocationFailed,
			"the IP in status could not be kept: %v", m.conflict)
	}
	if m.err != nil {
		a.reportFailure(c, m.err)
	} else {
		a.lastFailed = ""
		a.failGen++
	}
	a.reconcile(c)
}

func (a *serviceActor) reportFailure(c actor.Context, err error) {
	if text := err.Error(); text != a.lastFailed && a.obj != nil {
		a.lastFailed = text
		a.failGen++
		a.e.recorder.Event(a.obj, corev1.EventTypeWarning, ReasonAllocationFailed, text)
		if a.e.remindEvery > 0 {
			a.e.After(a.e.remindEvery, c.Self(), remind{gen: a.failGen})
		}
	}
}

// desired returns what status and annotation should say, and whether this
// actor should touch them at all.
func (a *serviceActor) desired() (ips []netip.Addr, pool string, manage bool) {
	switch {
	case !a.exists || a.obj == nil:
		return nil, "", false
	case a.snap.Ours(a.e.class):
		if !a.have {
			return nil, "", false // wait for the allocator's answer
		}
		return a.assignment.IPs, a.assignment.Pool, true
	case !a.snap.LoadBalancer:
		// No longer a LoadBalancer: whatever Herald wrote goes.
		return nil, "", true
	default:
		// Another class: another controller's Service.
		return nil, "", false
	}
}

func (a *serviceActor) reconcile(c actor.Context) {
	if a.inflight {
		a.dirty = true
		return
	}
	a.dirty = false
	ips, pool, manage := a.desired()
	if !manage {
		a.maybeIdle(c)
		return
	}
	cur := statusIPs(a.obj)
	curPool := a.obj.Annotations[informers.AnnotationAllocatedFromPool]
	if slices.Equal(cur, ips) && curPool == pool {
		a.maybeIdle(c)
		return
	}
	a.inflight = true
	obj := a.obj.DeepCopy()
	kube := a.e.kube.CoreV1().Services(a.key.Namespace)
	actors.GoAPI(a.e.Runtime, c.Self(), func(ctx context.Context) written {
		return writeService(ctx, kube, obj, ips, pool)
	})
}

func (a *serviceActor) written(c actor.Context, m written) {
	a.inflight = false
	switch {
	case m.gone:
		a.bo.Reset()
	case m.conflict:
		// Someone else changed the Service: retry at once with the fresh
		// object, but through the backoff if it keeps happening.
		a.obj = newer(a.obj, m.obj)
		a.conflicts++
		if a.conflicts > 3 {
			a.e.After(actors.NextDelay(a.bo), c.Self(), actors.Retry{})
			return
		}
		a.dirty = true
	case m.err != nil:
		a.e.metrics.apiError("service")
		a.e.Log.Warn("writing service status failed; will retry", "service", a.key.String(), "err", m.err)
		if m.obj != nil {
			a.obj = newer(a.obj, m.obj)
		}
		a.e.After(actors.NextDelay(a.bo), c.Self(), actors.Retry{})
		return
	default:
		// The cache may already show the write (its watch event can
		// overtake this message), so compare with the status the write
		// started from.
		a.obj = newer(a.obj, m.obj)
		a.conflicts = 0
		a.bo.Reset()
		a.announce(m.before, m.ips)
	}
	if a.dirty {
		a.reconcile(c)
	} else {
		a.maybeIdle(c)
	}
}

// announce publishes the Event for a status change that was just written.
func (a *serviceActor) announce(before, after []netip.Addr) {
	if slices.Equal(before, after) {
		return
	}
	if len(after) == 0 {
		if !a.cleared {
			a.e.recorder.Eventf(a.obj, corev1.EventTypeNormal, ReasonClearedIP, "Cleared IP %v", addrStrings(before))
		}
		a.cleared = false
		return
	}
	a.cleared = false
	a.e.recorder.Eventf(a.obj, corev1.EventTypeNormal, ReasonIPAllocated, "Assigned IP %v from pool %s", addrStrings(after), a.assignment.Pool)
}

// checkClear tells the allocator which reserved IPs the status no longer
// shows (all of them once the Service is gone). It waits while a write is in
// flight: that write may be putting one back. An IP this Service was given
// again stays listed while its status shows it, which is harmless: the
// allocator ignores a report about a reservation already taken back.
func (a *serviceActor) checkClear(c actor.Context) {
	if len(a.toClear) == 0 || a.inflight {
		return
	}
	shown := statusIPs(a.obj)
	var done []alloc.Reservation
	for ip, gen := range a.toClear {
		if !a.exists || !slices.Contains(shown, ip) {
			done = append(done, alloc.Reservation{IP: ip, Gen: gen})
			delete(a.toClear, ip)
		}
	}
	if len(done) > 0 {
		c.Send(a.e.allocator, statusClear{key: a.key, reservations: done})
	}
}

// maybeIdle tells the router this actor has nothing left to do, when the
// Service is gone or is not a LoadBalancer of our class and nothing is
// pending (no write, no reserved IP its status still shows). The router
// stops it unless a newer kick is on its way.
func (a *serviceActor) maybeIdle(c actor.Context) {
	if a.inflight || a.dirty {
		return
	}
	a.checkClear(c)
	if len(a.toClear) > 0 {
		return
	}
	if a.exists && a.snap.Ours(a.e.class) {
		return
	}
	c.Send(a.e.router, idle{key: a.key, n: a.kicks, fwd: a.fwd})
}

// writeService makes status.loadBalancer.ingress say ips and the
// ip-allocated-from-pool annotation say pool (removed when empty). It runs
// on its own goroutine. The status goes first: it is what users and
// speakers read; the annotation only names the pool.
func writeService(ctx context.Context, client serviceClient, obj *corev1.Service, ips []netip.Addr, pool string) written {
	before := statusIPs(obj)
	if !slices.Equal(statusIPs(obj), ips) {
		obj.Status.LoadBalancer.Ingress = ingressFor(ips)
		updated, err := client.UpdateStatus(ctx, obj, metav1.UpdateOptions{})
		if err != nil {
			return failedWrite(ctx, client, obj, err)
		}
		obj = updated
	}
	if obj.Annotations[informers.AnnotationAllocatedFromPool] != pool {
		var value any = pool
		if pool == "" {
			value = nil // a JSON merge patch deletes a key set to null
		}
		patch, _ := json.Marshal(map[string]any{
			"metadata": map[string]any{
				// The resourceVersion makes the patch conditional, like
				// an update: a stale view fails with a conflict.
				"resourceVersion": obj.ResourceVersion,
				"annotations":     map[string]any{informers.AnnotationAllocatedFromPool: value},
			},
		})
		updated, err := client.Patch(ctx, obj.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			return failedWrite(ctx, client, obj, err)
		}
		obj = updated
	}
	return written{obj: obj, before: before, ips: statusIPs(obj)}
}

func failedWrite(ctx context.Context, client serviceClient, obj *corev1.Service, err error) written {
	switch {
	case apierrors.IsNotFound(err):
		return written{gone: true}
	case apierrors.IsConflict(err):
		fresh, gerr := client.Get(ctx, obj.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(gerr) {
			return written{gone: true}
		}
		if gerr != nil {
			return written{err: fmt.Errorf("re-reading after a conflict: %w", gerr)}
		}
		return written{obj: fresh, conflict: true}
	}
	return written{err: err}
}

// serviceClient is the part of the typed client a status write uses.
type serviceClient interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Service, error)
	UpdateStatus(ctx context.Context, svc *corev1.Service, opts metav1.UpdateOptions) (*corev1.Service, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (*corev1.Service, error)
}

func ingressFor(ips []netip.Addr) []corev1.LoadBalancerIngress {
	if len(ips) == 0 {
		return nil
	}
	vip := corev1.LoadBalancerIPModeVIP
	out := make([]corev1.LoadBalancerIngress, 0, len(ips))
	for _, ip := range ips {
		out = append(out, corev1.LoadBalancerIngress{IP: ip.String(), IPMode: &vip})
	}
	return out
}

func statusIPs(obj *corev1.Service) []netip.Addr {
	if obj == nil {
		return nil
	}
	var out []netip.Addr
	for _, ing := range obj.Status.LoadBalancer.Ingress {
		if ip, err := netip.ParseAddr(ing.IP); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

func addrStrings(ips []netip.Addr) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// newer returns the more recent of two views of one Service. Resource
// versions are opaque to clients in general, but etcd's are increasing
// integers; when either does not parse, the cache's view (b) wins.
func newer(a, b *corev1.Service) *corev1.Service {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	if a.UID != b.UID {
		return b // recreated under the same name
	}
	ra, err1 := strconv.ParseUint(a.ResourceVersion, 10, 64)
	rb, err2 := strconv.ParseUint(b.ResourceVersion, 10, 64)
	if err1 == nil && err2 == nil && ra > rb {
		return a
	}
	return b
}
