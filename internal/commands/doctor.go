package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/provision"

	"github.com/skiff-k8s/skiff/images"
)

func newDoctorCommand(s Streams, root *rootFlags) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check this host for what skiff clusters need",
		Args:  cobra.NoArgs,
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, _ []string) error {
			// Any node image can probe --privileged; prefer this skiff's own.
			image, _ := defaultImage()
			lctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			if list, err := images.List(lctx, p.Docker()); err == nil && len(list) > 0 && !slices.ContainsFunc(list, func(i images.Info) bool { return i.Ref == image }) {
				image = list[0].Ref
			}
			findings := p.Doctor(cmd.Context(), image)
			if output == "json" {
				return json.NewEncoder(s.Out).Encode(findings)
			}
			failed := false
			for _, f := range findings {
				mark := map[string]string{"ok": "✓", "warn": "!", "fail": "✗"}[f.Level]
				fmt.Fprintf(s.Out, "%s %-28s %s\n", mark, f.Check, f.Detail)
				if f.Fix != "" {
					fmt.Fprintf(s.Out, "  %-28s fix: %s\n", "", f.Fix)
				}
				failed = failed || f.Level == "fail"
			}
			if failed {
				return fmt.Errorf("doctor found problems that stop clusters from working")
			}
			return nil
		}),
	}
	outputFlag(cmd, &output)
	return cmd
}
