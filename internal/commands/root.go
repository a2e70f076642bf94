// Package commands is skiff's command-line layer: one small cobra command
// per verb, each parsing flags and calling one library function.
package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/internal/signals"
)

// Version is set at build time with -ldflags "-X ...commands.Version=...".
var Version = "dev"

// Streams are where a command reads and writes.
type Streams struct {
	Out, Err io.Writer
}

// Main runs the CLI with the process's arguments and returns the exit code.
func Main() int {
	ctx, stop := signals.Context(context.Background())
	defer stop()
	return Run(ctx, Streams{Out: os.Stdout, Err: os.Stderr}, os.Args[1:])
}

// Run executes one CLI invocation; tests call it in-process.
func Run(ctx context.Context, s Streams, args []string) int {
	root := NewRoot(s)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(s.Err, "ERROR: %v\n", err)
		var ec exitCoder
		if errors.As(err, &ec) {
			return ec.ExitCode()
		}
		return 1
	}
	return 0
}

type exitCoder interface{ ExitCode() int }

type rootFlags struct{ verbose bool }

// NewRoot builds the command tree.
func NewRoot(s Streams) *cobra.Command {
	flags := &rootFlags{}
	root := &cobra.Command{
		Use:           "skiff",
		Short:         "Single-node Kubernetes clusters in Docker, offline, in seconds",
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       Version,
	}
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.PersistentFlags().BoolVarP(&flags.verbose, "verbose", "v", false, "show detail")
	root.AddCommand(
		newCreateCommand(s, flags),
		newDeleteCommand(s, flags),
		newListCommand(s, flags),
		newStartCommand(s, flags),
		newStopCommand(s, flags),
		newKubeconfigCommand(s, flags),
		newStatusCommand(s, flags),
		newExportCommand(s, flags),
		newDoctorCommand(s, flags),
		newBundleCommand(s),
		newAddonsCommand(s, flags),
		newImageCommand(s, flags),
		newLoadCommand(s, flags),
		newImagesCommand(s, flags),
		newSnapshotCommand(s, flags),
		newKubectlCommand(s, flags),
		newOpenCommand(s, flags),
		newVersionCommand(s),
	)
	return root
}
