package main

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/heraldlb/herald/alloc"
	"github.com/heraldlb/herald/config"
	"github.com/heraldlb/herald/config/manifest"
	"github.com/heraldlb/herald/informers"
)

// checkServices allocates the LoadBalancer Services of the files offline,
// in file order, with the real allocator and the compiled configuration,
// as the controller would: an unreadable annotation, a requested pool that
// does not exist, a requested IP in no pool, and two Services whose
// requests or sharing keys clash are errors on the Service; a Service that
// would only wait for a free address is a warning. It returns, besides,
// what each Service would get.
func checkServices(set *manifest.Set, cfg *config.Config, class string) (errs []error, warnings []config.Warning, got map[objectKey]string) {
	got = map[objectKey]string{}
	if cfg == nil || len(set.Services) == 0 {
		return nil, nil, got
	}
	a := alloc.New()
	if _, err := a.SetPools(alloc.PoolsFromConfig(cfg)); err != nil {
		// config accepted the pools, so this is a disagreement between
		// config and alloc: say so rather than check nothing.
		return []error{fmt.Errorf("the allocator refused the configuration's pools: %w", err)}, nil, got
	}
	nsLabels := map[string]labels.Set{}
	for _, ns := range set.Input.Namespaces {
		nsLabels[ns.Name] = labels.Set(ns.Labels)
	}
	for i := range set.Services {
		s := informers.ParseService(&set.Services[i])
		k := objectKey{"Service", s.Key.Namespace, s.Key.Name}
		switch {
		case !s.LoadBalancer:
			got[k] = "not of type LoadBalancer: nothing to allocate"
			continue
		case !s.Ours(class):
			got[k] = fmt.Sprintf("loadBalancerClass %q: another controller's", s.Class)
			continue
		}
		if s.Invalid != nil {
			errs = append(errs, &config.Error{Kind: "Service", Namespace: s.Key.Namespace, Name: s.Key.Name,
				Field: "metadata.annotations", Err: s.Invalid})
			continue
		}
		s.Alloc.NamespaceLabels = nsLabels[s.Key.Namespace]
		asg, err := a.Allocate(s.Alloc)
		switch {
		case err == nil:
			ips := make([]string, len(asg.IPs))
			for j, ip := range asg.IPs {
				ips[j] = ip.String()
			}
			got[k] = fmt.Sprintf("would get %s from pool %s", strings.Join(ips, ","), asg.Pool)
		case nsLabels[s.Key.Namespace] == nil && !hasNamespace(set, s.Key.Namespace) &&
			(errors.Is(err, alloc.ErrNotAdmitted) || errors.Is(err, alloc.ErrNoPool)):
			// The files do not say what the namespace's labels are, so a
			// pool that selects namespaces by label may well admit it in
			// the cluster: a remark, not an error.
			got[k] = "unknown: its Namespace is not in the files"
			warnings = append(warnings, config.Warning{Kind: "Service", Namespace: s.Key.Namespace, Name: s.Key.Name,
				Message: fmt.Sprintf("Namespace %s is not in the files, so its labels are unknown: %s",
					s.Key.Namespace, withoutKey(err, s.Key))})
		case onlyExhausted(err):
			got[k] = "would wait for a free address"
			warnings = append(warnings, config.Warning{Kind: "Service", Namespace: s.Key.Namespace, Name: s.Key.Name,
				Message: "would wait for an address: " + withoutKey(err, s.Key)})
		default:
			errs = append(errs, &config.Error{Kind: "Service", Namespace: s.Key.Namespace, Name: s.Key.Name,
				Err: named{withoutKey(err, s.Key), err}})
		}
	}
	return errs, warnings, got
}

// onlyExhausted reports whether every reason err gives is a full pool: the
// Service would get an address once one is free, so its request is sound.
func onlyExhausted(err error) bool {
	var ae *alloc.AllocationError
	if errors.As(err, &ae) {
		for _, r := range ae.Reasons {
			if !errors.Is(r, alloc.ErrPoolExhausted) || errors.Is(r, alloc.ErrSharingIncompatible) {
				return false
			}
		}
		return len(ae.Reasons) > 0
	}
	return errors.Is(err, alloc.ErrPoolExhausted) && !errors.Is(err, alloc.ErrSharingIncompatible)
}

// named is an allocator error whose text no longer repeats the Service's
// name, which the line already gives.
type named struct {
	msg string
	err error
}

func (n named) Error() string { return n.msg }
func (n named) Unwrap() error { return n.err }

func hasNamespace(set *manifest.Set, name string) bool {
	for _, ns := range set.Input.Namespaces {
		if ns.Name == name {
			return true
		}
	}
	return false
}

// withoutKey is the allocator's message without the Service's name, which
// the line already gives.
func withoutKey(err error, k alloc.ServiceKey) string {
	msg := strings.TrimPrefix(err.Error(), "no IP for "+k.String()+": ")
	return strings.TrimPrefix(msg, k.String()+": ")
}
