package commands

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newExportCommand(s Streams, root *rootFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "export", Short: "Export cluster data"}
	var name string
	logs := &cobra.Command{
		Use:   "logs [DIR]",
		Short: "Collect every component's log, the node's state and inspect data into DIR",
		Long: `Collect every component's log, the pods' logs, the node agent's output and
status, the addons' manifests, the container's inspect data and the node's
processes, addresses, routes, iptables rules and images into DIR (default:
skiff-logs-NAME-TIME), to attach to a bug report. Private keys and Secrets'
data are redacted; the cluster's PKI and kubeconfigs are not exported.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := fmt.Sprintf("skiff-logs-%s-%s", name, time.Now().Format("20060102-150405"))
			if len(args) == 1 {
				dir = args[0]
			}
			p, done, err := newProvider(cmd, s, root)
			if err != nil {
				return err
			}
			defer done()
			if err := p.ExportLogs(cmd.Context(), name, dir); err != nil {
				return fmt.Errorf("logs exported to %s, with errors: %w", dir, err)
			}
			fmt.Fprintf(s.Out, "Exported logs of cluster %q to %s\n", name, dir)
			return nil
		},
	}
	nameFlag(logs, &name)
	cmd.AddCommand(logs)
	return cmd
}
