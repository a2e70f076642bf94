// Package archive writes and reads `docker save` image archives without a
// registry or a Docker daemon.
package archive

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Spec describes a single-layer image made from local files, written
// as a `docker save` archive that containerd and Docker both import.
type Spec struct {
	Ref   string            // e.g. registry.k8s.io/pause:3.10.2
	Files map[string]string // path in the image -> local file; all mode 0755
	// Symlinks maps a path in the image to its target, e.g. bin/sh -> busybox.
	Symlinks map[string]string
	// Config is the image's runtime config (Entrypoint, Env, ...).
	Config v1.Config
}

// Write writes the image described by spec to path, without a
// registry or a Docker daemon.
func Write(path string, spec Spec) error {
	tag, err := name.NewTag(spec.Ref)
	if err != nil {
		return fmt.Errorf("failed to parse image reference %q: %w", spec.Ref, err)
	}
	layerTar, err := filesTar(spec.Files, spec.Symlinks)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return fmt.Errorf("failed to make layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return fmt.Errorf("failed to add layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config = "linux", "amd64", spec.Config
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return fmt.Errorf("failed to set image config: %w", err)
	}
	tmp := path + ".tmp"
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		return fmt.Errorf("failed to write image archive %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

func filesTar(files, symlinks map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// Parent directories first, so that every importer sees them as
	// directories rather than inferring them.
	dirs := map[string]bool{}
	for _, m := range []map[string]string{files, symlinks} {
		for p := range m {
			for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
				dirs[d] = true
			}
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
			return nil, err
		}
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		data, err := os.ReadFile(files[p])
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", files[p], err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	for _, p := range slices.Sorted(maps.Keys(symlinks)) {
		if err := tw.WriteHeader(&tar.Header{Name: p, Mode: 0o777, Typeflag: tar.TypeSymlink, Linkname: symlinks[p]}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Tags returns the image references an archive holds.
func Tags(path string) ([]string, error) {
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		return nil, fmt.Errorf("failed to read image archive %s: %w", path, err)
	}
	var tags []string
	for _, d := range m {
		tags = append(tags, d.RepoTags...)
	}
	return tags, nil
}
