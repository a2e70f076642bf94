package commands

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/provision"
)

func newKubectlCommand(s Streams, root *rootFlags) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:                   "kubectl [--name N] -- ARGS...",
		DisableFlagsInUseLine: true,
		Short:                 "Run the cluster's own kubectl (from its node image) with the cluster's context",
		Long: `Run kubectl of the cluster's Kubernetes version without installing it:
skiff copies the node image's kubectl into its cache once per version and
runs it with --context skiff-NAME and your arguments. Its input, output and
exit code are kubectl's own.`,
		Example: "  skiff kubectl -- get pods -A\n  skiff kubectl --name dev -- apply -f app.yaml",
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, args []string) error {
			// The node's kubectl is a Linux binary of the host's architecture.
			if runtime.GOOS != "linux" {
				return fmt.Errorf("the node image's kubectl runs on Linux only, this is %s: install kubectl and use context %s", runtime.GOOS, provision.ContextName(name))
			}
			if cmd.ArgsLenAtDash() != 0 && len(args) > 0 {
				return fmt.Errorf("put kubectl's arguments after --: skiff kubectl --name %s -- %s", name, strings.Join(args, " "))
			}
			// Never a shared temporary directory: skiff runs what it finds there.
			cache, err := os.UserCacheDir()
			if err != nil {
				return fmt.Errorf("failed to find a cache directory for kubectl: %w", err)
			}
			bin, err := p.Kubectl(cmd.Context(), name, filepath.Join(cache, "skiff"))
			if err != nil {
				return err
			}
			argv := append([]string{"kubectl", "--context", provision.ContextName(name)}, args...)
			// Replacing skiff gives kubectl the terminal, signals and exit
			// code directly, as if the user had run it.
			if err := syscall.Exec(bin, argv, os.Environ()); err != nil {
				return fmt.Errorf("failed to run %s: %w", bin, err)
			}
			return nil
		}),
	}
	nameFlag(cmd, &name)
	// kubectl's own flags (-o, -n, ...) belong after --, where cobra leaves them.
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return fmt.Errorf("%w: put kubectl's arguments after --, e.g. skiff kubectl -- get pods -o wide", err)
	})
	return cmd
}
