package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/testbed/netlab"
)

// Helpers of the BGP session tests (issue 10) on top of speakerLab.

// parallel runs do(0..n-1) on workers goroutines and returns the first
// error.
func parallel(n, workers int, do func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	next := make(chan int)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := do(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// manyServices creates n LoadBalancer Services named prefix-0..prefix-(n-1),
// each with an EndpointSlice holding one ready endpoint on each of nodes,
// and waits until every one has an IP. It returns the IPs by name. No
// backends run: the routes are what the caller checks.
func (l *speakerLab) manyServices(prefix string, n int, nodes ...string) map[string]netip.Addr {
	t := l.t
	t.Helper()
	ctx := t.Context()
	err := parallel(n, 16, func(i int) error {
		name := fmt.Sprintf("%s-%d", prefix, i)
		if _, err := l.admin.CoreV1().Services("default").Create(ctx, lbService("default", name, nil), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating Service %s: %w", name, err)
		}
		es := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
		}
		for j, node := range nodes {
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("10.244.%d.5", j)},
				NodeName: ptr.To(node), Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}})
		}
		if _, err := l.admin.DiscoveryV1().EndpointSlices("default").Create(ctx, es, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating EndpointSlice of %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ips := map[string]netip.Addr{}
	eventuallyEvery(t, 2*time.Minute, time.Second, fmt.Sprintf("%d Services get an IP", n), func() (bool, string) {
		list, err := l.admin.CoreV1().Services("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		clear(ips)
		for _, s := range list.Items {
			if !strings.HasPrefix(s.Name, prefix+"-") {
				continue
			}
			for _, in := range s.Status.LoadBalancer.Ingress {
				if a, err := netip.ParseAddr(in.IP); err == nil {
					ips[s.Name] = a
				}
			}
		}
		return len(ips) == n, fmt.Sprintf("%d of %d", len(ips), n)
	})
	return ips
}

// deleteServices deletes the Services (and their EndpointSlices) named.
func (l *speakerLab) deleteServices(names []string) {
	t := l.t
	t.Helper()
	ctx := t.Context()
	err := parallel(len(names), 16, func(i int) error {
		err := l.admin.CoreV1().Services("default").Delete(ctx, names[i], metav1.DeleteOptions{})
		if err == nil || apierrors.IsNotFound(err) {
			err = l.admin.DiscoveryV1().EndpointSlices("default").Delete(ctx, names[i]+"-1", metav1.DeleteOptions{})
		}
		if apierrors.IsNotFound(err) {
			err = nil
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// bgpStatusCount counts the ServiceBGPStatus objects of node: the
// Services its planner has routed to some peer.
func (l *speakerLab) bgpStatusCount(node string) (int, error) {
	list, err := l.mlb.MetallbV1beta1().ServiceBGPStatuses(herald).List(l.t.Context(),
		metav1.ListOptions{LabelSelector: "metallb.io/node=" + node})
	if err != nil {
		return 0, err
	}
	return len(list.Items), nil
}

// sessionState reads node's BGPSessionState for the BGPPeer peer, found
// by its labels as kubectl herald finds it (its name carries a hash).
func (l *speakerLab) sessionState(node, peer string) (v1beta1.BGPSessionStateStatus, error) {
	list, err := l.mlb.MetallbV1beta1().BGPSessionStates(herald).List(l.t.Context(),
		metav1.ListOptions{LabelSelector: "metallb.io/node=" + node + ",metallb.io/peer=" + peer})
	if err != nil {
		return v1beta1.BGPSessionStateStatus{}, err
	}
	if len(list.Items) != 1 {
		return v1beta1.BGPSessionStateStatus{}, fmt.Errorf("%d BGPSessionStates of node %s and peer %s, want 1", len(list.Items), node, peer)
	}
	return list.Items[0].Status, nil
}

// waitSession waits until node's BGPSessionState for peer satisfies cond,
// and returns it.
func (l *speakerLab) waitSession(node, peer string, timeout time.Duration, what string,
	cond func(v1beta1.BGPSessionStateStatus) bool) v1beta1.BGPSessionStateStatus {
	l.t.Helper()
	var st v1beta1.BGPSessionStateStatus
	eventuallyEvery(l.t, timeout, 100*time.Millisecond, node+"'s session with "+peer+": "+what, func() (bool, string) {
		var err error
		st, err = l.sessionState(node, peer)
		if err != nil {
			return false, err.Error()
		}
		return cond(st), fmt.Sprintf("%+v", st)
	})
	return st
}

// metric returns the value of the series name{labels} on node's speaker's
// /metrics; labels are "key=value" pairs that must all be on the series.
func (l *speakerLab) metric(node netlab.Host, name string, labels ...string) (float64, error) {
	ctx, cancel := context.WithTimeout(l.t.Context(), 5*time.Second)
	defer cancel()
	body, err := l.lab.HTTPGet(ctx, node.NS, "http://"+speakerMetricsAddr+"/metrics")
	if err != nil {
		return 0, err
	}
	v, ok, err := seriesValue(body, name, labels...)
	if err == nil && !ok {
		err = fmt.Errorf("%s: no series %s%v on /metrics", node.Name, name, labels)
	}
	return v, err
}

// seriesValue finds the series name{labels} in a /metrics page; labels are
// "key=value" pairs that must all be on the series.
func seriesValue(body, name string, labels ...string) (float64, bool, error) {
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		series, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		metric, rest, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		match := true
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if !strings.Contains(rest, k+`="`+v+`"`) {
				match = false
			}
		}
		if match {
			v, err := strconv.ParseFloat(value, 64)
			return v, err == nil, err
		}
	}
	return 0, false, sc.Err()
}

// wireMessage is one BGP message seen in a capture.
type wireMessage struct {
	Time     time.Time
	Src, Dst netip.AddrPort
	// Type is the BGP message type (1 OPEN, 2 UPDATE, 3 NOTIFICATION, 4
	// KEEPALIVE); Code and Subcode are a NOTIFICATION's.
	Type, Code, Subcode uint8
}

// bgpOnWire reassembles each direction of each TCP connection in segs
// (in capture order, retransmitted bytes dropped by sequence number) and
// splits it into BGP messages.
func bgpOnWire(segs []netlab.Segment) []wireMessage {
	type flow struct{ src, dst netip.AddrPort }
	type stream struct {
		next  uint32
		began bool
		buf   []byte
		at    []time.Time // arrival of each byte's segment, by offset of its first byte
		offs  []int
	}
	streams := map[flow]*stream{}
	var order []flow
	for _, s := range segs {
		f := flow{s.Src, s.Dst}
		st := streams[f]
		if s.Flags&netlab.TCPSyn != 0 {
			st = &stream{next: s.Seq + 1, began: true}
			if streams[f] == nil {
				order = append(order, f)
			}
			streams[f] = st
			continue
		}
		if st == nil || !st.began || len(s.Payload) == 0 {
			continue
		}
		p := s.Payload
		if d := int32(st.next - s.Seq); d > 0 { // retransmitted bytes
			if int(d) >= len(p) {
				continue
			}
			p = p[d:]
		} else if d < 0 {
			continue // a gap: the capture missed a segment
		}
		st.offs = append(st.offs, len(st.buf))
		st.at = append(st.at, s.Time)
		st.buf = append(st.buf, p...)
		st.next += uint32(len(p))
	}
	var out []wireMessage
	for _, f := range order {
		st := streams[f]
		for off, seg := 0, 0; off+19 <= len(st.buf); {
			n := int(st.buf[off+16])<<8 | int(st.buf[off+17])
			if n < 19 || off+n > len(st.buf) {
				break
			}
			for seg+1 < len(st.offs) && st.offs[seg+1] <= off+n-1 {
				seg++
			}
			m := wireMessage{Time: st.at[seg], Src: f.src, Dst: f.dst, Type: st.buf[off+18]}
			if m.Type == 3 && n >= 21 {
				m.Code, m.Subcode = st.buf[off+19], st.buf[off+20]
			}
			out = append(out, m)
			off += n
		}
	}
	slices.SortStableFunc(out, func(a, b wireMessage) int { return a.Time.Compare(b.Time) })
	return out
}

// captureBGP starts a capture of BGP (ports 179 and 1790) on iface in ns
// for the rest of the test.
func (l *speakerLab) captureBGP(ns, iface string) *netlab.Capture {
	l.t.Helper()
	c, err := l.lab.StartCapture(ns, iface, "tcp port 179 or tcp port 1790", l.t.TempDir())
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(c.Stop)
	return c
}
