package commands

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/internal/cli"
	"github.com/skiff-k8s/skiff/internal/engine"
	"github.com/skiff-k8s/skiff/provision"
)

// newProvider connects to Docker and returns a provider that reports steps
// on stderr; done closes the connection.
func newProvider(cmd *cobra.Command, s Streams, root *rootFlags) (*provision.Provider, func(), error) {
	docker, err := engine.Connect(cmd.Context())
	if err != nil {
		return nil, nil, err
	}
	logf := func(string, ...any) {}
	if root.verbose {
		logf = func(format string, args ...any) { fmt.Fprintf(s.Err, format+"\n", args...) }
	}
	return provision.NewProvider(docker, cli.NewSteps(s.Err), logf), func() { docker.Close() }, nil
}

// nameFlag adds the --name flag every per-cluster command has, completed
// with the existing clusters' names.
func nameFlag(cmd *cobra.Command, name *string) {
	cmd.Flags().StringVarP(name, "name", "n", provision.DefaultName, "cluster name")
	mustComplete(cmd, "name", completeClusters)
}

// readyFlags adds the --kubeconfig and --wait flags of the commands that
// start a cluster and wait until it is usable.
func readyFlags(cmd *cobra.Command, kubeconfig *string, wait *time.Duration) {
	cmd.Flags().StringVar(kubeconfig, "kubeconfig", "", "kubeconfig file to update (default: $KUBECONFIG or ~/.kube/config)")
	cmd.Flags().DurationVar(wait, "wait", 5*time.Minute, "how long to wait for the cluster to be usable")
}

// withProvider makes a RunE that connects to Docker and hands fn a provider.
func withProvider(s Streams, root *rootFlags, fn func(cmd *cobra.Command, p *provision.Provider, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		p, done, err := newProvider(cmd, s, root)
		if err != nil {
			return err
		}
		defer done()
		return fn(cmd, p, args)
	}
}
