// The images in a node's containerd: listing them (ctr, the only client in
// the node), tagging, and importing an archive stream.

package provision

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/skiff-k8s/skiff/internal/cli"
	"github.com/skiff-k8s/skiff/internal/engine"
)

// ClusterImage is one image in the node's containerd, as the kubelet sees it.
type ClusterImage struct {
	Ref    string `json:"ref"`    // empty: known only by ID
	ID     string `json:"id"`     // config digest: Docker's image ID
	Digest string `json:"digest"` // the manifest or index digest
	// Size is as ctr reports it, to 0.1 KiB/MiB/GiB, of the node's platform.
	Size int64 `json:"size"`
}

// Images lists the images in the node's containerd, sorted by reference;
// CRI's own sha256:ID references show as the ID of the image they match.
func (p *Provider) Images(ctx context.Context, cluster string) ([]ClusterImage, error) {
	if err := p.running(ctx, cluster); err != nil {
		return nil, err
	}
	list, err := p.ctrImages(ctx, cluster)
	if err != nil {
		return nil, err
	}
	idOf := map[string]string{}
	for _, img := range list {
		if isID(img.Ref) {
			idOf[img.Digest] = img.Ref
		}
	}
	named := map[string]bool{}
	out := []ClusterImage{}
	for _, img := range list {
		if !isID(img.Ref) {
			img.ID = idOf[img.Digest]
			named[img.Digest] = true
			out = append(out, img)
		}
	}
	for _, img := range list {
		if isID(img.Ref) && !named[img.Digest] {
			out = append(out, ClusterImage{ID: img.Ref, Digest: img.Digest, Size: img.Size})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].Ref != "" && (out[j].Ref == "" || out[i].Ref < out[j].Ref)
	})
	return out, nil
}

// running checks that the cluster exists and its node runs: exec needs it.
func (p *Provider) running(ctx context.Context, cluster string) error {
	ctx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	c, err := p.node(ctx, cluster)
	if err != nil {
		return err
	}
	if c.State == nil || !c.State.Running {
		return fmt.Errorf("cluster %q is not running: start it with `skiff start --name %s`", cluster, cluster)
	}
	return nil
}

// nodeRefs maps every image reference in the node to its target digest.
type nodeRefs map[string]string

// has reports whether the node has image id under name: CRI's sha256:ID
// reference and name point at the same manifest.
func (r nodeRefs) has(name, id string) bool {
	t := r[name]
	return t != "" && t == r[id]
}

func (p *Provider) nodeRefs(ctx context.Context, cluster string) (nodeRefs, error) {
	list, err := p.ctrImages(ctx, cluster)
	if err != nil {
		return nil, err
	}
	refs := nodeRefs{}
	for _, img := range list {
		refs[img.Ref] = img.Digest
	}
	return refs, nil
}

// ctrImages parses `ctr images ls`: REF TYPE DIGEST SIZE(2 words)
// PLATFORMS LABELS. ctr has no machine-readable output.
func (p *Provider) ctrImages(ctx context.Context, cluster string) ([]ClusterImage, error) {
	var out bytes.Buffer
	cmd := []string{ctrPath, "--namespace", criNamespace, "images", "ls"}
	if err := engine.Run(ctx, p.docker, NodeName(cluster), cmd, engine.ExecOptions{Stdout: &out, Timeout: ctrTimeout}); err != nil {
		return nil, fmt.Errorf("failed to list images in the node: %w", err)
	}
	return parseCtrImages(out.String())
}

func parseCtrImages(out string) ([]ClusterImage, error) {
	var list []ClusterImage
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) == 0 {
			continue // header
		}
		if len(f) < 6 || !strings.HasPrefix(f[2], "sha256:") {
			return nil, fmt.Errorf("unexpected line from ctr images ls: %q", line)
		}
		size, err := parseSize(f[3], f[4])
		if err != nil {
			return nil, fmt.Errorf("unexpected size in ctr images ls line %q: %w", line, err)
		}
		list = append(list, ClusterImage{Ref: f[0], Digest: f[2], Size: size})
	}
	return list, nil
}

// parseSize reads ctr's "%.1f UNIT" sizes (binary units).
func parseSize(num, unit string) (int64, error) {
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, err
	}
	for i, u := range []string{"B", "KiB", "MiB", "GiB", "TiB"} {
		if u == unit {
			return int64(v * float64(int64(1)<<(10*i))), nil
		}
	}
	return 0, fmt.Errorf("unknown unit %q", unit)
}

func (p *Provider) tag(ctx context.Context, cluster, src, dst string) error {
	cmd := []string{ctrPath, "--namespace", criNamespace, "images", "tag", "--force", src, dst}
	if err := engine.Run(ctx, p.docker, NodeName(cluster), cmd, engine.ExecOptions{Timeout: ctrTimeout}); err != nil {
		return fmt.Errorf("failed to tag %s as %s in the node: %w", shortID(src), dst, err)
	}
	return nil
}

// importStream pipes an image archive stream into `ctr images import -`,
// counting bytes on progress.
func (p *Provider) importStream(ctx context.Context, cluster string, r io.Reader, size int64, desc string, digests bool, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	// The transfer service unpacks into the default snapshotter, overlayfs,
	// which is also CRI's; only the node's platform is imported.
	cmd := []string{ctrPath, "--namespace", criNamespace, "images", "import"}
	if digests {
		cmd = append(cmd, "--digests")
	}
	cmd = append(cmd, "-")
	bar := cli.NewBytes(progress, size, desc)
	out := &engine.TailBuffer{Max: 16 << 10}
	err := engine.Run(ctx, p.docker, NodeName(cluster), cmd, engine.ExecOptions{Stdin: io.TeeReader(r, bar), Stdout: out, Idle: importIdle})
	if err != nil {
		if cli.IsTerminal(progress) {
			fmt.Fprintln(progress) // end the unfinished bar's line
		}
		return fmt.Errorf("failed to import images into the node: %w", err)
	}
	bar.Done()
	p.logf("ctr: %s", strings.TrimSpace(lastLine(out.String())))
	return nil
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
