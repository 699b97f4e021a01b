package speaker

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"k8s.io/client-go/tools/record"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/bfdnet"
	"github.com/heraldlb/herald/bgpwire/bfd"
	"github.com/heraldlb/herald/informers"
	"github.com/heraldlb/herald/tracing"
)

// env is what every actor of the speaker's tree shares. It is filled before
// the first actor starts and never changed afterwards.
type env struct {
	*actors.Runtime
	mlb     versioned.Interface
	inf     *informers.Informers
	metrics *Metrics
	tracer  tracing.Tracer
	// restartTime is advertised to graceful-restart peers (0: the
	// default).
	restartTime time.Duration
	namespace   string
	node        string
	// class is the spec.loadBalancerClass served ("": Services without one).
	class string
	// net opens BGP connections.
	net sessionNet
	// bfd runs the BGP peers' BFD sessions (nil: BFD could not start).
	bfd *bfdnet.Manager
	// The liveness mesh: its BFD port (its datagrams use the next one),
	// profile, and the networks its sockets are made on. mesh is nil when
	// the mesh is off.
	meshPort    uint16
	meshProfile bfd.Profile
	// meshStartHold is liveness.Config.StartHold.
	meshStartHold time.Duration
	meshNet       MeshNet
	meshBFDNet    bfdnet.Network
	// recorder publishes Events on Services (nil: none).
	recorder record.EventRecorder
	// l2Exclude are the interface name patterns never used for L2;
	// noL2 turns L2 mode off on this node.
	l2Exclude []string
	noL2      bool

	// pids of the tree's fixed actors, known before any is spawned.
	config, planner, peers, bgpStatus, l2Status, ifaces, mesh *actor.PID
	// statusTerms numbers the status actors' incarnations, so a write's
	// result tells the term that made it.
	statusTerms atomic.Uint64
	// spawned is closed once the top actor has spawned every child the
	// first time.
	spawned     chan struct{}
	spawnedOnce sync.Once
}

// Messages. Unexported: only this package's actors exchange them.
type (
	configChanged struct{}
	compileNow    struct{}
)

// term is embedded in each of the tree's fixed actors: restarted says this
// incarnation follows a failed one. Such an actor asks its siblings for
// what it lost (they all exist by then); a first incarnation asks nothing,
// since a sibling spawned after it would lose the message, and waits for
// what the top actor sends once the whole tree exists. topActor counts
// the incarnations of each child as its producer is called: a flag the
// tree shared, set once every child was spawned, was already set when the
// children's Started ran, so every first start looked like a restart.
type term struct{ restarted bool }

func (t *term) setRestarted(r bool) { t.restarted = r }
