package bundle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/skiff-k8s/skiff/internal/cli"
	"github.com/skiff-k8s/skiff/internal/digest"
	"github.com/skiff-k8s/skiff/provision"
)

// LoadResult says what loading a bundle changed.
type LoadResult struct {
	Manifest *Manifest
	// Loaded lists the images imported; images already present are skipped.
	Loaded []string
	// Snapshots lists the snapshots made; one already loaded from the same
	// payload is skipped.
	Snapshots []string
	// Binary is the installed skiff; BinaryChanged is false if it was
	// already there, byte for byte.
	Binary        string
	BinaryChanged bool
	// Kubectl is the node image's kubectl installed beside skiff, so a
	// machine with only Docker has one; KubectlChanged is false if it was
	// already there. KubectlKept is set when another kubectl was there: it
	// is never replaced (`skiff kubectl` runs the cluster's own anyway).
	Kubectl        string
	KubectlChanged bool
	KubectlKept    bool
}

// Load verifies the whole bundle first, then imports its node image and
// extra images into Docker (skipping those already present), makes its
// snapshots (skipping those already loaded) and installs the node image's
// kubectl and the skiff binary into binDir. A failure removes the images,
// snapshots and kubectl this call made, so nothing is left half-loaded.
func Load(ctx context.Context, docker client.APIClient, path, binDir string, progress io.Writer) (*LoadResult, error) {
	m, err := Verify(path)
	if err != nil {
		return nil, err
	}
	res := &LoadResult{Manifest: m}
	members := map[string][]string{nodeImageName: {m.NodeImage}}
	if len(m.Images) > 0 {
		members[extraName] = m.Images
	}
	for _, name := range []string{nodeImageName, extraName} {
		refs, ok := members[name]
		if !ok || allPresent(ctx, docker, refs) {
			continue
		}
		if err := loadMember(ctx, docker, path, name, progress); err != nil {
			return nil, errors.Join(err, res.undo(ctx, docker))
		}
		res.Loaded = append(res.Loaded, refs...)
	}
	p := provision.NewProvider(docker, nil, nil)
	for _, snap := range m.Snapshots {
		open := func() (io.ReadCloser, error) {
			rc, _, err := member(path, snapshotName(snap))
			return rc, err
		}
		_, loaded, err := p.LoadSnapshot(ctx, open, progress)
		if err != nil {
			return nil, errors.Join(err, res.undo(ctx, docker))
		}
		if loaded {
			res.Snapshots = append(res.Snapshots, snap)
		}
	}
	if err := res.installKubectl(ctx, p, binDir); err != nil {
		return nil, errors.Join(err, res.undo(ctx, docker))
	}
	if res.Binary, res.BinaryChanged, err = installBinary(path, binDir); err != nil {
		return nil, errors.Join(err, res.undo(ctx, docker))
	}
	return res, nil
}

// installKubectl copies the node image's kubectl out of Docker and
// installs it as binDir/kubectl unless another file is there.
func (r *LoadResult) installKubectl(ctx context.Context, p *provision.Provider, binDir string) error {
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", binDir, err)
	}
	// The copy lands beside its destination, so the install is a rename
	// on one file system.
	tmp, err := os.MkdirTemp(binDir, ".kubectl-")
	if err != nil {
		return fmt.Errorf("failed to install kubectl into %s: %w", binDir, err)
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "kubectl")
	if err := p.KubectlFromImage(ctx, r.Manifest.NodeImage, src); err != nil {
		return err
	}
	r.Kubectl = filepath.Join(binDir, "kubectl")
	r.KubectlChanged, r.KubectlKept, err = installFile(src, r.Kubectl, false)
	return err
}

func allPresent(ctx context.Context, docker client.APIClient, refs []string) bool {
	for _, r := range refs {
		if _, err := docker.ImageInspect(ctx, r); err != nil {
			return false
		}
	}
	return true
}

func loadMember(ctx context.Context, docker client.APIClient, path, name string, progress io.Writer) error {
	rc, size, err := member(path, name)
	if err != nil {
		return err
	}
	defer rc.Close()
	bar := cli.NewBytes(progress, size, "Loading "+name)
	defer bar.Done()
	resp, err := docker.ImageLoad(ctx, io.TeeReader(rc, bar), client.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("failed to load %s into Docker: %w", name, err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg jsonmessage.JSONMessage
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("failed to read Docker's answer: %w", err)
		}
		if msg.Error != nil {
			return fmt.Errorf("failed to load %s into Docker: %s", name, msg.Error.Message)
		}
	}
}

func (r *LoadResult) undo(ctx context.Context, docker client.APIClient) error {
	var errs []error
	if r.KubectlChanged {
		if err := os.Remove(r.Kubectl); err != nil {
			errs = append(errs, fmt.Errorf("failed to remove %s after the failed load: %w", r.Kubectl, err))
		}
	}
	p := provision.NewProvider(docker, nil, nil)
	for _, snap := range r.Snapshots {
		if _, err := p.RemoveSnapshot(context.WithoutCancel(ctx), snap); err != nil {
			errs = append(errs, fmt.Errorf("failed to remove snapshot %s after the failed load: %w", snap, err))
		}
	}
	for _, ref := range r.Loaded {
		if _, err := docker.ImageRemove(context.WithoutCancel(ctx), ref, image.RemoveOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("failed to remove %s after the failed load: %w", ref, err))
		}
	}
	return errors.Join(errs...)
}

// installBinary writes the bundle's skiff to binDir/skiff unless the same
// bytes are already there; another skiff there is replaced.
func installBinary(path, binDir string) (string, bool, error) {
	rc, _, err := member(path, binaryName(runtime.GOOS, runtime.GOARCH))
	if err != nil {
		return "", false, err
	}
	defer rc.Close()
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return "", false, fmt.Errorf("failed to create %s: %w", binDir, err)
	}
	tmp, err := os.CreateTemp(binDir, ".skiff-")
	if err != nil {
		return "", false, fmt.Errorf("failed to install skiff into %s: %w", binDir, err)
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, rc)
	if err := errors.Join(err, tmp.Close()); err != nil {
		return "", false, fmt.Errorf("failed to install skiff into %s: %w", binDir, err)
	}
	dst := filepath.Join(binDir, "skiff")
	changed, _, err := installFile(tmp.Name(), dst, true)
	return dst, changed, err
}

// installFile renames src (a file on dst's file system) to dst, mode
// 0755, unless dst has the same bytes already (changed is false). Other
// bytes at dst are replaced only if replace is set; else dst is kept.
func installFile(src, dst string, replace bool) (changed, kept bool, err error) {
	if old, err := digest.File(dst); err == nil {
		sum, err := digest.File(src)
		if err != nil {
			return false, false, err
		}
		if old == sum {
			return false, false, nil
		}
		if !replace {
			return false, true, nil
		}
	}
	if err := os.Chmod(src, 0o755); err != nil {
		return false, false, err
	}
	if err := os.Rename(src, dst); err != nil {
		return false, false, fmt.Errorf("failed to install %s: %w", dst, err)
	}
	return true, false, nil
}
