package provision

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/skiff-k8s/skiff/internal/engine"
	"github.com/skiff-k8s/skiff/provision/pki"
)

// LabelHelper marks the short-lived containers that copy volumes.
const LabelHelper = "dev.skiff.helper"

// helper is a short-lived container from a node image that copies between
// volumes with the image's own coreutils and tar. It runs `sleep infinity`
// so that several commands can run in it through exec; Docker's copy API
// reads and writes its volumes whether it runs or not.
type helper struct {
	p  *Provider
	id string
}

// newHelper creates a helper with mounts, and starts it if start is set
// (only exec needs it running). It needs CAP_SYS_ADMIN: cp and tar keep
// the trusted.* extended attributes of containerd's overlay layers only
// with it (cp -a drops them silently without).
func (p *Provider) newHelper(ctx context.Context, image string, start bool, mounts ...mount.Mount) (*helper, error) {
	c, err := p.docker.ContainerCreate(ctx,
		&container.Config{Image: image, Entrypoint: []string{"sleep", "infinity"}, Labels: map[string]string{LabelHelper: "true"}},
		&container.HostConfig{Mounts: mounts, CapAdd: []string{"SYS_ADMIN"}, NetworkMode: "none"},
		nil, nil, "")
	if err != nil {
		return nil, fmt.Errorf("failed to create a helper container from %s: %w", image, err)
	}
	h := &helper{p: p, id: c.ID}
	if start {
		if err := p.docker.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
			h.remove(ctx)
			return nil, fmt.Errorf("failed to start a helper container: %w", err)
		}
	}
	return h, nil
}

// run runs cmd in the (started) helper.
func (h *helper) run(ctx context.Context, o engine.ExecOptions, cmd ...string) error {
	return engine.Run(ctx, h.p.docker, h.id, cmd, o)
}

// read returns one file from the helper's mounts.
func (h *helper) read(ctx context.Context, file string) ([]byte, error) {
	return h.p.readContainerFile(ctx, h.id, file)
}

// write puts files (paths relative to dir) into the helper's mounts.
func (h *helper) write(ctx context.Context, dir string, files pki.Files) error {
	tarball, err := files.Tar()
	if err != nil {
		return err
	}
	if err := h.p.docker.CopyToContainer(ctx, h.id, dir, bytes.NewReader(tarball), container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("failed to write into %s: %w", dir, err)
	}
	return nil
}

// remove removes the helper, even once ctx is done.
func (h *helper) remove(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := h.p.docker.ContainerRemove(ctx, h.id, container.RemoveOptions{Force: true}); err != nil {
		h.p.logf("failed to remove helper container %s: %v", h.id[:12], err)
	}
}

// volumeMount mounts a named volume at target.
func volumeMount(name, target string, readOnly bool) mount.Mount {
	return mount.Mount{Type: mount.TypeVolume, Source: name, Target: target, ReadOnly: readOnly}
}
