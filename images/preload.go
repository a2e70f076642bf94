package images

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"

	"github.com/skiff-k8s/skiff/internal/textutil"
)

// Paths inside the build container and the image.
const (
	// preloadedList names the preloaded images; the node's `versions`
	// prints it (preloadedList, the same path: node cannot be imported
	// here, it imports the addons, whose tests import this package).
	preloadedList = "/opt/skiff/images.txt"
	// layersDir holds the unpacked layers of the preloaded images.
	layersDir = "/opt/skiff/layers"
	// contentDir holds the blobs of the preloaded images' content store.
	contentDir = "/opt/skiff/content"
	// archiveDir is where the archives wait in the build container.
	archiveDir = "/tmp/skiff-preload"
)

// preloadScript imports the archives into a containerd store on a scratch
// volume, exactly as the node's containerd would, then moves that store to
// /var/lib/containerd in the image with each unpacked layer under
// /opt/skiff/layers and each content blob under /opt/skiff/content, a
// symlink in its place. Docker copies the image's /var into a new
// cluster's volume, so a new node starts with its images ready: it copies
// the small store, not the layers, which overlayfs reads (as lower
// directories) straight from the image. The layers' compressed blobs are
// discarded (nothing reads them once unpacked), yet the import leaves one
// 55 MB layer file in the content store: linking the blobs keeps it out of
// every volume, where copying it made each create 0.3 s slower. Blobs are
// immutable and named by their digest; containerd follows the links, and
// removing one removes the link.
const preloadScript = `set -eu
root=/build/containerd
containerd --root $root --state /run/containerd --address /run/containerd/containerd.sock >/tmp/containerd.log 2>&1 &
pid=$!
i=0
until ctr version >/dev/null 2>&1; do
  i=$((i+1))
  if [ $i -gt 600 ]; then echo "containerd did not start:"; cat /tmp/containerd.log; exit 1; fi
  sleep 0.05
done
for a in ` + archiveDir + `/*.tar; do
  ctr --namespace k8s.io images import --local --discard-unpacked-layers "$a"
done
mkdir -p $(dirname ` + preloadedList + `)
ctr --namespace k8s.io images ls -q | grep -v '^sha256:' > ` + preloadedList + `
kill $pid
wait $pid || true
rm -rf ` + archiveDir + `
mkdir -p ` + layersDir + `
for d in $root/io.containerd.snapshotter.v1.overlayfs/snapshots/*; do
  n=$(basename "$d")
  mv "$d/fs" ` + layersDir + `/$n
  ln -s ` + layersDir + `/$n "$d/fs"
done
mkdir -p ` + contentDir + `
for b in $root/io.containerd.content.v1.content/blobs/sha256/*; do
  mv "$b" ` + contentDir + `/
  ln -s ` + contentDir + `/$(basename "$b") "$b"
done
cp -a $root /var/lib/containerd
`

// preloadTimeout bounds the import; it takes seconds.
const preloadTimeout = 5 * time.Minute

// preload makes ref from raw: raw plus the archives (file name -> path)
// imported into containerd's store by preloadScript. raw's tag is removed
// either way; ref keeps its layers.
func preload(ctx context.Context, c client.APIClient, raw, ref string, archives map[string]string, log io.Writer) error {
	defer c.ImageRemove(context.WithoutCancel(ctx), raw, image.RemoveOptions{})
	ctx, cancel := context.WithTimeout(ctx, preloadTimeout)
	defer cancel()
	created, err := c.ContainerCreate(ctx,
		&container.Config{Image: raw, Entrypoint: []string{"/bin/sh", "-c", preloadScript}},
		&container.HostConfig{
			// The scratch store must not be on the container's overlayfs:
			// containerd's overlayfs snapshotter refuses an overlay root.
			Mounts: []mount.Mount{{Type: mount.TypeVolume, Target: "/build"}},
			// Unpacking a layer mounts its snapshot.
			CapAdd:      []string{"SYS_ADMIN"},
			SecurityOpt: []string{"seccomp=unconfined", "apparmor=unconfined", "label=disable"},
		}, nil, nil, "")
	if err != nil {
		return fmt.Errorf("create preload container: %w", err)
	}
	defer c.ContainerRemove(context.WithoutCancel(ctx), created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeArchives(pw, archives)) }()
	if err := c.CopyToContainer(ctx, created.ID, "/", pr, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("copy image archives into the preload container: %w", err)
	}
	code, out, err := runToExit(ctx, c, created.ID)
	_, _ = io.WriteString(log, out)
	if err != nil {
		return fmt.Errorf("preload container: %w", err)
	}
	if code != 0 {
		return fmt.Errorf("importing the images into containerd exited with %d:\n%s", code, textutil.Tail(out, 10))
	}
	if _, err := c.ContainerCommit(ctx, created.ID, container.CommitOptions{Reference: ref, Changes: []string{"ENTRYPOINT []", "CMD []"}}); err != nil {
		return fmt.Errorf("commit %s: %w", ref, err)
	}
	return nil
}

// writeArchives writes a tar of the archives under archiveDir.
func writeArchives(w io.Writer, archives map[string]string) error {
	tw := tar.NewWriter(w)
	names := make([]string, 0, len(archives))
	for n := range archives {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := addFile(tw, archives[n], filepath.Join(archiveDir, n)[1:], 0o644); err != nil {
			return err
		}
	}
	return tw.Close()
}
