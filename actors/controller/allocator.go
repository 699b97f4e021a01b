package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/informers"
	"github.com/heraldlb/herald/tracing"
)

// allocatorActor owns the controller's single alloc.Allocator. Allocation
// is global across pools by design (requested IPs, pool order by priority,
// sharing and dual-stack all need one view of every pool), so one actor
// decides and the per-pool child actors only publish each pool's usage.
//
// Restart safety: the allocator answers nothing until the first valid
// configuration arrives. Then it restores every IP already written in a
// Service's status (alloc.Restore settles conflicts, oldest Service first)
// and only after that allocates, oldest Service first. A Service whose
// restored IP lost a conflict is told so and allocated afresh.
type allocatorActor struct {
	e *env
	// restarted: this incarnation follows a failed one (see
	// controller.go's spawn, which counts them).
	restarted bool
	a         *alloc.Allocator

	ready bool
	// invalid is why the allocator is not ready: the configuration has
	// been invalid since the term started.
	invalid error
	// known is the last request of every Service that asked, so the
	// allocator can re-allocate it on its own when a config change or a
	// release affects it.
	known  map[alloc.ServiceKey]request
	failed map[alloc.ServiceKey]string // Service -> text of its last failure

	retryScheduled bool
	statsScheduled bool
	pools          map[string]*actor.PID
	sent           map[string]alloc.PoolStats
}

type request struct {
	svc     alloc.Service
	created time.Time
}

func newAllocatorActor(e *env) actor.Actor { return &allocatorActor{e: e} }

func (a *allocatorActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		// A restarted allocator has lost everything: it starts over from
		// the config actor's last valid configuration and the Services'
		// statuses, exactly as at startup.
		a.a = alloc.New()
		a.ready = false
		a.invalid = nil
		a.known = map[alloc.ServiceKey]request{}
		a.failed = map[alloc.ServiceKey]string{}
		a.pools = map[string]*actor.PID{}
		a.sent = map[string]alloc.PoolStats{}
		if a.restarted {
			// Restarted alone: the config actor exists. At the start of
			// a term it does not yet, and sends the configuration from
			// its own Started.
			c.Send(a.e.config, resendConfig{})
		}
	case configLoaded:
		if !a.ready {
			a.restore(c, m.pools)
		} else {
			a.reconfigure(c, m.pools)
		}
	case configInvalid:
		if a.ready {
			return // the last valid configuration stays in force
		}
		a.invalid = fmt.Errorf("%w (see ConfigurationState %s/%s): %s",
			alloc.ErrNoValidConfig, a.e.namespace, ConfigurationStateName, m.reason)
		for _, s := range a.e.inf.Services() {
			if s.Ours(a.e.class) {
				c.Send(a.e.router, forService{key: s.Key, msg: allocResult{pending: a.invalid}})
			}
		}
	case ensure:
		switch {
		case a.ready:
			span := a.e.tracer.Start(tracing.SpanPoolAllocate, m.trace)
			a.allocate(c, m.svc, m.created, nil, span)
		case a.invalid != nil:
			c.Send(a.e.router, forService{key: m.svc.Key, msg: allocResult{pending: a.invalid}})
		}
		// Otherwise not ready: restore reads every Service from the
		// cache anyway.
	case release:
		svc := a.service(m.key)
		delete(a.known, m.key)
		delete(a.failed, m.key)
		if asg, held := a.a.Release(m.key); held {
			// The Service may still exist (its request became
			// unreadable, it stopped being ours) with the IPs in its
			// status until its actor clears it.
			a.reserve(c, svc, asg.IPs)
			a.scheduleRetry(c)
			a.scheduleStats(c)
		}
	case statusClear:
		a.unreserve(c, m)
	case whatReserved:
		// Only what alloc still reserves: an entry for an IP the Service
		// has since taken back would make its actor drop a live IP.
		pending := a.a.Reserved(m.key)
		// Answered even when empty: the answer is also how a restarted
		// actor learns the router's forwarding count (see idle).
		c.Send(a.e.router, forService{key: m.key, msg: revoked{reservations: pending}})
	case retryFailed:
		a.retryScheduled = false
		a.retry(c)
	case publishStats:
		a.statsScheduled = false
		a.publish(c)
	}
}

func (a *allocatorActor) restore(c actor.Context, pools []alloc.Pool) {
	if _, err := a.a.SetPools(pools); err != nil {
		// The compiler validated these pools, so this is a disagreement
		// between config and alloc: wait for the next configuration.
		a.e.Log.Error("allocator refused the configuration's pools", "err", err)
		return
	}
	var claims []alloc.Claim
	var ours, invalid []informers.Service
	for _, s := range a.e.inf.Services() {
		if !s.Ours(a.e.class) {
			continue
		}
		if s.Invalid != nil {
			invalid = append(invalid, s)
			continue
		}
		ours = append(ours, s)
		if len(s.StatusIPs) > 0 {
			claims = append(claims, alloc.Claim{Service: s.Alloc, IPs: s.StatusIPs, Created: s.Created})
		}
	}
	conflicts := map[alloc.ServiceKey]error{}
	rejected := a.a.Restore(claims)
	for _, r := range rejected {
		conflicts[r.Service] = r.Err
		a.e.Log.Warn("restored IP refused", "service", r.Service.String(), "ips", r.IPs, "err", r.Err)
	}
	// Every IP in a status that its Service does not hold now (a refused
	// claim, an unreadable request) stays that Service's until its status
	// is cleared: reserved, or a ghost beside the conflict's winner.
	for _, s := range slices.Concat(ours, invalid) {
		if len(s.StatusIPs) > 0 {
			a.reserve(c, s.Alloc, s.StatusIPs)
		}
	}
	a.ready = true
	a.e.Log.Info("allocator restored", "services", len(ours), "claims", len(claims), "conflicts", len(conflicts))
	// Oldest first, so that when the pools cannot serve everyone, the
	// Services that were there first are served first.
	slices.SortFunc(ours, func(x, y informers.Service) int {
		if c := x.Created.Compare(y.Created); c != 0 {
			return c
		}
		return x.Key.Compare(y.Key)
	})
	for _, s := range ours {
		a.allocate(c, s.Alloc, s.Created, conflicts[s.Key], noSpan)
	}
	a.scheduleStats(c)
}

func (a *allocatorActor) reconfigure(c actor.Context, pools []alloc.Pool) {
	rejected, err := a.a.SetPools(pools)
	if err != nil {
		a.e.Log.Error("allocator refused the configuration's pools; keeping the previous ones", "err", err)
		return
	}
	// Reserve every evicted IP before anyone is allocated, so no evicted
	// Service's IP goes to another while its status still shows it.
	for _, r := range rejected {
		a.e.Log.Info("assignment no longer valid after a configuration change", "service", r.Service.String(), "ips", r.IPs, "reason", r.Err)
		a.reserve(c, a.service(r.Service), r.IPs)
	}
	for _, r := range rejected {
		if req, ok := a.known[r.Service]; ok {
			a.allocate(c, req.svc, req.created, nil, noSpan)
		}
	}
	// New or larger pools may serve Services that were waiting.
	a.scheduleRetry(c)
	a.scheduleStats(c)
}

// allocate gives one Service its IPs and tells its actor the outcome.
// span, when recording, is ended here with the outcome, and the Service's
// journey continues from it.
func (a *allocatorActor) allocate(c actor.Context, svc alloc.Service, created time.Time, conflict error, span trace.Span) {
	before, had := a.a.Assignment(svc.Key)
	asg, err := a.a.Allocate(svc)
	if span.IsRecording() {
		span.SetAttributes(tracing.ServiceAttrs(svc.Key.Namespace, svc.Key.Name)...)
		span.SetAttributes(tracing.AttrPool.String(asg.Pool), tracing.AttrIPs.StringSlice(addrStrings(asg.IPs)))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
			span.SetAttributes(tracing.AttrErrorType.String("allocation_failed"))
		}
	}
	span.End()
	a.known[svc.Key] = request{svc: svc, created: created}
	if err != nil {
		a.failed[svc.Key] = err.Error()
	} else {
		delete(a.failed, svc.Key)
	}
	if had && !slices.Equal(before.IPs, asg.IPs) {
		var gone []netip.Addr
		for _, ip := range before.IPs {
			if !slices.Contains(asg.IPs, ip) {
				gone = append(gone, ip)
			}
		}
		a.reserve(c, svc, gone)
		// Something may have been freed: a waiting Service may fit now.
		a.scheduleRetry(c)
	}
	a.scheduleStats(c)
	c.Send(a.e.router, forService{key: svc.Key, msg: allocResult{trace: span.SpanContext(), assignment: asg, err: err, conflict: conflict}})
}

// retry tries every waiting Service again, oldest first. A Service is told
// only when its outcome changes, so a full pool does not flood the Service
// actors on every release.
func (a *allocatorActor) retry(c actor.Context) {
	if !a.ready || len(a.failed) == 0 {
		return
	}
	keys := make([]alloc.ServiceKey, 0, len(a.failed))
	for k := range a.failed {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y alloc.ServiceKey) int {
		if c := a.known[x].created.Compare(a.known[y].created); c != 0 {
			return c
		}
		return x.Compare(y)
	})
	for _, k := range keys {
		// A waiting Service may be gone while its actor's release is
		// still on its way: give nothing to a Service the cache no
		// longer has (or that stopped being ours).
		if s, ok := a.e.inf.Service(k); !ok || !s.Ours(a.e.class) {
			svc := a.service(k)
			delete(a.failed, k)
			delete(a.known, k)
			if asg, held := a.a.Release(k); held {
				a.reserve(c, svc, asg.IPs)
			}
			continue
		}
		req := a.known[k]
		asg, err := a.a.Allocate(req.svc)
		if err == nil {
			delete(a.failed, k)
			a.scheduleStats(c)
			c.Send(a.e.router, forService{key: k, msg: allocResult{assignment: asg}})
			continue
		}
		if text := err.Error(); text != a.failed[k] {
			a.failed[k] = text
			c.Send(a.e.router, forService{key: k, msg: allocResult{err: err}})
		}
	}
}

// service is the last request of a Service the allocator knows, or just
// its key.
func (a *allocatorActor) service(k alloc.ServiceKey) alloc.Service {
	if req, ok := a.known[k]; ok {
		return req.svc
	}
	return alloc.Service{Key: k}
}

// reserve leaves svc on ips, which its status may still show but it no
// longer holds, until svc's actor reports that the status is clear (see
// alloc.Allocator.Reserve); nothing is reserved for a Service the cache no
// longer has (its status is gone with it).
func (a *allocatorActor) reserve(c actor.Context, svc alloc.Service, ips []netip.Addr) {
	k := svc.Key
	if len(ips) == 0 {
		return
	}
	if _, ok := a.e.inf.Service(k); !ok {
		return
	}
	// The term's counter, not this actor's: a restarted allocator must
	// not repeat a generation a Service actor may still answer about.
	got := a.a.Reserve(svc, ips, a.e.reservations.Add(1))
	if len(got) == 0 {
		return
	}
	a.e.Log.Debug("reserved until the status is clear", "service", k.String(), "reservations", got)
	c.Send(a.e.router, forService{key: k, msg: revoked{reservations: got}})
}

// unreserve frees the reservations a Service's actor reports cleared, if
// they are still the ones it was told about (alloc checks the generation).
func (a *allocatorActor) unreserve(c actor.Context, m statusClear) {
	if freed := a.a.Unreserve(m.key, m.reservations); len(freed) == 0 {
		return
	}
	a.scheduleRetry(c)
	a.scheduleStats(c)
}

func (a *allocatorActor) scheduleRetry(c actor.Context) {
	if !a.retryScheduled {
		a.retryScheduled = true
		// To self, behind whatever is queued: a burst of releases is
		// followed by one retry pass.
		c.Send(c.Self(), retryFailed{})
	}
}

func (a *allocatorActor) scheduleStats(c actor.Context) {
	if !a.statsScheduled {
		a.statsScheduled = true
		c.Send(c.Self(), publishStats{})
	}
}

// publish hands every pool's usage to its actor, spawning actors for new
// pools and stopping those of deleted pools.
func (a *allocatorActor) publish(c actor.Context) {
	seen := map[string]bool{}
	for _, s := range a.a.Stats() {
		seen[s.Pool] = true
		pid, ok := a.pools[s.Pool]
		if !ok {
			name := s.Pool
			pid = c.SpawnPrefix(actors.NewProps(a.e.Log, "pool", func() actor.Actor { return newPoolActor(a.e, name) }), "pool-"+name+"-")
			a.pools[s.Pool] = pid
		}
		if prev, ok := a.sent[s.Pool]; ok && prev == s {
			continue
		}
		a.sent[s.Pool] = s
		c.Send(pid, poolStats{stats: s})
	}
	for name, pid := range a.pools {
		if !seen[name] {
			c.Stop(pid)
			delete(a.pools, name)
			delete(a.sent, name)
		}
	}
}

// noSpan stands for a decision no traced request asked for (restore, a
// new configuration): it records nothing and its SpanContext is invalid.
var noSpan = trace.SpanFromContext(context.Background())

// addrStrings is ips as strings, for span attributes.
func addrStrings(ips []netip.Addr) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}
