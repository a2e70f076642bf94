package commands

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/provision"
)

func newListCommand(s Streams, root *rootFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List clusters",
		Args:    cobra.NoArgs,
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, _ []string) error {
			list, err := p.List(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				if list == nil {
					list = list[:0]
				}
				return json.NewEncoder(s.Out).Encode(list)
			}
			if len(list) == 0 {
				fmt.Fprintln(s.Err, "No clusters. Create one with `skiff create`.")
				return nil
			}
			w := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tSTATE\tKUBERNETES\tAPI SERVER\tIMAGE")
			for _, c := range list {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", c.Name, c.State, c.Kubernetes, c.APIServer, c.Image)
			}
			return w.Flush()
		}),
	}
	outputFlag(cmd, &output)
	return cmd
}

func outputFlag(cmd *cobra.Command, output *string) {
	cmd.Flags().StringVarP(output, "output", "o", "", "output format: json")
}
