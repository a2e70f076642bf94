package commands

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

func newDeleteCommand(s Streams, root *rootFlags) *cobra.Command {
	var flags struct {
		name, kubeconfig string
		all              bool
	}
	cmd := &cobra.Command{
		Use:   "delete",
		Short: "Delete a cluster (or --all): container, volume and kubeconfig entries",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if flags.all && cmd.Flags().Changed("name") {
				return errors.New("give either --name or --all, not both")
			}
			p, done, err := newProvider(cmd, s, root)
			if err != nil {
				return err
			}
			defer done()
			names := []string{flags.name}
			if flags.all {
				list, err := p.List(cmd.Context())
				if err != nil {
					return err
				}
				names = names[:0]
				for _, c := range list {
					names = append(names, c.Name)
				}
			}
			for _, n := range names {
				existed, err := p.Delete(cmd.Context(), n, flags.kubeconfig)
				if err != nil {
					return err
				}
				if existed {
					fmt.Fprintf(s.Out, "Deleted cluster %q\n", n)
				} else {
					fmt.Fprintf(s.Out, "Cluster %q does not exist; nothing to delete\n", n)
				}
			}
			return nil
		},
	}
	nameFlag(cmd, &flags.name)
	cmd.Flags().BoolVarP(&flags.all, "all", "A", false, "delete every skiff cluster")
	cmd.Flags().StringVar(&flags.kubeconfig, "kubeconfig", "", "kubeconfig file to update (default: $KUBECONFIG or ~/.kube/config)")
	return cmd
}
