// Create's node steps: the Docker network, volume and container, and the
// configuration the node's agent boots with.

package provision

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/volume"

	"github.com/skiff-k8s/skiff/node"
	"github.com/skiff-k8s/skiff/provision/pki"
)

// startNode makes the cluster's volume (or copies the snapshot's) and its
// node container, and starts it.
func (r *createRun) startNode(ctx context.Context) error {
	d := r.p.docker
	subnet, err := r.p.ensureNetwork(ctx)
	if err != nil {
		return err
	}
	// Picking a free LoadBalancer pool and creating the container that
	// records it must not interleave with another create on this host.
	unlock, err := hostLock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if r.lbPool, err = r.p.freePool(ctx, subnet); err != nil {
		return err
	}
	// A create of the same name that started at the same moment may have
	// made its container or volume since preflight.
	if err := r.p.absent(ctx, r.cfg.Name); err != nil {
		return err
	}
	chosen := r.savePorts()
	if err := r.choosePorts(ctx); err != nil {
		return err
	}
	if _, err := d.VolumeCreate(ctx, volume.CreateOptions{Name: volumeName(r.cfg.Name), Labels: map[string]string{LabelCluster: r.cfg.Name}}); err != nil {
		return fmt.Errorf("failed to create volume: %w", err)
	}
	r.made.volume = true
	nc, err := r.nodeConfig()
	if err != nil {
		return err
	}
	if r.from != nil {
		if err := r.p.fillVolume(ctx, r.from, volumeName(r.cfg.Name)); err != nil {
			return err
		}
	}
	nc.LoadBalancerPool, nc.RegistryPort = r.lbPool.String(), r.cfg.RegistryPort
	// Prefer --privileged; fall back to the explicit capability set where
	// the daemon refuses it (it cannot pass on every capability).
	tries := []bool{true, false}
	if privilegedRefused(r.host.EngineID) {
		tries = tries[1:]
	}
	for _, privileged := range tries {
		r.host.Privileged = privileged
		nc.Privileged = privileged
		err = r.createAndStartRepicking(ctx, &nc, chosen)
		if err == nil {
			r.out.Privileged = privileged
			r.p.logf("node container %s started (privileged: %t)", NodeName(r.cfg.Name), privileged)
			return nil
		}
		// A host port Docker refused is an Internal error too, and no
		// answer about privileges.
		if !privileged || portRefused(err) != 0 || !cerrdefs.IsInternal(err) && !strings.Contains(err.Error(), "operation not permitted") {
			return err
		}
		r.p.logf("--privileged refused (%v); using the explicit capability set", err)
		rememberRefused(r.host.EngineID)
		if rerr := d.ContainerRemove(ctx, r.made.container, container.RemoveOptions{Force: true}); rerr != nil {
			return errors.Join(err, rerr)
		}
		r.made.container = ""
	}
	return err
}

// nodeConfig is what the agent is told about the new cluster, but for
// what the container decides (LoadBalancer pool, registry port,
// privileges). A clone's is its snapshot's.
func (r *createRun) nodeConfig() (node.Config, error) {
	if r.from != nil {
		return r.from.nodeConfig(r.cfg.Name), nil
	}
	dns, err := node.ServiceIP(r.cfg.ServiceSubnet, 10)
	if err != nil {
		return node.Config{}, err
	}
	return node.Config{
		ClusterName:   r.cfg.Name,
		NodeName:      NodeName(r.cfg.Name),
		PodSubnet:     r.cfg.PodSubnet,
		ServiceSubnet: r.cfg.ServiceSubnet,
		DNSIP:         dns,
		KubeProxyMode: r.cfg.KubeProxyMode,
		FeatureGates:  r.cfg.FeatureGates,
		RuntimeConfig: r.cfg.RuntimeConfig,
		NodeLabels:    r.cfg.NodeLabels,
		Addons:        r.cfg.Addons,
	}, nil
}

// portRetries bounds how often a create picks its ports again.
const portRetries = 3

// createAndStartRepicking runs createAndStart; when Docker refuses a host
// port that skiff picked (taken since it was found free), it removes the
// container and picks the ports again without that one. A port the user
// asked for is never replaced: its refusal is the error.
func (r *createRun) createAndStartRepicking(ctx context.Context, nc *node.Config, chosen portChoice) error {
	for try := 1; ; try++ {
		err := r.createAndStart(ctx, *nc)
		port := portRefused(err)
		if port == 0 || chosen.asked(port) || try == portRetries {
			return err
		}
		r.p.logf("host port %d was taken since it was found free; picking the ports again", port)
		if rerr := r.p.docker.ContainerRemove(ctx, r.made.container, container.RemoveOptions{Force: true}); rerr != nil {
			return errors.Join(err, rerr)
		}
		r.made.container = ""
		if r.refused == nil {
			r.refused = map[int]bool{}
		}
		r.refused[port] = true
		r.restorePorts(chosen)
		if err := r.choosePorts(ctx); err != nil {
			return err
		}
		nc.RegistryPort = r.cfg.RegistryPort
	}
}

func (r *createRun) createAndStart(ctx context.Context, nc node.Config) error {
	d := r.p.docker
	spec, err := translate(r.cfg, r.host)
	if err != nil {
		return err
	}
	spec.Config.Labels[LabelLBPool] = r.lbPool.String()
	c, err := d.ContainerCreate(ctx, spec.Config, spec.Host, spec.Networking, nil, spec.Name)
	if cerrdefs.IsConflict(err) {
		return existsError(r.cfg.Name)
	} else if err != nil {
		return fmt.Errorf("failed to create node container: %w", err)
	}
	r.made.container = c.ID
	cfgJSON, err := json.MarshalIndent(nc, "", "  ")
	if err != nil {
		return err
	}
	files := pki.Files{"skiff/config.json": cfgJSON}
	for k, v := range r.files {
		files["skiff/"+k] = v
	}
	tarball, err := files.Tar()
	if err != nil {
		return err
	}
	if err := d.CopyToContainer(ctx, c.ID, "/var/lib", bytes.NewReader(tarball), container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("failed to copy configuration into the node: %w", err)
	}
	if err := d.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("failed to start node container: %w", err)
	}
	return nil
}
