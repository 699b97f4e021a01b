package speaker

import (
	"context"
	"errors"
	"slices"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// getOrCreate asks first what the caller's belief makes likely, and the
// other way only when the answer says the belief was wrong.
func TestGetOrCreate(t *testing.T) {
	gr := schema.GroupResource{Group: "metallb.io", Resource: "servicebgpstatuses"}
	notFound := apierrors.NewNotFound(gr, "x")
	exists := apierrors.NewAlreadyExists(gr, "x")
	other := errors.New("connection refused")
	for _, tc := range []struct {
		name              string
		absent            bool
		getErr, createErr error
		wantCalls         []string
		wantFrom          string // which call's object
		wantErr           error
	}{
		{name: "believed absent, is: created", absent: true, wantCalls: []string{"create"}, wantFrom: "create"},
		{name: "believed absent, exists: read", absent: true, createErr: exists, wantCalls: []string{"create", "get"}, wantFrom: "get"},
		{name: "believed absent, create fails otherwise", absent: true, createErr: other, wantCalls: []string{"create"}, wantErr: other},
		{name: "believed present, is: read", wantCalls: []string{"get"}, wantFrom: "get"},
		{name: "believed present, gone: created", getErr: notFound, wantCalls: []string{"get", "create"}, wantFrom: "create"},
		{name: "believed present, get fails otherwise", getErr: other, wantCalls: []string{"get"}, wantErr: other},
	} {
		var calls []string
		call := func(which string, err error) func(context.Context) (string, error) {
			return func(context.Context) (string, error) {
				calls = append(calls, which)
				if err != nil {
					return "", err
				}
				return which, nil
			}
		}
		got, err := getOrCreate(context.Background(), tc.absent, call("get", tc.getErr), call("create", tc.createErr))
		if !slices.Equal(calls, tc.wantCalls) {
			t.Errorf("%s: calls %v, want %v", tc.name, calls, tc.wantCalls)
		}
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("%s: error %v, want %v", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.wantFrom {
			t.Errorf("%s: got %q, %v; want the object from %s", tc.name, got, err, tc.wantFrom)
		}
	}
}
