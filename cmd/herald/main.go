// Command herald is Herald's single binary: `controller` and `speaker` run
// in the cluster, `validate` checks configuration files offline, `version`
// says which build this is.
//
// Its place in the whole: the binaries, the top layer, in docs/architecture.md.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
