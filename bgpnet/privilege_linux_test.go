package bgpnet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// helperEnv makes the test binary, run again by TestListenPrivilegedPort,
// try to listen on port 179 and print what Register returned.
const helperEnv = "HERALD_BGPNET_LISTEN_179"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		ls := NewListeners()
		_, err := ls.Register(Options{Peer: mustAddr("192.0.2.1"), ListenPort: BGPPort}, func(c *Conn) { _ = c.Close() })
		fmt.Printf("permission=%v\nerror=%v\n", errors.Is(err, ErrPermission), err)
		_ = ls.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Listening on port 179 without CAP_NET_BIND_SERVICE fails with
// ErrPermission and says what to grant. The test binary runs again with
// the capability out of its bounding set (setpriv), in a fresh namespace
// so nothing else holds the port.
func TestListenPrivilegedPort(t *testing.T) {
	l := newLab(t, "h")
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("skipped: needs setpriv (util-linux)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", l.ns("h"), "setpriv", "--bounding-set", "-net_bind_service", self)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	for _, want := range []string{"permission=true", "bgpnet: listen port 179: permission denied", "needs CAP_NET_BIND_SERVICE"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the helper's output does not say %q:\n%s", want, out)
		}
	}

	t.Run("with the capability", func(t *testing.T) {
		ls := newListeners(t)
		l.register("h", ls, Options{Peer: mustAddr("192.0.2.1"), ListenPort: BGPPort})
	})
}
