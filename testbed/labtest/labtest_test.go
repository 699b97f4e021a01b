package labtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReport checks that the failure report covers what a person looks at
// first: the router's sessions and logs, each namespace's addresses and
// routes, registered logs and the API server's log.
func TestReport(t *testing.T) {
	e := Start(t, Options{Nodes: 1, Router: "frr", ControlPlane: true})
	speakerLog := filepath.Join(t.TempDir(), "speaker.log")
	if err := os.WriteFile(speakerLog, []byte("first line\nlast line of the speaker\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.AddLog("speaker on node1", speakerLog)
	r := e.Report()
	for _, want := range []string{
		"lab report: " + e.Lab.Name,
		"frr: show bgp summary", "frr: show ip route", "Codes: K - kernel route", // the commands ran and answered
		"frr configuration", "frr logs",
		"node1: ip -br addr", e.Lab.Nodes[0].LAN4.String(), "client: ip route", "router: ip neigh",
		"log of speaker on node1", "last line of the speaker",
		"kube-apiserver log",
	} {
		if !strings.Contains(r, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	if strings.Contains(r, "no such file") {
		t.Errorf("the report names a missing file:\n%s", r)
	}
}
