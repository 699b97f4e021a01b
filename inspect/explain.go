package inspect

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/resourceversion"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/informers"
	"github.com/heraldlb/herald/servicestatus"
	"github.com/heraldlb/herald/tracing"
)

// Facts is everything explain reads about one Service.
type Facts struct {
	Service *corev1.Service
	// Events are the Events whose involvedObject is the Service, any order.
	Events []corev1.Event
	// ControllerState is the controller's ConfigurationState, nil if none.
	ControllerState *v1beta1.ConfigurationState
	// Config is the configuration compiled locally, nil when it does not
	// compile (ConfigErr says why) or was not read.
	Config    *config.Config
	ConfigErr error
	// Speakers' reports, of every Service (Explain picks this one's).
	BGP      []v1beta1.ServiceBGPStatus
	L2       []v1beta1.ServiceL2Status
	Sessions []v1beta1.BGPSessionState
}

// Explanation is explain's answer, in the order it is printed.
type Explanation struct {
	Service string `json:"service"`
	Reason  Reason `json:"reason"`
	// Summary is the one line naming the reason.
	Summary string   `json:"summary"`
	IPs     []string `json:"ips,omitempty"`
	Pool    string   `json:"pool,omitempty"`
	// RequestedBy says how the IP or pool was chosen: "spec.loadBalancerIP",
	// an annotation's name, or "automatic".
	RequestedBy string `json:"requestedBy,omitempty"`
	SharingKey  string `json:"sharingKey,omitempty"`
	// ControllerMessage is the controller's last AllocationFailed message.
	ControllerMessage string `json:"controllerMessage,omitempty"`
	// Configuration is the controller's ConfigurationState verdict, with
	// its errors when it is not Valid.
	Configuration string            `json:"configuration,omitempty"`
	BGP           []BGPAnnouncement `json:"bgp,omitempty"`
	L2            []L2Announcement  `json:"l2,omitempty"`
	TraceID       string            `json:"traceID,omitempty"`
	// TraceError says why the traceparent annotation could not be read.
	TraceError string `json:"traceError,omitempty"`
	// Notes are further remarks (what could not be checked, and why).
	Notes []string `json:"notes,omitempty"`
}

// BGPAnnouncement is one node announcing the Service to its peers.
type BGPAnnouncement struct {
	Node  string        `json:"node"`
	Peers []PeerSession `json:"peers"`
}

// PeerSession is a BGPPeer and, when its BGPSessionState exists, the
// session's BGP and BFD states as the node's speaker last reported them.
type PeerSession struct {
	Peer     string `json:"peer"`
	BGPState string `json:"bgpState,omitempty"`
	BFDState string `json:"bfdState,omitempty"`
}

// L2Announcement is the node answering ARP/NDP for the Service.
type L2Announcement struct {
	Node       string   `json:"node"`
	Interfaces []string `json:"interfaces,omitempty"`
}

// Explain says why f.Service has its IPs, or why it has none, and who
// announces it.
func Explain(f Facts) Explanation {
	svc := f.Service
	parsed := informers.ParseService(svc)
	x := Explanation{Service: svc.Namespace + "/" + svc.Name, SharingKey: parsed.Alloc.SharingKey}
	x.Configuration = configurationVerdict(f.ControllerState)
	if tp, ok := svc.Annotations[tracing.TraceparentAnnotation]; ok {
		if sc, err := tracing.ParseTraceparent(tp); err != nil {
			x.TraceError = err.Error()
		} else {
			x.TraceID = sc.TraceID().String()
		}
	}
	x.BGP, x.L2 = announcements(f, svc)

	switch {
	case svc.Spec.Type != corev1.ServiceTypeLoadBalancer:
		x.Reason = ReasonNotLoadBalancer
		x.Summary = fmt.Sprintf("type %s, not LoadBalancer: Herald gives it no IP", svc.Spec.Type)
		return x
	case parsed.Class != "" && !heraldsWord(f, parsed):
		// A class Herald's controller serves only with --lb-class; without
		// its Events or its pool annotation on the Service, another load
		// balancer's IPs must not be explained as Herald's.
		x.Reason = ReasonOtherClass
		x.Summary = fmt.Sprintf("loadBalancerClass %q and no word from Herald's controller: another load balancer serves it, or Herald's controller does not run with --lb-class %s", parsed.Class, parsed.Class)
		return x
	}
	x.RequestedBy = requestedBy(svc, parsed)
	if len(parsed.StatusIPs) > 0 {
		explainAllocated(&x, f, parsed)
		return x
	}
	explainPending(&x, f)
	return x
}

// heraldsWord reports whether Herald's controller has dealt with the
// Service: it recorded the pool its IPs came from, or wrote an allocation
// Event about this incarnation of it.
func heraldsWord(f Facts, parsed informers.Service) bool {
	return parsed.AllocatedFromPool != "" || lastControllerWord(f.Events, string(f.Service.UID)) != nil
}

// requestedBy says what chose the Service's IP or pool.
func requestedBy(svc *corev1.Service, parsed informers.Service) string {
	switch {
	case strings.TrimSpace(svc.Spec.LoadBalancerIP) != "":
		return "spec.loadBalancerIP"
	case len(parsed.Alloc.RequestedIPs) > 0:
		return "annotation " + informers.AnnotationLoadBalancerIPs
	case parsed.Alloc.RequestedPool != "":
		return "annotation " + informers.AnnotationAddressPool
	}
	return "automatic"
}

func explainAllocated(x *Explanation, f Facts, parsed informers.Service) {
	for _, ip := range parsed.StatusIPs {
		x.IPs = append(x.IPs, ip.String())
	}
	x.Pool = parsed.AllocatedFromPool
	if x.Pool == "" && f.Config != nil {
		x.Pool = poolContaining(f.Config, parsed.StatusIPs[0])
	}
	how := "chosen automatically"
	switch {
	case x.RequestedBy == "automatic":
	case strings.HasSuffix(x.RequestedBy, informers.AnnotationAddressPool):
		how = "pool requested by " + x.RequestedBy
	default:
		how = "requested by " + x.RequestedBy
	}
	if x.SharingKey != "" {
		how += fmt.Sprintf(", shareable under key %q", x.SharingKey)
	}
	has := fmt.Sprintf("%s from pool %q (%s)", strings.Join(x.IPs, ","), x.Pool, how)
	if len(x.L2) > 0 || establishedNodes(x.BGP) > 0 {
		x.Reason = ReasonAnnounced
		x.Summary = has + ", " + announcedBy(x)
		return
	}
	if len(x.BGP) > 0 {
		// A ServiceBGPStatus lists the peers a speaker means to announce
		// to, whatever their sessions' state.
		x.Reason = ReasonSessionsDown
		x.Summary = fmt.Sprintf("%s; %d node(s) would announce it over BGP, but none of their sessions to those peers is Established: no router has it", has, len(x.BGP))
		return
	}
	if f.Config == nil {
		x.Reason = ReasonAllocated
		x.Summary = has + "; no speaker reports announcing it"
		if f.ConfigErr != nil {
			x.Notes = append(x.Notes, "could not check the advertisements: "+firstLine(f.ConfigErr.Error()))
		}
		return
	}
	if why := unadvertised(f.Config, x.Pool, parsed.Alloc.Labels); why != "" {
		x.Reason = ReasonNoAdvertisement
		x.Summary = has + ", but " + why + ": nothing announces it"
		return
	}
	x.Reason = ReasonAllocated
	x.Summary = has + "; an advertisement selects it, but no speaker reports announcing it (are speakers running on the selected nodes?)"
}

// establishedNodes counts the nodes with at least one Established
// session among the peers they announce to.
func establishedNodes(bgp []BGPAnnouncement) int {
	n := 0
	for _, a := range bgp {
		if slices.ContainsFunc(a.Peers, func(p PeerSession) bool { return p.BGPState == "Established" }) {
			n++
		}
	}
	return n
}

func announcedBy(x *Explanation) string {
	var parts []string
	if n := establishedNodes(x.BGP); n > 0 {
		parts = append(parts, fmt.Sprintf("announced over BGP by %d node(s)", n))
	}
	if len(x.L2) > 0 {
		parts = append(parts, "answered on L2 by "+x.L2[0].Node)
	}
	return strings.Join(parts, ", ")
}

// unadvertised says why no advertisement announces a Service of pool with
// these labels, or "" when one does.
func unadvertised(cfg *config.Config, pool string, svcLabels labels.Set) string {
	p, ok := cfg.Pool(pool)
	if !ok {
		return fmt.Sprintf("pool %q is not in the configuration", pool)
	}
	var names []string
	for _, a := range p.L2Advertisements {
		if selectsService(a.ServiceSelectors, svcLabels) {
			return ""
		}
		names = append(names, "L2Advertisement "+a.Name)
	}
	for _, a := range p.BGPAdvertisements {
		if selectsService(a.ServiceSelectors, svcLabels) {
			return ""
		}
		names = append(names, "BGPAdvertisement "+a.Name)
	}
	if len(names) == 0 {
		return fmt.Sprintf("no L2Advertisement or BGPAdvertisement selects pool %q", pool)
	}
	return fmt.Sprintf("the advertisements of pool %q (%s) select other Services by label (serviceSelectors)", pool, strings.Join(names, ", "))
}

func selectsService(sels []labels.Selector, svcLabels labels.Set) bool {
	if len(sels) == 0 {
		return true
	}
	return slices.ContainsFunc(sels, func(s labels.Selector) bool { return s.Matches(svcLabels) })
}

func poolContaining(cfg *config.Config, ip netip.Addr) string {
	for _, p := range cfg.Pools {
		if p.Contains(ip) {
			return p.Name
		}
	}
	return ""
}

func explainPending(x *Explanation, f Facts) {
	last := lastControllerWord(f.Events, string(f.Service.UID))
	switch {
	case last != nil && last.Reason == servicestatus.ReasonAllocationFailed:
		x.ControllerMessage = last.Message
		reason, phrase := ClassifyFailure(last.Message)
		x.Reason = reason
		x.Summary = "pending: " + phrase + ": " + firstLine(last.Message)
	case f.ControllerState != nil && f.ControllerState.Status.Result == v1beta1.ConfigurationInvalid:
		// No Event (yet, or expired), but the controller says why nothing
		// is allocated.
		x.Reason = ReasonConfigInvalid
		x.Summary = "pending: the newest configuration is invalid (an older valid one, if the controller loaded one, still allocates; no Event about this Service yet): " +
			firstLine(f.ControllerState.Status.ErrorSummary)
	default:
		x.Reason = ReasonNoReport
		x.Summary = "pending: the controller has said nothing about it (is herald controller running, and does it serve this Service's class?)"
		if last != nil {
			x.Summary = fmt.Sprintf("pending: no IP, and the controller's last Event is %s: %s", last.Reason, firstLine(last.Message))
		}
	}
}

// lastControllerWord returns the newest of the controller's allocation
// Events on this incarnation of the Service (uid), or nil. Newest is by
// resourceVersion, which every write of an Event (a repeat included)
// raises, so it orders Events of one second correctly; timestamps decide
// only when a resourceVersion is not comparable.
func lastControllerWord(events []corev1.Event, uid string) *corev1.Event {
	var last *corev1.Event
	for i := range events {
		e := &events[i]
		switch e.Reason {
		case servicestatus.ReasonAllocationFailed, servicestatus.ReasonIPAllocated, servicestatus.ReasonClearedIP:
		default:
			continue
		}
		if uid != "" && e.InvolvedObject.UID != "" && string(e.InvolvedObject.UID) != uid {
			continue
		}
		if last == nil || newerEvent(e, last) {
			last = e
		}
	}
	return last
}

func newerEvent(a, b *corev1.Event) bool {
	if c, err := resourceversion.CompareResourceVersion(a.ResourceVersion, b.ResourceVersion); err == nil {
		return c > 0
	}
	return cmp.Compare(eventTime(a).UnixNano(), eventTime(b).UnixNano()) > 0
}

func configurationVerdict(st *v1beta1.ConfigurationState) string {
	if st == nil {
		return ""
	}
	v := string(st.Status.Result)
	if st.Status.Result != v1beta1.ConfigurationValid && st.Status.ErrorSummary != "" {
		v += ": " + strings.ReplaceAll(strings.TrimSpace(st.Status.ErrorSummary), "\n", "; ")
	}
	return v
}

// announcements are the speakers' reports about svc, sorted by node.
func announcements(f Facts, svc *corev1.Service) ([]BGPAnnouncement, []L2Announcement) {
	type nodePeer struct{ node, peer string }
	sessions := map[nodePeer]v1beta1.BGPSessionStateStatus{}
	for _, s := range f.Sessions {
		sessions[nodePeer{s.Status.Node, s.Status.Peer}] = s.Status
	}
	var bgp []BGPAnnouncement
	for _, o := range f.BGP {
		if o.Status.ServiceName != svc.Name || o.Status.ServiceNamespace != svc.Namespace || len(o.Status.Peers) == 0 {
			continue
		}
		a := BGPAnnouncement{Node: o.Status.Node}
		for _, p := range slices.Sorted(slices.Values(o.Status.Peers)) {
			st := sessions[nodePeer{o.Status.Node, p}]
			a.Peers = append(a.Peers, PeerSession{Peer: p, BGPState: st.BGPState, BFDState: st.BFDState})
		}
		bgp = append(bgp, a)
	}
	slices.SortFunc(bgp, func(a, b BGPAnnouncement) int { return cmp.Compare(a.Node, b.Node) })
	var l2 []L2Announcement
	for _, o := range f.L2 {
		if o.Status.ServiceName != svc.Name || o.Status.ServiceNamespace != svc.Namespace {
			continue
		}
		a := L2Announcement{Node: o.Status.Node}
		for _, i := range o.Status.Interfaces {
			a.Interfaces = append(a.Interfaces, i.Name)
		}
		l2 = append(l2, a)
	}
	slices.SortFunc(l2, func(a, b L2Announcement) int { return cmp.Compare(a.Node, b.Node) })
	return bgp, l2
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
