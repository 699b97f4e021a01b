package speaker

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/heraldlb/herald/api/v1beta1"
	"github.com/heraldlb/herald/bgpwire/bfd"
	"github.com/heraldlb/herald/config"
)

// TestBFDAuth checks the BFDProfile authentication handed to the BFD
// session: each API type becomes the Auth Type number RFC 5880 §4.1 gives
// it, the key ID and key pass through, and no authentication is AuthNone.
func TestBFDAuth(t *testing.T) {
	tests := []struct {
		in      *config.BFDAuth
		want    bfd.AuthConfig
		wantErr error
	}{
		{in: nil, want: bfd.AuthConfig{Type: bfd.AuthNone}},
		{in: &config.BFDAuth{Type: "simple-password", KeyID: 0, Key: "pw"},
			want: bfd.AuthConfig{Type: 1, KeyID: 0, Secret: []byte("pw")}},
		{in: &config.BFDAuth{Type: "keyed-md5", KeyID: 1, Key: "k"},
			want: bfd.AuthConfig{Type: 2, KeyID: 1, Secret: []byte("k")}},
		{in: &config.BFDAuth{Type: "meticulous-keyed-md5", KeyID: 2, Key: "k"},
			want: bfd.AuthConfig{Type: 3, KeyID: 2, Secret: []byte("k")}},
		{in: &config.BFDAuth{Type: "keyed-sha1", KeyID: 255, Key: "twenty-bytes-of-key!"},
			want: bfd.AuthConfig{Type: 4, KeyID: 255, Secret: []byte("twenty-bytes-of-key!")}},
		{in: &config.BFDAuth{Type: "meticulous-keyed-sha1", KeyID: 9, Key: "k"},
			want: bfd.AuthConfig{Type: 5, KeyID: 9, Secret: []byte("k")}},
		{in: &config.BFDAuth{Type: v1beta1.BFDAuthType("sha256"), Key: "k"}, wantErr: errBFDAuthType},
	}
	for _, tt := range tests {
		name := "none"
		if tt.in != nil {
			name = string(tt.in.Type)
		}
		t.Run(name, func(t *testing.T) {
			got, err := bfdAuth(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("AuthConfig (-want +got):\n%s", diff)
			}
		})
	}
}
