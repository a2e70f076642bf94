package provision

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/skiff-k8s/skiff/internal/cli"
	"github.com/skiff-k8s/skiff/internal/engine"
)

// streamIdle aborts a snapshot file's tar when it stops moving.
const streamIdle = 2 * time.Minute

// tarFlags are what the payload's tar keeps besides contents, owners,
// modes, times and hard links: every extended attribute (containerd's
// overlay layers carry trusted.* ones) and holes.
var tarFlags = []string{"--numeric-owner", "--xattrs", "--xattrs-include=*", "--sparse"}

// WriteSnapshotFile writes snapshot name to the file out, atomically (a
// failure leaves no file). progress shows the bytes written.
func (p *Provider) WriteSnapshotFile(ctx context.Context, name, out string, progress io.Writer) (*Snapshot, error) {
	s, err := p.Snapshot(ctx, name)
	if err != nil {
		return nil, err
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, fmt.Errorf("failed to create %s: %w", tmp, err)
	}
	defer os.Remove(tmp)
	defer f.Close()
	if err := p.writePayload(ctx, s, f, progress); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, fmt.Errorf("failed to write %s: %w", out, err)
	}
	return s, nil
}

func (p *Provider) writePayload(ctx context.Context, s *Snapshot, f *os.File, progress io.Writer) error {
	h, err := p.newHelper(ctx, s.NodeImage, true, volumeMount(snapshotVolume(s.Name), "/snap", true))
	if err != nil {
		return err
	}
	defer h.remove(ctx)
	w, err := newPayloadWriter(f)
	if err != nil {
		return err
	}
	bar := cli.NewBytes(progress, s.Bytes, "Writing snapshot "+s.Name)
	defer bar.Done()
	cmd := append([]string{"tar", "-C", "/snap/" + snapshotData, "-cf", "-"}, tarFlags...)
	if err := h.run(ctx, engine.ExecOptions{Stdout: io.MultiWriter(w, bar), Idle: streamIdle}, append(cmd, ".")...); err != nil {
		return fmt.Errorf("failed to write snapshot %q: %w", s.Name, err)
	}
	_, err = w.finish(s)
	return err
}

// LoadSnapshot makes a snapshot from a snapshot file, which open returns
// from its first byte (it is read twice). The whole file is verified
// before anything is made; a snapshot of the same name is refused, unless
// it was loaded from the same payload, which is then a no-op (loaded
// false).
func (p *Provider) LoadSnapshot(ctx context.Context, open func() (io.ReadCloser, error), progress io.Writer) (s *Snapshot, loaded bool, err error) {
	r, err := open()
	if err != nil {
		return nil, false, err
	}
	m, err := verifySnapshotFile(r)
	r.Close()
	if err != nil {
		return nil, false, err
	}
	s = &m.Snapshot
	if old, err := p.Snapshot(ctx, s.Name); err == nil && old.SHA256 == m.Payload.SHA256 {
		return old, false, nil
	}
	if err := p.snapshotAbsent(ctx, s.Name); err != nil {
		return nil, false, err
	}
	if _, err := p.docker.ImageInspect(ctx, s.NodeImage); err != nil {
		return nil, false, fmt.Errorf("snapshot %q needs node image %s, which Docker does not have: load it first (`skiff image load -i FILE`, or a bundle that carries it)", s.Name, s.NodeImage)
	}
	s.SHA256 = m.Payload.SHA256
	if err := p.createSnapshotVolume(ctx, s); err != nil {
		return nil, false, err
	}
	if err := p.unpackPayload(ctx, s, m, open, progress); err != nil {
		return nil, false, errors.Join(err, p.removeSnapshotVolume(ctx, s.Name))
	}
	return s, true, nil
}

// unpackPayload unpacks the payload into the new snapshot's volume,
// checking it again on the way (the file may have changed since it was
// verified), and writes the record.
func (p *Provider) unpackPayload(ctx context.Context, s *Snapshot, m *snapshotManifest, open func() (io.ReadCloser, error), progress io.Writer) error {
	h, err := p.newHelper(ctx, s.NodeImage, true, volumeMount(snapshotVolume(s.Name), "/snap", false))
	if err != nil {
		return err
	}
	defer h.remove(ctx)
	if err := h.run(ctx, engine.ExecOptions{}, "mkdir", "/snap/"+snapshotData); err != nil {
		return err
	}
	r, err := open()
	if err != nil {
		return err
	}
	defer r.Close()
	tr := tar.NewReader(r)
	if _, err := readManifest(tr); err != nil {
		return err
	}
	bar := cli.NewBytes(progress, m.Payload.Size, "Loading snapshot "+s.Name)
	defer bar.Done()
	pr, pw := io.Pipe()
	checked := make(chan error, 1)
	go func() {
		err := m.checkPayload(io.TeeReader(tr, pw))
		pw.CloseWithError(err)
		checked <- err
	}()
	cmd := append([]string{"tar", "-C", "/snap/" + snapshotData, "-xpf", "-"}, tarFlags...)
	err = h.run(ctx, engine.ExecOptions{Stdin: io.TeeReader(pr, bar), Idle: streamIdle}, cmd...)
	pr.Close()
	if err := errors.Join(<-checked, err); err != nil {
		return fmt.Errorf("failed to load snapshot %q: %w", s.Name, err)
	}
	return writeRecord(ctx, h, "/snap", s)
}
