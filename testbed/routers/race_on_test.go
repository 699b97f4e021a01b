//go:build race

package routers

// GoBGP's StartBgp writes package globals (table.SelectionOptions) that
// every running BgpServer reads: under the race detector, tests that run
// GoBGP do not run in parallel.
const raceEnabled = true
