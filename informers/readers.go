package informers

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/api/client/clientset/versioned"
	mlblisters "github.com/heraldlb/herald/api/client/listers/api/v1beta1"
	mlblistersv2 "github.com/heraldlb/herald/api/client/listers/api/v1beta2"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/api/v1beta2"
	"github.com/heraldlb/herald/config"
)

// listers are the readers of the watched resources; an unwatched one is nil.
type listers struct {
	// services is the Services' cache itself: a speaker's holds
	// speakerService values, which client-go's typed lister cannot read.
	services   cache.Indexer
	namespaces corelisters.NamespaceLister
	nodes      corelisters.NodeLister
	secrets    corelisters.SecretLister
	// slicesByService is the EndpointSlices' cache, indexed by their
	// Service (a speaker's holds speakerSlice values).
	slicesByService cache.Indexer

	pools       mlblisters.IPAddressPoolLister
	l2Advs      mlblisters.L2AdvertisementLister
	bgpAdvs     mlblisters.BGPAdvertisementLister
	peers       mlblistersv2.BGPPeerLister
	bfdProfiles mlblisters.BFDProfileLister
	communities mlblisters.CommunityLister
	confStates  mlblisters.ConfigurationStateLister
}

var resourceNames = [numResources]string{
	Services: "Services", Namespaces: "Namespaces", Nodes: "Nodes", Secrets: "Secrets",
	EndpointSlices: "EndpointSlices", IPAddressPools: "IPAddressPools", L2Advertisements: "L2Advertisements",
	BGPAdvertisements: "BGPAdvertisements", BGPPeers: "BGPPeers", BFDProfiles: "BFDProfiles",
	Communities: "Communities", ConfigurationStates: "ConfigurationStates",
}

func (r Resource) String() string {
	if r > 0 && r < numResources {
		return resourceNames[r]
	}
	return fmt.Sprintf("Resource(%d)", uint8(r))
}

// register builds one resource's informer, its lister and its consistent
// list for WaitCurrent.
func (i *Informers) register(r Resource, kube kubernetes.Interface, mlb versioned.Interface) registration {
	ns := i.opts.Namespace
	core, mv1, mv2 := kube.CoreV1(), mlb.MetallbV1beta1(), mlb.MetallbV1beta2()
	reg := registration{name: r.String(), resource: r, kind: KindConfig}
	switch r {
	case Services:
		inf := i.core.Core().V1().Services()
		i.listers.services, reg.informer, reg.kind = inf.Informer().GetIndexer(), inf.Informer(), KindService
		reg.list = listOf(core.Services("").List)
	case Namespaces:
		inf := i.core.Core().V1().Namespaces()
		i.listers.namespaces, reg.informer, reg.kind = inf.Lister(), inf.Informer(), KindNamespace
		reg.list = listOf(core.Namespaces().List)
	case Nodes:
		inf := i.core.Core().V1().Nodes()
		i.listers.nodes, reg.informer, reg.kind = inf.Lister(), inf.Informer(), KindNode
		reg.list = listOf(core.Nodes().List)
	case Secrets:
		inf := i.coreNS.Core().V1().Secrets()
		i.listers.secrets, reg.informer = inf.Lister(), inf.Informer()
		reg.list = listOf(core.Secrets(ns).List)
	case EndpointSlices:
		inf := i.core.Discovery().V1().EndpointSlices()
		reg.informer, reg.kind = inf.Informer(), KindEndpoints
		// Before the informer starts, so it cannot fail.
		_ = inf.Informer().AddIndexers(cache.Indexers{sliceServiceIndex: sliceService})
		i.listers.slicesByService = inf.Informer().GetIndexer()
		reg.list = listOf(kube.DiscoveryV1().EndpointSlices("").List)
	case IPAddressPools:
		inf := i.mlb.Metallb().V1beta1().IPAddressPools()
		i.listers.pools, reg.informer = inf.Lister(), inf.Informer()
		reg.list = listOf(mv1.IPAddressPools(ns).List)
	case L2Advertisements:
		inf := i.mlb.Metallb().V1beta1().L2Advertisements()
		i.listers.l2Advs, reg.informer = inf.Lister(), inf.Informer()
		reg.list = listOf(mv1.L2Advertisements(ns).List)
	case BGPAdvertisements:
		inf := i.mlb.Metallb().V1beta1().BGPAdvertisements()
		i.listers.bgpAdvs, reg.informer = inf.Lister(), inf.Informer()
		reg.list = listOf(mv1.BGPAdvertisements(ns).List)
	case BGPPeers:
		// Read at v1beta2 only: the API server serves the same objects
		// at both versions, so watching both would see each twice.
		inf := i.mlb.Metallb().V1beta2().BGPPeers()
		i.listers.peers, reg.informer = inf.Lister(), inf.Informer()
		reg.list = listOf(mv2.BGPPeers(ns).List)
	case BFDProfiles:
		inf := i.mlb.Metallb().V1beta1().BFDProfiles()
		i.listers.bfdProfiles, reg.informer = inf.Lister(), inf.Informer()
		reg.list = listOf(mv1.BFDProfiles(ns).List)
	case Communities:
		inf := i.mlb.Metallb().V1beta1().Communities()
		i.listers.communities, reg.informer = inf.Lister(), inf.Informer()
		reg.list = listOf(mv1.Communities(ns).List)
	case ConfigurationStates:
		inf := i.mlb.Metallb().V1beta1().ConfigurationStates()
		i.listers.confStates, reg.informer, reg.kind = inf.Lister(), inf.Informer(), KindConfigurationState
		reg.list = listOf(mv1.ConfigurationStates(ns).List)
	}
	return reg
}

// cachedService is the cached Service itself, or for a speaker the
// slimmed Service rebuilt from its cache: read it, never change it.
func (i *Informers) cachedService(k alloc.ServiceKey) (*corev1.Service, bool) {
	obj, ok := i.cachedServiceEntry(k)
	if !ok {
		return nil, false
	}
	return serviceOf(obj)
}

// cachedServiceEntry is what the Services' cache holds for k, in either
// form.
func (i *Informers) cachedServiceEntry(k alloc.ServiceKey) (any, bool) {
	if i.listers.services == nil {
		return nil, false
	}
	obj, ok, err := i.listers.services.GetByKey(k.Namespace + "/" + k.Name)
	return obj, err == nil && ok
}

// serviceOf reads a Service from either form the cache holds.
func serviceOf(obj any) (*corev1.Service, bool) {
	switch o := obj.(type) {
	case *corev1.Service:
		return o, true
	case *speakerService:
		return o.object(), true
	}
	return nil, false
}

// eachService calls f with every cached Service in namespace ("": all),
// as cachedService reads it. One at a time: a speaker's rebuilt Services
// are garbage as soon as f returns, not 10,000 of them alive at once.
func (i *Informers) eachService(namespace string, f func(*corev1.Service)) {
	if i.listers.services == nil {
		return
	}
	var objs []any
	if namespace == "" {
		objs = i.listers.services.List()
	} else {
		var err error
		if objs, err = i.listers.services.ByIndex(cache.NamespaceIndex, namespace); err != nil {
			return
		}
	}
	for _, o := range objs {
		if s, ok := serviceOf(o); ok {
			f(s)
		}
	}
}

// Service returns the snapshot of one Service, with its Namespace's labels.
func (i *Informers) Service(k alloc.ServiceKey) (Service, bool) {
	obj, ok := i.cachedService(k)
	if !ok {
		return Service{}, false
	}
	s := ParseService(obj)
	s.Alloc.NamespaceLabels = i.NamespaceLabels(k.Namespace)
	return s, true
}

// Services returns a snapshot of every Service, sorted by key.
func (i *Informers) Services() []Service {
	if i.listers.services == nil {
		return nil
	}
	nsLabels := map[string]labels.Set{}
	out := []Service{}
	i.eachService("", func(o *corev1.Service) {
		s := ParseService(o)
		l, ok := nsLabels[o.Namespace]
		if !ok {
			l = i.NamespaceLabels(o.Namespace)
			nsLabels[o.Namespace] = l
		}
		s.Alloc.NamespaceLabels = l
		out = append(out, s)
	})
	slices.SortFunc(out, func(a, b Service) int { return a.Key.Compare(b.Key) })
	return out
}

// ServiceKeysIn returns the keys of the Services in one namespace.
func (i *Informers) ServiceKeysIn(namespace string) []alloc.ServiceKey {
	if i.listers.services == nil {
		return nil
	}
	out := []alloc.ServiceKey{}
	i.eachService(namespace, func(o *corev1.Service) {
		out = append(out, alloc.ServiceKey{Namespace: o.Namespace, Name: o.Name})
	})
	slices.SortFunc(out, alloc.ServiceKey.Compare)
	return out
}

// ServiceObject returns a deep copy of the cached Service, for a status
// write that needs the whole object.
func (i *Informers) ServiceObject(k alloc.ServiceKey) (*corev1.Service, bool) {
	obj, ok := i.cachedService(k)
	if !ok {
		return nil, false
	}
	return obj.DeepCopy(), true
}

// ServiceRef returns a reference to the cached Service, for an Event about
// it: an Event needs the Service's identity, not a copy of the object (nor,
// in a speaker, a rebuilt one).
func (i *Informers) ServiceRef(k alloc.ServiceKey) (*corev1.ObjectReference, bool) {
	obj, ok := i.cachedServiceEntry(k)
	if !ok {
		return nil, false
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, false
	}
	return &corev1.ObjectReference{APIVersion: "v1", Kind: "Service", Namespace: m.GetNamespace(), Name: m.GetName(),
		UID: m.GetUID(), ResourceVersion: m.GetResourceVersion()}, true
}

// NamespaceLabels returns a copy of a Namespace's labels (nil if unknown).
func (i *Informers) NamespaceLabels(name string) labels.Set {
	if i.listers.namespaces == nil {
		return nil
	}
	ns, err := i.listers.namespaces.Get(name)
	if err != nil || len(ns.Labels) == 0 {
		return nil
	}
	return labels.Set(maps.Clone(ns.Labels))
}

// Node returns a deep copy of a cached Node.
func (i *Informers) Node(name string) (*corev1.Node, bool) {
	if i.listers.nodes == nil {
		return nil, false
	}
	n, err := i.listers.nodes.Get(name)
	if err != nil {
		return nil, false
	}
	return n.DeepCopy(), true
}

// Nodes returns deep copies of every cached Node, sorted by name.
func (i *Informers) Nodes() []corev1.Node {
	if i.listers.nodes == nil {
		return nil
	}
	objs, err := i.listers.nodes.List(labels.Everything())
	if err != nil {
		return nil
	}
	out := make([]corev1.Node, 0, len(objs))
	for _, o := range sortByName(objs) {
		out = append(out, *o.DeepCopy())
	}
	return out
}

// sliceServiceIndex names the index of EndpointSlices by their Service,
// "namespace/name" from the kubernetes.io/service-name label.
const sliceServiceIndex = "herald/service"

func sliceService(obj any) ([]string, error) {
	var ns, name string
	switch es := obj.(type) {
	case *discoveryv1.EndpointSlice:
		ns, name = es.Namespace, es.Labels[discoveryv1.LabelServiceName]
	case *speakerSlice:
		ns, name = es.namespace, es.service
	}
	if name == "" {
		return nil, nil
	}
	return []string{ns + "/" + name}, nil
}

// EndpointSlices returns deep copies of the EndpointSlices of one Service.
// They are read through an index by Service: a label selector over the
// namespace's slices would cost every Service event in proportion to all
// the Services of its namespace (with 2,000 Services in one namespace that
// was a fifth of everything the speaker allocated).
func (i *Informers) EndpointSlices(k alloc.ServiceKey) []*discoveryv1.EndpointSlice {
	if i.listers.slicesByService == nil {
		return nil
	}
	objs, err := i.listers.slicesByService.ByIndex(sliceServiceIndex, k.Namespace+"/"+k.Name)
	if err != nil {
		return nil
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		switch es := o.(type) {
		case *discoveryv1.EndpointSlice:
			out = append(out, es.DeepCopy())
		case *speakerSlice:
			out = append(out, es.object())
		}
	}
	return sortByName(out)
}

// ConfigInput gathers every object the configuration compiler reads, as
// deep copies, sorted by name so the compiler sees a stable order. Kinds
// this binary does not watch are left empty.
func (i *Informers) ConfigInput() (config.Input, error) {
	var in config.Input
	ns := i.opts.Namespace
	l := i.listers
	var err error
	if in.IPAddressPools, err = copyAll(l.pools != nil, func() ([]*v1beta1.IPAddressPool, error) {
		return l.pools.IPAddressPools(ns).List(labels.Everything())
	}); err != nil {
		return in, err
	}
	if in.L2Advertisements, err = copyAll(l.l2Advs != nil, func() ([]*v1beta1.L2Advertisement, error) {
		return l.l2Advs.L2Advertisements(ns).List(labels.Everything())
	}); err != nil {
		return in, err
	}
	if in.BGPAdvertisements, err = copyAll(l.bgpAdvs != nil, func() ([]*v1beta1.BGPAdvertisement, error) {
		return l.bgpAdvs.BGPAdvertisements(ns).List(labels.Everything())
	}); err != nil {
		return in, err
	}
	if in.BGPPeers, err = copyAll(l.peers != nil, func() ([]*v1beta2.BGPPeer, error) {
		return l.peers.BGPPeers(ns).List(labels.Everything())
	}); err != nil {
		return in, err
	}
	if in.BFDProfiles, err = copyAll(l.bfdProfiles != nil, func() ([]*v1beta1.BFDProfile, error) {
		return l.bfdProfiles.BFDProfiles(ns).List(labels.Everything())
	}); err != nil {
		return in, err
	}
	if in.Communities, err = copyAll(l.communities != nil, func() ([]*v1beta1.Community, error) {
		return l.communities.Communities(ns).List(labels.Everything())
	}); err != nil {
		return in, err
	}
	if in.Namespaces, err = copyAll(l.namespaces != nil, func() ([]*corev1.Namespace, error) {
		return l.namespaces.List(labels.Everything())
	}); err != nil {
		return in, err
	}
	if in.Nodes, err = copyAll(l.nodes != nil, func() ([]*corev1.Node, error) {
		return l.nodes.List(labels.Everything())
	}); err != nil {
		return in, err
	}
	if in.Secrets, err = copyAll(l.secrets != nil, func() ([]*corev1.Secret, error) {
		return l.secrets.Secrets(ns).List(labels.Everything())
	}); err != nil {
		return in, err
	}
	return in, nil
}

// copyable is a cached API object: it has a name and copies itself.
type copyable[T any] interface {
	*T
	GetName() string
	DeepCopy() *T
}

// copyAll lists with list when watched, and returns deep copies sorted by
// name.
func copyAll[T any, P copyable[T]](watched bool, list func() ([]P, error)) ([]T, error) {
	if !watched {
		return nil, nil
	}
	objs, err := list()
	if err != nil {
		return nil, err
	}
	out := make([]T, 0, len(objs))
	for _, o := range sortByName(objs) {
		out = append(out, *o.DeepCopy())
	}
	return out, nil
}

type named interface{ GetName() string }

func sortByName[T named](objs []T) []T {
	slices.SortFunc(objs, func(a, b T) int { return strings.Compare(a.GetName(), b.GetName()) })
	return objs
}

// PoolObject returns a deep copy of a cached IPAddressPool, for a status
// write.
func (i *Informers) PoolObject(name string) (*v1beta1.IPAddressPool, bool) {
	if i.listers.pools == nil {
		return nil, false
	}
	obj, err := i.listers.pools.IPAddressPools(i.opts.Namespace).Get(name)
	if err != nil {
		return nil, false
	}
	return obj.DeepCopy(), true
}

// ConfigurationStateNames returns the names of the cached
// ConfigurationStates, sorted.
func (i *Informers) ConfigurationStateNames() []string {
	if i.listers.confStates == nil {
		return nil
	}
	objs, err := i.listers.confStates.ConfigurationStates(i.opts.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(objs))
	for _, o := range sortByName(objs) {
		out = append(out, o.Name)
	}
	return out
}
