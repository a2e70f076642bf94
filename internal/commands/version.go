package commands

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/images"
)

func newVersionCommand(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print skiff's version and the component versions it builds",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			all, err := images.LoadManifest()
			if err != nil {
				return err
			}
			m, err := all.ForKubernetes("")
			if err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "skiff %s %s/%s\n", Version, runtime.GOOS, runtime.GOARCH)
			for _, v := range m.Versions() {
				fmt.Fprintf(s.Out, "  %-12s %s\n", v[0], v[1])
			}
			fmt.Fprintln(s.Out, "Kubernetes releases (image build and create --kubernetes-version V, or its minor):")
			for _, r := range all.Kubernetes.Releases {
				def := ""
				if r.Kubernetes == m.Kubernetes.Default {
					def = "  (default)"
				}
				fmt.Fprintf(s.Out, "  %-12s etcd %s, coredns %s, pause %s%s\n", r.Kubernetes, r.Etcd, r.CoreDNS, r.Pause, def)
			}
			return nil
		},
	}
}
