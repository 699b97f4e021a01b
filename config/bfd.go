package config

import (
	"github.com/heraldlb/herald/api/v1beta1"
)

func compileBFDProfiles(objs []v1beta1.BFDProfile, d *diagnostics) map[string]*BFDProfile {
	seen := map[string]bool{}
	out := map[string]*BFDProfile{}
	for _, obj := range objs {
		r := ref{"BFDProfile", obj.Namespace, obj.Name}
		if !checkName(r, seen, d) {
			continue
		}
		s := obj.Spec
		out[obj.Name] = &BFDProfile{
			Name:             obj.Name,
			ReceiveInterval:  bfdValue(r, d, "spec.receiveInterval", s.ReceiveInterval, DefaultBFDReceiveInterval, 10, 60000),
			TransmitInterval: bfdValue(r, d, "spec.transmitInterval", s.TransmitInterval, DefaultBFDTransmitInterval, 10, 60000),
			DetectMultiplier: bfdValue(r, d, "spec.detectMultiplier", s.DetectMultiplier, DefaultBFDDetectMultiplier, 2, 255),
			EchoInterval:     bfdValue(r, d, "spec.echoInterval", s.EchoInterval, DefaultBFDEchoInterval, 10, 60000),
			EchoMode:         s.EchoMode != nil && *s.EchoMode,
			PassiveMode:      s.PassiveMode != nil && *s.PassiveMode,
			MinimumTTL:       bfdValue(r, d, "spec.minimumTtl", s.MinimumTTL, DefaultBFDMinimumTTL, 1, 254),
		}
	}
	return out
}

func bfdValue(r ref, d *diagnostics, field string, v *uint32, def, lo, hi uint32) uint32 {
	if v == nil {
		return def
	}
	if *v < lo || *v > hi {
		d.errorf(r, field, "%d: %w: must be %d to %d", *v, ErrOutOfRange, lo, hi)
	}
	return *v
}
