package commands

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/provision"
)

func newLoadCommand(s Streams, root *rootFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "load",
		Short: "Load images from the host into a cluster, for pods with imagePullPolicy Never or IfNotPresent",
	}
	cmd.AddCommand(newLoadDockerImageCommand(s, root), newLoadArchiveCommand(s, root))
	return cmd
}

func newLoadDockerImageCommand(s Streams, root *rootFlags) *cobra.Command {
	return newLoadSubcommand(s, root, "docker-image IMAGE...", "Load images from the host's Docker into a cluster (skipping those it has)", (*provision.Provider).LoadImages)
}

func newLoadArchiveCommand(s Streams, root *rootFlags) *cobra.Command {
	return newLoadSubcommand(s, root, "archive FILE...", "Load `docker save` or OCI image archives (tar or tar.gz) into a cluster", (*provision.Provider).LoadArchives)
}

// loadFunc is a Provider method that loads images from some source.
type loadFunc func(p *provision.Provider, ctx context.Context, cluster string, sources []string, progress io.Writer) (loaded, skipped []string, err error)

func newLoadSubcommand(s Streams, root *rootFlags, use, short string, load loadFunc) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, args []string) error {
			start := time.Now()
			loaded, skipped, err := load(p, cmd.Context(), name, args, s.Err)
			if err != nil {
				return err
			}
			reportLoad(s, name, loaded, skipped, start)
			return nil
		}),
	}
	nameFlag(cmd, &name)
	return cmd
}

func reportLoad(s Streams, cluster string, loaded, skipped []string, start time.Time) {
	for _, ref := range skipped {
		fmt.Fprintf(s.Out, "Image %s is already on cluster %q; nothing to do\n", ref, cluster)
	}
	for _, ref := range loaded {
		fmt.Fprintf(s.Out, "Loaded %s into cluster %q\n", ref, cluster)
	}
	if len(loaded) > 0 {
		fmt.Fprintf(s.Out, "Done in %s\n", time.Since(start).Round(100*time.Millisecond))
	}
}
