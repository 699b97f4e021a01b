package controller

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/trace"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/informers"
	"github.com/heraldlb/herald/tracing"
)

// env is what every actor of one leadership term shares. It is filled
// before the first actor starts and never changed afterwards, so actors read
// it without locks (the reservation counter is atomic).
type env struct {
	// Runtime's Ctx is the leadership term: it ends when the Lease is lost
	// or the controller stops, so a deposed leader stops writing at once.
	*actors.Runtime
	kube      kubernetes.Interface
	mlb       versioned.Interface
	inf       *informers.Informers
	recorder  record.EventRecorder
	metrics   *Metrics
	tracer    tracing.Tracer
	namespace string
	class     string

	// remindEvery repeats a lasting AllocationFailed Event (0: never).
	remindEvery time.Duration

	// reservations numbers the reservations of the term (see reservation):
	// it outlives a restarted allocator, so a late answer about an earlier
	// incarnation's reservation can never match a new one.
	reservations atomic.Uint64

	// pids of the top-level actors, known before any is spawned (their
	// names are fixed), so no actor waits for another's PID.
	router, allocator, config *actor.PID
	// begun is set while every child of the top actor exists (see
	// topActor): an actor that sends to a later sibling from its Started
	// checks it first.
	begun atomic.Bool
	// begin: the top actor has been told to spawn its children (a
	// restarted top actor spawns them again).
	begin atomic.Bool
}

// Messages. Unexported: only this package's actors exchange them.
type (
	// kick tells a Service actor to re-read its Service; n counts the kicks
	// the router sent it, so the router can tell whether an idle actor has
	// seen everything.
	kick struct{ n uint64 }
	// idle: a Service actor has nothing left to do after kick n.
	// fwd counts the messages the router forwarded to it (forService),
	// so the router does not stop an actor with one still queued.
	idle struct {
		key alloc.ServiceKey
		n   uint64
		fwd uint64
	}
	// forService asks the router to deliver msg to a Service's actor,
	// spawning it if needed; the actor gets it as forwarded, numbered
	// (absolute, like kicks, so a restarted actor catches up with the
	// router's count from the next one).
	forService struct {
		key alloc.ServiceKey
		msg any
	}
	forwarded struct {
		n   uint64
		msg any
	}

	// allocResult is the allocator's decision for one Service.
	allocResult struct {
		// trace is the pool.allocate span's, when the decision answers
		// a traced ensure: the journey goes on from it.
		trace      trace.SpanContext
		assignment alloc.Assignment
		err        error
		// conflict is set when the Service's existing status IP was
		// refused at restore (another Service won it).
		conflict error
		// pending says why no decision can be made yet (no valid
		// configuration since the term started); status is left alone.
		pending error
	}
	// configInvalid tells a not yet ready allocator why it is waiting.
	configInvalid struct{ reason string }
	// ensure asks the allocator to give the Service what its spec asks;
	// created orders Services when the pools cannot serve everyone.
	ensure struct {
		svc     alloc.Service
		created time.Time
		trace   trace.SpanContext // the service.reconcile span that asks
	}
	// release frees whatever the Service holds.
	release struct{ key alloc.ServiceKey }
	// configLoaded carries the pools of a newly compiled valid config.
	configLoaded struct{ pools []alloc.Pool }
	// resendConfig asks the config actor to send its last valid config
	// again (a restarted allocator lost it).
	resendConfig  struct{}
	configChanged struct{}
	compileNow    struct{}
	retryFailed   struct{}
	publishStats  struct{}
	poolStats     struct{ stats alloc.PoolStats }

	// revoked tells a Service's actor that the allocator took these IPs
	// from it and keeps them reserved until its status no longer shows
	// them; statusClear is the actor's answer. Each reservation carries
	// the generation it was made in, so a late answer about an earlier
	// reservation of the same IP frees nothing.
	revoked     struct{ reservations []alloc.Reservation }
	statusClear struct {
		key          alloc.ServiceKey
		reservations []alloc.Reservation
	}
	// whatReserved asks the allocator to send a (restarted) Service actor
	// the reservations still waiting for it.
	whatReserved struct{ key alloc.ServiceKey }
	// remind repeats failure number gen's Event if it still stands.
	remind struct{ gen uint64 }
)
