package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// exitError carries a command's exit code without cobra printing it as
// an error: the command has already said what went wrong.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// newRootCommand builds the command tree: validate and version anywhere,
// controller and speaker inside the cluster.
func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "herald",
		Short:         "Herald: a bare-metal load balancer that reads MetalLB's configuration",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newValidateCommand(), newVersionCommand(), newControllerCommand(), newSpeakerCommand())
	return root
}

// run executes the command line and returns the process exit code: 0 on
// success, 1 when validation found errors, 2 on a usage or I/O problem.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintln(stderr, "herald:", err)
		return 2
	}
}
