package speaker

import (
	"context"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

// sessionStateName names a node's BGPSessionState for a peer: both are
// DNS-1123 names, so the result is one too.
func sessionStateName(node, peerName string) string { return node + "-" + peerName }

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
	client := e.mlb.MetallbV1beta1().BGPSessionStates(e.namespace)
	name := sessionStateName(e.node, peerName)
	go func() {
		// The tree's lifetime may be ending; a session removed while the
		// speaker runs gets its own short deadline.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(e.Ctx), 10*time.Second)
		defer cancel()
		if err := client.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			e.Log.Warn("deleting a BGPSessionState failed", "name", name, "err", err)
		}
	}()
}
