package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"path/filepath"

	"github.com/skiff-k8s/skiff/node"
	"github.com/skiff-k8s/skiff/provision/pki"
)

// clone is the snapshot a create starts from.
type clone struct {
	snap   *Snapshot
	config node.Config
	// pki holds the snapshot's CA and admin credentials and its API server
	// certificate.
	pki pki.Files
}

// snapshotPKI is what a clone or a restore reads of the snapshot's PKI.
var snapshotPKI = []string{"ca.crt", "ca.key", "admin.crt", "admin.key", "apiserver.crt"}

// readClone reads a snapshot's record, node configuration and PKI through
// one helper, the state in one copy: Docker 20.10 serves every copy out of
// a container by re-executing dockerd, and a copy per file made the clone's
// first step 0.6 s.
func (p *Provider) readClone(ctx context.Context, name string) (*clone, error) {
	image, err := p.snapshotImage(ctx, name)
	if err != nil {
		return nil, err
	}
	h, err := p.newHelper(ctx, image, false, volumeMount(snapshotVolume(name), "/snap", true))
	if err != nil {
		return nil, err
	}
	defer h.remove(ctx)
	s, err := readRecord(ctx, h, "/snap")
	if err != nil {
		return nil, err
	}
	want := []string{"config.json"}
	for _, f := range snapshotPKI {
		want = append(want, "pki/"+f)
	}
	files, err := p.readContainerFiles(ctx, h.id, path.Join("/snap", snapshotData, "lib/skiff"), want)
	if err != nil {
		return nil, fmt.Errorf("failed to read the node state of snapshot %q: %w", name, err)
	}
	// What is left once the config is out is the PKI, under the keys
	// stateFiles and restore use.
	c := &clone{snap: s, pki: pki.Files(files)}
	if err := json.Unmarshal(files["config.json"], &c.config); err != nil {
		return nil, fmt.Errorf("failed to parse the node config of snapshot %q: %w", name, err)
	}
	delete(c.pki, "config.json")
	return c, nil
}

// applyTo makes a create config for the clone: the snapshot's node image,
// subnets, kube-proxy mode, gates, labels and addons. The name, ports and
// address stay the create's own.
func (c *clone) applyTo(cfg *Config) error {
	if cfg.Image != "" && cfg.Image != c.snap.NodeImage {
		return fmt.Errorf("snapshot %q runs node image %s: a clone runs the same image, drop --image", c.snap.Name, c.snap.NodeImage)
	}
	nc := c.config
	cfg.Image = c.snap.NodeImage
	cfg.PodSubnet, cfg.ServiceSubnet, cfg.KubeProxyMode = nc.PodSubnet, nc.ServiceSubnet, nc.KubeProxyMode
	cfg.FeatureGates, cfg.RuntimeConfig, cfg.NodeLabels, cfg.Addons = nc.FeatureGates, nc.RuntimeConfig, nc.NodeLabels, nc.Addons
	return nil
}

// nodeConfig is the clone's node configuration: the snapshot's, with the
// new cluster's name. The Kubernetes node name stays the snapshot's: the
// Node object, the pods bound to it and the kubelet's client certificate
// (system:node:NAME) all carry it. The caller sets what the new container
// gets (LoadBalancer pool, registry port, privileges).
func (c *clone) nodeConfig(cluster string) node.Config {
	nc := c.config
	nc.ClusterName = cluster
	return nc
}

// stateFiles returns what a clone or a restore writes into the state
// directory of the snapshot's copy. The API server certificate is
// re-issued by the snapshot's own CA for the same names plus the new node
// container's name (the --internal kubeconfig's server) and address; the
// CA, the service-account keys and every other certificate stay, so
// service-account tokens and the CA in kube-root-ca.crt stay valid. The
// admin credentials are there for the kubeconfig, and node.ForgetPodsFile
// tells the agent to drop the snapshot's pod sandboxes.
func (c *clone) stateFiles(cluster, apiServerAddress string) (pki.Files, error) {
	crt, key, err := pki.ExtendServingCert(c.pki["pki/ca.crt"], c.pki["pki/ca.key"], c.pki["pki/apiserver.crt"], NodeName(cluster), apiServerAddress)
	if err != nil {
		return nil, fmt.Errorf("failed to re-issue the API server certificate: %w", err)
	}
	forget, err := filepath.Rel(node.StateDir, node.ForgetPodsFile)
	if err != nil {
		return nil, err
	}
	return pki.Files{
		"pki/ca.crt":        c.pki["pki/ca.crt"],
		"pki/admin.crt":     c.pki["pki/admin.crt"],
		"pki/admin.key":     c.pki["pki/admin.key"],
		"pki/apiserver.crt": crt,
		"pki/apiserver.key": key,
		forget:              {},
	}, nil
}

// fillVolume copies the snapshot's data into the new cluster's volume.
func (p *Provider) fillVolume(ctx context.Context, c *clone, vol string) error {
	h, err := p.newHelper(ctx, c.snap.NodeImage, true,
		volumeMount(snapshotVolume(c.snap.Name), "/snap", true), volumeMount(vol, "/dst", false))
	if err != nil {
		return err
	}
	defer h.remove(ctx)
	return copyTree(ctx, h, path.Join("/snap", snapshotData), "/dst")
}
