// Command herald is Herald's single binary. Today it validates
// configuration offline (`herald validate`) and reports its version; the
// `controller` and `speaker` subcommands that run in the cluster are added
// as their packages are built.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
