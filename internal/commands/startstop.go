package commands

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/provision"
)

func newStopCommand(s Streams, root *rootFlags) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop a cluster, keeping all its state",
		Args:  cobra.NoArgs,
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, _ []string) error {
			if err := p.Stop(cmd.Context(), name); err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "Stopped cluster %q; `skiff start --name %s` brings it back\n", name, name)
			return nil
		}),
	}
	nameFlag(cmd, &name)
	return cmd
}

func newStartCommand(s Streams, root *rootFlags) *cobra.Command {
	var flags struct {
		name, kubeconfig string
		wait             time.Duration
	}
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Start a stopped cluster and wait until it is usable",
		Args:  cobra.NoArgs,
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, _ []string) error {
			start := time.Now()
			if err := p.Start(cmd.Context(), flags.name, flags.kubeconfig, flags.wait); err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "Cluster %q is ready in %s\n", flags.name, time.Since(start).Round(100*time.Millisecond))
			return nil
		}),
	}
	nameFlag(cmd, &flags.name)
	readyFlags(cmd, &flags.kubeconfig, &flags.wait)
	return cmd
}
