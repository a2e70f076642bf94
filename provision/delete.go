package provision

import (
	"context"
	"errors"
	"fmt"
	cerrdefs "github.com/containerd/errdefs"

	"github.com/docker/docker/api/types/container"

	"github.com/skiff-k8s/skiff/provision/kubeconfig"
)

// Delete removes a cluster: its container, its volume and its kubeconfig
// entries in kubeconfigPath (empty: the default file). It reports whether
// the cluster existed; a missing cluster is not an error.
func (p *Provider) Delete(ctx context.Context, name, kubeconfigPath string) (existed bool, err error) {
	if _, err := p.node(ctx, name); err != nil {
		if errors.As(err, new(*NotFoundError)) {
			// Still clean up what a crashed create may have left.
			return false, p.remove(ctx, name, kubeconfigPath)
		}
		return false, err
	}
	return true, p.remove(ctx, name, kubeconfigPath)
}

// remove deletes every object of a cluster that exists.
func (p *Provider) remove(ctx context.Context, name, kubeconfigPath string) error {
	var errs []error
	err := p.docker.ContainerRemove(ctx, NodeName(name), container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("failed to remove node container: %w", err))
	}
	if err := p.docker.VolumeRemove(ctx, volumeName(name), true); err != nil && !cerrdefs.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("failed to remove volume %s: %w", volumeName(name), err))
	}
	if err := kubeconfig.Remove(kubeconfig.Path(kubeconfigPath), ContextName(name)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
