package config

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/api/v1beta2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Input is every object the compiler reads. The caller gathers them (from
// informers or from files); Compile does no I/O. Objects of one kind are
// told apart by name, as they all live in Herald's namespace.
type Input struct {
	IPAddressPools    []v1beta1.IPAddressPool
	L2Advertisements  []v1beta1.L2Advertisement
	BGPAdvertisements []v1beta1.BGPAdvertisement
	BGPPeers          []v1beta2.BGPPeer
	// BGPPeersV1beta1 are peers written at the deprecated version; they
	// are converted to v1beta2 first (with v1beta1.BGPPeer.ConvertTo) and draw a
	// warning.
	BGPPeersV1beta1 []v1beta1.BGPPeer
	BFDProfiles     []v1beta1.BFDProfile
	Communities     []v1beta1.Community

	// Namespaces resolve serviceAllocation.namespaceSelectors; Nodes
	// resolve node selectors; Secrets hold BGP passwords.
	Namespaces []corev1.Namespace
	Nodes      []corev1.Node
	Secrets    []corev1.Secret
}

// Config is one validated configuration. It is immutable once Compile
// returns it: every slice and pointer in it is shared by its readers and
// must not be modified. Slices are sorted by name.
type Config struct {
	Pools             []*Pool
	L2Advertisements  []*L2Advertisement
	BGPAdvertisements []*BGPAdvertisement
	Peers             []*Peer
	BFDProfiles       []*BFDProfile
	// BFDAuth is the authentication of each BFDProfile that has one, by
	// profile name.
	BFDAuth map[string]*BFDAuth
	// Communities are the aliases defined by Community objects.
	Communities map[string]Community
	// Warnings are the non-fatal remarks made while compiling.
	Warnings []Warning

	pools map[string]*Pool
	peers map[string]*Peer
}

// Pool returns the pool with this name.
func (c *Config) Pool(name string) (*Pool, bool) { p, ok := c.pools[name]; return p, ok }

// Peer returns the BGP peer with this name.
func (c *Config) Peer(name string) (*Peer, bool) { p, ok := c.peers[name]; return p, ok }

// Pool is a compiled IPAddressPool.
type Pool struct {
	Name      string
	Namespace string
	Labels    map[string]string
	// Ranges are spec.addresses in order, parsed. They overlap neither
	// each other nor any other pool's.
	Ranges        []AddrRange
	AutoAssign    bool
	AvoidBuggyIPs bool
	// Allocation restricts the Services the pool serves; nil admits all.
	Allocation *ServiceAllocation
	// L2Advertisements and BGPAdvertisements are the advertisements that
	// select this pool, sorted by name.
	L2Advertisements  []*L2Advertisement
	BGPAdvertisements []*BGPAdvertisement
}

// HasIPv4 reports whether the pool holds IPv4 addresses.
func (p *Pool) HasIPv4() bool {
	return slices.ContainsFunc(p.Ranges, func(r AddrRange) bool { return !r.Is6() })
}

// HasIPv6 reports whether the pool holds IPv6 addresses.
func (p *Pool) HasIPv6() bool { return slices.ContainsFunc(p.Ranges, AddrRange.Is6) }

// Contains reports whether ip is one of the pool's addresses.
func (p *Pool) Contains(ip netip.Addr) bool {
	return slices.ContainsFunc(p.Ranges, func(r AddrRange) bool { return r.Contains(ip) })
}

// ServiceAllocation is a pool's compiled spec.serviceAllocation.
type ServiceAllocation struct {
	// Priority orders the admitting pools: lower first, 0 after all others.
	Priority int
	// Namespaces admitted by name, plus those of Input.Namespaces that
	// NamespaceSelectors matched at compile time; sorted.
	Namespaces []string
	// NamedNamespaces are those admitted by name alone (spec
	// serviceAllocation.namespaces), sorted: for callers that match the
	// selectors themselves against a Namespace's labels of now.
	NamedNamespaces []string
	// NamespaceSelectors are kept so a namespace created later can be
	// matched without recompiling.
	NamespaceSelectors []labels.Selector
	ServiceSelectors   []labels.Selector
}

// Admits reports whether a Service with svcLabels in namespace namespace
// (whose labels are nsLabels) may take addresses from the pool: its
// namespace must be listed or selected (when any are given) and its labels
// must match a service selector (when any are given).
func (a *ServiceAllocation) Admits(namespace string, nsLabels, svcLabels labels.Set) bool {
	if a == nil {
		return true
	}
	nsOK := len(a.Namespaces) == 0 && len(a.NamespaceSelectors) == 0
	if _, found := slices.BinarySearch(a.Namespaces, namespace); found {
		nsOK = true
	}
	if !nsOK && anyMatches(a.NamespaceSelectors, nsLabels) {
		nsOK = true
	}
	return nsOK && (len(a.ServiceSelectors) == 0 || anyMatches(a.ServiceSelectors, svcLabels))
}

// NodeSelection is a compiled list of node selectors: a node is selected
// when any selector matches it, and every node is selected when there are
// none.
type NodeSelection struct {
	Selectors []labels.Selector
	// Nodes are the names of the Input.Nodes selected at compile time.
	Nodes []string
}

// All reports whether every node is selected.
func (s NodeSelection) All() bool { return len(s.Selectors) == 0 }

// Matches reports whether a node with these labels is selected.
func (s NodeSelection) Matches(nodeLabels labels.Set) bool {
	return s.All() || anyMatches(s.Selectors, nodeLabels)
}

// L2Advertisement is a compiled L2Advertisement.
type L2Advertisement struct {
	Name      string
	Namespace string
	// Pools are the names of the selected pools, sorted; every pool when
	// the object selects none.
	Pools []string
	Nodes NodeSelection
	// Interfaces limits the answering interfaces; empty means all.
	Interfaces       []string
	ServiceSelectors []labels.Selector
	PreferredNodes   []PreferredNodes
}

// PreferredNodes adds Weight to the score of every node Selector matches.
type PreferredNodes struct {
	Weight   int32
	Selector labels.Selector
}

// BGPAdvertisement is a compiled BGPAdvertisement.
type BGPAdvertisement struct {
	Name      string
	Namespace string
	// Pools are the names of the selected pools, sorted; every pool when
	// the object selects none.
	Pools               []string
	AggregationLength   int
	AggregationLengthV6 int
	// LocalPref is sent to iBGP peers only; 0 means not set.
	LocalPref uint32
	// Communities and large communities, aliases resolved, deduplicated,
	// in the order written.
	Communities []Community
	Nodes       NodeSelection
	// Peers are the names of the peers that receive the routes, sorted;
	// every peer when the object lists none (AllPeers).
	Peers            []string
	AllPeers         bool
	ServiceSelectors []labels.Selector
}

// Defaults applied to BGPPeer timers.
const (
	DefaultHoldTime    = 90 * time.Second
	DefaultConnectTime = 120 * time.Second // RFC 4271's suggested ConnectRetryTime
	DefaultPeerPort    = 179
	// MaxPeerPort is the CRD's bound on peerPort, MetalLB's published one,
	// so herald validate accepts exactly what the API server accepts.
	MaxPeerPort = 16384
)

// Peer is a compiled BGPPeer (v1beta1 objects are converted first).
type Peer struct {
	Name      string
	Namespace string
	MyASN     uint32
	// ASN is the peer's AS; 0 when DynamicASN is set.
	ASN        uint32
	DynamicASN v1beta2.DynamicASNMode
	LocalASN   uint32
	// Address is invalid for an unnumbered peer (Interface set).
	Address       netip.Addr
	Interface     string
	SourceAddress netip.Addr
	Port          uint16
	// HoldTime is 0 (no keepalives) or at least 3s; KeepaliveTime is 0
	// when HoldTime is 0, and shorter than HoldTime otherwise.
	HoldTime      time.Duration
	KeepaliveTime time.Duration
	ConnectTime   time.Duration
	RouterID      netip.Addr
	Nodes         NodeSelection
	// Password is the TCP MD5 password, from spec.password or from the
	// referenced Secret; empty for none.
	Password string
	// BFD is the resolved profile; nil when BFD is off.
	BFD *BFDProfile
	// BFDAuth is the profile's authentication; nil for none. It is kept
	// apart from BFDProfile, which mirrors bgpwire/bfd.Profile field for
	// field so that one converts to the other.
	BFDAuth               *BFDAuth
	EnableGracefulRestart bool
	EBGPMultiHop          bool
	// TTLSecurity: GTSM (RFC 5082) on a directly connected eBGP session.
	TTLSecurity            bool
	VRF                    string
	DisableMP              bool
	DualStackAddressFamily bool
}

// IBGP reports whether the session is internal: the peer's AS is the one
// this end presents in its OPEN, which is LocalASN when it is set. The
// wire (bgpwire/peer) decides the same way, and every choice that depends
// on the kind of session (LOCAL_PREF, BFD single- or multihop, GTSM, the
// checks of ebgpMultiHop and ttlSecurity) must agree with it.
func (p *Peer) IBGP() bool {
	if p.DynamicASN != "" {
		return p.DynamicASN == v1beta2.InternalASNMode
	}
	return p.ASN == p.LocalAS()
}

// LocalAS is the AS number this end presents to the peer: LocalASN when
// set, else MyASN.
func (p *Peer) LocalAS() uint32 {
	if p.LocalASN != 0 {
		return p.LocalASN
	}
	return p.MyASN
}

// BFD defaults, as FRR applies them.
const (
	DefaultBFDReceiveInterval  = 300
	DefaultBFDTransmitInterval = 300
	DefaultBFDDetectMultiplier = 3
	DefaultBFDEchoInterval     = 50
	DefaultBFDMinimumTTL       = 254
)

// BFDProfile is a compiled BFDProfile with every default applied.
type BFDProfile struct {
	Name string
	// Intervals in milliseconds.
	ReceiveInterval  uint32
	TransmitInterval uint32
	DetectMultiplier uint32
	EchoInterval     uint32
	EchoMode         bool
	PassiveMode      bool
	MinimumTTL       uint32
}

// BFDAuth is a BFDProfile's spec.authentication (a Herald extension; MetalLB
// has none): the RFC 5880 authentication of every session that uses the
// profile.
type BFDAuth struct {
	Type  v1beta1.BFDAuthType
	KeyID uint8
	// Key is the password or key from the Secret's "password" key, 1 to 16
	// bytes (1 to 20 for the SHA1 types).
	Key string
	// Secret names the Secret the key came from.
	Secret string
}

// Result is everything Analyze found: a Config when there is no error.
type Result struct {
	Config   *Config
	Errors   Errors
	Warnings []Warning
}

// Compile validates in and compiles it into a Config. On any problem it
// returns a nil Config and an Errors listing every problem found.
// Warnings are in Config.Warnings; use Analyze to get them on failure too.
func Compile(in Input) (*Config, error) {
	r := Analyze(in)
	if len(r.Errors) > 0 {
		return nil, r.Errors
	}
	return r.Config, nil
}

// Analyze compiles in and returns errors and warnings separately, so a
// caller such as `herald validate` can print warnings of a configuration
// that also has errors.
func Analyze(in Input) Result {
	d := &diagnostics{}
	c := &Config{pools: map[string]*Pool{}, peers: map[string]*Peer{}}

	peers := convertPeers(in, d)
	c.Communities = compileCommunityAliases(in.Communities, d)
	bfd := compileBFDProfiles(in.BFDProfiles, in.Secrets, d)
	c.BFDProfiles = sortedValues(bfd.profiles)
	c.BFDAuth = bfd.auth
	c.Pools = compilePools(in, d)
	for _, p := range c.Pools {
		c.pools[p.Name] = p
	}
	c.Peers = compilePeers(peers, in, bfd, d)
	for _, p := range c.Peers {
		c.peers[p.Name] = p
	}
	c.L2Advertisements = compileL2Advertisements(in, c, d)
	c.BGPAdvertisements = compileBGPAdvertisements(in, c, d)
	checkPeerSessions(c, in.Nodes, d)
	checkAdvertisementsPerPool(c, in.Nodes, d)
	warnUnannounced(c, d)

	sortErrors(d.errs)
	c.Warnings = d.warnings
	if len(d.errs) > 0 {
		return Result{Errors: d.errs, Warnings: d.warnings}
	}
	return Result{Config: c, Warnings: d.warnings}
}

// kindOrder is the order errors are reported in: what the others refer to
// first.
var kindOrder = map[string]int{
	"IPAddressPool": 0, "BFDProfile": 1, "Community": 2, "BGPPeer": 3, "L2Advertisement": 4, "BGPAdvertisement": 5,
}

func sortErrors(es Errors) {
	slices.SortStableFunc(es, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(kindOrder[a.Kind], kindOrder[b.Kind]),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

func sortedValues[T any](m map[string]*T) []*T {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*T, len(keys))
	for i, k := range keys {
		out[i] = m[k]
	}
	return out
}
