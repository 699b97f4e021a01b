package controller

import (
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/heraldlb/herald/api/client/clientset/versioned"
	"github.com/heraldlb/herald/informers"
)

// Clients are the API clients a controller runs with, for Options.Kube,
// Options.Metallb and Options.ElectionKube.
type Clients struct {
	Kube     kubernetes.Interface
	Metallb  versioned.Interface
	Election kubernetes.Interface
}

// NewClients makes a controller's clients from cfg as `herald controller`
// does, so that a controller run in a test meets an API server outage as
// the binary does (an e2e harness with plain clients once waited out
// client-go's reflector backoff that the binary no longer has):
//
//   - Kube and Metallb feed the informers, and retry the reflectors' reads
//     below them while the API server is unreachable
//     (informers.ResumeQuickly), so the caches resume within seconds of
//     an outage's end.
//   - Election is a client of its own, with cfg's limits: client-go
//     rate-limits per client, and a Lease renewal queued behind thousands
//     of status writes would miss RenewDeadline and depose a healthy
//     leader. Its reads are not retried: leader election must see its
//     failures in time.
func NewClients(cfg *rest.Config) (Clients, error) {
	var c Clients
	var err error
	if c.Kube, err = kubernetes.NewForConfig(informers.ResumeQuickly(cfg)); err != nil {
		return Clients{}, err
	}
	if c.Metallb, err = versioned.NewForConfig(informers.ResumeQuickly(cfg)); err != nil {
		return Clients{}, err
	}
	election := rest.CopyConfig(cfg)
	if election.UserAgent != "" {
		election.UserAgent += "-election"
	}
	if c.Election, err = kubernetes.NewForConfig(election); err != nil {
		return Clients{}, err
	}
	return c, nil
}
