package actors

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// panicker panics on any string message and reports, for each incarnation
// that starts, whether it was made as a restarted one.
type panicker struct {
	restarted bool
	started   chan<- bool
}

func (f *panicker) Receive(c actor.Context) {
	switch c.Message().(type) {
	case *actor.Started:
		f.started <- f.restarted
	case string:
		panic("broken invariant")
	}
}

func TestIncarnationsTellsARestartedActor(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	system := NewSystem(log)
	defer system.Shutdown()
	started := make(chan bool, 4)
	var calls sync.Mutex
	n := 0
	produce := Incarnations(func(restarted bool) actor.Actor {
		calls.Lock()
		n++
		calls.Unlock()
		return &panicker{restarted: restarted, started: started}
	})
	// A child of a NewProps parent, so the failure restarts it.
	parent := system.Root.Spawn(NewProps(log, "parent", func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			switch m := c.Message().(type) {
			case *actor.Started:
				c.Spawn(NewProps(log, "child", produce))
			case string:
				for _, ch := range c.Children() {
					c.Send(ch, m)
				}
			}
		})
	}))
	want := []bool{false, true}
	for i, w := range want {
		if i == 1 {
			system.Root.Send(parent, "fail")
		}
		select {
		case got := <-started:
			if got != w {
				t.Fatalf("incarnation %d: restarted = %v, want %v", i+1, got, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("incarnation %d did not start", i+1)
		}
	}
	// A second Incarnations (a fresh spawn) starts counting again.
	other := Incarnations(func(restarted bool) actor.Actor { return &panicker{restarted: restarted} })
	if a := other().(*panicker); a.restarted {
		t.Fatal("a fresh Incarnations made a restarted actor first")
	}
	calls.Lock()
	defer calls.Unlock()
	if n != 2 {
		t.Fatalf("producer called %d times, want 2", n)
	}
}
