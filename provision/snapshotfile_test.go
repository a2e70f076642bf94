package provision

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// writeTestFile writes a snapshot file with a random payload of n bytes.
func writeTestFile(t *testing.T, n int) (string, []byte) {
	t.Helper()
	payload := make([]byte, n)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "s.skiffsnap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := newPayloadWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(payload); err != nil {
		t.Fatal(err)
	}
	if _, err := w.finish(&Snapshot{Name: "snap-1", Cluster: "dev", NodeImage: "skiff/node:x", Bytes: int64(n)}); err != nil {
		t.Fatal(err)
	}
	return path, payload
}

func TestSnapshotFileRoundTrip(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 511, 512, 100_000} {
		path, payload := writeTestFile(t, n)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := verifySnapshotFile(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if m.Snapshot.Name != "snap-1" || m.Payload.Size != int64(n) {
			t.Errorf("%d bytes: manifest %+v", n, m)
		}
		// Any tar reader sees the two members, the payload intact.
		tr := tar.NewReader(bytes.NewReader(data))
		var names []string
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, h.Name)
			if h.Name == payloadMember {
				got, _ := io.ReadAll(tr)
				if !bytes.Equal(got, payload) {
					t.Errorf("%d bytes: payload differs", n)
				}
			}
		}
		if len(names) != 2 || names[0] != manifestMember || names[1] != payloadMember {
			t.Errorf("%d bytes: members %v", n, names)
		}
	}
}

func TestSnapshotFileRefusesDamage(t *testing.T) {
	t.Parallel()
	path, _ := writeTestFile(t, 100_000)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	extra := func() []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		_ = tw.WriteHeader(&tar.Header{Name: "extra", Size: 1, Mode: 0o644})
		_, _ = tw.Write([]byte("x"))
		_ = tw.Close()
		// The good file without its end-of-archive marker, then a member.
		return append(bytes.Clone(good[:len(good)-1024]), buf.Bytes()...)
	}
	for name, data := range map[string][]byte{
		"flipped payload byte": func() []byte { d := bytes.Clone(good); d[payloadOffset+50_000] ^= 1; return d }(),
		"truncated":            good[:len(good)/2],
		"manifest only":        good[:payloadOffset-512],
		"empty":                nil,
		"foreign":              []byte("hello\n"),
		"extra member":         extra(),
	} {
		_, err := verifySnapshotFile(bytes.NewReader(data))
		var fe *SnapshotFileError
		if !errors.As(err, &fe) {
			t.Errorf("%s: got %v, want a SnapshotFileError", name, err)
		}
	}
}
