package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/skiff-k8s/skiff/internal/engine"
	"github.com/skiff-k8s/skiff/node"
	"github.com/skiff-k8s/skiff/provision/pki"
)

// replaceScript replaces the contents of /dst with those of /snap/data.
// The copy goes into a directory beside them first, so a failed copy (a
// full disk) leaves the cluster's state as it was; only then is the old
// state removed and the new moved up, which is renames.
const replaceScript = `set -e
new=/dst/.skiff-restore
rm -rf "$new"
mkdir "$new"
if ! cp -a /snap/data/. "$new"/; then rm -rf "$new"; exit 1; fi
find /dst -mindepth 1 -maxdepth 1 ! -name .skiff-restore -exec rm -rf {} +
find "$new" -mindepth 1 -maxdepth 1 -exec mv -t /dst {} +
rmdir "$new"`

// RestoreSnapshot puts cluster back to snapshot name, in place: it stops
// the cluster, replaces its volume's contents with the snapshot's, keeps
// what makes it this cluster (its name, LoadBalancer pool, registry port,
// container and published ports), starts it and waits as Start does. The
// snapshot may be of another cluster run from the same node image.
func (p *Provider) RestoreSnapshot(ctx context.Context, name, cluster, kubeconfigPath string, wait time.Duration) error {
	p.status.Start(fmt.Sprintf("Reading snapshot %q", name))
	nc, files, c, err := p.restorePlan(ctx, name, cluster)
	if err != nil {
		p.status.End(false)
		return err
	}
	if c.State.Running {
		p.status.Start(fmt.Sprintf("Stopping cluster %q", cluster))
		// Its state is about to be replaced: no need to stop gracefully.
		zero := 0
		if err := p.docker.ContainerStop(ctx, c.ID, container.StopOptions{Timeout: &zero}); err != nil {
			p.status.End(false)
			return fmt.Errorf("failed to stop cluster %q: %w", cluster, err)
		}
	}
	p.status.Start(fmt.Sprintf("Replacing the state of cluster %q with snapshot %q", cluster, name))
	if err := p.replaceState(ctx, name, cluster, c.Config.Image, nc, files); err != nil {
		p.status.End(false)
		return fmt.Errorf("%w (cluster %q is stopped: `skiff start --name %s` starts it as it was)", err, cluster, cluster)
	}
	return p.Start(ctx, cluster, kubeconfigPath, wait)
}

// restorePlan checks that the snapshot fits the cluster and returns the
// node config and certificates the restored volume gets.
func (p *Provider) restorePlan(ctx context.Context, name, cluster string) (*node.Config, pki.Files, container.InspectResponse, error) {
	c, err := p.node(ctx, cluster)
	if err != nil {
		return nil, nil, c, err
	}
	cl, err := p.readClone(ctx, name)
	if err != nil {
		return nil, nil, c, err
	}
	if cl.snap.NodeImage != c.Config.Image {
		return nil, nil, c, fmt.Errorf("snapshot %q runs node image %s, cluster %q %s: `skiff create --from %s` makes a new cluster from it", name, cl.snap.NodeImage, cluster, c.Config.Image, name)
	}
	own, err := p.nodeConfig(ctx, cluster)
	if err != nil {
		return nil, nil, c, err
	}
	nc := cl.nodeConfig(cluster)
	nc.LoadBalancerPool, nc.RegistryPort, nc.Privileged = own.LoadBalancerPool, own.RegistryPort, own.Privileged
	server, err := url.Parse(c.Config.Labels[LabelAPIServer])
	if err != nil || server.Hostname() == "" {
		return nil, nil, c, fmt.Errorf("cluster %q has no API server label: recreate it", cluster)
	}
	files, err := cl.stateFiles(cluster, server.Hostname())
	if err != nil {
		return nil, nil, c, err
	}
	return &nc, files, c, nil
}

// replaceState copies the snapshot over the cluster's stopped volume and
// writes the cluster's own node config and certificates into it.
func (p *Provider) replaceState(ctx context.Context, name, cluster, image string, nc *node.Config, files pki.Files) error {
	h, err := p.newHelper(ctx, image, true, volumeMount(snapshotVolume(name), "/snap", true), volumeMount(volumeName(cluster), "/dst", false))
	if err != nil {
		return err
	}
	defer h.remove(ctx)
	if err := h.run(ctx, engine.ExecOptions{Timeout: copyTimeout}, "sh", "-c", replaceScript); err != nil {
		return fmt.Errorf("failed to copy the snapshot: %w", err)
	}
	cfg, err := json.MarshalIndent(nc, "", "  ")
	if err != nil {
		return err
	}
	files["config.json"] = cfg
	return h.write(ctx, path.Join("/dst", "lib/skiff"), files)
}
