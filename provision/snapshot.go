package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"

	"github.com/skiff-k8s/skiff/internal/engine"
	"github.com/skiff-k8s/skiff/node"
	"github.com/skiff-k8s/skiff/provision/pki"
)

// Labels on a snapshot's volume. They are set when the volume is made,
// before the copy: what is known only afterwards (size, pause) is in the
// volume's snapshot.json.
const (
	LabelSnapshot        = "dev.skiff.snapshot"
	LabelSnapshotCluster = "dev.skiff.snapshot.cluster"
	LabelSnapshotImage   = "dev.skiff.snapshot.image"
)

// Inside a snapshot's volume: the record, and the cluster volume's
// contents (what the node sees at /var).
const (
	snapshotRecord = "snapshot.json"
	snapshotData   = "data"
)

// copyTimeout bounds one copy of a cluster's volume.
const copyTimeout = 15 * time.Minute

// Snapshot is one saved cluster volume.
type Snapshot struct {
	Name string `json:"name"`
	// Cluster is the cluster it was taken of.
	Cluster string `json:"cluster"`
	// NodeImage is the node image the cluster ran; clones run it too.
	NodeImage string `json:"nodeImage"`
	// NodeName is the Kubernetes node name, which clones keep.
	NodeName string    `json:"nodeName"`
	Created  time.Time `json:"created"`
	// Bytes is what the copied volume takes on disk.
	Bytes int64 `json:"bytes"`
	// Running says whether the cluster ran when the snapshot was taken;
	// PausedSeconds is then how long it was paused for the copy.
	Running       bool    `json:"running"`
	PausedSeconds float64 `json:"pausedSeconds"`
	// SHA256 is the payload checksum of the file the snapshot was loaded
	// from (empty for one saved here).
	SHA256 string `json:"sha256,omitempty"`
	// ImageMissing says the node image is not in Docker (ls only).
	ImageMissing bool `json:"imageMissing,omitempty"`
}

// snapshotVolume names a snapshot's volume. The dot cannot occur in a
// cluster name, so no snapshot volume is ever a cluster's
// ("skiff-NAME-state").
func snapshotVolume(name string) string { return "skiff-snap." + name }

// validSnapshotName refuses names Docker or skiff cannot use.
func validSnapshotName(name string) error {
	if len(name) > 40 || !nameRE.MatchString(name) {
		return fmt.Errorf("invalid snapshot name %q: use 1-40 lowercase letters, digits and '-', starting and ending with a letter or digit", name)
	}
	return nil
}

// SnapshotNotFoundError says a snapshot does not exist.
type SnapshotNotFoundError struct{ Name string }

func (e *SnapshotNotFoundError) Error() string {
	return fmt.Sprintf("snapshot %q not found: `skiff snapshot ls` shows the snapshots there are", e.Name)
}

// snapshotAbsent fails when the snapshot's volume exists.
func (p *Provider) snapshotAbsent(ctx context.Context, name string) error {
	if _, err := p.docker.VolumeInspect(ctx, snapshotVolume(name)); err == nil {
		return fmt.Errorf("snapshot %q already exists: remove it with `skiff snapshot rm %s` or pick another name", name, name)
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("failed to inspect volume %s: %w", snapshotVolume(name), err)
	}
	return nil
}

// createSnapshotVolume makes the (empty) volume of a new snapshot.
func (p *Provider) createSnapshotVolume(ctx context.Context, s *Snapshot) error {
	_, err := p.docker.VolumeCreate(ctx, volume.CreateOptions{Name: snapshotVolume(s.Name), Labels: map[string]string{
		LabelSnapshot: s.Name, LabelSnapshotCluster: s.Cluster, LabelSnapshotImage: s.NodeImage,
	}})
	if err != nil {
		return fmt.Errorf("failed to create volume %s: %w", snapshotVolume(s.Name), err)
	}
	return nil
}

// removeSnapshotVolume removes a snapshot's volume after a failure, even
// once ctx is done.
func (p *Provider) removeSnapshotVolume(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := p.docker.VolumeRemove(ctx, snapshotVolume(name), true); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("failed to remove volume %s: %w", snapshotVolume(name), err)
	}
	return nil
}

// SaveSnapshot copies a cluster's volume into a new snapshot. A running
// cluster is paused for the copy (docker pause: the cgroup freezer stops
// every process of the node, pods included, at one instant), so the copy
// is what a power cut at that instant would leave, which etcd's WAL and
// containerd's bolt database recover from; then it runs on. A stopped
// cluster is copied as it is. A failure removes the snapshot's volume.
func (p *Provider) SaveSnapshot(ctx context.Context, cluster, name string) (*Snapshot, error) {
	if err := validSnapshotName(name); err != nil {
		return nil, err
	}
	p.status.Start(fmt.Sprintf("Checking cluster %q", cluster))
	c, err := p.node(ctx, cluster)
	if err == nil {
		err = p.snapshotAbsent(ctx, name)
	}
	var nc *node.Config
	if err == nil {
		nc, err = p.nodeConfig(ctx, cluster)
	}
	if err != nil {
		p.status.End(false)
		return nil, err
	}
	s := &Snapshot{Name: name, Cluster: cluster, NodeImage: c.Config.Image, NodeName: nc.NodeName, Created: time.Now().UTC(), Running: c.State.Running}
	if err := p.createSnapshotVolume(ctx, s); err != nil {
		p.status.End(false)
		return nil, err
	}
	if err := p.fillSnapshot(ctx, c, s); err != nil {
		p.status.End(false)
		return nil, errors.Join(err, p.removeSnapshotVolume(ctx, name))
	}
	p.status.End(true)
	return s, nil
}

// fillSnapshot copies the cluster's volume into the snapshot's and writes
// its record.
func (p *Provider) fillSnapshot(ctx context.Context, c container.InspectResponse, s *Snapshot) error {
	h, err := p.newHelper(ctx, s.NodeImage, true,
		volumeMount(volumeName(s.Cluster), "/src", true), volumeMount(snapshotVolume(s.Name), "/snap", false))
	if err != nil {
		return err
	}
	defer h.remove(ctx)
	if err := h.run(ctx, engine.ExecOptions{}, "mkdir", "/snap/"+snapshotData); err != nil {
		return err
	}
	if s.Running {
		p.status.Start(fmt.Sprintf("Pausing cluster %q and copying its volume", s.Cluster))
		err = p.paused(ctx, c.ID, &s.PausedSeconds, func() error { return copyTree(ctx, h, "/src", "/snap/"+snapshotData) })
	} else {
		p.status.Start(fmt.Sprintf("Copying the volume of stopped cluster %q", s.Cluster))
		err = copyTree(ctx, h, "/src", "/snap/"+snapshotData)
	}
	if err != nil {
		return err
	}
	p.status.Start("Recording the snapshot")
	if s.Bytes, err = treeSize(ctx, h, "/snap/"+snapshotData); err != nil {
		return err
	}
	return writeRecord(ctx, h, "/snap", s)
}

// paused runs fn with the container paused and records for how long it
// was. It unpauses even when ctx is cancelled meanwhile. The pause itself
// is not cancelled: a cancelled request can still reach the engine, which
// then pauses a node that nothing unpauses (an interrupted save left its
// cluster paused so).
func (p *Provider) paused(ctx context.Context, id string, seconds *float64, fn func() error) error {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := p.docker.ContainerPause(pctx, id); err != nil {
		return fmt.Errorf("failed to pause the node: %w", err)
	}
	start := time.Now()
	err := ctx.Err()
	if err == nil {
		err = fn()
	}
	// Its own 30 s from now: the copy may take longer than the pause's.
	uctx, ucancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer ucancel()
	if uerr := p.docker.ContainerUnpause(uctx, id); uerr != nil {
		err = errors.Join(err, fmt.Errorf("failed to unpause the node (`docker unpause %s` does it): %w", id[:12], uerr))
	}
	*seconds = time.Since(start).Seconds()
	return err
}

// copyTree copies the contents of src into the existing directory dst in
// the helper: cp -a keeps owners, modes, times, hard links, extended
// attributes and device nodes (overlay whiteouts). Runs of zeros become
// holes: most of a new cluster's volume is etcd's WAL, preallocated (128
// of 130 MB), which a snapshot then neither stores nor writes into a
// snapshot file (tar --sparse).
func copyTree(ctx context.Context, h *helper, src, dst string) error {
	if err := h.run(ctx, engine.ExecOptions{Timeout: copyTimeout}, "cp", "-a", "--sparse=always", src+"/.", dst+"/"); err != nil {
		return fmt.Errorf("failed to copy the volume: %w", err)
	}
	return nil
}

// treeSize returns the bytes the files under dir in the helper take on
// disk (holes do not count).
func treeSize(ctx context.Context, h *helper, dir string) (int64, error) {
	var out strings.Builder
	if err := h.run(ctx, engine.ExecOptions{Stdout: &out, Timeout: 5 * time.Minute}, "du", "-s", "-B1", dir); err != nil {
		return 0, fmt.Errorf("failed to measure %s: %w", dir, err)
	}
	f := strings.Fields(out.String())
	if len(f) == 0 {
		return 0, fmt.Errorf("du printed nothing for %s", dir)
	}
	return strconv.ParseInt(f[0], 10, 64)
}

// writeRecord writes s as dir/snapshot.json in the helper.
func writeRecord(ctx context.Context, h *helper, dir string, s *Snapshot) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return h.write(ctx, dir, pki.Files{snapshotRecord: data})
}

// Snapshots lists the snapshots, sorted by name, with what each record
// says. A snapshot whose node image is gone is listed from its labels.
func (p *Provider) Snapshots(ctx context.Context) ([]Snapshot, error) {
	vols, err := p.docker.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelSnapshot))})
	if err != nil {
		return nil, fmt.Errorf("failed to list snapshots: %w", err)
	}
	out := []Snapshot{}
	for _, v := range vols.Volumes {
		name := v.Labels[LabelSnapshot]
		if v.Name != snapshotVolume(name) {
			continue
		}
		s, err := p.snapshotRecord(ctx, name, v.Labels[LabelSnapshotImage])
		if err != nil {
			s = &Snapshot{Name: name, Cluster: v.Labels[LabelSnapshotCluster], NodeImage: v.Labels[LabelSnapshotImage]}
			if t, err := time.Parse(time.RFC3339, v.CreatedAt); err == nil {
				s.Created = t
			}
		}
		if _, err := p.docker.ImageInspect(ctx, s.NodeImage); err != nil {
			s.ImageMissing = true
		}
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// SnapshotNames returns the names of the snapshots, sorted, from their
// volumes' labels alone: fast enough for shell completion, where
// Snapshots reads each record through a helper container.
func (p *Provider) SnapshotNames(ctx context.Context) ([]string, error) {
	vols, err := p.docker.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelSnapshot))})
	if err != nil {
		return nil, fmt.Errorf("failed to list snapshots: %w", err)
	}
	var out []string
	for _, v := range vols.Volumes {
		if name := v.Labels[LabelSnapshot]; v.Name == snapshotVolume(name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Snapshot returns one snapshot's record.
func (p *Provider) Snapshot(ctx context.Context, name string) (*Snapshot, error) {
	image, err := p.snapshotImage(ctx, name)
	if err != nil {
		return nil, err
	}
	return p.snapshotRecord(ctx, name, image)
}

// snapshotImage returns the node image a snapshot runs, once it is sure
// that both the snapshot and the image exist.
func (p *Provider) snapshotImage(ctx context.Context, name string) (string, error) {
	v, err := p.docker.VolumeInspect(ctx, snapshotVolume(name))
	if cerrdefs.IsNotFound(err) || err == nil && v.Labels[LabelSnapshot] != name {
		return "", &SnapshotNotFoundError{Name: name}
	} else if err != nil {
		return "", fmt.Errorf("failed to inspect snapshot %q: %w", name, err)
	}
	image := v.Labels[LabelSnapshotImage]
	if _, err := p.docker.ImageInspect(ctx, image); err != nil {
		return "", fmt.Errorf("snapshot %q needs node image %s, which Docker does not have: load it with `skiff image load -i FILE` or a bundle that carries it", name, image)
	}
	return image, nil
}

// snapshotRecord reads a snapshot's snapshot.json through a helper that
// is never started.
func (p *Provider) snapshotRecord(ctx context.Context, name, image string) (*Snapshot, error) {
	h, err := p.newHelper(ctx, image, false, volumeMount(snapshotVolume(name), "/snap", true))
	if err != nil {
		return nil, err
	}
	defer h.remove(ctx)
	return readRecord(ctx, h, "/snap")
}

func readRecord(ctx context.Context, h *helper, dir string) (*Snapshot, error) {
	data, err := h.read(ctx, path.Join(dir, snapshotRecord))
	if err != nil {
		return nil, fmt.Errorf("failed to read the snapshot's record (an interrupted save leaves none: remove it): %w", err)
	}
	var s Snapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("failed to parse the snapshot's record: %w", err)
	}
	return &s, nil
}

// RemoveSnapshot removes a snapshot and frees its space. It reports
// whether the snapshot existed; a missing one is not an error.
func (p *Provider) RemoveSnapshot(ctx context.Context, name string) (existed bool, err error) {
	if err := validSnapshotName(name); err != nil {
		return false, err
	}
	v, err := p.docker.VolumeInspect(ctx, snapshotVolume(name))
	if cerrdefs.IsNotFound(err) {
		return false, nil
	} else if err != nil {
		return false, fmt.Errorf("failed to inspect snapshot %q: %w", name, err)
	}
	if v.Labels[LabelSnapshot] != name {
		return false, fmt.Errorf("volume %s was not made by skiff: remove it with docker volume rm", v.Name)
	}
	if err := p.docker.VolumeRemove(ctx, v.Name, false); err != nil {
		return true, fmt.Errorf("failed to remove snapshot %q: %w", name, err)
	}
	return true, nil
}
