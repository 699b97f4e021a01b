package webhook

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"

	"github.com/heraldlb/herald/api/client/clientset/versioned"
	listersv1beta1 "github.com/heraldlb/herald/api/client/listers/api/v1beta1"
	listersv1beta2 "github.com/heraldlb/herald/api/client/listers/api/v1beta2"
	"github.com/heraldlb/herald/config"
)

// Source returns the configuration objects as they are now: every metallb.io
// object and Secret in Herald's namespace, every Namespace and Node. The
// webhook adds, replaces or removes the object under review in a copy of
// what it returns, so a Source never sees the request.
//
// BGPPeers come back at v1beta2 only (BGPPeers): the API server serves every
// peer at both versions, and v1beta2 is the version Herald reads.
type Source interface {
	Input(ctx context.Context) (config.Input, error)
}

// Listers is a Source over informer caches: the controller builds it from
// the listers of the informers it already runs, so an admission review costs
// no API request. Namespaced listers must be scoped to Herald's namespace.
// A nil Namespaces, Nodes or Secrets lister reads as no objects (the
// configuration then cannot refer to any).
//
// A cache lags the API server by a few milliseconds, which matters when a
// client creates a pool and the advertisement naming it back to back; see
// Options.Live for how the server avoids refusing the second on a stale cache.
type Listers struct {
	IPAddressPools    listersv1beta1.IPAddressPoolNamespaceLister
	L2Advertisements  listersv1beta1.L2AdvertisementNamespaceLister
	BGPAdvertisements listersv1beta1.BGPAdvertisementNamespaceLister
	BGPPeers          listersv1beta2.BGPPeerNamespaceLister
	BFDProfiles       listersv1beta1.BFDProfileNamespaceLister
	Communities       listersv1beta1.CommunityNamespaceLister
	Secrets           corelisters.SecretNamespaceLister
	Namespaces        corelisters.NamespaceLister
	Nodes             corelisters.NodeLister
}

// Input copies what the listers hold. Objects are copied by value only
// (shallow): config.Compile never writes to its input.
func (l Listers) Input(context.Context) (config.Input, error) {
	var in config.Input
	var err error
	all := labels.Everything()
	if in.IPAddressPools, err = listed(l.IPAddressPools, all); err != nil {
		return in, fmt.Errorf("listing IPAddressPools: %w", err)
	}
	if in.L2Advertisements, err = listed(l.L2Advertisements, all); err != nil {
		return in, fmt.Errorf("listing L2Advertisements: %w", err)
	}
	if in.BGPAdvertisements, err = listed(l.BGPAdvertisements, all); err != nil {
		return in, fmt.Errorf("listing BGPAdvertisements: %w", err)
	}
	if in.BGPPeers, err = listed(l.BGPPeers, all); err != nil {
		return in, fmt.Errorf("listing BGPPeers: %w", err)
	}
	if in.BFDProfiles, err = listed(l.BFDProfiles, all); err != nil {
		return in, fmt.Errorf("listing BFDProfiles: %w", err)
	}
	if in.Communities, err = listed(l.Communities, all); err != nil {
		return in, fmt.Errorf("listing Communities: %w", err)
	}
	if in.Secrets, err = listed(l.Secrets, all); err != nil {
		return in, fmt.Errorf("listing Secrets: %w", err)
	}
	if in.Namespaces, err = listed(l.Namespaces, all); err != nil {
		return in, fmt.Errorf("listing Namespaces: %w", err)
	}
	if in.Nodes, err = listed(l.Nodes, all); err != nil {
		return in, fmt.Errorf("listing Nodes: %w", err)
	}
	return in, nil
}

// lister is the List method every generated lister has.
type lister[T any] interface {
	List(labels.Selector) ([]*T, error)
}

// listed dereferences a lister's result; an unset (nil) lister lists
// nothing.
func listed[T any, L lister[T]](l L, sel labels.Selector) ([]T, error) {
	var zero L
	if any(l) == any(zero) {
		return nil, nil
	}
	items, err := l.List(sel)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(items))
	for i, p := range items {
		out[i] = *p
	}
	return out, nil
}

// ClientSource reads the configuration straight from the API server. It is
// exact where Listers may lag, and costs one LIST per kind, so the server
// uses it only to confirm a refusal (Options.Live); tests may use it as the
// only Source.
type ClientSource struct {
	Kube      kubernetes.Interface
	Metallb   versioned.Interface
	Namespace string
}

// Input lists every kind the compiler reads.
func (c ClientSource) Input(ctx context.Context) (config.Input, error) {
	var in config.Input
	opts := metav1.ListOptions{}
	ns := c.Namespace
	v1 := c.Metallb.MetallbV1beta1()
	pools, err := v1.IPAddressPools(ns).List(ctx, opts)
	if err != nil {
		return in, fmt.Errorf("listing IPAddressPools: %w", err)
	}
	in.IPAddressPools = pools.Items
	l2s, err := v1.L2Advertisements(ns).List(ctx, opts)
	if err != nil {
		return in, fmt.Errorf("listing L2Advertisements: %w", err)
	}
	in.L2Advertisements = l2s.Items
	bgps, err := v1.BGPAdvertisements(ns).List(ctx, opts)
	if err != nil {
		return in, fmt.Errorf("listing BGPAdvertisements: %w", err)
	}
	in.BGPAdvertisements = bgps.Items
	peers, err := c.Metallb.MetallbV1beta2().BGPPeers(ns).List(ctx, opts)
	if err != nil {
		return in, fmt.Errorf("listing BGPPeers: %w", err)
	}
	in.BGPPeers = peers.Items
	bfds, err := v1.BFDProfiles(ns).List(ctx, opts)
	if err != nil {
		return in, fmt.Errorf("listing BFDProfiles: %w", err)
	}
	in.BFDProfiles = bfds.Items
	comms, err := v1.Communities(ns).List(ctx, opts)
	if err != nil {
		return in, fmt.Errorf("listing Communities: %w", err)
	}
	in.Communities = comms.Items
	secrets, err := c.Kube.CoreV1().Secrets(ns).List(ctx, opts)
	if err != nil {
		return in, fmt.Errorf("listing Secrets: %w", err)
	}
	in.Secrets = secrets.Items
	nss, err := c.Kube.CoreV1().Namespaces().List(ctx, opts)
	if err != nil {
		return in, fmt.Errorf("listing Namespaces: %w", err)
	}
	in.Namespaces = nss.Items
	nodes, err := c.Kube.CoreV1().Nodes().List(ctx, opts)
	if err != nil {
		return in, fmt.Errorf("listing Nodes: %w", err)
	}
	in.Nodes = nodes.Items
	return in, nil
}
