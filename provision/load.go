package provision

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	cerrdefs "github.com/containerd/errdefs"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"

	"github.com/skiff-k8s/skiff/internal/cli"
	"github.com/skiff-k8s/skiff/internal/engine"
)

// The kubelet's images live in containerd's CRI namespace; ctr is the only
// client in the node (no crictl).
const (
	ctrPath      = "/usr/local/bin/ctr"
	criNamespace = "k8s.io"
	// ctrTimeout bounds a short ctr command (list, tag).
	ctrTimeout = 30 * time.Second
	// importIdle aborts an import that neither read input nor wrote output
	// for this long; a large image may take longer than any fixed bound.
	importIdle = 5 * time.Minute
	// saveStart bounds how long `docker save` may take to start streaming.
	saveStart = 10 * time.Minute
	// inspectTimeout bounds one inspect call to Docker.
	inspectTimeout = 30 * time.Second
)

// ClusterImage is one image in the node's containerd, as the kubelet sees it.
type ClusterImage struct {
	Ref    string `json:"ref"`    // empty: known only by ID
	ID     string `json:"id"`     // config digest: Docker's image ID
	Digest string `json:"digest"` // the manifest or index digest
	// Size is as ctr reports it, to 0.1 KiB/MiB/GiB, of the node's platform.
	Size int64 `json:"size"`
}

// MissingImagesError names images Docker does not have.
type MissingImagesError struct{ Refs []string }

func (e *MissingImagesError) Error() string {
	return fmt.Sprintf("not found in Docker, nothing loaded: %s (build, pull or `docker load` them first)", strings.Join(e.Refs, ", "))
}

// LoadImages copies images from the host's Docker into the cluster's node,
// streaming `docker save` into `ctr images import` without a temporary file.
// Images the node already has under the same ID are skipped; images it has
// under another name are only tagged. loaded and skipped hold refs as given.
// Byte progress goes to progress (nil: none).
func (p *Provider) LoadImages(ctx context.Context, cluster string, refs []string, progress io.Writer) (loaded, skipped []string, err error) {
	type want struct {
		arg, name, id string
		size          int64
	}
	var wants []want
	var missing []string
	seen := map[string]bool{}
	for _, arg := range refs {
		name, err := normalize(arg)
		if err != nil {
			return nil, nil, err
		}
		if seen[name] {
			continue
		}
		seen[name] = true
		ictx, cancel := context.WithTimeout(ctx, inspectTimeout)
		insp, err := p.docker.ImageInspect(ictx, arg)
		cancel()
		if cerrdefs.IsNotFound(err) {
			missing = append(missing, arg)
			continue
		} else if err != nil {
			return nil, nil, fmt.Errorf("failed to inspect image %s: %w", arg, err)
		}
		if !hasTag(insp.RepoTags, name) {
			// Docker matched an ID or digest; pods need a name.
			return nil, nil, fmt.Errorf("%s is not a tag of image %s (its tags: %s): load it by NAME:TAG, or `docker tag` it first", arg, shortID(insp.ID), orNone(insp.RepoTags))
		}
		wants = append(wants, want{arg: arg, name: name, id: insp.ID, size: insp.Size})
	}
	if len(missing) > 0 {
		return nil, nil, &MissingImagesError{Refs: missing}
	}
	if err := p.running(ctx, cluster); err != nil {
		return nil, nil, err
	}
	have, err := p.nodeRefs(ctx, cluster)
	if err != nil {
		return nil, nil, err
	}
	var save []string
	var total int64
	for _, w := range wants {
		switch {
		case have.has(w.name, w.id), have[w.name] == w.id:
			// The second form: Docker's containerd image store uses the
			// index digest, which the import keeps as the target, as ID.
			skipped = append(skipped, w.arg)
		case have[w.id] != "":
			// Same content under another name: a tag is enough.
			if err := p.tag(ctx, cluster, w.id, w.name); err != nil {
				return loaded, skipped, err
			}
			p.logf("%s was on the node as %s already; tagged it", w.arg, shortID(w.id))
			loaded = append(loaded, w.arg)
		default:
			// The tagged familiar form: `docker save NAME` would save every
			// tag of the repository.
			save = append(save, reference.FamiliarString(mustParse(w.name)))
			total += w.size
		}
	}
	if len(save) == 0 {
		return loaded, skipped, nil
	}
	// The stream can only be bounded by its progress (the import's idle
	// watchdog), but its start can: Docker exports everything before it
	// answers, so the bound is generous.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := time.AfterFunc(saveStart, cancel)
	rc, err := p.docker.ImageSave(sctx, save)
	if !started.Stop() {
		if err == nil {
			rc.Close()
		}
		err = fmt.Errorf("Docker did not start sending them within %s", saveStart)
	}
	if err != nil {
		return loaded, skipped, fmt.Errorf("failed to save %s from Docker: %w", strings.Join(save, ", "), err)
	}
	defer rc.Close()
	desc := fmt.Sprintf("Loading %s into %s", strings.Join(save, ", "), NodeName(cluster))
	if err := p.importStream(ctx, cluster, rc, total, desc, false, progress); err != nil {
		return loaded, skipped, err
	}
	if have, err = p.nodeRefs(ctx, cluster); err != nil {
		return loaded, skipped, err
	}
	for _, w := range wants {
		if slices.Contains(skipped, w.arg) || slices.Contains(loaded, w.arg) {
			continue
		}
		if have[w.name] == "" || have[w.id] != "" && have[w.name] != have[w.id] {
			return loaded, skipped, fmt.Errorf("%s is not on the node after the import: is it a linux/amd64 image?", w.arg)
		}
		loaded = append(loaded, w.arg)
	}
	return loaded, skipped, nil
}

// LoadArchives imports `docker save` or OCI image archives (tar, or tar.gz)
// into the cluster's node, each streamed from its file. An archive whose
// images the node already has (same name and ID, or for OCI archives same
// name and digest) is skipped. loaded and skipped hold the references the
// archives carry, normalized (hello:v1 -> docker.io/library/hello:v1).
func (p *Provider) LoadArchives(ctx context.Context, cluster string, paths []string, progress io.Writer) (loaded, skipped []string, err error) {
	type plan struct {
		path string
		size int64
		imgs []archiveImage
	}
	var plans []plan
	for _, f := range paths {
		st, err := os.Stat(f)
		if err != nil {
			return nil, nil, fmt.Errorf("failed to read image archive: %w", err)
		}
		imgs, err := scanArchive(f)
		if err != nil {
			return nil, nil, err
		}
		plans = append(plans, plan{path: f, size: st.Size(), imgs: imgs})
	}
	if err := p.running(ctx, cluster); err != nil {
		return nil, nil, err
	}
	have, err := p.nodeRefs(ctx, cluster)
	if err != nil {
		return nil, nil, err
	}
	for _, pl := range plans {
		present, unnamed := true, false
		var names []string
		for _, img := range pl.imgs {
			unnamed = unnamed || !img.named
			switch {
			case len(img.names) == 0 && img.id != "":
				present = present && have[img.id] != ""
				names = append(names, img.id)
			case len(img.names) == 0:
				present = false
			}
			for _, n := range img.names {
				if img.id != "" {
					present = present && have.has(n, img.id)
				} else {
					present = present && have[n] == img.digest
				}
				names = append(names, n)
			}
		}
		if present {
			skipped = append(skipped, names...)
			continue
		}
		f, err := os.Open(pl.path)
		if err != nil {
			return loaded, skipped, fmt.Errorf("failed to open image archive: %w", err)
		}
		// Unnamed images are kept by digest; named ones need no digest
		// reference cluttering the list.
		err = p.importStream(ctx, cluster, f, pl.size, "Loading "+pl.path+" into "+NodeName(cluster), unnamed, progress)
		f.Close()
		if err != nil {
			return loaded, skipped, err
		}
		if have, err = p.nodeRefs(ctx, cluster); err != nil {
			return loaded, skipped, err
		}
		got, err := importedRefs(pl.path, pl.imgs, have)
		if err != nil {
			return loaded, skipped, err
		}
		loaded = append(loaded, got...)
	}
	return loaded, skipped, nil
}

// importedRefs finds what an import of imgs left on the node: the names of
// `docker save` images, or the images whose target an OCI index lists.
func importedRefs(file string, imgs []archiveImage, have nodeRefs) ([]string, error) {
	var out []string
	for _, img := range imgs {
		if img.id != "" {
			for _, n := range img.names {
				if have[n] == "" {
					return out, fmt.Errorf("%s from %s is not on the node after the import: is it a linux/amd64 image?", n, file)
				}
				out = append(out, n)
			}
			if len(img.names) == 0 {
				out = append(out, img.id)
			}
			continue
		}
		var found []string
		for _, ref := range slices.Sorted(maps.Keys(have)) {
			if have[ref] == img.digest && !isID(ref) {
				found = append(found, ref)
			}
		}
		if len(found) == 0 {
			return out, fmt.Errorf("image %s from %s is not on the node after the import: is it a linux/amd64 image?", img.digest, file)
		}
		out = append(out, found...)
	}
	return out, nil
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

// archiveImage is one image in an archive: from a `docker save`
// manifest.json its names and ID, from an OCI index.json its digest.
type archiveImage struct {
	names  []string // full names, normalized
	named  bool     // ctr will name it: names, or an OCI tag-only name
	id     string
	digest string
}

// scanArchive reads what images an archive holds, preferring Docker's
// manifest.json (names and IDs) to OCI's index.json. Only the two small
// files are read; the rest of an uncompressed file is skipped by seeking.
func scanArchive(file string) ([]archiveImage, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("failed to read image archive: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	br := bufio.NewReader(f)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", file, err)
		}
		r = zr
	} else if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	var manifest, index []byte
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s is not a `docker save` or OCI image archive (tar or tar.gz): %w", file, err)
		}
		switch path.Clean(h.Name) {
		case "manifest.json":
			manifest, err = io.ReadAll(io.LimitReader(tr, 16<<20))
		case "index.json":
			index, err = io.ReadAll(io.LimitReader(tr, 16<<20))
		}
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", file, err)
		}
	}
	switch {
	case manifest != nil:
		return dockerManifest(file, manifest)
	case index != nil:
		return ociIndex(file, index)
	}
	return nil, fmt.Errorf("%s is not a `docker save` or OCI image archive: it has neither manifest.json nor index.json", file)
}

func dockerManifest(file string, data []byte) ([]archiveImage, error) {
	var m []struct {
		Config   string
		RepoTags []string
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("failed to parse manifest.json in %s: %w", file, err)
	}
	var out []archiveImage
	for _, e := range m {
		// The config's file name is its digest: "<hex>.json" (Docker),
		// "blobs/sha256/<hex>" (Docker 25+) or "sha256:<hex>" (crane).
		hex := strings.TrimPrefix(strings.TrimSuffix(path.Base(e.Config), ".json"), "sha256:")
		if len(hex) != 64 {
			return nil, fmt.Errorf("unexpected config %q in manifest.json of %s", e.Config, file)
		}
		img := archiveImage{id: "sha256:" + hex, named: len(e.RepoTags) > 0}
		for _, t := range e.RepoTags {
			n, err := normalize(t)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			img.names = append(img.names, n)
		}
		out = append(out, img)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no images", file)
	}
	return out, nil
}

func ociIndex(file string, data []byte) ([]archiveImage, error) {
	var idx struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("failed to parse index.json in %s: %w", file, err)
	}
	var out []archiveImage
	for _, m := range idx.Manifests {
		img := archiveImage{digest: m.Digest}
		// ctr names an image by the first of these; a tag-only ref.name gets
		// a generated repository, so what it made is read back afterwards.
		if v := m.Annotations["io.containerd.image.name"]; v != "" {
			n, err := normalize(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			img.names, img.named = []string{n}, true
		}
		img.named = img.named || m.Annotations["org.opencontainers.image.ref.name"] != ""
		out = append(out, img)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no images", file)
	}
	return out, nil
}

// normalize turns a Docker reference into containerd's form:
// hello:v1 -> docker.io/library/hello:v1, hello -> ...hello:latest.
func normalize(ref string) (string, error) {
	n, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	return n.String(), nil
}

func mustParse(normalized string) reference.Named {
	n, err := reference.ParseNormalizedNamed(normalized)
	if err != nil {
		panic(err) // normalize accepted it
	}
	return n
}

func hasTag(repoTags []string, name string) bool {
	for _, t := range repoTags {
		if n, err := normalize(t); err == nil && n == name {
			return true
		}
	}
	return false
}

// isID reports whether ref is CRI's sha256:<config digest> reference.
func isID(ref string) bool {
	hex, ok := strings.CutPrefix(ref, "sha256:")
	return ok && len(hex) == 64
}

func shortID(id string) string {
	hex := strings.TrimPrefix(id, "sha256:")
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

func orNone(tags []string) string {
	if len(tags) == 0 {
		return "none"
	}
	return strings.Join(tags, ", ")
}
