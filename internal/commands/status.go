package commands

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/provision"
)

func newStatusCommand(s Streams, root *rootFlags) *cobra.Command {
	var name, output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a cluster's state, addresses, versions and components",
		Args:  cobra.NoArgs,
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, _ []string) error {
			st, err := p.Status(cmd.Context(), name)
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(s.Out).Encode(st)
			}
			mode := "explicit capability set (--privileged refused by this Docker engine)"
			if st.Privileged {
				mode = "--privileged"
			}
			fmt.Fprintf(s.Out, "Cluster:    %s (%s)\nNode:       %s %s\nImage:      %s\nSecurity:   %s\n", st.Name, st.State, st.Node, st.NodeIP, st.Image, mode)
			if st.Cgroups != "" {
				fmt.Fprintf(s.Out, "Cgroups:    %s (%s cgroup namespace)\n", st.Cgroups, st.CgroupNamespace)
			}
			fmt.Fprintf(s.Out, "API server: %s\n", st.APIServer)
			for _, p := range st.Ports {
				fmt.Fprintf(s.Out, "Port:       %s\n", p)
			}
			for _, k := range []string{"kubernetes", "etcd", "containerd", "runc"} {
				if v := st.Versions[k]; v != "" {
					fmt.Fprintf(s.Out, "%-11s %s\n", k+":", v)
				}
			}
			if st.Agent != "" {
				fmt.Fprintf(s.Out, "Agent:      %s %s\n", st.Agent, st.AgentError)
			}
			for _, a := range st.Addons {
				state := "ready"
				if !a.Healthy {
					state = "starting: " + a.Detail
				}
				fmt.Fprintf(s.Out, "Addon:      %s %s (%s)\n", a.Name, a.Version, state)
			}
			if n := len(st.MissingImages); n > 0 {
				var refs []string
				for _, i := range st.MissingImages {
					refs = append(refs, i.Ref)
				}
				fmt.Fprintf(s.Out, "Warning:    pods wait for %d image(s) the node does not have (%s): `skiff images missing --name %s` says how to load them\n", n, strings.Join(refs, ", "), name)
			}
			if len(st.Components) > 0 {
				w := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "\nCOMPONENT\tRUNNING\tPID\tRESTARTS\tLAST EXIT")
				for _, c := range st.Components {
					fmt.Fprintf(w, "%s\t%t\t%d\t%d\t%s\n", c.Name, c.Running, c.PID, c.Restarts, c.LastExit)
				}
				return w.Flush()
			}
			return nil
		}),
	}
	nameFlag(cmd, &name)
	outputFlag(cmd, &output)
	return cmd
}
