package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"strconv"
	"strings"
)

// memoryLimitShare is the part of the container's memory limit given to
// the Go runtime as its soft limit when GOMEMLIMIT is not set. Without a
// soft limit the runtime lets the heap grow to twice what is live before it
// collects, so a burst of API events (thousands of Services created at
// once) can push a process that keeps well under its limit over it, and
// the kernel kills it. The rest is for what the runtime does not count:
// the binary's own pages and the kernel's socket buffers.
const memoryLimitShare = 0.9

// cgroupMemoryLimitFiles are where a container reads its own memory limit:
// cgroup v2 first, then v1. The container runtime mounts the container's
// own cgroup there.
var cgroupMemoryLimitFiles = []string{
	"/sys/fs/cgroup/memory.max",
	"/sys/fs/cgroup/memory/memory.limit_in_bytes",
}

// noCgroupLimit is the smallest value read as "no limit": cgroup v1 writes
// an unlimited group as the largest page-aligned int64.
const noCgroupLimit = 1 << 60

// parseCgroupMemoryLimit reads one of cgroupMemoryLimitFiles. ok is false
// when the group has no limit ("max", or v1's huge number).
func parseCgroupMemoryLimit(b []byte) (limit int64, ok bool, err error) {
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, false, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		return 0, false, fmt.Errorf("memory limit %q: not a positive number of bytes", s)
	}
	return v, v < noCgroupLimit, nil
}

// setMemoryLimit gives the Go runtime a soft memory limit of
// memoryLimitShare of the container's memory limit, unless GOMEMLIMIT is set
// (the runtime has read it already; "off" turns the limit off) or no limit
// is found (a process outside a container, or a container without
// limits.memory). It returns the limit set, 0 for none. getenv, readFile
// and set are os.Getenv, os.ReadFile and debug.SetMemoryLimit outside
// tests.
func setMemoryLimit(getenv func(string) string, readFile func(string) ([]byte, error), set func(int64) int64, log *slog.Logger) int64 {
	if v := getenv("GOMEMLIMIT"); v != "" {
		log.Info("Go memory limit from GOMEMLIMIT", "GOMEMLIMIT", v)
		return 0
	}
	for _, path := range cgroupMemoryLimitFiles {
		b, err := readFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		var limit int64
		var ok bool
		if err == nil {
			limit, ok, err = parseCgroupMemoryLimit(b)
		}
		if err != nil {
			log.Warn("cannot read the container's memory limit; no Go memory limit set", "file", path, "error", err)
			return 0
		}
		if !ok {
			log.Info("the container has no memory limit; no Go memory limit set", "file", path)
			return 0
		}
		soft := int64(math.Floor(float64(limit) * memoryLimitShare))
		set(soft)
		log.Info("Go memory limit set from the container's", "containerLimitBytes", limit, "goMemoryLimitBytes", soft, "file", path)
		return soft
	}
	log.Info("no container memory limit found; no Go memory limit set")
	return 0
}

// speakerGCPercent is the speaker's GOGC when the environment sets none:
// the collector runs once the heap has grown by half of what was live,
// not by all of it (Go's default, 100). At 10,000 Services the speakers
// peaked at 117 MiB instead of 139 MiB for 7% more CPU, most of it spent
// while the Services were created (docs/BENCHMARKS.md). A node agent's
// memory is taken from every node's workloads; a few more collections in
// a burst are cheap beside that.
const speakerGCPercent = 50

// setGCPercent sets the collector's target to percent unless GOGC is set
// (the runtime has read it already), and returns the percentage set, 0 for
// none. getenv and set are os.Getenv and debug.SetGCPercent outside tests.
func setGCPercent(percent int, getenv func(string) string, set func(int) int, log *slog.Logger) int {
	if v := getenv("GOGC"); v != "" {
		log.Info("Go collector target from GOGC", "GOGC", v)
		return 0
	}
	set(percent)
	log.Info("Go collector target set", "GOGC", percent)
	return percent
}
