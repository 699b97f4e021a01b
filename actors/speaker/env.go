package speaker

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/informers"
)

// env is what every actor of the speaker's tree shares. It is filled before
// the first actor starts and never changed afterwards.
type env struct {
	*actors.Runtime
	mlb       versioned.Interface
	inf       *informers.Informers
	metrics   *Metrics
	namespace string
	node      string

	// pids of the tree's fixed actors, known before any is spawned.
	config *actor.PID
}

// Messages. Unexported: only this package's actors exchange them.
type (
	configChanged struct{}
	compileNow    struct{}
)
