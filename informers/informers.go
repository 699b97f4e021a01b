package informers

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/api/client/clientset/versioned"
	mlbinformers "github.com/heraldlb/herald/api/client/informers/externalversions"
	mlblisters "github.com/heraldlb/herald/api/client/listers/api/v1beta1"
	mlblistersv2 "github.com/heraldlb/herald/api/client/listers/api/v1beta2"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/config"
)

// Kind says what changed.
type Kind uint8

const (
	// KindService: the Service Key.Namespace/Key.Name changed (or went).
	KindService Kind = iota + 1
	// KindNamespace: the Namespace Key.Name changed; its Services' admission
	// by serviceAllocation.namespaceSelectors may have changed, and so may
	// the configuration.
	KindNamespace
	// KindConfig: an object the configuration compiler reads changed.
	KindConfig
)

func (k Kind) String() string {
	switch k {
	case KindService:
		return "Service"
	case KindNamespace:
		return "Namespace"
	case KindConfig:
		return "Config"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Key is a level-triggered notification: "go and re-read this". It carries
// no object on purpose.
type Key struct {
	Kind      Kind
	Namespace string
	Name      string
}

// Handler receives keys from informer goroutines. It must not block.
type Handler func(Key)

// Options configure New.
type Options struct {
	// Namespace is where the metallb.io objects and BGP password Secrets
	// live (metallb-system by default in the chart).
	Namespace string
	// Resync re-delivers every object this often; 0 disables it. The actors
	// are level-triggered, so resync only repairs missed work.
	Resync time.Duration
	Logger *slog.Logger
}

// Informers owns the informer factories and the listers the actors read.
type Informers struct {
	opts Options
	log  *slog.Logger

	// Three factories: cluster-wide core objects, core objects in Herald's
	// namespace (Secrets: the chart grants them only there), and metallb.io.
	core   kubeinformers.SharedInformerFactory
	coreNS kubeinformers.SharedInformerFactory
	mlb    mlbinformers.SharedInformerFactory

	services   corelisters.ServiceLister
	namespaces corelisters.NamespaceLister
	nodes      corelisters.NodeLister
	secrets    corelisters.SecretLister

	pools       mlblisters.IPAddressPoolLister
	l2Advs      mlblisters.L2AdvertisementLister
	bgpAdvs     mlblisters.BGPAdvertisementLister
	peers       mlblistersv2.BGPPeerLister
	bfdProfiles mlblisters.BFDProfileLister
	communities mlblisters.CommunityLister

	synced []cache.InformerSynced
	regs   []registration
}

type registration struct {
	name     string
	informer cache.SharedIndexInformer
	kind     Kind
	// list is a consistent read of the same objects, for WaitCurrent.
	list liveList
}

// New builds the informers. Nothing talks to the API server until Start.
func New(kube kubernetes.Interface, mlb versioned.Interface, opts Options) *Informers {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	i := &Informers{opts: opts, log: opts.Logger}
	i.core = kubeinformers.NewSharedInformerFactoryWithOptions(kube, opts.Resync, kubeinformers.WithTransform(Transform))
	i.coreNS = kubeinformers.NewSharedInformerFactoryWithOptions(kube, opts.Resync,
		kubeinformers.WithNamespace(opts.Namespace), kubeinformers.WithTransform(Transform))
	i.mlb = mlbinformers.NewSharedInformerFactoryWithOptions(mlb, opts.Resync,
		mlbinformers.WithNamespace(opts.Namespace), mlbinformers.WithTransform(Transform))

	svc := i.core.Core().V1().Services()
	ns := i.core.Core().V1().Namespaces()
	node := i.core.Core().V1().Nodes()
	sec := i.coreNS.Core().V1().Secrets()
	v1 := i.mlb.Metallb().V1beta1()
	// BGPPeers are read at v1beta2 only: the API server serves the same
	// objects at both versions, so watching both would see each twice.
	peer := i.mlb.Metallb().V1beta2().BGPPeers()
	i.services, i.namespaces, i.nodes, i.secrets = svc.Lister(), ns.Lister(), node.Lister(), sec.Lister()
	i.pools, i.l2Advs, i.bgpAdvs = v1.IPAddressPools().Lister(), v1.L2Advertisements().Lister(), v1.BGPAdvertisements().Lister()
	i.peers, i.bfdProfiles, i.communities = peer.Lister(), v1.BFDProfiles().Lister(), v1.Communities().Lister()

	core, mv1, mv2 := kube.CoreV1(), mlb.MetallbV1beta1(), mlb.MetallbV1beta2()
	i.regs = []registration{
		{"Services", svc.Informer(), KindService, listOf(core.Services("").List)},
		{"Namespaces", ns.Informer(), KindNamespace, listOf(core.Namespaces().List)},
		{"Nodes", node.Informer(), KindConfig, listOf(core.Nodes().List)},
		{"Secrets", sec.Informer(), KindConfig, listOf(core.Secrets(opts.Namespace).List)},
		{"IPAddressPools", v1.IPAddressPools().Informer(), KindConfig, listOf(mv1.IPAddressPools(opts.Namespace).List)},
		{"L2Advertisements", v1.L2Advertisements().Informer(), KindConfig, listOf(mv1.L2Advertisements(opts.Namespace).List)},
		{"BGPAdvertisements", v1.BGPAdvertisements().Informer(), KindConfig, listOf(mv1.BGPAdvertisements(opts.Namespace).List)},
		{"BGPPeers", peer.Informer(), KindConfig, listOf(mv2.BGPPeers(opts.Namespace).List)},
		{"BFDProfiles", v1.BFDProfiles().Informer(), KindConfig, listOf(mv1.BFDProfiles(opts.Namespace).List)},
		{"Communities", v1.Communities().Informer(), KindConfig, listOf(mv1.Communities(opts.Namespace).List)},
	}
	for _, r := range i.regs {
		i.synced = append(i.synced, r.informer.HasSynced)
	}
	return i
}

// AddHandler registers h for every watched kind. Registering after Start
// is allowed: client-go replays the cache to a late handler as adds.
func (i *Informers) AddHandler(h Handler) error {
	for _, r := range i.regs {
		if _, err := r.informer.AddEventHandler(keyHandler(r.kind, h)); err != nil {
			return fmt.Errorf("registering %s handler: %w", r.kind, err)
		}
	}
	return nil
}

// keyHandler turns informer callbacks into keys. It reads only the object's
// namespace and name, so it cannot block or race with anyone.
func keyHandler(kind Kind, h Handler) cache.ResourceEventHandlerFuncs {
	send := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			ns, name, err := cache.SplitMetaNamespaceKey(d.Key)
			if err == nil {
				h(Key{Kind: kind, Namespace: ns, Name: name})
			}
			return
		}
		key, err := cache.MetaNamespaceKeyFunc(obj)
		if err != nil {
			return
		}
		ns, name, _ := cache.SplitMetaNamespaceKey(key)
		h(Key{Kind: kind, Namespace: ns, Name: name})
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: send,
		UpdateFunc: func(old, obj any) {
			if relevant(kind, old, obj) {
				send(obj)
			}
		},
		DeleteFunc: send,
	}
}

// relevant drops updates that cannot change anything Herald decides, so a
// pool's own status write or a Node's heartbeat does not recompile the
// configuration. Services always pass: their status is Herald's output and
// the Service actor compares it with what it wants.
func relevant(kind Kind, old, obj any) bool {
	o, err1 := meta.Accessor(old)
	n, err2 := meta.Accessor(obj)
	if err1 != nil || err2 != nil {
		return true
	}
	switch {
	case kind == KindService:
		return true
	case kind == KindNamespace:
		return !maps.Equal(o.GetLabels(), n.GetLabels())
	}
	switch obj.(type) {
	case *corev1.Node:
		// The compiler reads node labels (selectors) only.
		return !maps.Equal(o.GetLabels(), n.GetLabels())
	case *corev1.Secret:
		return o.GetResourceVersion() != n.GetResourceVersion()
	}
	// metallb.io objects: the generation moves with the spec and not with
	// the status. Some clients (fakes) leave it 0: then every update counts.
	return n.GetGeneration() == 0 || o.GetGeneration() != n.GetGeneration()
}

// Start runs the informers until ctx ends.
func (i *Informers) Start(ctx context.Context) {
	i.core.Start(ctx.Done())
	i.coreNS.Start(ctx.Done())
	i.mlb.Start(ctx.Done())
}

// WaitForSync blocks until every cache has its initial list, or ctx ends.
func (i *Informers) WaitForSync(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), i.synced...) {
		return fmt.Errorf("informer caches did not sync: %w", context.Cause(ctx))
	}
	return nil
}

// Shutdown waits for the informer goroutines after ctx given to Start ended.
func (i *Informers) Shutdown() {
	i.core.Shutdown()
	i.coreNS.Shutdown()
	i.mlb.Shutdown()
}

// Service returns the snapshot of one Service, with its Namespace's labels.
func (i *Informers) Service(k alloc.ServiceKey) (Service, bool) {
	obj, err := i.services.Services(k.Namespace).Get(k.Name)
	if err != nil {
		return Service{}, false
	}
	s := ParseService(obj)
	s.Alloc.NamespaceLabels = i.NamespaceLabels(k.Namespace)
	return s, true
}

// Services returns a snapshot of every Service, sorted by key.
func (i *Informers) Services() []Service {
	objs, err := i.services.List(labels.Everything())
	if err != nil {
		return nil
	}
	nsLabels := map[string]labels.Set{}
	out := make([]Service, 0, len(objs))
	for _, o := range objs {
		s := ParseService(o)
		l, ok := nsLabels[o.Namespace]
		if !ok {
			l = i.NamespaceLabels(o.Namespace)
			nsLabels[o.Namespace] = l
		}
		s.Alloc.NamespaceLabels = l
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Service) int { return compareKeys(a.Key, b.Key) })
	return out
}

// ServiceKeysIn returns the keys of the Services in one namespace.
func (i *Informers) ServiceKeysIn(namespace string) []alloc.ServiceKey {
	objs, err := i.services.Services(namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	out := make([]alloc.ServiceKey, 0, len(objs))
	for _, o := range objs {
		out = append(out, alloc.ServiceKey{Namespace: o.Namespace, Name: o.Name})
	}
	slices.SortFunc(out, compareKeys)
	return out
}

// ServiceObject returns a deep copy of the cached Service, for a status
// write that needs the whole object.
func (i *Informers) ServiceObject(k alloc.ServiceKey) (*corev1.Service, bool) {
	obj, err := i.services.Services(k.Namespace).Get(k.Name)
	if err != nil {
		return nil, false
	}
	return obj.DeepCopy(), true
}

// NamespaceLabels returns a copy of a Namespace's labels (nil if unknown).
func (i *Informers) NamespaceLabels(name string) labels.Set {
	ns, err := i.namespaces.Get(name)
	if err != nil || len(ns.Labels) == 0 {
		return nil
	}
	return labels.Set(maps.Clone(ns.Labels))
}

// ConfigInput gathers every object the configuration compiler reads, as
// deep copies, sorted by name so the compiler sees a stable order.
func (i *Informers) ConfigInput() (config.Input, error) {
	var in config.Input
	ns := i.opts.Namespace
	pools, err := i.pools.IPAddressPools(ns).List(labels.Everything())
	if err != nil {
		return in, err
	}
	for _, o := range sortByName(pools) {
		in.IPAddressPools = append(in.IPAddressPools, *o.DeepCopy())
	}
	l2, err := i.l2Advs.L2Advertisements(ns).List(labels.Everything())
	if err != nil {
		return in, err
	}
	for _, o := range sortByName(l2) {
		in.L2Advertisements = append(in.L2Advertisements, *o.DeepCopy())
	}
	bgp, err := i.bgpAdvs.BGPAdvertisements(ns).List(labels.Everything())
	if err != nil {
		return in, err
	}
	for _, o := range sortByName(bgp) {
		in.BGPAdvertisements = append(in.BGPAdvertisements, *o.DeepCopy())
	}
	peers, err := i.peers.BGPPeers(ns).List(labels.Everything())
	if err != nil {
		return in, err
	}
	for _, o := range sortByName(peers) {
		in.BGPPeers = append(in.BGPPeers, *o.DeepCopy())
	}
	bfd, err := i.bfdProfiles.BFDProfiles(ns).List(labels.Everything())
	if err != nil {
		return in, err
	}
	for _, o := range sortByName(bfd) {
		in.BFDProfiles = append(in.BFDProfiles, *o.DeepCopy())
	}
	comms, err := i.communities.Communities(ns).List(labels.Everything())
	if err != nil {
		return in, err
	}
	for _, o := range sortByName(comms) {
		in.Communities = append(in.Communities, *o.DeepCopy())
	}
	nss, err := i.namespaces.List(labels.Everything())
	if err != nil {
		return in, err
	}
	for _, o := range sortByName(nss) {
		in.Namespaces = append(in.Namespaces, *o.DeepCopy())
	}
	nodes, err := i.nodes.List(labels.Everything())
	if err != nil {
		return in, err
	}
	for _, o := range sortByName(nodes) {
		in.Nodes = append(in.Nodes, *o.DeepCopy())
	}
	secrets, err := i.secrets.Secrets(ns).List(labels.Everything())
	if err != nil && !apierrors.IsNotFound(err) {
		return in, err
	}
	for _, o := range sortByName(secrets) {
		in.Secrets = append(in.Secrets, *o.DeepCopy())
	}
	return in, nil
}

type named interface{ GetName() string }

func sortByName[T named](objs []T) []T {
	slices.SortFunc(objs, func(a, b T) int { return strings.Compare(a.GetName(), b.GetName()) })
	return objs
}

func compareKeys(a, b alloc.ServiceKey) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// PoolObject returns a deep copy of a cached IPAddressPool, for a status
// write.
func (i *Informers) PoolObject(name string) (*v1beta1.IPAddressPool, bool) {
	obj, err := i.pools.IPAddressPools(i.opts.Namespace).Get(name)
	if err != nil {
		return nil, false
	}
	return obj.DeepCopy(), true
}
