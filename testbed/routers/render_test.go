package routers

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// everyOption exercises every template branch: eBGP and iBGP, v4 and v6,
// multihop, password, GTSM, dual stack, BFD (active and passive), graceful
// restart on and off, passive, timers and a non-standard port. (FRR's
// unnumbered neighbors are added by its test.)
func everyOption(dir string) Config {
	bfd := &BFDProfile{ReceiveInterval: 50 * time.Millisecond, TransmitInterval: 60 * time.Millisecond, DetectMultiplier: 5}
	return Config{
		Name: "r1", Namespace: "ns", Dir: dir, ASN: 64512, RouterID: netip.MustParseAddr("10.0.0.1"),
		Neighbors: []Neighbor{
			{Address: netip.MustParseAddr("10.0.0.2"), ASN: 64513, BFD: bfd, GracefulRestart: true, Password: "pw1", TTLSecurity: true},
			{Address: netip.MustParseAddr("10.0.9.2"), ASN: 64514, Multihop: 4, HoldTime: 9 * time.Second, Keepalive: 3 * time.Second},
			{Address: netip.MustParseAddr("10.0.0.3"), ASN: 64512, Passive: true, BFD: &BFDProfile{Passive: true}, DualStack: true},
			{Address: netip.MustParseAddr("10.0.9.3"), ASN: 64512, Multihop: 2, Port: 1790},
			{Address: netip.MustParseAddr("fd00::2"), ASN: 64513, GracefulRestart: true, HoldTime: 3 * time.Second},
		},
	}
}

// TestRenderedConfigsParse checks the rendered configurations with the
// routers' own parsers (vtysh -C, bird -p), when they are installed.
func TestRenderedConfigsParse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Run("frr", func(t *testing.T) {
		if _, err := exec.LookPath("vtysh"); err != nil {
			t.Skip("vtysh not installed")
		}
		dir := t.TempDir()
		cfg := everyOption(dir)
		cfg.Neighbors = append(cfg.Neighbors, Neighbor{Interface: "eth1", ASN: 64515})
		conf, err := RenderFRR(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"ebgp-multihop 4", "password pw1", "bfd profile p1", "passive-mode",
			"receive-interval 50", "transmit-interval 60", "detect-multiplier 5", "graceful-restart-disable",
			"timers 3 9", "port 1790", "neighbor fd00::2 activate", "no bgp ebgp-requires-policy",
			"neighbor 10.0.0.2 ttl-security hops 1", "neighbor eth1 interface remote-as 64515", "neighbor eth1 timers connect 1"} {
			if !strings.Contains(conf, want) {
				t.Errorf("frr.conf lacks %q:\n%s", want, conf)
			}
		}
		// Both families for the dual-stack and the unnumbered neighbor.
		_, v6, _ := strings.Cut(conf, "address-family ipv6 unicast")
		for _, n := range []string{"10.0.0.3", "eth1"} {
			if strings.Count(conf, "neighbor "+n+" activate") != 2 || !strings.Contains(v6, "neighbor "+n+" activate") {
				t.Errorf("frr.conf does not activate %s in both families:\n%s", n, conf)
			}
		}
		writeFile(t, filepath.Join(dir, "frr.conf"), conf)
		writeFile(t, filepath.Join(dir, "vtysh.conf"), "")
		out, err := exec.CommandContext(ctx, "vtysh", "--config_dir", dir, "-C").CombinedOutput()
		if err != nil || strings.Contains(string(out), "rror") {
			t.Fatalf("vtysh -C rejected frr.conf: %v\n%s\n%s", err, out, conf)
		}
	})
	t.Run("bird", func(t *testing.T) {
		if _, err := exec.LookPath("bird"); err != nil {
			t.Skip("bird not installed")
		}
		dir := t.TempDir()
		conf, err := RenderBIRD(everyOption(dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"multihop 4;", `password "pw1";`, "min rx interval 50 ms", "passive on;",
			"graceful restart off;", "hold time 9;", "keepalive time 3;", "port 1790", "ipv6 { import all;", "ttl security yes;"} {
			if !strings.Contains(conf, want) {
				t.Errorf("bird.conf lacks %q:\n%s", want, conf)
			}
		}
		if n := strings.Count(conf, "ipv6 { import all;"); n != 2 {
			t.Errorf("bird.conf has %d IPv6 channels, want 2 (fd00::2 and the dual-stack 10.0.0.3):\n%s", n, conf)
		}
		unnumbered := everyOption(dir)
		unnumbered.Neighbors = append(unnumbered.Neighbors, Neighbor{Interface: "eth1", ASN: 64515})
		if _, err := RenderBIRD(unnumbered); err == nil {
			t.Error("BIRD rendered an unnumbered neighbor")
		}
		path := filepath.Join(dir, "bird.conf")
		writeFile(t, path, conf)
		if out, err := exec.CommandContext(ctx, "bird", "-p", "-c", path).CombinedOutput(); err != nil {
			t.Fatalf("bird -p rejected bird.conf: %v\n%s\n%s", err, out, conf)
		}
	})
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBFDAuthRender: BIRD renders BFD authentication in its bfd protocol's
// interface block with the password's key ID, and bird -p accepts it; FRR,
// whose bfdd has no authentication, refuses it; two neighbours with
// different authentication are refused (BIRD sets it per interface).
func TestBFDAuthRender(t *testing.T) {
	auth := &BFDAuth{Type: "meticulous-keyed-sha1", KeyID: 7, Password: "s3cret"}
	cfg := Config{Name: "r1", Namespace: "ns", Dir: t.TempDir(), ASN: 64512, RouterID: netip.MustParseAddr("10.0.0.1"),
		Neighbors: []Neighbor{{Address: netip.MustParseAddr("10.0.0.2"), ASN: 64513, BFD: &BFDProfile{Auth: auth}}}}
	conf, err := RenderBIRD(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"authentication meticulous keyed sha1;", `password "s3cret" { id 7; };`} {
		if !strings.Contains(conf, want) {
			t.Errorf("bird.conf lacks %q:\n%s", want, conf)
		}
	}
	if _, err := exec.LookPath("bird"); err == nil {
		path := filepath.Join(cfg.Dir, "bird.conf")
		writeFile(t, path, conf)
		if out, err := exec.Command("bird", "-p", "-c", path).CombinedOutput(); err != nil {
			t.Errorf("bird -p rejected bird.conf: %v\n%s\n%s", err, out, conf)
		}
	}
	if _, err := RenderFRR(cfg); err == nil {
		t.Error("RenderFRR accepted BFD authentication")
	}
	other := *auth
	other.Password = "other"
	cfg.Neighbors = append(cfg.Neighbors, Neighbor{Address: netip.MustParseAddr("10.0.0.3"), ASN: 64513, BFD: &BFDProfile{Auth: &other}})
	if _, err := RenderBIRD(cfg); err == nil {
		t.Error("RenderBIRD accepted two different BFD authentications")
	}
}
