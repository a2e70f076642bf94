// Image archives (`docker save`, OCI layouts as tar or tar.gz): which
// images one holds, read from its two small index files without reading
// the layers.

package provision

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

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
