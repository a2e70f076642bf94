// Package bundle writes and reads one-file bundles: everything needed to
// create clusters on a machine that has only Docker — the node image (with
// its preloaded addon images), the skiff binary, any extra images and
// snapshots — with a manifest of versions and sha256 checksums.
package bundle

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
)

// Format is the bundle layout version.
const Format = 1

// Member names inside the bundle (a plain tar, manifest first).
const (
	manifestName  = "manifest.json"
	nodeImageName = "node-image.tar"
	extraName     = "images.tar"
)

// Manifest describes a bundle.
type Manifest struct {
	Format    int               `json:"format"`
	OS        string            `json:"os"`
	Arch      string            `json:"arch"`
	Skiff     string            `json:"skiffVersion"`
	NodeImage string            `json:"nodeImage"`
	Versions  map[string]string `json:"versions"`
	Images    []string          `json:"images,omitempty"`
	// Snapshots are skiff snapshots, each a snapshot file member.
	Snapshots []string `json:"snapshots,omitempty"`
	Files     []File   `json:"files"`
}

// File is one member with its checksum.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// snapshotName is where a snapshot's file sits in a bundle.
func snapshotName(snap string) string { return "snapshots/" + snap + ".skiffsnap" }

// binaryName is where the skiff executable sits in a bundle.
func binaryName(goos, arch string) string { return "bin/skiff-" + goos + "-" + arch }

// CorruptError says a bundle cannot be trusted.
type CorruptError struct{ Reason string }

func (e *CorruptError) Error() string {
	return "bundle is damaged or incomplete: " + e.Reason + " (copy it again)"
}

// Verify reads the whole bundle and checks its manifest, architecture and
// every member's size and checksum, changing nothing.
func Verify(path string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	h, err := tr.Next()
	if err != nil || h.Name != manifestName {
		return nil, &CorruptError{Reason: "no manifest at its start"}
	}
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(tr, 1<<20)).Decode(&m); err != nil {
		return nil, &CorruptError{Reason: "unreadable manifest: " + err.Error()}
	}
	if m.Format != Format {
		return nil, fmt.Errorf("bundle format %d is not supported by this skiff (format %d): use the skiff binary inside it", m.Format, Format)
	}
	if m.OS != runtime.GOOS || m.Arch != runtime.GOARCH {
		return nil, fmt.Errorf("bundle is for %s/%s, this machine is %s/%s: make one on a %s/%s machine", m.OS, m.Arch, runtime.GOOS, runtime.GOARCH, runtime.GOOS, runtime.GOARCH)
	}
	want := map[string]File{}
	for _, file := range m.Files {
		want[file.Name] = file
	}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &CorruptError{Reason: err.Error()}
		}
		w, ok := want[h.Name]
		if !ok {
			return nil, &CorruptError{Reason: "unexpected member " + h.Name}
		}
		sum := sha256.New()
		n, err := io.Copy(sum, tr)
		if err != nil {
			return nil, &CorruptError{Reason: fmt.Sprintf("%s: %v", h.Name, err)}
		}
		if n != w.Size || hex.EncodeToString(sum.Sum(nil)) != w.SHA256 {
			return nil, &CorruptError{Reason: h.Name + " does not match its checksum"}
		}
		delete(want, h.Name)
	}
	for name := range want {
		return nil, &CorruptError{Reason: name + " is missing"}
	}
	return &m, nil
}

// member opens one member of a verified bundle for reading.
func member(path, name string) (io.ReadCloser, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("bundle member %s: %w", name, err)
		}
		if h.Name == name {
			return struct {
				io.Reader
				io.Closer
			}{tr, f}, h.Size, nil
		}
	}
}
