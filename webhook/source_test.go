package webhook

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	metallbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/config"
)

func TestClientSourceInput(t *testing.T) {
	src := ClientSource{
		Kube: fake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pw", Namespace: ns}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "default"}}),
		Metallb:   metallbfake.NewSimpleClientset(&v1beta1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: "fast", Namespace: ns}}),
		Namespace: ns,
	}
	in, err := input(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Secrets) != 1 || len(in.BFDProfiles) != 1 {
		t.Fatalf("input %+v", in)
	}
}

func TestClientSourceTakesClusterObjectsFromCache(t *testing.T) {
	cache := static{in: config.Input{Nodes: []corev1.Node{{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}}}}
	src := ClientSource{Kube: fake.NewClientset(), Metallb: metallbfake.NewSimpleClientset(), Namespace: ns, Cluster: cache}
	in, err := input(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Nodes) != 1 {
		t.Fatalf("nodes %+v, want the cached one", in.Nodes)
	}
}
