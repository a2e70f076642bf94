package commands

import (
	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/provision"
)

func newKubeconfigCommand(s Streams, root *rootFlags) *cobra.Command {
	var flags struct {
		name     string
		internal bool
	}
	cmd := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print a cluster's admin kubeconfig",
		Args:  cobra.NoArgs,
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, _ []string) error {
			cfg, err := p.Kubeconfig(cmd.Context(), flags.name, flags.internal)
			if err != nil {
				return err
			}
			_, err = s.Out.Write(cfg)
			return err
		}),
	}
	nameFlag(cmd, &flags.name)
	cmd.Flags().BoolVar(&flags.internal, "internal", false, "address the API server by the node's name on the skiff Docker network")
	return cmd
}
