package webhook

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/config"
)

// Source returns the configuration objects as they are now: every metallb.io
// object and Secret in Herald's namespace, every Namespace and Node. The
// webhook adds, replaces or removes the object under review in a copy of
// what it returns, so a Source never sees the request, and never has its
// slices modified. BGPPeers come back at v1beta2 only (Input.BGPPeers): the
// API server serves every peer at both versions.
//
// The controller's *informers.Informers satisfies it, but a cache alone is
// not exact enough to be the webhook's Source: `kubectl apply -f` of two
// overlapping pools sends the second a few milliseconds after the first,
// before any informer has seen it, and a cache would admit both. Use a
// ClientSource with the informers as its Cluster instead (see ClientSource).
type Source interface {
	ConfigInput() (config.Input, error)
}

// contextSource is a Source that can honour the review's deadline.
type contextSource interface {
	ConfigInputContext(ctx context.Context) (config.Input, error)
}

// input reads src, passing ctx on when src takes one.
func input(ctx context.Context, src Source) (config.Input, error) {
	if cs, ok := src.(contextSource); ok {
		return cs.ConfigInputContext(ctx)
	}
	return src.ConfigInput()
}

// ClientSource reads the configuration objects and Secrets of Herald's
// namespace straight from the API server (a quorum LIST per kind), so a
// review always sees the writes that came before it. These lists are small
// and reviews are as rare as configuration changes.
//
// Namespaces and Nodes are cluster-wide and can be large; they are read from
// Cluster (the controller's informers) when it is set, else listed too.
// They only feed selectors, and do not change in step with a configuration
// being applied, so a cache's lag does not matter for them.
type ClientSource struct {
	Kube      kubernetes.Interface
	Metallb   versioned.Interface
	Namespace string
	Cluster   Source
}

// ConfigInput lists every kind the compiler reads, within liveTimeout.
func (c ClientSource) ConfigInput() (config.Input, error) {
	ctx, cancel := context.WithTimeout(context.Background(), liveTimeout)
	defer cancel()
	return c.ConfigInputContext(ctx)
}

// helmReleaseType is the type of the Secrets Helm stores releases in.
const helmReleaseType = "helm.sh/release.v1"

// liveTimeout bounds a ClientSource read without a caller's deadline; it is
// under the webhook's TimeoutSeconds, so a slow API server yields our error
// rather than the API server's timeout.
const liveTimeout = 5 * time.Second

// ConfigInputContext lists every kind the compiler reads.
func (c ClientSource) ConfigInputContext(ctx context.Context) (config.Input, error) {
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
	// Helm keeps every release revision of the chart as a Secret in this
	// namespace, each up to a megabyte; no BGP password is one of them.
	secrets, err := c.Kube.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{FieldSelector: "type!=" + helmReleaseType})
	if err != nil {
		return in, fmt.Errorf("listing Secrets: %w", err)
	}
	in.Secrets = secrets.Items
	if c.Cluster != nil {
		cached, err := input(ctx, c.Cluster)
		if err != nil {
			return in, err
		}
		in.Namespaces, in.Nodes = cached.Namespaces, cached.Nodes
		return in, nil
	}
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
