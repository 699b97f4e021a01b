package inspect

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	mlbfake "github.com/heraldlb/herald/api/client/clientset/versioned/fake"
	"github.com/heraldlb/herald/servicestatus"
)

// A user who may read their Services and Events but nothing in Herald's
// namespace still gets the controller's reason, with notes saying what
// was left out; any other error still fails the command.
func TestGatherExplainWithoutRightsInHeraldsNamespace(t *testing.T) {
	svc := service(nil)
	ev := event("5", servicestatus.ReasonAllocationFailed, `no IP for shop/web: pool "web": no free address: all 2 usable IPv4 addresses are in use`)
	ev.Namespace, ev.Name = "shop", "web.1"
	kube := kubefake.NewClientset(svc, &ev)
	mlb := mlbfake.NewSimpleClientset()
	mlb.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "metallb.io", Resource: a.GetResource().Resource}, "", nil)
	})
	f, notes, err := GatherExplain(context.Background(), Clients{Kube: kube, Metallb: mlb}, "metallb-system", "shop", "web")
	if err != nil {
		t.Fatalf("GatherExplain: %v", err)
	}
	if x := Explain(f); x.Reason != ReasonPoolExhausted {
		t.Errorf("reason %s (%s), want %s from the Event alone", x.Reason, x.Summary, ReasonPoolExhausted)
	}
	for _, want := range []string{"ConfigurationState", "ServiceBGPStatuses", "ServiceL2Statuses", "BGPSessionStates", "the configuration"} {
		if !strings.Contains(strings.Join(notes, "\n"), want) {
			t.Errorf("notes %q do not mention %s", notes, want)
		}
	}

	broken := mlbfake.NewSimpleClientset()
	broken.PrependReactor("list", "servicebgpstatuses", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewServiceUnavailable("etcd is away")
	})
	if _, _, err := GatherExplain(context.Background(), Clients{Kube: kube, Metallb: broken}, "metallb-system", "shop", "web"); err == nil {
		t.Error("an unavailable API server was not an error")
	}
}
