package speaker

import (
	"net/netip"
	"testing"
	"time"

	"github.com/heraldlb/herald/config"
)

// --graceful-restart-time reaches the OPEN of a peer that enables graceful
// restart; unset, the Peer's own default applies.
func TestPeerConfigRestartTime(t *testing.T) {
	p := &config.Peer{Name: "r", MyASN: 64512, ASN: 64513, Address: netip.MustParseAddr("192.0.2.1"),
		RouterID: netip.MustParseAddr("192.0.2.10"), EnableGracefulRestart: true}
	for _, tc := range []struct {
		set, want time.Duration
	}{{0, 0}, {30 * time.Second, 30 * time.Second}, {4095 * time.Second, 4095 * time.Second}} {
		e := &env{restartTime: tc.set}
		c, err := e.peerConfig(p, false)
		if err != nil {
			t.Fatal(err)
		}
		if c.RestartTime != tc.want || !c.GracefulRestart {
			t.Errorf("restart time %s: config says %s (graceful restart %v), want %s", tc.set, c.RestartTime, c.GracefulRestart, tc.want)
		}
	}
}
