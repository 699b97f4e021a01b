package informers

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	kubeinformers "k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/heraldlb/herald/api/client/clientset/versioned"
	mlbinformers "github.com/heraldlb/herald/api/client/informers/externalversions"
)

// Kind says what changed, and so what a Key names.
type Kind uint8

const (
	// KindService: the Service Key.Namespace/Key.Name changed (or went).
	KindService Kind = iota + 1
	// KindNamespace: the Namespace Key.Name changed; its Services' admission
	// by serviceAllocation.namespaceSelectors may have changed, and so may
	// the configuration.
	KindNamespace
	// KindNode: the Node Key.Name changed. What that means is the binary's
	// to decide: the controller recompiles (node selectors), the speaker
	// re-plans (a cordon, a condition, an address).
	KindNode
	// KindConfig: an object the configuration compiler reads changed (a
	// metallb.io configuration object, or a Secret in Herald's namespace).
	KindConfig
	// KindEndpoints: an EndpointSlice of the Service Key.Namespace/Key.Name
	// changed (the slice's kubernetes.io/service-name label names it).
	KindEndpoints
	// KindConfigurationState: a ConfigurationState Key.Name in Herald's
	// namespace was added or deleted (a speaker came or went).
	KindConfigurationState
)

func (k Kind) String() string {
	switch k {
	case KindService:
		return "Service"
	case KindNamespace:
		return "Namespace"
	case KindNode:
		return "Node"
	case KindConfig:
		return "Config"
	case KindEndpoints:
		return "Endpoints"
	case KindConfigurationState:
		return "ConfigurationState"
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

// Resource is one kind of object a binary can watch.
type Resource uint8

// The resources Herald watches. Secrets and the metallb.io objects are
// watched in Herald's namespace only; the rest cluster-wide.
const (
	Services Resource = iota + 1
	Namespaces
	Nodes
	Secrets
	EndpointSlices
	IPAddressPools
	L2Advertisements
	BGPAdvertisements
	BGPPeers
	BFDProfiles
	Communities
	// ConfigurationStates: the controller's and the speakers' reports;
	// a speaker's (speaker-<node>) says a speaker runs on that node.
	ConfigurationStates
	numResources
)

// ConfigResources are the metallb.io kinds and the Secrets the
// configuration compiler reads. A binary that compiles the configuration
// watches all of them, with Namespaces and Nodes.
var ConfigResources = []Resource{Secrets, IPAddressPools, L2Advertisements, BGPAdvertisements, BGPPeers, BFDProfiles, Communities}

// Watch is one resource a binary watches, and which of its updates wake the
// binary. Adds and deletes always do.
type Watch struct {
	Resource Resource
	// Relevant decides whether an update is worth a key; nil uses the
	// resource's default (see DefaultRelevant).
	Relevant func(old, obj any) bool
}

// Options configure New.
type Options struct {
	// Namespace is where the metallb.io objects and BGP password Secrets
	// live (metallb-system by default in the chart).
	Namespace string
	// Resync re-delivers every object this often; 0 disables it. The actors
	// are level-triggered, so resync only repairs missed work.
	Resync time.Duration
	Logger *slog.Logger
	// Watch lists what this binary watches; nothing else is listed,
	// watched or cached, and readers of unwatched resources find nothing.
	Watch []Watch
	// Transform slims each object before it is cached; nil means
	// Transform. A speaker passes SpeakerTransform.
	Transform cache.TransformFunc
}

// Informers owns the informer factories and the listers a binary reads.
type Informers struct {
	opts Options
	log  *slog.Logger

	// Three factories: cluster-wide core objects, core objects in Herald's
	// namespace (Secrets: the chart grants them only there), and
	// metallb.io in Herald's namespace. Each starts only what was asked of
	// it.
	core   kubeinformers.SharedInformerFactory
	coreNS kubeinformers.SharedInformerFactory
	mlb    mlbinformers.SharedInformerFactory

	listers listers
	regs    []registration
}

type registration struct {
	name     string
	resource Resource
	informer cache.SharedIndexInformer
	kind     Kind
	relevant func(old, obj any) bool
	// list is a consistent read of the same objects, for WaitCurrent.
	list liveList
}

// New builds the informers for what opts.Watch lists. Nothing talks to the
// API server until Start.
func New(kube kubernetes.Interface, mlb versioned.Interface, opts Options) (*Informers, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Transform == nil {
		opts.Transform = Transform
	}
	i := &Informers{opts: opts, log: opts.Logger}
	i.core = kubeinformers.NewSharedInformerFactoryWithOptions(kube, opts.Resync, kubeinformers.WithTransform(opts.Transform))
	i.coreNS = kubeinformers.NewSharedInformerFactoryWithOptions(kube, opts.Resync,
		kubeinformers.WithNamespace(opts.Namespace), kubeinformers.WithTransform(opts.Transform))
	i.mlb = mlbinformers.NewSharedInformerFactoryWithOptions(mlb, opts.Resync,
		mlbinformers.WithNamespace(opts.Namespace), mlbinformers.WithTransform(opts.Transform))
	seen := map[Resource]bool{}
	for _, w := range opts.Watch {
		if w.Resource == 0 || w.Resource >= numResources {
			return nil, fmt.Errorf("informers: unknown resource %d", w.Resource)
		}
		if seen[w.Resource] {
			return nil, fmt.Errorf("informers: %s listed twice", w.Resource)
		}
		seen[w.Resource] = true
		r := i.register(w.Resource, kube, mlb)
		r.relevant = w.Relevant
		if r.relevant == nil {
			r.relevant = DefaultRelevant(w.Resource)
		}
		i.regs = append(i.regs, r)
	}
	return i, nil
}

// Watches reports whether r is among the watched resources.
func (i *Informers) Watches(r Resource) bool {
	return slices.ContainsFunc(i.regs, func(x registration) bool { return x.resource == r })
}

// AddHandler registers h for every watched resource. Registering after
// Start is allowed: client-go replays the cache to a late handler as adds.
func (i *Informers) AddHandler(h Handler) error {
	for _, r := range i.regs {
		if _, err := r.informer.AddEventHandler(keyHandler(r, h)); err != nil {
			return fmt.Errorf("registering %s handler: %w", r.name, err)
		}
	}
	return nil
}

// keyHandler turns informer callbacks into keys. It reads only the object's
// metadata, so it cannot block or race with anyone.
func keyHandler(r registration, h Handler) cache.ResourceEventHandlerFuncs {
	send := func(obj any) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			if d.Obj != nil {
				obj = d.Obj
			} else {
				ns, name, err := cache.SplitMetaNamespaceKey(d.Key)
				if err == nil && r.kind != KindEndpoints {
					h(Key{Kind: r.kind, Namespace: ns, Name: name})
				}
				return
			}
		}
		m, err := meta.Accessor(obj)
		if err != nil {
			return
		}
		k := Key{Kind: r.kind, Namespace: m.GetNamespace(), Name: m.GetName()}
		if r.kind == KindEndpoints {
			// The Service a slice belongs to is what the binary re-reads.
			svc := m.GetLabels()[discoveryv1.LabelServiceName]
			if svc == "" {
				return
			}
			k.Name = svc
		}
		h(k)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: send,
		UpdateFunc: func(old, obj any) {
			if r.relevant(old, obj) {
				send(obj)
			}
		},
		DeleteFunc: send,
	}
}

// DefaultRelevant is the update filter a resource gets unless its Watch
// names another: it drops updates that cannot change anything Herald
// decides, so a pool's own status write or a Node's heartbeat does not
// wake anyone. Services always pass (their status is what the actors
// compare); EndpointSlices pass when an endpoint's node or conditions, or
// the slice's Service, changed. Nodes pass when what the
// speaker reads changes: labels, the cordon, the NetworkUnavailable
// condition, the addresses.
func DefaultRelevant(r Resource) func(old, obj any) bool {
	switch r {
	case Services:
		return Always
	case EndpointSlices:
		return endpointsChanged
	case Namespaces:
		return LabelsChanged
	case Nodes:
		return nodeChanged
	case Secrets:
		return func(old, obj any) bool { return !sameVersion(old, obj) }
	case ConfigurationStates:
		// Their writers update them all the time; only their coming and
		// going (a speaker started or left) needs a look.
		return func(any, any) bool { return false }
	}
	return SpecChanged
}

// Always counts every update.
func Always(any, any) bool { return true }

// endpointsChanged counts updates that change what Herald reads of an
// EndpointSlice once Transform has slimmed it: its endpoints' nodes and
// conditions, and the Service it belongs to. A pod that restarts with a new
// address on the same node, and the slice controller's own rewrites, wake
// no one.
func endpointsChanged(old, obj any) bool {
	if o, ok := old.(*speakerSlice); ok {
		n, ok := obj.(*speakerSlice)
		return !ok || o.hasService != n.hasService || o.service != n.service || !slices.Equal(o.endpoints, n.endpoints)
	}
	o, ok1 := old.(*discoveryv1.EndpointSlice)
	n, ok2 := obj.(*discoveryv1.EndpointSlice)
	if !ok1 || !ok2 {
		return true
	}
	return o.Labels[discoveryv1.LabelServiceName] != n.Labels[discoveryv1.LabelServiceName] ||
		!reflect.DeepEqual(o.Endpoints, n.Endpoints)
}

// LabelsChanged counts updates that change the object's labels.
func LabelsChanged(old, obj any) bool {
	o, err1 := meta.Accessor(old)
	n, err2 := meta.Accessor(obj)
	if err1 != nil || err2 != nil {
		return true
	}
	return !maps.Equal(o.GetLabels(), n.GetLabels())
}

// SpecChanged counts updates that move the generation, which changes with
// the spec and not with the status. Some clients (fakes) leave it 0: then
// every update counts.
func SpecChanged(old, obj any) bool {
	o, err1 := meta.Accessor(old)
	n, err2 := meta.Accessor(obj)
	if err1 != nil || err2 != nil {
		return true
	}
	return n.GetGeneration() == 0 || o.GetGeneration() != n.GetGeneration()
}

func sameVersion(old, obj any) bool {
	o, err1 := meta.Accessor(old)
	n, err2 := meta.Accessor(obj)
	return err1 == nil && err2 == nil && o.GetResourceVersion() == n.GetResourceVersion()
}

func nodeChanged(old, obj any) bool {
	o, ok1 := old.(*corev1.Node)
	n, ok2 := obj.(*corev1.Node)
	if !ok1 || !ok2 {
		return true
	}
	return !maps.Equal(o.Labels, n.Labels) || o.Spec.Unschedulable != n.Spec.Unschedulable ||
		networkUnavailable(o) != networkUnavailable(n) || !slices.Equal(o.Status.Addresses, n.Status.Addresses)
}

func networkUnavailable(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeNetworkUnavailable {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Start runs the informers until ctx ends.
func (i *Informers) Start(ctx context.Context) {
	i.core.Start(ctx.Done())
	i.coreNS.Start(ctx.Done())
	i.mlb.Start(ctx.Done())
}

// WaitForSync blocks until every cache has its initial list, or ctx ends.
func (i *Informers) WaitForSync(ctx context.Context) error {
	synced := make([]cache.InformerSynced, len(i.regs))
	for k, r := range i.regs {
		synced[k] = r.informer.HasSynced
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
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
