package speaker

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/heraldlb/herald/bgpwire/peer"
)

// blockedAfter is how long a write may make no progress before the
// connection counts as blocked (peer.SendBlocked: the peer does not read,
// RFC 9687's send hold timer runs).
const blockedAfter = 2 * time.Second

// closeFlushTimeout bounds the write of a connection's last messages (the
// NOTIFICATION that says why it closes) before it is closed anyway.
const closeFlushTimeout = time.Second

// bgpConn is one TCP connection of a peer actor: a reader goroutine that
// sends what arrives to the actor, and a writer goroutine with two queues,
// Control (OPEN, KEEPALIVE, NOTIFICATION) always written before Bulk
// (UPDATEs), so a KEEPALIVE never waits behind a table of UPDATEs. Neither
// goroutine touches the actor's state: they only send it messages.
type bgpConn struct {
	id   peer.ConnID
	c    net.Conn
	root *actor.RootContext
	pid  *actor.PID

	mu      sync.Mutex
	wake    *sync.Cond
	control []outgoing
	bulk    []outgoing
	closing bool // write Control, drop Bulk, close
	closed  bool
	// watchDrain: tell the actor when the queues are empty (a stopping
	// session waits for its withdrawals to be sent).
	watchDrain bool
}

// outgoing is one batch of whole messages to write, and what to call once
// the socket took all of it (nil: nothing). The call runs on the writer
// goroutine: the wire-latency observation, which must not wait for the
// actor.
type outgoing struct {
	b       []byte
	written func()
}

// Messages from a connection's goroutines to its peer actor.
type (
	connData struct {
		conn peer.ConnID
		data []byte
	}
	connClosed struct {
		conn peer.ConnID
		err  error
	}
	// connBlocked: the write queue made no progress for blockedAfter
	// (blocked), or drained after that (not blocked).
	connBlocked struct {
		conn    peer.ConnID
		blocked bool
	}
	// connDrained: both queues are empty (after watchDrain was set).
	connDrained struct{ conn peer.ConnID }
)

func startConn(id peer.ConnID, c net.Conn, root *actor.RootContext, pid *actor.PID) *bgpConn {
	bc := &bgpConn{id: id, c: c, root: root, pid: pid}
	bc.wake = sync.NewCond(&bc.mu)
	go bc.read()
	go bc.write()
	return bc
}

func (bc *bgpConn) read() {
	buf := make([]byte, 64<<10)
	for {
		n, err := bc.c.Read(buf)
		if n > 0 {
			bc.root.Send(bc.pid, connData{conn: bc.id, data: append([]byte(nil), buf[:n]...)})
		}
		if err != nil {
			bc.root.Send(bc.pid, connClosed{conn: bc.id, err: err})
			return
		}
	}
}

// send queues whole messages in the queue of their class; written, when
// not nil, is called once the socket has taken them all (never if they are
// dropped).
func (bc *bgpConn) send(class peer.Class, b []byte, written func()) {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	if bc.closing || bc.closed {
		return
	}
	if class == peer.Control {
		bc.control = append(bc.control, outgoing{b, written})
	} else {
		bc.bulk = append(bc.bulk, outgoing{b, written})
	}
	bc.wake.Signal()
}

// close writes what the Control queue holds, drops the Bulk queue and
// closes the connection.
func (bc *bgpConn) close() {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	bc.closing = true
	bc.bulk = nil
	bc.wake.Signal()
}

// drop closes the connection at once, writing nothing more (a stopping
// speaker that keeps its routes at the peer through graceful restart).
func (bc *bgpConn) drop() {
	bc.mu.Lock()
	bc.closing, bc.closed = true, true
	bc.control, bc.bulk = nil, nil
	bc.wake.Signal()
	bc.mu.Unlock()
	bc.c.Close()
}

// notifyDrained asks for a connDrained once both queues are empty.
func (bc *bgpConn) notifyDrained() {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	bc.watchDrain = true
	bc.wake.Signal()
}

// pending reports whether anything waits to be written.
func (bc *bgpConn) pending() bool {
	bc.mu.Lock()
	defer bc.mu.Unlock()
	return len(bc.control) > 0 || len(bc.bulk) > 0
}

func (bc *bgpConn) write() {
	blocked := false
	for {
		bc.mu.Lock()
		for len(bc.control) == 0 && len(bc.bulk) == 0 && !bc.closing && !bc.watchDrain {
			bc.wake.Wait()
		}
		if bc.closed {
			bc.mu.Unlock()
			return
		}
		if len(bc.control) == 0 && len(bc.bulk) == 0 {
			if bc.watchDrain {
				bc.watchDrain = false
				bc.root.Send(bc.pid, connDrained{conn: bc.id})
			}
			if bc.closing {
				bc.closed = true
				bc.mu.Unlock()
				bc.c.Close()
				return
			}
			bc.mu.Unlock()
			continue
		}
		var out outgoing
		if len(bc.control) > 0 {
			out, bc.control = bc.control[0], bc.control[1:]
		} else {
			out, bc.bulk = bc.bulk[0], bc.bulk[1:]
		}
		closing := bc.closing
		bc.mu.Unlock()

		if err := bc.writeAll(out.b, closing, &blocked); err != nil {
			bc.mu.Lock()
			bc.closed = true
			bc.mu.Unlock()
			bc.c.Close()
			bc.root.Send(bc.pid, connClosed{conn: bc.id, err: err})
			return
		}
		if out.written != nil {
			out.written()
		}
		bc.mu.Lock()
		empty := len(bc.control) == 0 && len(bc.bulk) == 0
		bc.mu.Unlock()
		if blocked && empty {
			blocked = false
			bc.root.Send(bc.pid, connBlocked{conn: bc.id, blocked: false})
		}
	}
}

// writeAll writes b, reporting the connection blocked when a write makes no
// progress for blockedAfter, and keeps writing (RFC 9687's send hold timer,
// in the Peer, decides when to give up). A closing connection gives its last
// messages closeFlushTimeout.
func (bc *bgpConn) writeAll(b []byte, closing bool, blocked *bool) error {
	for len(b) > 0 {
		limit := blockedAfter
		if closing {
			limit = closeFlushTimeout
		}
		_ = bc.c.SetWriteDeadline(time.Now().Add(limit))
		n, err := bc.c.Write(b)
		b = b[n:]
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded) && !closing:
			if n == 0 && !*blocked {
				*blocked = true
				bc.root.Send(bc.pid, connBlocked{conn: bc.id, blocked: true})
			}
		default:
			return err
		}
	}
	return nil
}
