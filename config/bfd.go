package config

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/heraldlb/herald/api/v1beta1"
)

// bfdProfiles are the compiled BFDProfiles and, apart, the authentication
// of those that have one, both by name.
type bfdProfiles struct {
	profiles map[string]*BFDProfile
	auth     map[string]*BFDAuth
}

func compileBFDProfiles(objs []v1beta1.BFDProfile, secrets []corev1.Secret, d *diagnostics) bfdProfiles {
	seen := map[string]bool{}
	out := bfdProfiles{profiles: map[string]*BFDProfile{}, auth: map[string]*BFDAuth{}}
	for _, obj := range objs {
		r := ref{"BFDProfile", obj.Namespace, obj.Name}
		if !checkName(r, seen, d) {
			continue
		}
		s := obj.Spec
		out.profiles[obj.Name] = &BFDProfile{
			Name:             obj.Name,
			ReceiveInterval:  bfdValue(r, d, "spec.receiveInterval", s.ReceiveInterval, DefaultBFDReceiveInterval, 10, 60000),
			TransmitInterval: bfdValue(r, d, "spec.transmitInterval", s.TransmitInterval, DefaultBFDTransmitInterval, 10, 60000),
			DetectMultiplier: bfdValue(r, d, "spec.detectMultiplier", s.DetectMultiplier, DefaultBFDDetectMultiplier, 2, 255),
			EchoInterval:     bfdValue(r, d, "spec.echoInterval", s.EchoInterval, DefaultBFDEchoInterval, 10, 60000),
			EchoMode:         s.EchoMode != nil && *s.EchoMode,
			PassiveMode:      s.PassiveMode != nil && *s.PassiveMode,
			MinimumTTL:       bfdValue(r, d, "spec.minimumTtl", s.MinimumTTL, DefaultBFDMinimumTTL, 1, 254),
		}
		if s.Authentication != nil {
			if a := compileBFDAuth(r, *s.Authentication, secrets, d); a != nil {
				out.auth[obj.Name] = a
			}
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

// bfdAuthType is an authentication type with the longest password or key
// it takes.
type bfdAuthType struct {
	name     v1beta1.BFDAuthType
	keyLimit int
}

// bfdAuthTypes are the authentication types in RFC 5880's order (§4.1),
// with the longest password or key each takes (§4.2 to §4.4).
var bfdAuthTypes = []bfdAuthType{
	{v1beta1.BFDAuthSimplePassword, 16},
	{v1beta1.BFDAuthKeyedMD5, 16},
	{v1beta1.BFDAuthMeticulousKeyedMD5, 16},
	{v1beta1.BFDAuthKeyedSHA1, 20},
	{v1beta1.BFDAuthMeticulousKeyedSHA1, 20},
}

// compileBFDAuth resolves spec.authentication, its key from a basic-auth
// Secret in the profile's namespace read as a BGPPeer's passwordSecret is.
// It returns nil after recording an error.
func compileBFDAuth(r ref, s v1beta1.BFDAuthentication, secrets []corev1.Secret, d *diagnostics) *BFDAuth {
	const field = "spec.authentication"
	a := &BFDAuth{Type: s.Type, Secret: s.SecretRef.Name}
	bad := false
	i := slices.IndexFunc(bfdAuthTypes, func(t bfdAuthType) bool { return t.name == s.Type })
	switch {
	case s.Type == "":
		d.errorf(r, field+".type", "%w", ErrRequired)
		bad = true
	case i < 0:
		names := make([]string, len(bfdAuthTypes))
		for j, t := range bfdAuthTypes {
			names[j] = string(t.name)
		}
		d.errorf(r, field+".type", "%q: %w: must be one of %s", s.Type, ErrInvalidValue, strings.Join(names, ", "))
		bad = true
	}
	if s.KeyID != nil {
		if *s.KeyID > 255 {
			d.errorf(r, field+".keyID", "%d: %w: must be 0 to 255", *s.KeyID, ErrOutOfRange)
			bad = true
		}
		a.KeyID = uint8(*s.KeyID)
	}
	if s.SecretRef.Name == "" {
		d.errorf(r, field+".secretRef.name", "%w", ErrRequired)
		return nil
	}
	key, ok := secretPassword(r, field+".secretRef.name", s.SecretRef.Name, r.Namespace, secrets, d)
	if !ok || bad {
		return nil
	}
	if n, limit := len(key), bfdAuthTypes[i].keyLimit; n < 1 || n > limit {
		d.errorf(r, field+".secretRef.name", "%q: %w: %d bytes, %s takes 1 to %d", s.SecretRef.Name,
			ErrInvalidPassword, n, s.Type, limit)
		return nil
	}
	a.Key = key
	return a
}
