package commands

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-k8s/skiff/addons"
	"github.com/skiff-k8s/skiff/internal/cli"
	"github.com/skiff-k8s/skiff/provision"
)

func newCreateCommand(s Streams, root *rootFlags) *cobra.Command {
	var flags struct {
		name, config, image, kubeconfig string
		from, kubernetesVersion         string
		wait                            time.Duration
		httpPort, httpsPort, registry   int
		addons                          []string
		noAddons                        bool
		retain, waitAll                 bool
	}
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a cluster and wait until it is usable",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if flags.from != "" {
				for _, f := range []string{"config", "image", "kubernetes-version", "addons", "no-addons"} {
					if cmd.Flags().Changed(f) {
						return fmt.Errorf("--from takes the node image, subnets and addons from the snapshot: drop --%s", f)
					}
				}
			}
			if flags.image != "" && flags.kubernetesVersion != "" {
				return errors.New("--image names a node image, which has its own Kubernetes version: drop --kubernetes-version")
			}
			// Before any container exists: an unsupported version is one
			// line listing the supported ones.
			b, m, err := builder(flags.kubernetesVersion, nil, cli.NewSteps(s.Err))
			if err != nil {
				return err
			}
			cfg := &provision.Config{From: flags.from}
			if flags.config != "" {
				data, err := os.ReadFile(flags.config)
				if err != nil {
					return fmt.Errorf("failed to read cluster config: %w", err)
				}
				warnings, err := provision.LoadKindConfig(data, cfg)
				if err != nil {
					return fmt.Errorf("%s: %w", flags.config, err)
				}
				for _, w := range warnings {
					fmt.Fprintf(s.Err, "WARNING: %s\n", w)
				}
			}
			if cmd.Flags().Changed("name") || cfg.Name == "" {
				cfg.Name = flags.name
			}
			cfg.Image, cfg.Wait, cfg.WaitAll, cfg.Retain, cfg.KubeconfigPath = flags.image, flags.wait, flags.waitAll, flags.retain, flags.kubeconfig
			if flags.httpPort != 0 {
				cfg.HTTPPort = flags.httpPort
			}
			if flags.httpsPort != 0 {
				cfg.HTTPSPort = flags.httpsPort
			}
			if flags.registry != 0 {
				cfg.RegistryPort = flags.registry
			}
			switch {
			case flags.noAddons && cmd.Flags().Changed("addons"):
				return errors.New("give either --addons or --no-addons, not both")
			case flags.noAddons:
				cfg.Addons = []string{}
			case cmd.Flags().Changed("addons"):
				cfg.Addons = flags.addons
			}
			p, done, err := newProvider(cmd, s, root)
			if err != nil {
				return err
			}
			defer done()
			if cfg.Image == "" && cfg.From == "" {
				// Build returns at once when the image exists; else it adds
				// this skiff's agent layer (about a second) to the base, as
				// after an upgrade of skiff.
				b.Docker, b.AgentOnly = p.Docker(), true
				res, err := b.Build(cmd.Context(), m)
				if err != nil {
					return err
				}
				cfg.Image = res.Image
			}
			for _, w := range p.Warnings(cmd.Context()) {
				fmt.Fprintf(s.Err, "WARNING: %s: %s (fix: %s)\n", w.Check, w.Detail, w.Fix)
			}
			if cfg.From != "" {
				fmt.Fprintf(s.Err, "Creating cluster %q from snapshot %q ...\n", cfg.Name, cfg.From)
			} else {
				fmt.Fprintf(s.Err, "Creating cluster %q ...\n", cfg.Name)
			}
			start := time.Now()
			res, err := p.Create(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.Out, "Cluster %q is ready in %s: context %q in %s\n", cfg.Name, time.Since(start).Round(100*time.Millisecond), res.Context, res.Kubeconfig)
			fmt.Fprintf(s.Out, "API server: %s\n", res.Server)
			if res.HTTPPort != 0 {
				fmt.Fprintf(s.Out, "Ingress:    http://127.0.0.1:%d  https://127.0.0.1:%d\n", res.HTTPPort, res.HTTPSPort)
			}
			if res.RegistryPort != 0 {
				fmt.Fprintf(s.Out, "Registry:   docker push localhost:%d/IMAGE; pods use image: localhost:%d/IMAGE\n", res.RegistryPort, res.RegistryPort)
			}
			fmt.Fprintf(s.Out, "Next: kubectl get nodes\n")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&flags.name, "name", "n", provision.DefaultName, "cluster name")
	f.StringVar(&flags.config, "config", "", "kind v1alpha4 Cluster config file")
	f.StringVar(&flags.image, "image", "", "node image (default: the one this skiff builds for --kubernetes-version)")
	f.StringVar(&flags.kubernetesVersion, "kubernetes-version", "", "Kubernetes version, such as v1.35.4 or 1.35 (default: the newest; skiff version lists them)")
	f.StringVar(&flags.from, "from", "", "snapshot to start from: its workloads, volumes, images and node image (see skiff snapshot ls)")
	mustComplete(cmd, "from", completeSnapshots)
	readyFlags(cmd, &flags.kubeconfig, &flags.wait)
	f.BoolVar(&flags.waitAll, "wait-all", false, "also wait for metrics-server, so kubectl top answers at once (about 10 s more)")
	f.BoolVar(&flags.retain, "retain", false, "keep the node after a failed create, for debugging")
	f.StringSliceVar(&flags.addons, "addons", nil, "addons to enable (default: all of "+strings.Join(addons.Names(), ",")+")")
	f.BoolVar(&flags.noAddons, "no-addons", false, "enable no addon")
	f.IntVar(&flags.httpPort, "http-port", 0, "host port for ingress HTTP (default 80 when free, else a free port)")
	f.IntVar(&flags.httpsPort, "https-port", 0, "host port for ingress HTTPS (default 443 when free, else a free port)")
	f.IntVar(&flags.registry, "registry-port", 0, "host port of the registry, localhost:PORT (default 5001 when free, else a free port)")
	return cmd
}
