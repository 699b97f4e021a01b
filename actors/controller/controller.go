package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/informers"
	"github.com/heraldlb/herald/tracing"
)

// Options configure a Controller. Kube, Metallb, Recorder,
// Registry and Identity are required; the rest have defaults.
type Options struct {
	Kube    kubernetes.Interface
	Metallb versioned.Interface
	// ElectionKube is used for the Lease only (default Kube). Give it a
	// client of its own: client-go rate-limits per client, and a renewal
	// queued behind thousands of status writes would miss RenewDeadline and
	// depose a healthy leader.
	ElectionKube kubernetes.Interface
	Recorder     record.EventRecorder
	Registry     prometheus.Registerer
	Logger       *slog.Logger

	// Namespace holds the metallb.io objects, the Lease and the
	// ConfigurationState (default metallb-system).
	Namespace string
	// LoadBalancerClass is the spec.loadBalancerClass served; empty means
	// Services without a class (the default, as MetalLB).
	LoadBalancerClass string
	// LeaseName is the leader election Lease (default herald-controller).
	LeaseName string
	// Identity names this replica in the Lease (the pod name).
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod are client-go's leader
	// election timings (defaults 15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// KeepLeaseOnStop leaves the Lease held when Run's context ends, as a
	// crashed process would; tests use it to measure takeover after a kill.
	// By default a stopping leader releases the Lease so the standby takes
	// over at once.
	KeepLeaseOnStop bool
	// BackoffInitial and BackoffMax bound the actors' retry delays
	// (defaults 100ms and 30s).
	BackoffInitial, BackoffMax time.Duration
	// Resync is the informers' resync period (default 0: none).
	Resync time.Duration
	// FailureEventInterval repeats the AllocationFailed Event of a Service
	// that is still waiting (default 1m; negative: never). client-go drops
	// Events silently when its sink falls behind, so a single Event is not
	// enough to tell every waiting Service why.
	FailureEventInterval time.Duration
	// Clock drives every actor timer: retry backoffs, the configuration
	// debounce and the AllocationFailed reminders (default the real
	// clock). Tests step a fake one. Leader election keeps client-go's
	// real clock: the Lease is judged against other replicas' real time.
	Clock clock.WithDelayedExecution
	// TracerProvider receives the spans of each Service's journey
	// (docs/tracing.md); nil traces nothing.
	TracerProvider trace.TracerProvider
}

// Controller is one replica of `herald controller`: informers that always
// run (so a standby's caches are warm) and, while it holds the Lease, the
// actor tree that allocates and writes.
type Controller struct {
	opts    Options
	log     *slog.Logger
	inf     *informers.Informers
	metrics *Metrics
	system  *actor.ActorSystem

	// runCtx is Run's: when a term ends with it, the replica is stopping
	// cleanly (not deposed).
	runCtx context.Context
	// top is the current term's top actor, which routes the informers'
	// keys (nil: no term).
	top     atomic.Pointer[actor.PID]
	leading atomic.Bool
	synced  atomic.Bool
	termMu  sync.Mutex
	term    int
	closed  bool
}

// NewController checks the options, registers the metrics and builds the
// informers. Nothing runs until Run.
func New(opts Options) (*Controller, error) {
	if opts.Kube == nil || opts.Metallb == nil || opts.Recorder == nil || opts.Registry == nil {
		return nil, errors.New("controller: Kube, Metallb, Recorder and Registry are required")
	}
	if opts.Identity == "" {
		return nil, errors.New("controller: Identity is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ElectionKube == nil {
		opts.ElectionKube = opts.Kube
	}
	setDefault(&opts.Namespace, "metallb-system")
	setDefault(&opts.LeaseName, "herald-controller")
	setDefault(&opts.LeaseDuration, 15*time.Second)
	setDefault(&opts.RenewDeadline, 10*time.Second)
	setDefault(&opts.RetryPeriod, 2*time.Second)
	setDefault(&opts.BackoffInitial, 100*time.Millisecond)
	setDefault(&opts.BackoffMax, 30*time.Second)
	setDefault(&opts.FailureEventInterval, time.Minute)
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	m, err := NewMetrics(opts.Registry)
	if err != nil {
		return nil, fmt.Errorf("controller: registering metrics: %w", err)
	}
	c := &Controller{opts: opts, log: opts.Logger, metrics: m}
	inf, err := informers.New(opts.Kube, opts.Metallb, informers.Options{
		Namespace: opts.Namespace, Resync: opts.Resync, Logger: opts.Logger, Watch: Watches(),
	})
	if err != nil {
		return nil, err
	}
	c.inf = inf
	// The one handler forwards keys to the current term's top actor, if
	// any: a standby drops them, and its new tree re-reads everything.
	if err := c.inf.AddHandler(func(k informers.Key) {
		if pid := c.top.Load(); pid != nil {
			c.system.Root.Send(pid, k)
		}
	}); err != nil {
		return nil, err
	}
	c.system = actors.NewSystem(opts.Logger)
	return c, nil
}

// Watches are what the controller watches: Services and their Namespaces,
// and everything the configuration compiler reads. Of a Node only the
// labels matter here (node selectors in the configuration); its heartbeats,
// conditions and cordons are the speaker's business.
func Watches() []informers.Watch {
	w := []informers.Watch{
		{Resource: informers.Services},
		{Resource: informers.Namespaces},
		{Resource: informers.Nodes, Relevant: informers.LabelsChanged},
	}
	for _, r := range informers.ConfigResources {
		w = append(w, informers.Watch{Resource: r})
	}
	return w
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Leading reports whether this replica holds the Lease.
func (c *Controller) Leading() bool { return c.leading.Load() }

// Synced reports whether the informer caches have synced.
func (c *Controller) Synced() bool { return c.synced.Load() }

// Run runs the replica until ctx ends: informers first, then leader
// election in a loop (a replica that loses the Lease stands by and runs for
// it again). It returns after the actor tree has stopped.
func (c *Controller) Run(ctx context.Context) error {
	c.runCtx = ctx
	c.inf.Start(ctx)
	defer c.inf.Shutdown()
	if err := c.inf.WaitForSync(ctx); err != nil {
		return err
	}
	c.synced.Store(true)
	c.log.Info("informers synced", "identity", c.opts.Identity)

	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: c.opts.Namespace, Name: c.opts.LeaseName},
		Client:     c.opts.ElectionKube.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: c.opts.Identity},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:          lock,
			LeaseDuration: c.opts.LeaseDuration,
			RenewDeadline: c.opts.RenewDeadline,
			RetryPeriod:   c.opts.RetryPeriod,
			// client-go would release the Lease the moment ctx ends,
			// while the tree's last writes may still be landing: a
			// standby could then take over and pass its cache fence
			// before they did. The Lease is released below, once the
			// last term has stopped and its writes have returned.
			ReleaseOnCancel: false,
			Name:            c.opts.LeaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: c.lead,
				OnStoppedLeading: func() {},
				OnNewLeader: func(id string) {
					c.log.Info("controller leader", "identity", id, "self", id == c.opts.Identity)
				},
			},
		})
		if err != nil {
			return err
		}
		// Run returns when the Lease is lost or ctx ends; the term's
		// context is cancelled by then, and lead stops the tree.
		le.Run(ctx)
	}
	// No term may start after Run returns, and the last one must be over.
	c.termMu.Lock()
	c.closed = true
	c.termMu.Unlock()
	if !c.opts.KeepLeaseOnStop {
		c.releaseLease(lock)
	}
	return nil
}

// releaseLease hands the Lease over at once, if this replica still holds
// it, so the standby takes over without waiting for it to expire.
func (c *Controller) releaseLease(lock *resourcelock.LeaseLock) {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.RenewDeadline)
	defer cancel()
	rec, _, err := lock.Get(ctx)
	if err != nil || rec.HolderIdentity != c.opts.Identity {
		return
	}
	now := metav1.NewTime(time.Now())
	if err := lock.Update(ctx, resourcelock.LeaderElectionRecord{
		LeaderTransitions: rec.LeaderTransitions, LeaseDurationSeconds: 1, RenewTime: now, AcquireTime: now,
	}); err != nil {
		c.log.Warn("releasing the Lease failed; the standby waits for it to expire", "err", err)
		return
	}
	c.log.Info("released the Lease", "identity", c.opts.Identity)
}

// lead runs one leadership term: the actor tree lives exactly as long as
// term.
//
// client-go calls it on a goroutine of its own, possibly after Run has
// moved on, so terms are serialised by termMu: a new term's tree starts only
// after the previous one has stopped.
func (c *Controller) lead(term context.Context) {
	c.termMu.Lock()
	defer c.termMu.Unlock()
	if c.closed {
		return
	}
	c.term++
	c.leading.Store(true)
	c.metrics.setLeading(true)
	c.log.Info("leading", "identity", c.opts.Identity, "term", c.term)
	defer func() {
		c.metrics.configLoaded.Set(0)
		c.metrics.configStale.Set(0)
		c.metrics.setLeading(false)
		c.leading.Store(false)
		c.log.Info("stopped leading", "identity", c.opts.Identity, "term", c.term)
	}()
	// The tree restores from the caches, so they must first show at least
	// everything the previous leader wrote: it wrote before this replica
	// could take the Lease, and a consistent read taken now includes all
	// of it (see Informers.WaitCurrent).
	if err := c.inf.WaitCurrent(term); err != nil {
		c.log.Info("the term ended before the caches were current", "err", err)
		return
	}
	// The tree's API calls get a lifetime of their own. Deposed (the
	// Lease lost), the replica stops writing at once: another may lead.
	// Stopping cleanly, it lets its last writes land before Run releases
	// the Lease (see Run).
	writes, stopWrites := context.WithCancel(context.WithoutCancel(term))
	defer stopWrites()
	go func() {
		<-term.Done()
		if c.runCtx.Err() == nil {
			stopWrites()
		}
	}()
	top, rt := c.startTree(writes, c.term)
	<-term.Done()
	c.top.Store(nil)
	// Poison the top actor and wait: its children (config, allocator and
	// pools, router and Services) stop before it does.
	if err := c.system.Root.PoisonFuture(top).Wait(); err != nil {
		c.log.Warn("actor tree did not stop in time", "err", err)
	}
	if c.runCtx.Err() != nil && !rt.WaitCalls(lastWritesTimeout) {
		c.log.Warn("stopping with API writes still in flight", "waited", lastWritesTimeout)
	}
}

// lastWritesTimeout bounds how long a stopping leader waits for its last
// writes before it releases the Lease.
const lastWritesTimeout = 5 * time.Second

func (c *Controller) startTree(term context.Context, n int) (*actor.PID, *actors.Runtime) {
	name := fmt.Sprintf("controller-%d", n)
	e := &env{
		Runtime: &actors.Runtime{
			Log:            c.log,
			Ctx:            term,
			Root:           c.system.Root,
			Clock:          c.opts.Clock,
			BackoffInitial: c.opts.BackoffInitial,
			BackoffMax:     c.opts.BackoffMax,
			APIError:       c.metrics.apiError,
		},
		kube:        c.opts.Kube,
		mlb:         c.opts.Metallb,
		inf:         c.inf,
		tracer:      tracing.NewTracer(c.opts.TracerProvider, "github.com/heraldlb/herald/actors/controller"),
		recorder:    c.opts.Recorder,
		metrics:     c.metrics,
		namespace:   c.opts.Namespace,
		class:       c.opts.LoadBalancerClass,
		remindEvery: max(c.opts.FailureEventInterval, 0),
		router:      c.system.NewLocalPID(name + "/router"),
		allocator:   c.system.NewLocalPID(name + "/allocator"),
		config:      c.system.NewLocalPID(name + "/config"),
	}
	top, err := c.system.Root.SpawnNamed(actors.NewProps(c.log, "controller", func() actor.Actor { return &topActor{e: e} }), name)
	if err != nil {
		// Names are unique per term; a clash is a bug.
		panic(fmt.Sprintf("spawning %s: %v", name, err))
	}
	// Keys go to the top actor, which exists in full now; it spawns its
	// children on begin, and forwards keys only once they all exist. A
	// key before that is dropped: the router's first pass over the
	// Services comes after, and reads the caches then.
	c.top.Store(top)
	c.system.Root.Send(top, begin{})
	return top, e.Runtime
}

// begin tells a term's top actor to spawn its children.
type begin struct{}

// topActor is the root of one term's tree. It spawns its children and
// routes the informers' keys to the router.
//
// Nobody may send to a child while it is being spawned: protoactor
// registers a PID before its mailbox can schedule, and a message posted in
// between can panic the sender and wedge the mailbox (the race detector
// found it as a data race). A message to a PID not registered yet is only
// a dead letter. So the children start in an order where nobody sends to
// a later sibling: the allocator first, the router (which kicks every
// Service) next, the config actor (which makes the allocator ready) last;
// the allocator asks the config actor for the configuration only when it
// restarts (allocatorIncarnations); and keys reach the router only
// through this actor, after the spawning.
type topActor struct{ e *env }

func (t *topActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case begin:
		t.e.begin.Store(true)
		t.spawn(c)
	case *actor.Started:
		if t.e.begin.Load() {
			t.spawn(c) // restarted: its children were stopped
		}
	case informers.Key:
		if t.e.begun.Load() {
			c.Send(t.e.router, m)
		}
	}
}

func (t *topActor) spawn(c actor.Context) {
	t.e.begun.Store(false)
	for _, ch := range []struct {
		name string
		want *actor.PID
		make func() actor.Actor
	}{
		{"allocator", t.e.allocator, allocatorIncarnations(t.e)},
		{"router", t.e.router, func() actor.Actor { return newRouterActor(t.e) }},
		{"config", t.e.config, func() actor.Actor { return newConfigActor(t.e) }},
	} {
		pid, err := c.SpawnNamed(actors.NewProps(t.e.Log, ch.name, ch.make), ch.name)
		if err != nil || pid.Id != ch.want.Id {
			panic(fmt.Sprintf("spawning %s: got %v, want %s: %v", ch.name, pid, ch.want.Id, err))
		}
	}
	t.e.begun.Store(true)
}

// allocatorIncarnations produces allocator actors for one spawn, each
// knowing whether it follows a failed one (actors.Incarnations).
func allocatorIncarnations(e *env) func() actor.Actor {
	return actors.Incarnations(func(restarted bool) actor.Actor {
		a := newAllocatorActor(e).(*allocatorActor)
		a.restarted = restarted
		return a
	})
}
