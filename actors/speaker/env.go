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
	// begun is set once every fixed actor exists: a message sent to one
	// not spawned yet would be lost, so the config actor waits for it
	// before its first compilation (see topActor).
	begun atomic.Bool
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
