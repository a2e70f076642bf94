package provision

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/skiff-k8s/skiff/images"
)

// nodeKubectl is kubectl in the node image: a symlink to the multi-call
// Kubernetes binary, which runs as kubectl under that file name.
const nodeKubectl = "/usr/local/bin/kubectl"

// kubectlCopyTimeout bounds the one-time copy of the binary (about 150 MB)
// out of the node.
const kubectlCopyTimeout = 2 * time.Minute

// Kubectl returns the path of a kubectl of the cluster's Kubernetes
// version, runnable on this host: the node image's own, copied out of the
// cluster's container (running or stopped) into cacheDir/kubectl/VERSION
// the first time it is needed, so a host with only Docker has one.
func (p *Provider) Kubectl(ctx context.Context, name, cacheDir string) (string, error) {
	c, err := p.node(ctx, name)
	if err != nil {
		return "", err
	}
	version := c.Config.Labels[images.LabelKubernetes]
	if version == "" || filepath.Base(version) != version {
		return "", fmt.Errorf("cluster %q runs a node image without a valid Kubernetes version label (%q): recreate it with this skiff's node image", name, version)
	}
	bin := filepath.Join(cacheDir, "kubectl", version, "kubectl")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	ctx, cancel := context.WithTimeout(ctx, kubectlCopyTimeout)
	defer cancel()
	if err := p.copyKubectl(ctx, c.ID, bin); err != nil {
		return "", fmt.Errorf("failed to copy kubectl %s out of cluster %q: %w", version, name, err)
	}
	return bin, nil
}

// KubectlFromImage copies the node image's kubectl to dst, through a
// helper container made from the image and never started.
func (p *Provider) KubectlFromImage(ctx context.Context, image, dst string) error {
	ctx, cancel := context.WithTimeout(ctx, kubectlCopyTimeout)
	defer cancel()
	h, err := p.newHelper(ctx, image, false)
	if err != nil {
		return err
	}
	defer h.remove(ctx)
	if err := p.copyKubectl(ctx, h.id, dst); err != nil {
		return fmt.Errorf("failed to copy kubectl out of %s: %w", image, err)
	}
	return nil
}

// copyKubectl copies the node's kubectl, following its symlinks, to bin
// through a temporary file, so a failed or concurrent copy never leaves a
// partial binary under that name.
func (p *Provider) copyKubectl(ctx context.Context, id, bin string) error {
	src := nodeKubectl
	// A symlink to a symlink is as far as a node image goes.
	for range 3 {
		target, err := p.copyFile(ctx, id, src, bin)
		if err != nil || target == "" {
			return err
		}
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(src), target)
		}
		src = target
	}
	return fmt.Errorf("%s in the node is a chain of symlinks", nodeKubectl)
}

// copyFile copies the regular file src out of the container to dst, mode
// 0755, or returns the target of src if src is a symlink.
func (p *Provider) copyFile(ctx context.Context, id, src, dst string) (symlink string, err error) {
	rc, _, err := p.docker.CopyFromContainer(ctx, id, src)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	h, err := tr.Next()
	if err != nil {
		return "", fmt.Errorf("failed to read %s: %w", src, err)
	}
	switch h.Typeflag {
	case tar.TypeSymlink:
		return h.Linkname, nil
	case tar.TypeReg:
	default:
		return "", fmt.Errorf("%s in the node is not a file", src)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(filepath.Dir(dst), ".kubectl-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name()) // fails harmlessly once renamed
	_, err = io.Copy(f, tr)
	err = errors.Join(err, f.Chmod(0o755), f.Close())
	if err != nil {
		return "", fmt.Errorf("failed to write %s: %w", dst, err)
	}
	return "", os.Rename(f.Name(), dst)
}
