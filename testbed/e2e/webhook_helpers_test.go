package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/heraldlb/herald/config/configtest"
)

// whApplier creates manifests' objects one by one through the API server,
// the way `kubectl create -f` does: documents in file order, each mapped to
// its resource by discovery, with strict field validation (kubectl's
// default since 1.27, so an unknown field is refused, not dropped).
type whApplier struct {
	dyn    dynamic.Interface
	mapper meta.ResettableRESTMapper
}

func newWHApplier(t *testing.T, cfg *rest.Config) *whApplier {
	t.Helper()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &whApplier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))}
}

// whDocs decodes every non-empty YAML document of a file.
func whDocs(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// whCreated is an object the applier created, to delete afterwards.
type whCreated struct {
	res       dynamic.NamespaceableResourceInterface
	namespace string
	name      string
	kind      string
}

// create sends one object. An unmapped kind or version fails as kubectl's
// does, naming the object and the apiVersion.
func (a *whApplier) create(ctx context.Context, source string, u *unstructured.Unstructured) (*whCreated, error) {
	gvk := u.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("resource mapping not found for name: %q namespace: %q from %q: %w",
			u.GetName(), u.GetNamespace(), source, err)
	}
	res := a.dyn.Resource(m.Resource)
	var ri dynamic.ResourceInterface = res
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		// As `kubectl create -n metallb-system -f`: the examples leave
		// some namespaces out, as the documentation they follow does.
		if u.GetNamespace() == "" {
			u.SetNamespace(whNamespace)
		}
		ri = res.Namespace(u.GetNamespace())
	}
	if _, err := ri.Create(ctx, u, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil {
		return nil, err
	}
	return &whCreated{res: res, namespace: u.GetNamespace(), name: u.GetName(), kind: gvk.Kind}, nil
}

// deleteAll removes created objects in reverse order, so references go
// before what they refer to (a BGPPeer before its BFDProfile). Namespaces
// are left: without a controller-manager they would stay Terminating.
func (a *whApplier) deleteAll(ctx context.Context, t *testing.T, created []*whCreated) {
	t.Helper()
	for i := len(created) - 1; i >= 0; i-- {
		c := created[i]
		if c.kind == "Namespace" {
			continue
		}
		var ri dynamic.ResourceInterface = c.res
		if c.namespace != "" {
			ri = c.res.Namespace(c.namespace)
		}
		if err := ri.Delete(ctx, c.name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting %s %s/%s: %v", c.kind, c.namespace, c.name, err)
		}
	}
}

// whHeader reads the "# key: value" lines at the top of a testdata file.
func whHeader(t *testing.T, path string) map[string]string {
	t.Helper()
	h, err := configtest.Header(path)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// whExpect is an "# expect:" line split the way config prints errors:
// "Kind namespace/name: field: explanation".
type whExpect struct {
	Kind, Namespace, Name, Field, Text string
}

func parseWHExpect(line string) (whExpect, error) {
	kind, rest, ok := strings.Cut(line, " ")
	if !ok {
		return whExpect{}, fmt.Errorf("no kind in %q", line)
	}
	obj, rest, ok := strings.Cut(rest, ": ")
	if !ok {
		return whExpect{}, fmt.Errorf("no object in %q", line)
	}
	field, _, _ := strings.Cut(rest, ": ")
	e := whExpect{Kind: kind, Field: field, Text: line}
	if ns, name, ok := strings.Cut(obj, "/"); ok {
		e.Namespace, e.Name = ns, name
	} else {
		e.Name = obj
	}
	return e, nil
}

// whServingSerial is the serial number of the certificate the webhook
// serves now (the test only reads it, so it does not verify the chain).
func whServingSerial(t *testing.T, addr string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// whWarnings collects the API server's Warning headers (a
// rest.WarningHandler).
type whWarnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *whWarnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *whWarnings) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

func (w *whWarnings) contains(s string) bool {
	return slices.ContainsFunc(w.all(), func(m string) bool { return strings.Contains(m, s) })
}

func (w *whWarnings) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = nil
}
