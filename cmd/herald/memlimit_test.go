package main

import (
	"bytes"
	"io/fs"
	"log/slog"
	"strings"
	"testing"
)

func TestParseCgroupMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		in      string
		limit   int64
		ok      bool
		wantErr string
	}{
		{in: "268435456\n", limit: 268435456, ok: true},
		{in: "max\n", ok: false},
		// cgroup v1's "unlimited": the largest page-aligned int64.
		{in: "9223372036854771712\n", limit: 9223372036854771712, ok: false},
		{in: "", wantErr: `memory limit "": not a positive number of bytes`},
		{in: "0", wantErr: `memory limit "0": not a positive number of bytes`},
		{in: "256Mi", wantErr: `memory limit "256Mi": not a positive number of bytes`},
	} {
		limit, ok, err := parseCgroupMemoryLimit([]byte(tc.in))
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || limit != tc.limit || ok != tc.ok {
			t.Errorf("%q: got %d %v %v, want %d %v", tc.in, limit, ok, err, tc.limit, tc.ok)
		}
	}
}

func TestSetMemoryLimit(t *testing.T) {
	const v2, v1 = "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	// notReadable as a file's content: reading it fails with EACCES.
	const notReadable = "\x00not readable"
	for _, tc := range []struct {
		name    string
		env     string
		files   map[string]string
		want    int64 // the soft limit set; 0 for none
		wantLog string
	}{
		{name: "cgroup v2 limit", files: map[string]string{v2: "268435456\n"}, want: 241591910, wantLog: "Go memory limit set"},
		{name: "cgroup v1 limit", files: map[string]string{v1: "104857600\n"}, want: 94371840, wantLog: "Go memory limit set"},
		{name: "v2 wins over v1", files: map[string]string{v2: "104857600\n", v1: "268435456\n"}, want: 94371840},
		{name: "no limit (v2)", files: map[string]string{v2: "max\n"}, wantLog: "the container has no memory limit"},
		{name: "no limit (v1)", files: map[string]string{v1: "9223372036854771712\n"}, wantLog: "the container has no memory limit"},
		{name: "no cgroup files", files: map[string]string{}, wantLog: "no container memory limit found"},
		{name: "GOMEMLIMIT wins", env: "200MiB", files: map[string]string{v2: "268435456\n"}, wantLog: "GOMEMLIMIT=200MiB"},
		{name: "GOMEMLIMIT off wins", env: "off", files: map[string]string{v2: "268435456\n"}, wantLog: "GOMEMLIMIT=off"},
		{name: "limit not a number", files: map[string]string{v2: "garbage"}, wantLog: `memory limit \"garbage\": not a positive number of bytes`},
		// A v2 file that exists but cannot be read says the group is v2:
		// v1's file, if any, is not the container's.
		{name: "limit file not readable", files: map[string]string{v2: notReadable, v1: "104857600\n"}, wantLog: "permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			var set []int64
			got := setMemoryLimit(
				func(k string) string {
					if k == "GOMEMLIMIT" {
						return tc.env
					}
					return ""
				},
				func(path string) ([]byte, error) {
					if s, ok := tc.files[path]; ok && s == notReadable {
						return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrPermission}
					} else if ok {
						return []byte(s), nil
					}
					return nil, fs.ErrNotExist
				},
				func(v int64) int64 { set = append(set, v); return 0 },
				log)
			if got != tc.want {
				t.Errorf("limit %d, want %d", got, tc.want)
			}
			switch {
			case tc.want == 0 && len(set) != 0:
				t.Errorf("set the runtime's limit to %v, want it left alone", set)
			case tc.want != 0 && (len(set) != 1 || set[0] != tc.want):
				t.Errorf("set the runtime's limit to %v, want [%d]", set, tc.want)
			}
			if !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("log %q does not say %q", logs.String(), tc.wantLog)
			}
		})
	}
}

func TestSetGCPercent(t *testing.T) {
	for _, tc := range []struct {
		env     string
		want    int // the percentage set; 0 for none
		wantLog string
	}{
		{env: "", want: 50, wantLog: "GOGC=50"},
		{env: "100", wantLog: "GOGC=100"},
		{env: "off", wantLog: "GOGC=off"},
	} {
		var logs bytes.Buffer
		var set []int
		got := setGCPercent(50, func(k string) string {
			if k == "GOGC" {
				return tc.env
			}
			return ""
		}, func(v int) int { set = append(set, v); return 100 }, slog.New(slog.NewTextHandler(&logs, nil)))
		if got != tc.want {
			t.Errorf("GOGC %q: set %d, want %d", tc.env, got, tc.want)
		}
		if wantSet := tc.want != 0; wantSet != (len(set) == 1) || (wantSet && set[0] != tc.want) || len(set) > 1 {
			t.Errorf("GOGC %q: the runtime's target set to %v, want %d (0: left alone)", tc.env, set, tc.want)
		}
		if !strings.Contains(logs.String(), tc.wantLog) {
			t.Errorf("GOGC %q: log %q does not say %q", tc.env, logs.String(), tc.wantLog)
		}
	}
}
