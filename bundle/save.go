package bundle

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/docker/docker/client"

	"github.com/skiff-k8s/skiff/internal/cli"
	"github.com/skiff-k8s/skiff/internal/digest"
	"github.com/skiff-k8s/skiff/provision"
)

// SaveOptions says what goes into a bundle.
type SaveOptions struct {
	Output    string
	NodeImage string
	Versions  map[string]string
	Images    []string // extra images from the host's Docker
	Snapshots []string // skiff snapshots
	Binary    string   // the skiff executable to include
	Skiff     string   // its version
	Progress  io.Writer
}

// Save writes a bundle. Members are staged next to the output (Docker's
// image streams have no size up front, which a tar header needs), then
// packed behind the manifest; nothing is left behind on failure.
func Save(ctx context.Context, docker client.APIClient, o SaveOptions) error {
	for _, ref := range append([]string{o.NodeImage}, o.Images...) {
		if _, err := docker.ImageInspect(ctx, ref); err != nil {
			return fmt.Errorf("image %s is not in Docker: build, pull or load it first", ref)
		}
	}
	p := provision.NewProvider(docker, nil, nil)
	for _, snap := range o.Snapshots {
		s, err := p.Snapshot(ctx, snap)
		if err != nil {
			return err
		}
		if s.NodeImage != o.NodeImage && !slices.Contains(o.Images, s.NodeImage) {
			return fmt.Errorf("snapshot %q runs node image %s, which the bundle would not carry: add --image %s", snap, s.NodeImage, s.NodeImage)
		}
	}
	stage, err := os.MkdirTemp(filepath.Dir(o.Output), ".skiff-bundle-")
	if err != nil {
		return fmt.Errorf("failed to create staging directory: %w", err)
	}
	defer os.RemoveAll(stage)
	m := &Manifest{Format: Format, OS: runtime.GOOS, Arch: runtime.GOARCH, Skiff: o.Skiff, NodeImage: o.NodeImage, Versions: o.Versions, Images: o.Images, Snapshots: o.Snapshots}
	stageImages := func(name string, refs []string) error {
		rc, err := docker.ImageSave(ctx, refs)
		if err != nil {
			return fmt.Errorf("failed to save %v: %w", refs, err)
		}
		defer rc.Close()
		bar := cli.NewBytes(o.Progress, -1, "Saving "+name)
		defer bar.Done()
		return m.stage(stage, name, io.TeeReader(rc, bar))
	}
	if err := stageImages(nodeImageName, []string{o.NodeImage}); err != nil {
		return err
	}
	if len(o.Images) > 0 {
		if err := stageImages(extraName, o.Images); err != nil {
			return err
		}
	}
	for _, snap := range o.Snapshots {
		name := snapshotName(snap)
		staged := filepath.Join(stage, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(staged), 0o755); err != nil {
			return err
		}
		if _, err := p.WriteSnapshotFile(ctx, snap, staged, o.Progress); err != nil {
			return err
		}
		if err := m.record(stage, name); err != nil {
			return err
		}
	}
	bin, err := os.Open(o.Binary)
	if err != nil {
		return fmt.Errorf("failed to read the skiff binary: %w", err)
	}
	err = m.stage(stage, binaryName(runtime.GOOS, runtime.GOARCH), bin)
	bin.Close()
	if err != nil {
		return err
	}
	tmp := o.Output + ".tmp"
	if err := m.pack(stage, tmp, o.Progress); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, o.Output)
}

// stage copies r into the staging directory and records its checksum.
func (m *Manifest) stage(dir, name string, r io.Reader) error {
	path := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, sum), r)
	if err != nil {
		return fmt.Errorf("failed to stage %s: %w", name, err)
	}
	m.Files = append(m.Files, File{Name: name, Size: n, SHA256: hex.EncodeToString(sum.Sum(nil))})
	return f.Close()
}

// record adds the checksum of a member written into the staging directory
// by other means than stage.
func (m *Manifest) record(dir, name string) error {
	path := filepath.Join(dir, filepath.FromSlash(name))
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	sum, err := digest.File(path)
	if err != nil {
		return fmt.Errorf("failed to checksum %s: %w", name, err)
	}
	m.Files = append(m.Files, File{Name: name, Size: st.Size(), SHA256: sum})
	return nil
}

// pack writes the manifest and then every staged member into out.
func (m *Manifest) pack(stage, out string, progress io.Writer) error {
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("failed to create %s: %w", out, err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o644, Size: int64(len(data))}); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	var total int64
	for _, file := range m.Files {
		total += file.Size
	}
	bar := cli.NewBytes(progress, total, "Writing "+filepath.Base(out))
	defer bar.Done()
	for _, file := range m.Files {
		mode := int64(0o644)
		if filepath.Dir(file.Name) == "bin" {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: file.Name, Mode: mode, Size: file.Size}); err != nil {
			return err
		}
		src, err := os.Open(filepath.Join(stage, filepath.FromSlash(file.Name)))
		if err != nil {
			return err
		}
		_, err = io.Copy(io.MultiWriter(tw, bar), src)
		src.Close()
		if err != nil {
			return fmt.Errorf("failed to write %s: %w", file.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return f.Close()
}
