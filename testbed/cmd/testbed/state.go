package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/heraldlb/herald/testbed/netlab"
)

// stateDirEnv moves the state and log files, so a test's lab and a person's
// lab never answer for each other.
const stateDirEnv = "HERALD_TESTBED_STATE_DIR"

// stateFile records the lab that `testbed up` left running. It is written by
// the owner process once everything is up, and read by status, down and
// demo. logFile is where the owner process writes its log.
var stateFile, logFile = statePaths()

func statePaths() (string, string) {
	dir := netlab.StateRoot
	if d := os.Getenv(stateDirEnv); d != "" {
		dir = d
	}
	return filepath.Join(dir, "testbed.json"), filepath.Join(dir, "testbed.log")
}

// labState is what a person (and status/down/demo) needs to find the lab.
type labState struct {
	PID             int         `json:"pid"`
	Lab             string      `json:"lab"`
	Namespaces      []string    `json:"namespaces"`
	ControlPlaneDir string      `json:"controlPlaneDir"`
	Kubeconfig      string      `json:"kubeconfig"`
	Kubectl         string      `json:"kubectl"` // built with kube-apiserver, same version
	APIServer       string      `json:"apiServer"`
	Router          routerState `json:"router"`
	Nodes           []hostState `json:"nodes"`
	Client          hostState   `json:"client"`
	L2Pool          []string    `json:"l2Pool"`
	BGPPool         []string    `json:"bgpPool"`
	HeraldASN       uint32      `json:"heraldASN"`
	Herald          []string    `json:"herald"`     // what of Herald runs, one line each
	NotBuilt        []string    `json:"notBuilt"`   // what of Herald is not built yet
	HeraldLogs      []string    `json:"heraldLogs"` // log files of Herald's processes
	JaegerURL       string      `json:"jaegerURL"`  // Jaeger's query API, when the lab traces
	TracingOff      string      `json:"tracingOff"` // why the lab does not trace, when asked to
}

type routerState struct {
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	ASN       uint32   `json:"asn"`
	Address4  string   `json:"address4"`
	Address6  string   `json:"address6"`
	CLI       string   `json:"cli"`
	Neighbors []string `json:"neighbors"`
}

type hostState struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Address4  string `json:"address4"`
	Address6  string `json:"address6"`
}

func writeState(s *labState) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := stateFile + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, stateFile)
}

// errNoLab means no lab is recorded as up.
var errNoLab = errors.New("no lab is up (run: testbed up)")

func readState() (*labState, error) {
	data, err := os.ReadFile(stateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoLab
	}
	if err != nil {
		return nil, err
	}
	var s labState
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", stateFile, err)
	}
	return &s, nil
}

func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}
