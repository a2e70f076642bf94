package provision

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/skiff-k8s/skiff/provision/kubeconfig"
)

// Stop stops a cluster's node; its state stays on the volume.
func (p *Provider) Stop(ctx context.Context, name string) error {
	if _, err := p.node(ctx, name); err != nil {
		return err
	}
	timeout := 30
	if err := p.docker.ContainerStop(ctx, NodeName(name), container.StopOptions{Timeout: &timeout}); err != nil {
		return fmt.Errorf("failed to stop cluster %q: %w", name, err)
	}
	return nil
}

// Start starts a stopped cluster and waits until it is usable again, then
// makes sure its kubeconfig entry is present.
func (p *Provider) Start(ctx context.Context, name, kubeconfigPath string, wait time.Duration) error {
	if _, err := p.node(ctx, name); err != nil {
		return err
	}
	p.status.Start("Starting node container")
	if err := p.docker.ContainerStart(ctx, NodeName(name), container.StartOptions{}); err != nil {
		p.status.End(false)
		return fmt.Errorf("failed to start cluster %q: %w", name, err)
	}
	p.status.Start("Waiting for the node and system pods")
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	cfg, err := p.Kubeconfig(wctx, name, false)
	if err == nil {
		err = p.waitReady(wctx, name, cfg)
	}
	if err != nil {
		p.status.End(false)
		if wctx.Err() != nil && ctx.Err() == nil {
			return &TimeoutError{Step: "start", Wait: wait, Err: err, Diagnosis: p.diagnose(context.WithoutCancel(ctx), name)}
		}
		return err
	}
	p.status.Start("Writing kubeconfig")
	err = kubeconfig.Merge(kubeconfig.Path(kubeconfigPath), cfg)
	p.status.End(err == nil)
	return err
}

func (p *Provider) waitReady(ctx context.Context, name string, cfg []byte) error {
	cs, err := clientFor(cfg)
	if err != nil {
		return err
	}
	if err := p.waitAPIServer(ctx, cs, name); err != nil {
		return err
	}
	return p.waitUsable(ctx, cs, name, false)
}

// Kubeconfig returns the cluster's admin kubeconfig: for the host, or with
// internal set, for containers on the skiff Docker network.
func (p *Provider) Kubeconfig(ctx context.Context, name string, internal bool) ([]byte, error) {
	c, err := p.node(ctx, name)
	if err != nil {
		return nil, err
	}
	files, err := p.adminFiles(ctx, name)
	if err != nil {
		return nil, err
	}
	server := c.Config.Labels[LabelAPIServer]
	if internal {
		server = "https://" + net.JoinHostPort(NodeName(name), "6443")
	}
	if !strings.HasPrefix(server, "https://") {
		return nil, fmt.Errorf("cluster %q has no API server label: recreate it", name)
	}
	return files.AdminKubeconfig(ContextName(name), server)
}
