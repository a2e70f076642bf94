package commands

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/docker/docker/client"
	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/images"
	"github.com/skiff-k8s/skiff/internal/cli"
	"github.com/skiff-k8s/skiff/internal/engine"
)

func newImageCommand(s Streams, root *rootFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build, list, save and load node images",
	}
	cmd.AddCommand(newImageBuildCommand(s), newImageListCommand(s), newImageSaveCommand(s), newImageLoadCommand(s), newImagePruneCommand(s))
	return cmd
}

func newImageBuildCommand(s Streams) *cobra.Command {
	var flags struct {
		kubernetesVersion string
		force             bool
	}
	cmd := &cobra.Command{
		Use:   "build",
		Short: "Build the node image offline from pinned upstream sources",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			docker, err := engine.Connect(cmd.Context())
			if err != nil {
				return err
			}
			defer docker.Close()
			b, m, err := builder(flags.kubernetesVersion, docker, cli.NewSteps(s.Err))
			if err != nil {
				return err
			}
			b.Force = flags.force
			res, err := b.Build(cmd.Context(), m)
			if err != nil {
				return err
			}
			if res.UpToDate {
				fmt.Fprintf(s.Out, "Node image %s is up to date\n", res.Image)
				return nil
			}
			fmt.Fprintf(s.Out, "Built node image %s (log: %s)\n", res.Image, res.LogPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&flags.kubernetesVersion, "kubernetes-version", "", "Kubernetes version to build (default: the manifest's)")
	cmd.Flags().BoolVar(&flags.force, "force", false, "rebuild even if the image exists")
	return cmd
}

func newImageListCommand(s Streams) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List node images",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			docker, err := engine.Connect(cmd.Context())
			if err != nil {
				return err
			}
			defer docker.Close()
			list, err := images.List(cmd.Context(), docker)
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(s.Out).Encode(list)
			}
			w := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "IMAGE\tKUBERNETES\tETCD\tCONTAINERD\tSIZE")
			for _, i := range list {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d MiB\n", i.Ref, i.Versions["kubernetes"], i.Versions["etcd"], i.Versions["containerd"], i.Size>>20)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json")
	return cmd
}

func newImageSaveCommand(s Streams) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "save -o FILE [IMAGE]",
		Short: "Save a node image to a file (default: the current one)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("missing -o FILE: name the file to write")
			}
			docker, err := engine.Connect(cmd.Context())
			if err != nil {
				return err
			}
			defer docker.Close()
			ref := ""
			if len(args) == 1 {
				ref = args[0]
			} else if ref, err = defaultImage(); err != nil {
				return err
			}
			if err := images.Save(cmd.Context(), docker, ref, out, s.Err); err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "Saved %s to %s\n", ref, out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "file to write")
	return cmd
}

func newImageLoadCommand(s Streams) *cobra.Command {
	var in string
	cmd := &cobra.Command{
		Use:   "load -i FILE",
		Short: "Load a node image saved with `skiff image save`",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "" {
				return fmt.Errorf("missing -i FILE: name the file to read")
			}
			docker, err := engine.Connect(cmd.Context())
			if err != nil {
				return err
			}
			defer docker.Close()
			refs, err := images.Load(cmd.Context(), docker, in, s.Err)
			if err != nil {
				return err
			}
			for _, r := range refs {
				fmt.Fprintf(s.Out, "Loaded %s\n", r)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&in, "input", "i", "", "file to read")
	return cmd
}

// defaultImage is the node image this skiff binary builds and creates from.
func defaultImage() (string, error) {
	b, m, err := builder("", nil, nil)
	if err != nil {
		return "", err
	}
	return images.NodeImage(m, b.Agent)
}

// builder returns a node image builder whose agent is this skiff, and the
// manifest it builds from for the Kubernetes version ("": the default).
func builder(version string, docker client.APIClient, status *cli.Steps) (*images.Builder, *images.Manifest, error) {
	m, err := images.Resolved(version)
	if err != nil {
		return nil, nil, err
	}
	agent, err := os.Executable()
	if err != nil {
		return nil, nil, err
	}
	return &images.Builder{Docker: docker, CacheDir: cacheDir(), Status: status, Agent: agent}, m, nil
}

func cacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "skiff")
}

func newImagePruneCommand(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "prune",
		Short: "Remove older node images of each Kubernetes release this skiff has built that no cluster uses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			docker, err := engine.Connect(cmd.Context())
			if err != nil {
				return err
			}
			defer docker.Close()
			all, err := images.LoadManifest()
			if err != nil {
				return err
			}
			agent, err := os.Executable()
			if err != nil {
				return err
			}
			for _, v := range all.Supported() {
				m, err := all.ForKubernetes(v)
				if err != nil {
					return err
				}
				keep, err := images.NodeImage(m, agent)
				if err != nil {
					return err
				}
				if _, err := docker.ImageInspect(cmd.Context(), keep); err != nil {
					continue // not built by this skiff: nothing is older
				}
				removed, err := images.Prune(cmd.Context(), docker, keep)
				for _, r := range removed {
					fmt.Fprintf(s.Out, "Removed %s\n", r)
				}
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
}
