// Package manifest decodes YAML manifests into a config.Input, the way the
// API server would accept them: multi-document YAML, strict field checking
// (an unknown or repeated field is an error naming its path), CRD defaults
// for fields whose absence and zero value differ. It does no file I/O:
// callers hand it bytes.
//
// Its place in the whole: the functional core (pure), in docs/architecture.md.
package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/api/v1beta2"
	"github.com/heraldlb/herald/config"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Object is one decoded document.
type Object struct {
	// Source is "FILE#N", N counting documents from 1.
	Source     string
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	// Ignored objects are of kinds Herald's configuration does not read.
	Ignored bool
}

// DocumentError is a document that could not be read as an object at all.
type DocumentError struct {
	Source string
	Err    error
}

func (e *DocumentError) Error() string { return e.Source + ": " + e.Err.Error() }
func (e *DocumentError) Unwrap() error { return e.Err }

// Set accumulates the objects of any number of manifests.
type Set struct {
	// DefaultNamespace is given to namespaced objects without one, as
	// `kubectl apply -n` would.
	DefaultNamespace string

	Input config.Input
	// Services are the v1 Services of the manifests: not configuration,
	// but `herald validate` checks their allocation annotations against it.
	Services []corev1.Service
	Objects  []Object
	// Errors are *config.Error (an object's field) or *DocumentError.
	Errors []error
}

// Add decodes every document of one manifest. source names it in messages.
func (s *Set) Add(source string, data []byte) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return
		}
		src := fmt.Sprintf("%s#%d", source, n)
		if err != nil {
			s.Errors = append(s.Errors, &DocumentError{src, err})
			return
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			s.Errors = append(s.Errors, &DocumentError{src, err})
			continue
		}
		if t := bytes.TrimSpace(js); len(t) == 0 || string(t) == "null" {
			continue // an empty document, such as a file's leading "---"
		}
		// YAMLToJSON keeps the last of repeated keys; the API server
		// refuses them, so look for them separately.
		var repeated []string
		if _, err := yaml.YAMLToJSONStrict(doc); err != nil {
			for _, m := range repeatedKeyRE.FindAllStringSubmatch(err.Error(), -1) {
				repeated = append(repeated, fmt.Sprintf("key %q (line %s of the document)", m[2], m[1]))
			}
		}
		s.addJSON(src, js, repeated)
	}
}

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Items []json.RawMessage `json:"items"`
	Spec  struct {
		PeerPort *json.RawMessage `json:"peerPort"`
	} `json:"spec"`
}

func (s *Set) addJSON(src string, js []byte, repeated []string) {
	var h header
	if err := json.Unmarshal(js, &h); err != nil {
		s.Errors = append(s.Errors, &DocumentError{src, fmt.Errorf("not a Kubernetes object: %v", err)})
		return
	}
	if h.APIVersion == "" || h.Kind == "" {
		s.Errors = append(s.Errors, &DocumentError{src, errors.New("not a Kubernetes object: apiVersion and kind are required")})
		return
	}
	if h.APIVersion == "v1" && h.Kind == "List" {
		for i, item := range h.Items {
			s.addJSON(fmt.Sprintf("%s.items[%d]", src, i), item, nil)
		}
		return
	}
	obj := Object{Source: src, APIVersion: h.APIVersion, Kind: h.Kind, Namespace: h.Metadata.Namespace, Name: h.Metadata.Name}
	clusterScoped := h.APIVersion == "v1" && (h.Kind == "Namespace" || h.Kind == "Node")
	if obj.Namespace == "" && !clusterScoped {
		obj.Namespace = s.DefaultNamespace
	}
	for _, r := range repeated {
		s.Errors = append(s.Errors, fieldError(obj, "", fmt.Errorf("%w: %s", config.ErrDuplicateEntry, r)))
	}
	in := &s.Input
	var ok bool
	switch h.APIVersion + " " + h.Kind {
	case "metallb.io/v1beta1 IPAddressPool":
		in.IPAddressPools, _ = decodeInto(s, obj, js, in.IPAddressPools)
	case "metallb.io/v1beta1 L2Advertisement":
		in.L2Advertisements, _ = decodeInto(s, obj, js, in.L2Advertisements)
	case "metallb.io/v1beta1 BGPAdvertisement":
		in.BGPAdvertisements, _ = decodeInto(s, obj, js, in.BGPAdvertisements)
	case "metallb.io/v1beta1 BFDProfile":
		in.BFDProfiles, _ = decodeInto(s, obj, js, in.BFDProfiles)
	case "metallb.io/v1beta1 Community":
		in.Communities, _ = decodeInto(s, obj, js, in.Communities)
	case "metallb.io/v1beta1 BGPPeer":
		in.BGPPeersV1beta1, ok = decodeInto(s, obj, js, in.BGPPeersV1beta1)
		if ok && h.Spec.PeerPort == nil {
			in.BGPPeersV1beta1[len(in.BGPPeersV1beta1)-1].Spec.Port = config.DefaultPeerPort
		}
	case "metallb.io/v1beta2 BGPPeer":
		in.BGPPeers, ok = decodeInto(s, obj, js, in.BGPPeers)
		if ok && h.Spec.PeerPort == nil {
			in.BGPPeers[len(in.BGPPeers)-1].Spec.Port = config.DefaultPeerPort
		}
	case "v1 Namespace":
		in.Namespaces, _ = decodeInto(s, obj, js, in.Namespaces)
	case "v1 Node":
		in.Nodes, _ = decodeInto(s, obj, js, in.Nodes)
	case "v1 Secret":
		in.Secrets, _ = decodeInto(s, obj, js, in.Secrets)
	case "v1 Service":
		s.Services, _ = decodeInto(s, obj, js, s.Services)
	default:
		if strings.HasPrefix(h.APIVersion, "metallb.io/") && knownKinds[h.Kind] && !statusKinds[h.Kind] {
			s.Errors = append(s.Errors, fieldError(obj, "apiVersion", fmt.Errorf("%q: %w: %s is served as %s",
				h.APIVersion, config.ErrInvalidValue, h.Kind, versionsOf(h.Kind))))
			s.Objects = append(s.Objects, obj)
			return
		}
		obj.Ignored = true
	}
	s.Objects = append(s.Objects, obj)
}

var knownKinds = map[string]bool{"IPAddressPool": true, "L2Advertisement": true, "BGPAdvertisement": true,
	"BFDProfile": true, "Community": true, "BGPPeer": true, "ServiceL2Status": true, "ServiceBGPStatus": true,
	"ConfigurationState": true, "BGPSessionState": true}

// statusKinds are written by Herald, not read as configuration.
var statusKinds = map[string]bool{"ServiceL2Status": true, "ServiceBGPStatus": true, "ConfigurationState": true, "BGPSessionState": true}

func versionsOf(kind string) string {
	if kind == "BGPPeer" {
		return "metallb.io/v1beta2 (or the deprecated metallb.io/v1beta1)"
	}
	return "metallb.io/v1beta1"
}

// namer is what every decoded type has.
type namer interface {
	SetNamespace(string)
}

// decodeInto decodes js strictly into a new T and appends it, reporting
// whether it did. Strict errors (unknown or repeated fields) become field
// errors on the object, which is still kept so the rest of it is checked
// too; a value of the wrong type leaves the object out.
func decodeInto[T any, PT interface {
	*T
	namer
}](s *Set, obj Object, js []byte, list []T) ([]T, bool) {
	var v T
	strictErrs, err := kjson.UnmarshalStrict(js, &v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		field, msg := typeErrorField(err)
		s.Errors = append(s.Errors, fieldError(obj, field, fmt.Errorf("%w: %s", config.ErrInvalidValue, msg)))
		return list, false
	}
	for _, se := range strictErrs {
		s.Errors = append(s.Errors, strictError(obj, se))
	}
	if obj.Namespace != "" {
		PT(&v).SetNamespace(obj.Namespace)
	}
	return append(list, v), true
}

var (
	strictRE      = regexp.MustCompile(`^(unknown|duplicate) field "(.*)"$`)
	repeatedKeyRE = regexp.MustCompile(`line (\d+): key "(.*)" already set in map`)
	typeFieldRE   = regexp.MustCompile(`Go struct field [^ .]+\.(\S+) of type (\S+)`)
)

func strictError(obj Object, err error) error {
	m := strictRE.FindStringSubmatch(err.Error())
	if m == nil {
		return fieldError(obj, "", fmt.Errorf("%w: %v", config.ErrUnknownField, err))
	}
	if m[1] == "duplicate" {
		return fieldError(obj, m[2], fmt.Errorf("%w: field given twice", config.ErrDuplicateEntry))
	}
	return fieldError(obj, m[2], config.ErrUnknownField)
}

// typeErrorField pulls the JSON path out of a decoding type error.
func typeErrorField(err error) (string, string) {
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if m := typeFieldRE.FindStringSubmatch(msg); m != nil {
		return m[1], "wrong type, want " + m[2]
	}
	return "", msg
}

func fieldError(obj Object, field string, err error) *config.Error {
	return &config.Error{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name, Field: field, Err: err}
}

// Compile-time checks that every decoded type has SetNamespace.
var (
	_ namer = &v1beta1.IPAddressPool{}
	_ namer = &v1beta2.BGPPeer{}
	_ namer = &corev1.Secret{}
)
