package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// herald runs the command line in-process and returns its exit code and
// output.
func herald(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCommand(&out, &out)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	code := 0
	if err := root.Execute(); err != nil {
		code = 2
		if ee, ok := err.(exitError); ok {
			code = ee.code
		} else {
			out.WriteString("herald: " + err.Error() + "\n")
		}
	}
	return code, out.String()
}

func TestValidateExamples(t *testing.T) {
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) < 15 {
		t.Fatalf("%d examples, want at least 15", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, out := herald(t, "", "validate", "-f", f)
			if code != 0 || strings.Contains(out, "\nerror ") || strings.HasPrefix(out, "error ") {
				t.Errorf("exit %d:\n%s", code, out)
			}
		})
	}
}

func expectHeader(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# expect: "); ok {
			return v
		}
	}
	t.Fatalf("%s: no '# expect:' header", path)
	return ""
}

func TestValidateInvalid(t *testing.T) {
	files, _ := filepath.Glob("../../config/testdata/invalid/*.yaml")
	if len(files) < 30 {
		t.Fatalf("%d invalid cases, want at least 30", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want := expectHeader(t, f)
			code, out := herald(t, "", "validate", "-f", f)
			if code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			// The expected line starts "Kind namespace/name: field: ".
			kind, rest, _ := strings.Cut(want, " ")
			object, rest, _ := strings.Cut(rest, ": ")
			field, _, _ := strings.Cut(rest, ": ")
			if kind == "" || !strings.Contains(object, "/") || field == "" {
				t.Errorf("expectation %q does not name kind, object and field", want)
			}
			if !strings.Contains(out, "error "+want+"\n") {
				t.Errorf("output lacks %q:\n%s", "error "+want, out)
			}
		})
	}
}

func TestValidateDirectoryStdinAndNotes(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "nested")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "a.yaml"), `---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a}
spec: {addresses: [10.0.0.0/24]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
`)
	write(filepath.Join(sub, "b.yml"), `
apiVersion: v1
kind: List
items:
- apiVersion: metallb.io/v1beta1
  kind: L2Advertisement
  metadata: {name: l2, namespace: other}
`)
	write(filepath.Join(sub, "notes.txt"), "not yaml: [")
	code, out := herald(t, "", "validate", "-f", dir)
	want := "ok IPAddressPool metallb-system/a\n" +
		"note " + filepath.Join(dir, "a.yaml") + "#2: ignoring apps/v1 Deployment web: not part of Herald's configuration\n" +
		"ok L2Advertisement other/l2\n" +
		"2 objects: 2 ok, 0 with errors, 1 ignored; 0 errors, 0 warnings\n"
	if diff := cmp.Diff(want, out); code != 0 || diff != "" {
		t.Errorf("exit %d, output (-want +got):\n%s", code, diff)
	}

	code, out = herald(t, "kind: [", "validate", "-f", "-", "--namespace", "x")
	if code != 1 || !strings.HasPrefix(out, "error <stdin>#1: ") {
		t.Errorf("broken YAML on stdin: exit %d:\n%s", code, out)
	}
	code, out = herald(t, "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p}\nspec: {addresses: [1.2.3.0/24]}\n",
		"validate", "-f", "-", "-n", "x")
	if code != 0 || out != "warning IPAddressPool x/p: no L2Advertisement or BGPAdvertisement selects this pool: its addresses are assigned but not announced\n"+
		"ok IPAddressPool x/p\n1 objects: 1 ok, 0 with errors; 0 errors, 1 warnings\n" {
		t.Errorf("stdin with -n: exit %d:\n%s", code, out)
	}
}

func TestValidateErrorsOnUnparsedObjects(t *testing.T) {
	code, out := herald(t, `
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a}
spec: {addresses: [10.0.0.0/24], autoAssign: "maybe"}
---
metadata: {name: no-kind}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a}
spec: {addresses: [10.1.0.0/24]}
`, "validate", "-f", "-")
	for _, line := range []string{
		"error IPAddressPool metallb-system/a: spec.autoAssign: invalid value: wrong type, want bool\n",
		"error <stdin>#2: not a Kubernetes object: apiVersion and kind are required\n",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("output lacks %q", line)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1:\n%s", code, out)
	}
}

func TestValidateUsage(t *testing.T) {
	for _, args := range [][]string{
		{"validate"},
		{"validate", "-f", filepath.Join(t.TempDir(), "missing.yaml")},
		{"validate", "-f", t.TempDir()},
		{"validate", "-f", "x", "extra"},
		{"nosuchcommand"},
	} {
		if code, out := herald(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2:\n%s", args, code, out)
		}
	}
	var out bytes.Buffer
	if code := run([]string{"validate"}, &out, &out); code != 2 || !strings.Contains(out.String(), "herald: validate: give at least one -f") {
		t.Errorf("run: exit %d: %s", code, out.String())
	}
	if code := run([]string{"validate", "-f", "../../examples/01-pool-cidr-range-ipv6.yaml"}, &out, &out); code != 0 {
		t.Errorf("run on an example: exit %d", code)
	}
	if code := run([]string{"validate", "-f", "../../config/testdata/invalid/hold-time-1s.yaml"}, &out, &out); code != 1 {
		t.Errorf("run on an invalid file: exit %d", code)
	}
}

func TestVersion(t *testing.T) {
	code, out := herald(t, "", "version")
	if code != 0 || !strings.HasPrefix(out, "herald dev (commit ") {
		t.Errorf("exit %d: %q", code, out)
	}
	info := &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}}
	got := []string{buildCommit(info, true), buildCommit(info, false), buildCommit(&debug.BuildInfo{}, true)}
	commit = "fromldflags"
	got = append(got, buildCommit(info, true))
	commit = "unknown"
	if diff := cmp.Diff([]string{"abc123-dirty", "unknown", "unknown", "fromldflags"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestSpeakerNeedsANode(t *testing.T) {
	t.Setenv("NODE_NAME", "")
	code, out := herald(t, "", "speaker", "--metrics-addr", "", "--kubeconfig", "/nonexistent")
	if code != 2 || !strings.Contains(out, "--node-name") {
		t.Errorf("exit %d, want 2 naming --node-name:\n%s", code, out)
	}
}

// validate allocates the files' LoadBalancer Services offline and names
// each that the configuration cannot serve, and why.
func TestValidateServices(t *testing.T) {
	code, out := herald(t, "", "validate", "-f", "testdata/services.yaml")
	want := `ok IPAddressPool metallb-system/blue
ok L2Advertisement metallb-system/l2
ok Service app/web: would get 192.0.2.0 from pool blue
error Service app/asks-missing-pool: no such address pool: "red" (metallb.io/address-pool)
error Service app/asks-outside: requested IP 198.51.100.7: IP is not in an address pool: no address pool contains it
error Service app/bad-annotation: metadata.annotations: invalid service: metallb.io/loadBalancerIPs annotation entry "not-an-ip" is not an IP address
ok Service app/dns-tcp: would get 192.0.2.3 from pool blue
ok Service app/dns-udp: would get 192.0.2.3 from pool blue
error Service app/clash: requested IP 192.0.2.3: IP is in use by app/dns-tcp, app/dns-udp: cannot share the IP: allow-shared-ip key "other" differs from their key "dns"
ok Service app/internal: not of type LoadBalancer: nothing to allocate
ok Service app/fill-1: would get 192.0.2.1 from pool blue
ok Service app/fill-2: would get 192.0.2.2 from pool blue
warning Service app/waits: would wait for an address: pool "blue": no free address: all 4 usable IPv4 addresses are in use; not tried: pool "team-a" has autoAssign: false (request it with metallb.io/address-pool or one of its IPs)
ok Service app/waits: would wait for a free address
ok IPAddressPool metallb-system/team-a
warning Service elsewhere/teams: Namespace elsewhere is not in the files, so its labels are unknown: requested pool "team-a": pool's serviceAllocation does not select the service: namespace "elsewhere" is not among its namespaces [] and its labels {} match none of its namespaceSelectors [team=a]
ok Service elsewhere/teams: unknown: its Namespace is not in the files
15 objects: 11 ok, 4 with errors; 4 errors, 2 warnings
`
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
}
