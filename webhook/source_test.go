package webhook

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	metallbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	listersv1beta1 "github.com/heraldlb/herald/api/client/listers/api/v1beta1"
	"github.com/heraldlb/herald/api/v1beta1"
)

func TestListersInput(t *testing.T) {
	pools := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, p := range []*v1beta1.IPAddressPool{
		{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: ns}},
		{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "default"}},
	} {
		if err := pools.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	nodes := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	if err := nodes.Add(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}); err != nil {
		t.Fatal(err)
	}
	src := Listers{
		IPAddressPools: listersv1beta1.NewIPAddressPoolLister(pools).IPAddressPools(ns),
		Nodes:          corelisters.NewNodeLister(nodes),
		// Every other lister unset: lists nothing.
	}
	in, err := src.Input(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(in.IPAddressPools) != 1 || in.IPAddressPools[0].Name != "a" || len(in.Nodes) != 1 || len(in.BGPPeers) != 0 {
		t.Fatalf("input %+v", in)
	}
}

func TestClientSourceInput(t *testing.T) {
	src := ClientSource{
		Kube: fake.NewClientset(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pw", Namespace: ns}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "default"}}),
		Metallb:   metallbfake.NewSimpleClientset(&v1beta1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: "fast", Namespace: ns}}),
		Namespace: ns,
	}
	in, err := src.Input(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Secrets) != 1 || len(in.BFDProfiles) != 1 {
		t.Fatalf("input %+v", in)
	}
}
