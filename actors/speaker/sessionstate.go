package speaker

import (
	"context"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/heraldlb/herald/actors"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/bgpwire"
	"github.com/heraldlb/herald/bgpwire/peer"
)

// Labels on the status objects a speaker writes, so they can be selected
// by node and by the object they describe.
const (
	LabelNode = "metallb.io/node"
	LabelPeer = "metallb.io/peer"
)

// sessionStateName names a node's BGPSessionState for a peer: node-peer
// and a hash of the pair. Node and BGPPeer names may both hold dashes and
// dots, so no separator alone keeps two pairs apart (node rack-a with peer
// tor, node rack with peer a-tor); the hash does. Both are DNS-1123
// names, so the result is one too.
func sessionStateName(node, peerName string) string {
	h := partsHash(node, peerName)[:8]
	readable := node + "-" + peerName
	if len(readable) > 253-9 {
		readable = strings.TrimRight(readable[:253-9], ".-")
	}
	return readable + "-" + h
}

// sessionStatus is what the BGPSessionState says of a Peer's status.
func sessionStatus(node, peerName, addr string, st peer.Status) v1beta1.BGPSessionStateStatus {
	out := v1beta1.BGPSessionStateStatus{
		Node: node, Peer: peerName, PeerAddress: addr,
		BGPState:     st.State.String(),
		PrefixesIPv4: int64(st.Announced[peer.IPv4]),
		PrefixesIPv6: int64(st.Announced[peer.IPv6]),
		UpdatesSent:  int64(st.UpdatesSent),
	}
	if !st.LastTransition.At.IsZero() {
		t := metav1.NewTime(st.LastTransition.At)
		out.LastTransition = &t
	}
	if st.LastError != nil {
		out.LastError = st.LastError.Error()
	}
	if st.LastSent.Code != 0 {
		out.LastNotificationSent = st.LastSent.String()
	}
	if st.LastReceived.Code != 0 {
		out.LastNotificationReceived = st.LastReceived.String()
	}
	out.MessagesReceived = messageCounts(st.MessagesIn)
	out.MessagesSent = messageCounts(st.MessagesOut)
	return out
}

func messageCounts(c peer.MessageCounts) map[string]int64 {
	out := map[string]int64{}
	for t, n := range c {
		if n > 0 {
			out[strings.ToUpper(bgpwire.MessageType(t).String())] = int64(n)
		}
	}
	return out
}

// sameSessionStatus compares what makes a write worth it: everything but
// the message counts, which move with every KEEPALIVE.
func sameSessionStatus(a, b v1beta1.BGPSessionStateStatus) bool {
	ta, tb := a.LastTransition, b.LastTransition
	return a.Node == b.Node && a.Peer == b.Peer && a.PeerAddress == b.PeerAddress &&
		a.BGPState == b.BGPState && a.BFDState == b.BFDState && a.LastError == b.LastError &&
		a.LastNotificationSent == b.LastNotificationSent && a.LastNotificationReceived == b.LastNotificationReceived &&
		a.PrefixesIPv4 == b.PrefixesIPv4 && a.PrefixesIPv6 == b.PrefixesIPv6 && a.UpdatesSent == b.UpdatesSent &&
		(ta == nil) == (tb == nil) && (ta == nil || ta.Equal(tb))
}

// newSessionStateWriter publishes a session's BGPSessionState. Counters
// that move with every KEEPALIVE alone (the message counts) do not make a
// write on their own: they ride along with the next change.
func newSessionStateWriter(e *env, peerName string) *actors.StatusWriter[v1beta1.BGPSessionStateStatus] {
	name := sessionStateName(e.node, peerName)
	client := e.mlb.MetallbV1beta1().BGPSessionStates(e.namespace)
	return actors.NewStatusWriter(e.Runtime, "bgpsessionstate", name, sameSessionStatus,
		func(ctx context.Context, desired v1beta1.BGPSessionStateStatus, _ bool) error {
			cur, err := client.Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				cur, err = client.Create(ctx, &v1beta1.BGPSessionState{ObjectMeta: metav1.ObjectMeta{
					Name: name, Namespace: e.namespace,
					Labels: map[string]string{LabelNode: e.node, LabelPeer: peerName},
				}}, metav1.CreateOptions{})
			}
			if err != nil {
				return err
			}
			if sameSessionStatus(cur.Status, desired) {
				return nil
			}
			cur.Status = desired
			_, err = client.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			return err
		})
}

// deleteSessionState removes a session's BGPSessionState once the session
// is no longer planned.
func deleteSessionState(e *env, peerName string) {
	deleteSessionStateObject(e, sessionStateName(e.node, peerName), metav1.DeleteOptions{})
}

func deleteSessionStateObject(e *env, name string, opts metav1.DeleteOptions) {
	client := e.mlb.MetallbV1beta1().BGPSessionStates(e.namespace)
	go func() {
		// The tree's lifetime may be ending; a session removed while the
		// speaker runs gets its own short deadline.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.Ctx), 10*time.Second)
		defer cancel()
		if err := client.Delete(ctx, name, opts); err != nil && !apierrors.IsNotFound(err) {
			e.Log.Warn("deleting a BGPSessionState failed", "name", name, "err", err)
		}
	}()
}

// sessionStatesListed is this node's BGPSessionStates as the API held
// them when the peers actor first had every planned session.
type sessionStatesListed struct {
	objs []metav1.ObjectMeta
	err  error
}

// listSessionStates reads this node's BGPSessionStates, off the actor, for
// dropStaleSessionStates.
func listSessionStates(e *env, to *actor.PID) {
	if len(validation.IsValidLabelValue(e.node)) != 0 {
		return // no object can name this node in a label
	}
	actors.GoAPI(e.Runtime, to, func(ctx context.Context) sessionStatesListed {
		l, err := e.mlb.MetallbV1beta1().BGPSessionStates(e.namespace).List(ctx,
			metav1.ListOptions{LabelSelector: labels.SelectorFromSet(labels.Set{LabelNode: e.node}).String()})
		if err != nil {
			return sessionStatesListed{err: err}
		}
		out := make([]metav1.ObjectMeta, 0, len(l.Items))
		for _, o := range l.Items {
			out = append(out, o.ObjectMeta)
		}
		return sessionStatesListed{objs: out}
	})
}

// dropStaleSessionStates deletes the BGPSessionStates of this node that no
// planned session writes: a BGPPeer deleted or no longer selecting this
// node while no speaker ran here (a stopping speaker keeps its objects for
// the next), or an object of an earlier name. Each deletion is
// conditional on the object listed, so one a new session has written
// since stays.
func (a *peersActor) dropStaleSessionStates(m sessionStatesListed) {
	if m.err != nil {
		a.e.Log.Warn("listing this node's BGPSessionStates failed; stale ones stay until the next start", "err", m.err)
		return
	}
	for _, o := range m.objs {
		p := o.Labels[LabelPeer]
		if a.open[p] && o.Name == sessionStateName(a.e.node, p) {
			continue
		}
		uid := o.UID
		deleteSessionStateObject(a.e, o.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	}
}
