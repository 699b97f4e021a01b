package actors

import cmap "github.com/orcaman/concurrent-map"

// protoactor's process registry is 1,024 buckets, each one of
// orcaman/concurrent-map's maps, which are themselves split into
// SHARD_COUNT maps, each with its lock: 32,768 maps and locks made when an
// actor system starts, about 3 MB of a speaker's live heap whatever it
// runs (a fifteenth of it at 10,000 Services). The buckets already spread
// the registry's lock contention; a Herald process has a few dozen actors.
// One shard per bucket keeps 1,024 maps and locks.
//
// The package's SHARD_COUNT is read on every lookup, so it is set here, in
// an init function, before any map exists, and never again; protoactor's
// registry is the only user of the package in Herald's binaries.
func init() { cmap.SHARD_COUNT = 1 }
