package provision

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
)

// A snapshot file is a plain tar of two members: manifest.json (what the
// snapshot is, and the size and sha256 of the payload) and snapshot.tar
// (the payload: GNU tar of the snapshot's data, made and unpacked by the
// node image's own tar, which keeps owners, hard links, extended
// attributes, device nodes and holes). The payload's size is known only
// once it is written, so the writer leaves room for both headers and the
// manifest (padded with spaces to a fixed size), streams the payload
// behind them and then fills them in: the file is written once, with no
// staging copy.
const (
	snapshotFileFormat = 1
	snapshotFileKind   = "skiff-snapshot"
	manifestMember     = "manifest.json"
	payloadMember      = "snapshot.tar"
	// manifestSize is the manifest's padded size, a multiple of 512.
	manifestSize = 8 << 10
	// payloadOffset is where the payload starts: the manifest's header, the
	// manifest, the payload's header.
	payloadOffset = 512 + manifestSize + 512
)

// snapshotManifest describes a snapshot file.
type snapshotManifest struct {
	Format   int         `json:"format"`
	Kind     string      `json:"kind"`
	Snapshot Snapshot    `json:"snapshot"`
	Payload  payloadInfo `json:"payload"`
}

type payloadInfo struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// SnapshotFileError says a file is not an intact snapshot file.
type SnapshotFileError struct{ Reason string }

func (e *SnapshotFileError) Error() string {
	return "not an intact skiff snapshot file: " + e.Reason + " (a damaged or truncated copy: copy it again)"
}

// payloadWriter streams a payload into f at payloadOffset, counting and
// hashing it.
type payloadWriter struct {
	f    *os.File
	sum  hash.Hash
	size int64
}

func newPayloadWriter(f *os.File) (*payloadWriter, error) {
	if _, err := f.Seek(payloadOffset, io.SeekStart); err != nil {
		return nil, err
	}
	return &payloadWriter{f: f, sum: sha256.New()}, nil
}

func (w *payloadWriter) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	w.sum.Write(b[:n])
	w.size += int64(n)
	return n, err
}

// finish pads the payload, ends the archive and writes the manifest and
// both headers in front.
func (w *payloadWriter) finish(s *Snapshot) (*snapshotManifest, error) {
	// The payload's padding to a whole block, then the end-of-archive
	// marker (two zero blocks).
	pad := (512-w.size%512)%512 + 1024
	if _, err := w.f.Write(make([]byte, pad)); err != nil {
		return nil, err
	}
	m := &snapshotManifest{Format: snapshotFileFormat, Kind: snapshotFileKind, Snapshot: *s,
		Payload: payloadInfo{Name: payloadMember, Size: w.size, SHA256: hex.EncodeToString(w.sum.Sum(nil))}}
	head, err := m.headers()
	if err != nil {
		return nil, err
	}
	_, err = w.f.WriteAt(head, 0)
	return m, err
}

// headers returns the first payloadOffset bytes of the file: the
// manifest's header, the padded manifest and the payload's header. GNU
// headers hold any size in one block (no PAX records), so the payload's
// header has a fixed place.
func (m *snapshotManifest) headers() ([]byte, error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if len(data) >= manifestSize {
		return nil, fmt.Errorf("snapshot manifest is %d bytes, more than the %d reserved", len(data), manifestSize)
	}
	data = append(data, bytes.Repeat([]byte(" "), manifestSize-len(data)-1)...)
	data = append(data, '\n')
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: manifestMember, Mode: 0o644, Size: manifestSize, Format: tar.FormatGNU}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	// WriteHeader writes the header block at once; the payload is already
	// in the file, so the writer is neither flushed nor closed.
	if err := tw.WriteHeader(&tar.Header{Name: payloadMember, Mode: 0o644, Size: m.Payload.Size, Format: tar.FormatGNU}); err != nil {
		return nil, err
	}
	if buf.Len() != payloadOffset {
		return nil, fmt.Errorf("snapshot file headers are %d bytes, want %d", buf.Len(), payloadOffset)
	}
	return buf.Bytes(), nil
}

// readManifest reads the manifest at the start of a snapshot file and
// leaves tr at the payload.
func readManifest(tr *tar.Reader) (*snapshotManifest, error) {
	h, err := tr.Next()
	if err != nil || h.Name != manifestMember {
		return nil, &SnapshotFileError{Reason: "no snapshot manifest at its start"}
	}
	data, err := io.ReadAll(io.LimitReader(tr, manifestSize))
	if err != nil {
		return nil, &SnapshotFileError{Reason: "unreadable manifest: " + err.Error()}
	}
	var m snapshotManifest
	if err := json.Unmarshal(data, &m); err != nil || m.Kind != snapshotFileKind {
		return nil, &SnapshotFileError{Reason: "no snapshot manifest at its start"}
	}
	if m.Format != snapshotFileFormat {
		return nil, fmt.Errorf("snapshot file format %d is not supported by this skiff (format %d)", m.Format, snapshotFileFormat)
	}
	if err := validSnapshotName(m.Snapshot.Name); err != nil {
		return nil, &SnapshotFileError{Reason: err.Error()}
	}
	h, err = tr.Next()
	if err != nil || h.Name != m.Payload.Name || h.Size != m.Payload.Size {
		return nil, &SnapshotFileError{Reason: "the payload does not follow the manifest"}
	}
	return &m, nil
}

// verifySnapshotFile reads a whole snapshot file and checks its manifest
// and the payload's size and sha256, changing nothing.
func verifySnapshotFile(r io.Reader) (*snapshotManifest, error) {
	tr := tar.NewReader(r)
	m, err := readManifest(tr)
	if err != nil {
		return nil, err
	}
	if err := m.checkPayload(tr); err != nil {
		return nil, err
	}
	if _, err := tr.Next(); !errors.Is(err, io.EOF) {
		return nil, &SnapshotFileError{Reason: "more than a manifest and a payload"}
	}
	return m, nil
}

// checkPayload reads the payload to its end and compares it with the
// manifest.
func (m *snapshotManifest) checkPayload(r io.Reader) error {
	sum := sha256.New()
	n, err := io.Copy(sum, r)
	if err != nil {
		return &SnapshotFileError{Reason: "payload: " + err.Error()}
	}
	if n != m.Payload.Size || hex.EncodeToString(sum.Sum(nil)) != m.Payload.SHA256 {
		return &SnapshotFileError{Reason: "the payload does not match its checksum"}
	}
	return nil
}
