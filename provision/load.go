package provision

import (
	"context"
	"fmt"
	cerrdefs "github.com/containerd/errdefs"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
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
