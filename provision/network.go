package provision

import (
	"context"
	"fmt"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"
)

// ensureNetwork makes the shared "skiff" bridge network if it is missing.
// Clusters share it, like kind's "kind" network, and it is never removed.
func (p *Provider) ensureNetwork(ctx context.Context) error {
	if _, err := p.docker.NetworkInspect(ctx, networkName, network.InspectOptions{}); err == nil {
		return nil
	}
	_, err := p.docker.NetworkCreate(ctx, networkName, network.CreateOptions{
		Driver: "bridge",
		Labels: map[string]string{"dev.skiff.network": "true"},
	})
	if err != nil && !errdefs.IsConflict(err) {
		return fmt.Errorf("failed to create Docker network %s: %w", networkName, err)
	}
	return nil
}
