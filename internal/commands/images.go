package commands

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/provision"
)

func newImagesCommand(s Streams, root *rootFlags) *cobra.Command {
	var name, output string
	cmd := &cobra.Command{
		Use:   "images",
		Short: "List the images in a cluster's node (what pods can use without pulling)",
		Args:  cobra.NoArgs,
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, _ []string) error {
			list, err := p.Images(cmd.Context(), name)
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(s.Out).Encode(list)
			}
			w := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "IMAGE\tID\tDIGEST\tSIZE")
			for _, i := range list {
				ref := i.Ref
				if ref == "" {
					ref = "<none>"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", ref, imageShortID(i.ID), i.Digest, imageSize(i.Size))
			}
			return w.Flush()
		}),
	}
	nameFlag(cmd, &name)
	outputFlag(cmd, &output)
	return cmd
}

// imageShortID is the 12-digit form `docker images` shows for IDs.
func imageShortID(id string) string {
	hex := strings.TrimPrefix(id, "sha256:")
	if len(hex) > 12 {
		return hex[:12]
	}
	if hex == "" {
		return "-"
	}
	return hex
}

func imageSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, u := float64(n), 0
	for v >= unit && u < 4 {
		v /= unit
		u++
	}
	return fmt.Sprintf("%.1f %s", v, []string{"B", "KiB", "MiB", "GiB", "TiB"}[u])
}
