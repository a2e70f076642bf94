package commands

import (
	"fmt"
	"os/exec"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/provision"
)

func newOpenCommand(s Streams, root *rootFlags) *cobra.Command {
	var name, namespace string
	var browser bool
	cmd := &cobra.Command{
		Use:   "open SERVICE",
		Short: "Print (--browser: open) a URL on this machine that reaches a Service: its ingress or HTTPRoute, its LoadBalancer address, else a port-forward",
		Long: `Prints a URL on this machine that reaches the Service now: an Ingress rule
or HTTPRoute that sends to it (without a host, or for a *.localhost name) on the cluster's
HTTP port, else its LoadBalancer address if this machine can route to it,
else a port-forward to one of its ready pods, which lives until Ctrl-C.`,
		Args: cobra.ExactArgs(1),
		RunE: withProvider(s, root, func(cmd *cobra.Command, p *provision.Provider, args []string) error {
			o, err := p.Open(cmd.Context(), name, namespace, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "%s (%s)\n", o.URL, o.Via)
			if browser {
				if err := openBrowser(o.URL); err != nil {
					return err
				}
			}
			if o.Done != nil {
				fmt.Fprintln(s.Err, "Forwarding; Ctrl-C stops it.")
				<-o.Done
			}
			return nil
		}),
	}
	nameFlag(cmd, &name)
	cmd.Flags().StringVar(&namespace, "namespace", "default", "the Service's namespace")
	cmd.Flags().BoolVar(&browser, "browser", false, "open the URL in the desktop's browser")
	return cmd
}

// openBrowser hands url to the desktop's opener.
func openBrowser(url string) error {
	opener := "xdg-open"
	if runtime.GOOS == "darwin" {
		opener = "open"
	}
	if err := exec.Command(opener, url).Start(); err != nil {
		return fmt.Errorf("open a browser with %s: %w (open %s by hand)", opener, err, url)
	}
	return nil
}
