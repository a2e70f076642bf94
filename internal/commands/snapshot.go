package commands

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/provision"
)

func newSnapshotCommand(s Streams, root *rootFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "snapshot", Short: "Save a cluster with its workloads; restore, clone (create --from) or carry it as a file"}
	cmd.AddCommand(
		newSnapshotSaveCommand(s, root),
		newSnapshotRestoreCommand(s, root),
		newSnapshotListCommand(s, root),
		newSnapshotRemoveCommand(s, root),
		newSnapshotLoadCommand(s, root),
	)
	return cmd
}

func newSnapshotSaveCommand(s Streams, root *rootFlags) *cobra.Command {
	var name, out string
	cmd := &cobra.Command{
		Use:   "save SNAP [--name CLUSTER] [-o FILE]",
		Short: "Snapshot a running or stopped cluster; -o also writes it (new or existing) to one file",
		Args:  cobra.ExactArgs(1),
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, args []string) error {
			snap := args[0]
			_, err := p.Snapshot(cmd.Context(), snap)
			exists := err == nil
			if !exists || cmd.Flags().Changed("name") || out == "" {
				start := time.Now()
				res, err := p.SaveSnapshot(cmd.Context(), name, snap)
				if err != nil {
					return err
				}
				how := "the cluster was stopped"
				if res.Running {
					how = fmt.Sprintf("the cluster was paused for %.1f s", res.PausedSeconds)
				}
				fmt.Fprintf(s.Out, "Saved snapshot %q of cluster %q in %s (%d MiB; %s)\n", snap, name, time.Since(start).Round(100*time.Millisecond), res.Bytes>>20, how)
			}
			if out == "" {
				fmt.Fprintf(s.Out, "Next: skiff create --from %s --name NEW, or skiff snapshot restore %s --name %s\n", snap, snap, name)
				return nil
			}
			start := time.Now()
			if _, err := p.WriteSnapshotFile(cmd.Context(), snap, out, s.Err); err != nil {
				return err
			}
			st, err := os.Stat(out)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "Wrote %s (%d MiB) in %s. On another machine: skiff snapshot load %s\n", out, st.Size()>>20, time.Since(start).Round(100*time.Millisecond), out)
			return nil
		}),
	}
	nameFlag(cmd, &name)
	cmd.Flags().StringVarP(&out, "output", "o", "", "also write the snapshot to this file")
	return cmd
}

func newSnapshotRestoreCommand(s Streams, root *rootFlags) *cobra.Command {
	var flags struct {
		name, kubeconfig string
		wait             time.Duration
	}
	cmd := &cobra.Command{
		Use:               "restore SNAP [--name CLUSTER]",
		Short:             "Put a cluster back to a snapshot, in place, and wait until it is usable",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: completeFirstSnapshot,
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, args []string) error {
			start := time.Now()
			if err := p.RestoreSnapshot(cmd.Context(), args[0], flags.name, flags.kubeconfig, flags.wait); err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "Cluster %q is back at snapshot %q, ready in %s\n", flags.name, args[0], time.Since(start).Round(100*time.Millisecond))
			return nil
		}),
	}
	nameFlag(cmd, &flags.name)
	readyFlags(cmd, &flags.kubeconfig, &flags.wait)
	return cmd
}

func newSnapshotListCommand(s Streams, root *rootFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List snapshots",
		Args:    cobra.NoArgs,
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, _ []string) error {
			list, err := p.Snapshots(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(s.Out).Encode(list)
			}
			if len(list) == 0 {
				fmt.Fprintln(s.Err, "No snapshots. Take one with `skiff snapshot save SNAP --name CLUSTER`.")
				return nil
			}
			return printSnapshots(s.Out, list)
		}),
	}
	outputFlag(cmd, &output)
	return cmd
}

func printSnapshots(out io.Writer, list []provision.Snapshot) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tCLUSTER\tCREATED\tSIZE\tPAUSED\tNODE IMAGE")
	for _, sn := range list {
		paused := "stopped"
		if sn.Running {
			paused = fmt.Sprintf("%.1f s", sn.PausedSeconds)
		}
		image := sn.NodeImage
		if sn.ImageMissing {
			image += " (missing)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d MiB\t%s\t%s\n", sn.Name, sn.Cluster, sn.Created.Local().Format(time.DateTime), sn.Bytes>>20, paused, image)
	}
	return w.Flush()
}

func newSnapshotRemoveCommand(s Streams, root *rootFlags) *cobra.Command {
	return &cobra.Command{
		Use:               "rm SNAP...",
		Aliases:           []string{"remove"},
		Short:             "Remove snapshots and free their space",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: completeSnapshots,
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, args []string) error {
			for _, snap := range args {
				existed, err := p.RemoveSnapshot(cmd.Context(), snap)
				if err != nil {
					return err
				}
				if existed {
					fmt.Fprintf(s.Out, "Removed snapshot %q\n", snap)
				} else {
					fmt.Fprintf(s.Out, "Snapshot %q does not exist; nothing to remove\n", snap)
				}
			}
			return nil
		}),
	}
}

func newSnapshotLoadCommand(s Streams, root *rootFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "load FILE",
		Short: "Verify a snapshot file, then make the snapshot it holds",
		Args:  cobra.ExactArgs(1),
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, args []string) error {
			start := time.Now()
			open := func() (io.ReadCloser, error) { return os.Open(args[0]) }
			snap, loaded, err := p.LoadSnapshot(cmd.Context(), open, s.Err)
			if err != nil {
				return err
			}
			if loaded {
				fmt.Fprintf(s.Out, "Loaded snapshot %q (of cluster %q, %d MiB) in %s\n", snap.Name, snap.Cluster, snap.Bytes>>20, time.Since(start).Round(100*time.Millisecond))
			} else {
				fmt.Fprintf(s.Out, "Snapshot %q is already loaded: nothing to do\n", snap.Name)
			}
			fmt.Fprintf(s.Out, "Next: skiff create --from %s --name NEW\n", snap.Name)
			return nil
		}),
	}
}
