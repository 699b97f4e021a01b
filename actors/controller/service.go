package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/cenkalti/backoff/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/informers"
	"github.com/heraldlb/herald/servicestatus"
	"github.com/heraldlb/herald/tracing"
)

// Event reasons the controller publishes on Services.
const (
	ReasonIPAllocated          = servicestatus.ReasonIPAllocated
	ReasonAllocationFailed     = servicestatus.ReasonAllocationFailed
	ReasonClearedIP            = servicestatus.ReasonClearedIP
	ReasonDeprecatedAnnotation = servicestatus.ReasonDeprecatedAnnotation
)

// serviceActor carries out one Service's servicestatus.Machine: it feeds it
// the cache's view of the Service, the allocator's answers and the outcomes
// of its writes, and does what the machine says. Every decision is the
// machine's; the actor only does I/O (the status write, Events, timers) and
// keeps the router's counters, so the router never stops it with a message
// still queued (see idle).
type serviceActor struct {
	e   *env
	key alloc.ServiceKey
	m   *servicestatus.Machine

	kicks uint64
	// fwd is the number of the last message the router forwarded
	// (forwarded.n); see idle.
	fwd uint64

	bo   *backoff.ExponentialBackOff
	acts []servicestatus.Action

	// journey is the span the Service's current journey goes on from
	// (docs/tracing.md): a step that acts starts a service.reconcile span
	// under it. Invalid when tracing is off.
	journey trace.SpanContext
}

// written is the outcome of one status (and annotation) write.
type written struct {
	obj      *corev1.Service // the object after the write, or a fresh read after a conflict
	before   []netip.Addr    // what the status said when the write began
	conflict bool
	gone     bool
	err      error
}

func newServiceActor(e *env, key alloc.ServiceKey) actor.Actor {
	return &serviceActor{e: e, key: key, bo: e.NewBackoff(),
		m: servicestatus.New(servicestatus.Config{Remind: e.remindEvery > 0})}
}

func (a *serviceActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		// Also after a supervisor restart (a fresh machine): the cache is
		// the snapshot the state is rebuilt from, and the allocator
		// re-sends the reservations waiting for this Service's status to
		// clear.
		c.Send(a.e.allocator, whatReserved{key: a.key})
		a.observe(c)
	case forwarded:
		a.fwd = m.n
		switch msg := m.msg.(type) {
		case revoked:
			a.step(c, servicestatus.Event{Kind: servicestatus.Revoke, Reservations: msg.reservations})
		case allocResult:
			if msg.trace.IsValid() {
				a.journey = msg.trace
			}
			a.step(c, servicestatus.Event{Kind: servicestatus.Decide, Decision: servicestatus.Decision{
				Assignment: msg.assignment, Err: msg.err, Conflict: msg.conflict, Pending: msg.pending}})
		}
	case kick:
		a.kicks = m.n
		a.observe(c)
	case written:
		if m.err != nil {
			a.e.metrics.apiError("service")
			a.e.Log.Warn("writing service status failed; will retry", "service", a.key.String(), "err", m.err)
		}
		a.step(c, servicestatus.Event{Kind: servicestatus.Written, Write: servicestatus.WriteResult{
			Object: objectOf(m.obj), Before: m.before, Conflict: m.conflict, Gone: m.gone, Err: m.err}})
	case actors.Retry:
		a.step(c, servicestatus.Event{Kind: servicestatus.Retry})
	case remind:
		a.step(c, servicestatus.Event{Kind: servicestatus.Remind, Gen: m.gen})
	}
}

// observe feeds the machine the cache's view of the Service.
func (a *serviceActor) observe(c actor.Context) {
	snap, ok := a.e.inf.Service(a.key)
	if !ok {
		a.step(c, servicestatus.Event{Kind: servicestatus.Observe})
		return
	}
	ev := servicestatus.Event{Kind: servicestatus.Observe, Exists: true, Spec: servicestatus.Spec{
		LoadBalancer: snap.LoadBalancer, Ours: snap.Ours(a.e.class), Request: snap.Alloc, Created: snap.Created,
		Invalid: snap.Invalid, Deprecated: snap.Deprecated,
	}}
	if obj, ok := a.e.inf.ServiceObject(a.key); ok {
		ev.Object = objectOf(obj)
	}
	a.step(c, ev)
}

// objectOf is the machine's view of one version of the Service; Ref keeps
// the object itself for writes and Events.
func objectOf(s *corev1.Service) *servicestatus.Object {
	if s == nil {
		return nil
	}
	return &servicestatus.Object{UID: string(s.UID), ResourceVersion: s.ResourceVersion,
		IPs: informers.StatusIPs(s), Pool: s.Annotations[informers.AnnotationAllocatedFromPool], Ref: s}
}

// step runs the machine and carries out its actions, in order.
func (a *serviceActor) step(c actor.Context, ev servicestatus.Event) {
	a.acts = a.m.StepAppend(a.acts[:0], ev)
	span := a.reconcileSpan(ev)
	defer span.End()
	for _, act := range a.acts {
		switch act.Kind {
		case servicestatus.Ensure:
			c.Send(a.e.allocator, ensure{svc: act.Request, created: act.Created, trace: span.SpanContext()})
		case servicestatus.Release:
			c.Send(a.e.allocator, release{key: a.key})
		case servicestatus.StatusClear:
			c.Send(a.e.allocator, statusClear{key: a.key, reservations: act.Reservations})
		case servicestatus.Write:
			// The write changes its object: it gets a copy of the one the
			// machine chose.
			obj := act.Object.Ref.(*corev1.Service).DeepCopy()
			kube := a.e.kube.CoreV1().Services(a.key.Namespace)
			ips, pool := act.IPs, act.Pool
			ws := a.e.tracer.Start(tracing.SpanStatusWrite, span.SpanContext())
			tp := ""
			if ws.IsRecording() {
				ws.SetAttributes(tracing.ServiceAttrs(a.key.Namespace, a.key.Name)...)
				ws.SetAttributes(tracing.AttrIPs.StringSlice(addrStrings(ips)), tracing.AttrPool.String(pool))
				tp = tracing.FormatTraceparent(ws.SpanContext())
			}
			actors.GoAPI(a.e.Runtime, c.Self(), func(ctx context.Context) written {
				w := writeService(ctx, kube, obj, ips, pool, tp)
				endWriteSpan(ws, w)
				return w
			})
		case servicestatus.Publish:
			a.e.recorder.Event(act.Object.Ref.(*corev1.Service), act.Type, act.Reason, act.Message)
		case servicestatus.RetryLater:
			a.e.After(actors.NextDelay(a.bo), c.Self(), actors.Retry{})
		case servicestatus.ResetBackoff:
			a.bo.Reset()
		case servicestatus.RemindLater:
			a.e.After(a.e.remindEvery, c.Self(), remind{gen: act.Gen})
		case servicestatus.Idle:
			c.Send(a.e.router, idle{key: a.key, n: a.kicks, fwd: a.fwd})
		}
	}
}

// reconcileSpan starts the service.reconcile span of a step that does
// something (asks the allocator, writes, publishes an Event): under the
// journey a Decide brought, or, for a change the informer saw, under a new
// informer.event root: one trace per change of the Service. A step that
// only goes idle (the echo of our own write, a resync) traces nothing, so
// a quiet cluster makes no traces.
func (a *serviceActor) reconcileSpan(ev servicestatus.Event) trace.Span {
	if !a.e.tracer.Enabled() || !acts(a.acts) {
		return noSpan
	}
	attrs := tracing.ServiceAttrs(a.key.Namespace, a.key.Name)
	if ev.Kind == servicestatus.Observe {
		root := a.e.tracer.Start(tracing.SpanInformerEvent, trace.SpanContext{})
		root.SetAttributes(attrs...)
		root.SetAttributes(tracing.AttrInformerKind.String("Service"))
		if ev.Object != nil {
			root.SetAttributes(tracing.AttrResourceVersion.String(ev.Object.ResourceVersion))
		}
		root.End()
		a.journey = root.SpanContext()
	}
	span := a.e.tracer.Start(tracing.SpanServiceReconcile, a.journey)
	span.SetAttributes(attrs...)
	span.SetAttributes(attrServiceEvent.String(ev.Kind.String()))
	a.journey = span.SpanContext()
	return span
}

// attrServiceEvent is the servicestatus event a reconcile step handled.
const attrServiceEvent = attribute.Key("herald.service.event")

// acts says whether a step's actions reach outside the actor.
func acts(as []servicestatus.Action) bool {
	for _, act := range as {
		switch act.Kind {
		case servicestatus.Ensure, servicestatus.Release, servicestatus.Write,
			servicestatus.StatusClear, servicestatus.Publish:
			return true
		}
	}
	return false
}

// endWriteSpan ends a status.write span with the write's outcome.
func endWriteSpan(span trace.Span, w written) {
	if span.IsRecording() {
		switch {
		case w.err != nil:
			span.SetStatus(codes.Error, w.err.Error())
			span.SetAttributes(tracing.AttrErrorType.String("api_error"))
		case w.conflict:
			span.SetStatus(codes.Error, "conflict: the Service changed; the write is decided again")
			span.SetAttributes(tracing.AttrErrorType.String("conflict"))
		case w.gone:
			span.SetAttributes(tracing.AttrErrorType.String("gone"))
		default:
			span.SetAttributes(tracing.AttrResourceVersion.String(w.obj.ResourceVersion))
		}
	}
	span.End()
}

// writeService makes status.loadBalancer.ingress say ips and the
// ip-allocated-from-pool annotation say pool (removed when empty). It runs
// on its own goroutine. The status goes first: it is what users and
// speakers read; the annotation only names the pool.
//
// traceparent, when tracing is on, goes onto the Service before a status
// change: a speaker that sees the new status then sees the trace it
// belongs to in the same version, and continues it (docs/tracing.md).
func writeService(ctx context.Context, client serviceClient, obj *corev1.Service, ips []netip.Addr, pool, traceparent string) written {
	before := informers.StatusIPs(obj)
	if traceparent != "" && !slices.Equal(before, ips) {
		patch, _ := json.Marshal(map[string]any{
			"metadata": map[string]any{
				"resourceVersion": obj.ResourceVersion,
				"annotations":     map[string]any{tracing.TraceparentAnnotation: traceparent},
			},
		})
		updated, err := client.Patch(ctx, obj.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil {
			return failedWrite(ctx, client, obj, err)
		}
		obj = updated
	}
	if !slices.Equal(before, ips) {
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
	return written{obj: obj, before: before}
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
