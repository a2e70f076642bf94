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
	cmd.AddCommand(newImagesMissingCommand(s, root))
	return cmd
}

func newImagesMissingCommand(s Streams, root *rootFlags) *cobra.Command {
	var name, output string
	cmd := &cobra.Command{
		Use:   "missing",
		Short: "List the images pods wait for that the node does not have, and how to load each",
		Args:  cobra.NoArgs,
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, _ []string) error {
			list, err := p.MissingImages(cmd.Context(), name)
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(s.Out).Encode(list)
			}
			if len(list) == 0 {
				fmt.Fprintln(s.Out, "No pod waits for an image.")
				return nil
			}
			w := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "IMAGE\tREASON\tPODS")
			for _, i := range list {
				fmt.Fprintf(w, "%s\t%s\t%s\n", i.Ref, i.Reason, strings.Join(i.Pods, ", "))
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(s.Out, "\nTo load them:")
			for _, i := range list {
				if i.InDocker {
					fmt.Fprintf(s.Out, "  skiff load docker-image %s --name %s\n", i.Ref, name)
				} else {
					fmt.Fprintf(s.Out, "  %s is not in this machine's Docker either: where there is network, `docker pull %s` (then `docker save -o FILE %s` to carry it here), then `skiff load docker-image %s --name %s` or `skiff load archive FILE --name %s`\n", i.Ref, i.Ref, i.Ref, i.Ref, name, name)
				}
			}
			return nil
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
