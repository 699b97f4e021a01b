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
func checkServices(set *manifest.Set, cfg *config.Config) (errs []error, warnings []config.Warning, got map[objectKey]string) {
	got = map[objectKey]string{}
	if cfg == nil || len(set.Services) == 0 {
		return nil, nil, got
	}
	a := alloc.New()
	if _, err := a.SetPools(alloc.PoolsFromConfig(cfg, set.Input)); err != nil {
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
		case !s.Ours(""):
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
		case onlyExhausted(err):
			got[k] = "would wait for a free address"
			warnings = append(warnings, config.Warning{Kind: "Service", Namespace: s.Key.Namespace, Name: s.Key.Name,
				Message: "would wait for an address: " + strings.TrimPrefix(err.Error(), "no IP for "+s.Key.String()+": ")})
		default:
			errs = append(errs, &config.Error{Kind: "Service", Namespace: s.Key.Namespace, Name: s.Key.Name,
				Err: named{strings.TrimPrefix(err.Error(), s.Key.String()+": "), err}})
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
