package commands

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/images"

	"github.com/skiff-k8s/skiff/bundle"
	"github.com/skiff-k8s/skiff/internal/engine"
)

func newBundleCommand(s Streams) *cobra.Command {
	cmd := &cobra.Command{Use: "bundle", Short: "One-file bundles for machines without network (workshops)"}
	var save struct {
		out       string
		images    []string
		snapshots []string
	}
	saveCmd := &cobra.Command{
		Use:   "save -o FILE [--image IMG]... [--snapshot SNAP]...",
		Short: "Write the node image, this skiff binary, extra images and snapshots into one file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if save.out == "" {
				return errors.New("missing -o FILE: name the bundle to write")
			}
			m, err := images.Resolved("")
			if err != nil {
				return err
			}
			node, err := defaultImage()
			if err != nil {
				return err
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			docker, err := engine.Connect(cmd.Context())
			if err != nil {
				return err
			}
			defer docker.Close()
			versions := map[string]string{}
			for _, v := range m.Versions() {
				versions[v[0]] = v[1]
			}
			start := time.Now()
			err = bundle.Save(cmd.Context(), docker, bundle.SaveOptions{
				Output: save.out, NodeImage: node, Versions: versions, Images: save.images, Snapshots: save.snapshots,
				Binary: self, Skiff: Version, Progress: s.Err,
			})
			if err != nil {
				return err
			}
			st, _ := os.Stat(save.out)
			fmt.Fprintf(s.Out, "Wrote %s (%d MiB) in %s. On each machine with Docker: skiff bundle load %s\n", save.out, st.Size()>>20, time.Since(start).Round(100*time.Millisecond), filepath.Base(save.out))
			return nil
		},
	}
	saveCmd.Flags().StringVarP(&save.out, "output", "o", "", "bundle file to write")
	saveCmd.Flags().StringArrayVar(&save.images, "image", nil, "extra image from the host's Docker to include (repeatable)")
	saveCmd.Flags().StringArrayVar(&save.snapshots, "snapshot", nil, "skiff snapshot to include, for skiff create --from (repeatable)")
	mustComplete(saveCmd, "snapshot", completeSnapshots)

	var binDir string
	loadCmd := &cobra.Command{
		Use:   "load FILE",
		Short: "Verify a bundle, then import its images and install its skiff binary and kubectl",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			docker, err := engine.Connect(cmd.Context())
			if err != nil {
				return err
			}
			defer docker.Close()
			start := time.Now()
			res, err := bundle.Load(cmd.Context(), docker, args[0], binDir, s.Err)
			if err != nil {
				return err
			}
			if len(res.Loaded) == 0 && len(res.Snapshots) == 0 && !res.BinaryChanged && !res.KubectlChanged {
				fmt.Fprintf(s.Out, "Bundle already loaded: nothing to do (%s)\n", res.Manifest.NodeImage)
			} else {
				fmt.Fprintf(s.Out, "Loaded %v and installed %s and %s in %s\n", append(res.Loaded, res.Snapshots...), res.Binary, res.Kubectl, time.Since(start).Round(100*time.Millisecond))
			}
			if res.KubectlKept {
				fmt.Fprintf(s.Out, "Kept the other kubectl at %s; `%s kubectl -- ARGS` runs the cluster's own\n", res.Kubectl, res.Binary)
			}
			for _, snap := range res.Manifest.Snapshots {
				fmt.Fprintf(s.Out, "Snapshot %s: %s create --from %s --name NAME\n", snap, res.Binary, snap)
			}
			fmt.Fprintf(s.Out, "Next: %s create", res.Binary)
			if len(res.Manifest.Images) > 0 {
				fmt.Fprintf(s.Out, " && %s load docker-image", res.Binary)
				for _, i := range res.Manifest.Images {
					fmt.Fprintf(s.Out, " %s", i)
				}
			}
			fmt.Fprintln(s.Out)
			return nil
		},
	}
	loadCmd.Flags().StringVar(&binDir, "bin-dir", defaultBinDir(), "where to install the skiff binary and kubectl")
	cmd.AddCommand(saveCmd, loadCmd)
	return cmd
}

func defaultBinDir() string {
	if os.Geteuid() == 0 {
		return "/usr/local/bin"
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "bin")
}
