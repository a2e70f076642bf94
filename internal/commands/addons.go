package commands

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/provision"
)

func newAddonsCommand(s Streams, root *rootFlags) *cobra.Command {
	var name string
	cmd := &cobra.Command{Use: "addons", Short: "List, enable and disable a cluster's addons"}
	cmd.PersistentFlags().StringVarP(&name, "name", "n", provision.DefaultName, "cluster name")
	mustComplete(cmd, "name", completeClusters)
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "Show each addon, its version and health",
		Args:  cobra.NoArgs,
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, _ []string) error {
			list, err := p.Addons(cmd.Context(), name)
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(s.Out).Encode(list)
			}
			w := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ADDON\tENABLED\tVERSION\tHEALTH")
			for _, a := range list {
				health := "-"
				if a.Enabled {
					health = "ready"
					if !a.Healthy {
						health = "not ready: " + a.Detail
					}
				}
				fmt.Fprintf(w, "%s\t%t\t%s\t%s\n", a.Name, a.Enabled, a.Version, health)
			}
			return w.Flush()
		}),
	}
	outputFlag(list, &output)
	set := func(enable bool) *cobra.Command {
		verb, short := "disable", "Remove an addon from a running cluster"
		if enable {
			verb, short = "enable", "Add an addon to a running cluster and wait until it is ready"
		}
		return &cobra.Command{
			Use:               verb + " ADDON",
			Short:             short,
			Args:              cobra.ExactArgs(1),
			ValidArgsFunction: completeAddon,
			RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, args []string) error {
				if err := p.SetAddon(cmd.Context(), name, args[0], enable); err != nil {
					return err
				}
				fmt.Fprintf(s.Out, "Addon %s %sd on cluster %q\n", args[0], verb, name)
				return nil
			}),
		}
	}
	cmd.AddCommand(list, set(true), set(false))
	return cmd
}
