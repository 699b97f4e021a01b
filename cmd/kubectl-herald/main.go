package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "kubectl-herald: no subcommands are built yet")
	os.Exit(2)
}
