package inspect

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/config"
)

// ControllerStateName is the controller's ConfigurationState (the
// speakers' are speaker-<node>); actors/controller writes it.
const ControllerStateName = "controller"

// Clients are the API clients the reads use; they only ever get and list.
type Clients struct {
	Kube    kubernetes.Interface
	Metallb versioned.Interface
}

// GatherExplain reads what Explain needs about Service namespace/name, with
// the metallb.io objects in heraldNamespace. A missing Service is an error;
// what cannot be read for the side checks is left out, and the
// Explanation's notes say so.
func GatherExplain(ctx context.Context, c Clients, heraldNamespace, namespace, name string) (Facts, []string, error) {
	var f Facts
	var notes []string
	svc, err := c.Kube.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return f, nil, fmt.Errorf("service %s/%s: %w", namespace, name, err)
	}
	f.Service = svc
	events, err := c.Kube.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.kind": "Service", "involvedObject.name": name}.String(),
	})
	if err != nil {
		return f, nil, fmt.Errorf("events of service %s/%s: %w", namespace, name, err)
	}
	f.Events = events.Items
	mlb := c.Metallb.MetallbV1beta1()
	st, err := mlb.ConfigurationStates(heraldNamespace).Get(ctx, ControllerStateName, metav1.GetOptions{})
	switch {
	case err == nil:
		f.ControllerState = st
	case apierrors.IsNotFound(err):
		notes = append(notes, fmt.Sprintf("no ConfigurationState %s/%s: has the controller ever run in this namespace (--herald-namespace)?", heraldNamespace, ControllerStateName))
	case apierrors.IsForbidden(err):
		notes = append(notes, notReadable("the controller's ConfigurationState", heraldNamespace))
	default:
		return f, nil, fmt.Errorf("ConfigurationState %s/%s: %w", heraldNamespace, ControllerStateName, err)
	}
	// A user who may read their own Services and Events but not Herald's
	// namespace still gets the controller's reason; what is not readable
	// is left out with a note.
	bgpList, err := mlb.ServiceBGPStatuses(heraldNamespace).List(ctx, metav1.ListOptions{})
	switch {
	case err == nil:
		f.BGP = bgpList.Items
	case apierrors.IsForbidden(err):
		notes = append(notes, notReadable("ServiceBGPStatuses (who announces over BGP)", heraldNamespace))
	default:
		return f, nil, fmt.Errorf("ServiceBGPStatuses: %w", err)
	}
	l2List, err := mlb.ServiceL2Statuses(heraldNamespace).List(ctx, metav1.ListOptions{})
	switch {
	case err == nil:
		f.L2 = l2List.Items
	case apierrors.IsForbidden(err):
		notes = append(notes, notReadable("ServiceL2Statuses (who answers ARP/NDP)", heraldNamespace))
	default:
		return f, nil, fmt.Errorf("ServiceL2Statuses: %w", err)
	}
	sessionList, err := mlb.BGPSessionStates(heraldNamespace).List(ctx, metav1.ListOptions{})
	switch {
	case err == nil:
		f.Sessions = sessionList.Items
	case apierrors.IsForbidden(err):
		notes = append(notes, notReadable("BGPSessionStates (the sessions' states)", heraldNamespace))
	default:
		return f, nil, fmt.Errorf("BGPSessionStates: %w", err)
	}
	in, inNotes, err := configInput(ctx, c, heraldNamespace)
	if apierrors.IsForbidden(err) {
		f.ConfigErr = err
		return f, append(notes, notReadable("the configuration (pools and advertisements)", heraldNamespace)), nil
	}
	if err != nil {
		return f, nil, err
	}
	notes = append(notes, inNotes...)
	r := config.Analyze(in)
	if len(r.Errors) > 0 {
		f.ConfigErr = r.Errors
	} else {
		f.Config = r.Config
	}
	return f, notes, nil
}

func notReadable(what, ns string) string {
	return fmt.Sprintf("not allowed to read %s in %s: left out", what, ns)
}

// configInput reads the configuration objects as the controller compiles
// them, without Secrets: password references are dropped (see the package
// documentation). Namespaces and Nodes a user may not list are left out,
// with a note; they refine selectors, not which pools are advertised.
func configInput(ctx context.Context, c Clients, ns string) (config.Input, []string, error) {
	var in config.Input
	var err error
	mlb := c.Metallb.MetallbV1beta1()
	poolList, err := mlb.IPAddressPools(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return in, nil, fmt.Errorf("IPAddressPools: %w", err)
	}
	in.IPAddressPools = poolList.Items
	l2AdvList, err := mlb.L2Advertisements(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return in, nil, fmt.Errorf("L2Advertisements: %w", err)
	}
	in.L2Advertisements = l2AdvList.Items
	bgpAdvList, err := mlb.BGPAdvertisements(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return in, nil, fmt.Errorf("BGPAdvertisements: %w", err)
	}
	in.BGPAdvertisements = bgpAdvList.Items
	peerList, err := c.Metallb.MetallbV1beta2().BGPPeers(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return in, nil, fmt.Errorf("BGPPeers: %w", err)
	}
	in.BGPPeers = peerList.Items
	bfdProfileList, err := mlb.BFDProfiles(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return in, nil, fmt.Errorf("BFDProfiles: %w", err)
	}
	in.BFDProfiles = bfdProfileList.Items
	communityList, err := mlb.Communities(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return in, nil, fmt.Errorf("communities: %w", err)
	}
	in.Communities = communityList.Items
	for i := range in.BGPPeers {
		in.BGPPeers[i].Spec.PasswordSecret = corev1.SecretReference{}
	}
	for i := range in.BFDProfiles {
		in.BFDProfiles[i].Spec.Authentication = nil
	}
	var notes []string
	namespaceList, err := c.Kube.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		if !apierrors.IsForbidden(err) {
			return in, nil, fmt.Errorf("namespaces: %w", err)
		}
		notes = append(notes, "cannot list Namespaces, so namespaceSelectors were not resolved: "+err.Error())
	}
	in.Namespaces = namespaceList.Items
	nodeList, err := c.Kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		if !apierrors.IsForbidden(err) {
			return in, nil, fmt.Errorf("nodes: %w", err)
		}
		notes = append(notes, "cannot list Nodes, so node selectors were not resolved: "+err.Error())
	}
	in.Nodes = nodeList.Items
	return in, notes, nil
}

// GatherStatus reads what BuildStatus needs.
func GatherStatus(ctx context.Context, c Clients, heraldNamespace string) (StatusFacts, error) {
	var f StatusFacts
	var err error
	mlb := c.Metallb.MetallbV1beta1()
	poolList, err := mlb.IPAddressPools(heraldNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return f, fmt.Errorf("IPAddressPools: %w", err)
	}
	f.Pools = poolList.Items
	sessionList, err := mlb.BGPSessionStates(heraldNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return f, fmt.Errorf("BGPSessionStates: %w", err)
	}
	f.Sessions = sessionList.Items
	bgpList, err := mlb.ServiceBGPStatuses(heraldNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return f, fmt.Errorf("ServiceBGPStatuses: %w", err)
	}
	f.BGP = bgpList.Items
	l2List, err := mlb.ServiceL2Statuses(heraldNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return f, fmt.Errorf("ServiceL2Statuses: %w", err)
	}
	f.L2 = l2List.Items
	stateList, err := mlb.ConfigurationStates(heraldNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return f, fmt.Errorf("ConfigurationStates: %w", err)
	}
	f.States = stateList.Items
	serviceList, err := c.Kube.CoreV1().Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return f, fmt.Errorf("services: %w", err)
	}
	f.Services = serviceList.Items
	return f, nil
}
