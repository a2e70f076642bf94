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
			m, err := images.Resolved("")
			if err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "skiff %s %s/%s\n", Version, runtime.GOOS, runtime.GOARCH)
			for _, v := range m.Versions() {
				fmt.Fprintf(s.Out, "  %-12s %s\n", v[0], v[1])
			}
			return nil
		},
	}
}
