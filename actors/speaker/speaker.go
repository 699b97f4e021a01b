package speaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/bfdnet"
	"github.com/heraldlb/herald/bgpwire/bfd"
	"github.com/heraldlb/herald/informers"
	"github.com/heraldlb/herald/l2"
	"github.com/heraldlb/herald/tracing"
)

// Options configure a Speaker. Kube, Metallb, Registry and NodeName are
// required; the rest have defaults.
type Options struct {
	Kube     kubernetes.Interface
	Metallb  versioned.Interface
	Registry prometheus.Registerer
	Logger   *slog.Logger
	// NodeName is the Node this speaker announces for.
	NodeName string
	// Namespace holds the metallb.io objects, the password Secrets and the
	// status objects (default metallb-system).
	Namespace string
	// Resync is the informers' resync period (default 0: none).
	Resync time.Duration
	// BackoffInitial and BackoffMax bound the actors' retry delays
	// (defaults 100ms and 30s).
	BackoffInitial, BackoffMax time.Duration
	// Clock drives every actor timer (default the real clock).
	Clock clock.WithDelayedExecution
	// LoadBalancerClass is the spec.loadBalancerClass served; empty means
	// Services without a class (the default, as MetalLB).
	LoadBalancerClass string
	// Net opens BGP connections (default: NewBGPNet(0, Logger): dial only,
	// no listener).
	Net *BGPNet
	// Recorder publishes Events on Services (nil: none).
	Recorder record.EventRecorder
	// L2Exclude are glob patterns of interface names never used to answer
	// ARP/NDP (default l2.DefaultExclude: container and CNI interfaces).
	L2Exclude []string
	// NoL2 answers no ARP/NDP on this node (tests of BGP alone).
	NoL2 bool
	// BFDNetwork makes the BFD sockets (default: the kernel's,
	// bfdnet.OSNetwork); BFDPorts are the router-facing single-hop,
	// multihop and echo ports (zero: 3784, 4784, 3785).
	BFDNetwork bfdnet.Network
	BFDPorts   [3]uint16
	// LivenessPort is the liveness mesh's BFD port (default
	// bfdnet.LivenessPort, 4785); its statuses use the next port. -1
	// turns the mesh off: every speaker then counts as alive.
	LivenessPort int
	// GracefulRestartTime is the restart time advertised to peers with
	// graceful restart enabled (default 120s; whole seconds up to 4095s).
	GracefulRestartTime time.Duration
	// TracerProvider receives the spans that continue each Service's
	// journey on this node (docs/tracing.md); nil traces nothing.
	TracerProvider trace.TracerProvider
	// LivenessProfile is the mesh's BFD profile (default
	// DefaultLivenessProfile, 100 ms × 3).
	LivenessProfile *bfd.Profile
	// LivenessStartHold is how long a speaker that finds no other speaker
	// listed when it starts answers no L2 IP, so that speakers starting
	// together do not each claim everything (liveness.Config.StartHold).
	// Zero: 3 s; negative: no hold.
	LivenessStartHold time.Duration
	// MeshNet and MeshBFDNetwork make the mesh's sockets (defaults: the
	// kernel's, on every address).
	MeshNet        MeshNet
	MeshBFDNetwork bfdnet.Network
}

// Speaker is `herald speaker` on one node: informers for what the node
// announces and an actor tree that decides and announces it. Unlike the
// controller it needs no Lease: every speaker runs its tree all the time.
type Speaker struct {
	opts    Options
	log     *slog.Logger
	inf     *informers.Informers
	metrics *Metrics
	system  *actor.ActorSystem
	top     atomic.Pointer[actor.PID]
	ready   atomic.Bool
}

// Watches are what a speaker watches: Services and their EndpointSlices
// (externalTrafficPolicy: Local, and whether anything serves at all), the
// Nodes (labels, cordons, conditions, addresses), Namespaces and the
// configuration kinds (it compiles the same Config as the controller), and
// the ConfigurationStates (which speakers run). Not the per-Service status
// objects it writes: their status actors read them once when they start
// (svcstatus.go).
func Watches() []informers.Watch {
	w := []informers.Watch{
		{Resource: informers.Services},
		{Resource: informers.EndpointSlices},
		{Resource: informers.Nodes},
		{Resource: informers.Namespaces},
	}
	w = append(w, informers.Watch{Resource: informers.ConfigurationStates})
	for _, r := range informers.ConfigResources {
		w = append(w, informers.Watch{Resource: r})
	}
	return w
}

// ConfigurationStateName is the ConfigurationState a speaker writes.
func ConfigurationStateName(node string) string { return "speaker-" + node }

// New checks the options, registers the metrics and builds the informers.
// Nothing runs until Run.
func New(opts Options) (*Speaker, error) {
	if opts.Kube == nil || opts.Metallb == nil || opts.Registry == nil {
		return nil, errors.New("speaker: Kube, Metallb and Registry are required")
	}
	if opts.NodeName == "" {
		return nil, errors.New("speaker: NodeName is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Namespace == "" {
		opts.Namespace = "metallb-system"
	}
	if opts.BackoffInitial == 0 {
		opts.BackoffInitial = 100 * time.Millisecond
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = 30 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Net == nil {
		opts.Net = NewBGPNet(0, opts.Logger)
	}
	if opts.L2Exclude == nil {
		opts.L2Exclude = l2.DefaultExclude
	}
	if opts.LivenessPort == 0 {
		opts.LivenessPort = bfdnet.LivenessPort
	}
	if opts.LivenessPort > 65533 {
		return nil, fmt.Errorf("speaker: liveness port %d: must leave room for the status port after it", opts.LivenessPort)
	}
	if opts.LivenessProfile == nil {
		p := DefaultLivenessProfile
		opts.LivenessProfile = &p
	}
	if err := opts.LivenessProfile.Validate(); err != nil {
		return nil, fmt.Errorf("speaker: liveness profile: %w", err)
	}
	if opts.MeshNet == nil {
		opts.MeshNet = UDPMeshNet(netip.Addr{})
	}
	m, err := NewMetrics(opts.Registry)
	if err != nil {
		return nil, fmt.Errorf("speaker: registering metrics: %w", err)
	}
	s := &Speaker{opts: opts, log: opts.Logger.With("node", opts.NodeName), metrics: m}
	// A node name can be longer than a label value may be (253 against
	// 63 bytes). The status objects name their node in a label, so the
	// API server refuses them; the speaker announces all the same.
	if len(validation.IsValidLabelValue(opts.NodeName)) != 0 {
		s.log.Warn("node name is not a valid label value: this node's status objects cannot be written", "node", opts.NodeName)
	}
	s.inf, err = informers.New(opts.Kube, opts.Metallb, informers.Options{
		Namespace: opts.Namespace, Resync: opts.Resync, Logger: s.log, Watch: Watches(),
		Transform: informers.SpeakerTransform,
	})
	if err != nil {
		return nil, err
	}
	if err := s.inf.AddHandler(func(k informers.Key) {
		pid := s.top.Load()
		switch {
		case pid == nil:
		case k.Kind == informers.KindService || k.Kind == informers.KindEndpoints:
			// Stamped here, the first moment this process knows of the
			// change: the start of herald_event_to_wire_seconds.
			s.system.Root.Send(pid, serviceEvent{key: k, at: opts.Clock.Now()})
		default:
			s.system.Root.Send(pid, k)
		}
	}); err != nil {
		return nil, err
	}
	s.system = actors.NewSystem(s.log)
	return s, nil
}

// Ready reports whether the caches have synced and the tree runs.
func (s *Speaker) Ready() bool { return s.ready.Load() }

// Run runs the speaker until ctx ends, then stops its tree and returns.
func (s *Speaker) Run(ctx context.Context) error {
	s.inf.Start(ctx)
	defer s.inf.Shutdown()
	if err := s.inf.WaitForSync(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before the caches synced
		}
		return err
	}
	// The tree's lifetime: it ends when ctx does, and every API write
	// and timer of the tree stops with it.
	treeCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	e := &env{}
	bfdm, err := bfdnet.New(bfdnet.Options{
		SingleHopPort: s.opts.BFDPorts[0], MultihopPort: s.opts.BFDPorts[1], EchoPort: s.opts.BFDPorts[2],
		Network: s.opts.BFDNetwork, Log: s.log.With("bfd", "peers"), Notify: e.routeBFDChange,
	})
	if err != nil {
		// BGP runs without BFD; each peer that asks for it says so.
		s.log.Error("BFD unavailable: BGPPeers with a bfdProfile run without it", "err", err)
	} else {
		s.metrics.bfd.add(bfdm)
		defer func() { s.metrics.bfd.remove(bfdm); _ = bfdm.Close() }()
	}
	*e = env{
		Runtime: &actors.Runtime{
			Log: s.log, Ctx: treeCtx, Root: s.system.Root, Clock: s.opts.Clock,
			BackoffInitial: s.opts.BackoffInitial, BackoffMax: s.opts.BackoffMax,
			APIError: s.metrics.apiError,
		},
		mlb: s.opts.Metallb, inf: s.inf, metrics: s.metrics,
		restartTime: s.opts.GracefulRestartTime,
		tracer:      tracing.NewTracer(s.opts.TracerProvider, "github.com/heraldlb/herald/actors/speaker"),
		namespace:   s.opts.Namespace, node: s.opts.NodeName, class: s.opts.LoadBalancerClass, net: s.opts.Net, bfd: bfdm,
		recorder: s.opts.Recorder, l2Exclude: s.opts.L2Exclude, noL2: s.opts.NoL2,
		ifaces:    s.system.NewLocalPID("speaker/ifaces"),
		l2Status:  s.system.NewLocalPID("speaker/l2status"),
		bgpStatus: s.system.NewLocalPID("speaker/bgpstatus"),
		config:    s.system.NewLocalPID("speaker/config"),
		meshPort:  uint16(max(s.opts.LivenessPort, 0)), meshProfile: *s.opts.LivenessProfile,
		meshStartHold: s.opts.LivenessStartHold,
		meshNet:       s.opts.MeshNet, meshBFDNet: s.opts.MeshBFDNetwork,
		planner: s.system.NewLocalPID("speaker/planner"),
		peers:   s.system.NewLocalPID("speaker/peers"),
		spawned: make(chan struct{}),
	}
	if s.opts.LivenessPort > 0 {
		e.mesh = s.system.NewLocalPID("speaker/mesh")
	}
	top, err := s.system.Root.SpawnNamed(actors.NewProps(s.log, "speaker", func() actor.Actor { return &topActor{e: e} }), "speaker")
	if err != nil {
		return fmt.Errorf("speaker: spawning the tree: %w", err)
	}
	s.top.Store(top)
	// Run itself sends to the mesh and peers actors when it stops: not
	// while they are being spawned (see topActor). The top actor's
	// Started spawns them without waiting on anything.
	select {
	case <-e.spawned:
		s.ready.Store(true)
		s.metrics.ready.Set(1)
		s.log.Info("speaker running")
	case <-ctx.Done():
	}

	<-ctx.Done()
	s.ready.Store(false)
	s.metrics.ready.Set(0)
	s.top.Store(nil)
	select {
	case <-e.spawned:
		s.goodbye(e)
	case <-time.After(5 * time.Second):
		s.log.Error("the actor tree never finished starting: stopping without goodbyes")
	}
	// Poison the top actor and wait: its children stop before it does.
	// What a stopping speaker still has to say (withdrawals, AdminDown)
	// is said while its actors stop, before treeCtx ends.
	if err := s.system.Root.PoisonFuture(top).Wait(); err != nil {
		s.log.Warn("actor tree did not stop in time", "err", err)
	}
	cancel()
	_ = s.opts.Net.Close()
	s.log.Info("speaker stopped")
	return nil
}

// goodbye is a stopping speaker's first step. The other speakers hear
// that this one leaves and take its L2 addresses over at once; every BGP
// session withdraws its routes (or keeps them at the peer through
// graceful restart) and closes with Cease.
func (s *Speaker) goodbye(e *env) {
	if e.mesh != nil {
		if _, err := s.system.Root.RequestFuture(e.mesh, leaveMesh{}, time.Second).Result(); err != nil {
			s.log.Warn("the liveness mesh did not hear this speaker leave", "err", err)
		}
	}
	if _, err := s.system.Root.RequestFuture(e.peers, drainPeers{}, drainTimeout+time.Second).Result(); err != nil {
		s.log.Warn("BGP sessions did not all say goodbye", "err", err)
	}
}

// topActor is the root of the speaker's tree. It routes the informers'
// keys to the actors that re-read what they name (only after its Started
// has spawned every child: the mailbox keeps that order).
//
// Nobody may send to a child while it is being spawned: protoactor
// registers a PID before its mailbox can schedule, and a message posted in
// between can panic the sender and wedge the mailbox (the race detector
// found it in the controller's tree). A message to a PID not registered
// yet is only a dead letter. So the children start in an order where
// nobody sends to a later sibling from its Started; what would (the
// configuration, the interfaces found by netlink, a restarted child's
// requests, gated by term.restarted) waits for the message sent once all
// exist.
type topActor struct{ e *env }

// incarnations makes a fixed child's producer whose every call after the
// first makes a restarted term (actors.Incarnations).
func incarnations(make func() actor.Actor) func() actor.Actor {
	return actors.Incarnations(func(restarted bool) actor.Actor {
		a := make()
		a.(interface{ setRestarted(bool) }).setRestarted(restarted)
		return a
	})
}

func (t *topActor) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		// Also after a restart (its children were stopped): each is
		// spawned again as a first incarnation.
		for _, ch := range []struct {
			name string
			want *actor.PID
			make func() actor.Actor
		}{
			{"bgpstatus", t.e.bgpStatus, func() actor.Actor { return newStatusActor(t.e, bgpStatusKind) }},
			{"l2status", t.e.l2Status, func() actor.Actor { return newStatusActor(t.e, l2StatusKind) }},
			{"ifaces", t.e.ifaces, func() actor.Actor { return newIfacesActor(t.e) }},
			{"peers", t.e.peers, func() actor.Actor { return newPeersActor(t.e) }},
			{"planner", t.e.planner, func() actor.Actor { return newPlannerActor(t.e) }},
			{"mesh", t.e.mesh, func() actor.Actor { return newMeshActor(t.e) }},
			{"config", t.e.config, func() actor.Actor { return newConfigActor(t.e) }},
		} {
			if ch.want == nil {
				continue // off
			}
			props := actors.NewProps(t.e.Log, ch.name, incarnations(ch.make))
			if ch.name == "peers" {
				// The peers actor starts a failed session again from the
				// routes in force (peersActor.terminated).
				props = props.Configure(actors.StopFailedChildren(t.e.Log.With("actor", "peers")))
			}
			pid, err := c.SpawnNamed(props, ch.name)
			if err != nil || pid.Id != ch.want.Id {
				panic(fmt.Sprintf("spawning %s: got %v, want %s: %v", ch.name, pid, ch.want.Id, err))
			}
		}
		// Everyone exists now: the first compilation may go out, and
		// the interfaces actor may tell the planner what it finds.
		t.e.spawnedOnce.Do(func() { close(t.e.spawned) })
		c.Send(t.e.config, compileNow{})
		c.Send(t.e.ifaces, watchInterfaces{})
	case informers.Key:
		switch m.Kind {
		case informers.KindConfig, informers.KindNamespace:
			c.Send(t.e.config, configChanged{})
		case informers.KindNode:
			// Node labels feed node selectors (configuration) and the
			// node's own state feeds the plan; its addresses the mesh.
			c.Send(t.e.config, configChanged{})
			c.Send(t.e.planner, m)
			if t.e.mesh != nil {
				c.Send(t.e.mesh, meshMembers{})
			}
		case informers.KindConfigurationState:
			if t.e.mesh != nil {
				c.Send(t.e.mesh, meshMembers{})
			}
		case informers.KindService, informers.KindEndpoints:
			c.Send(t.e.planner, m) // unstamped: not measured
		}
	case serviceEvent:
		c.Send(t.e.planner, m)
	}
}
