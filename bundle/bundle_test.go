package bundle

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// writeBundle packs members into a bundle the way Save does.
func writeBundle(t *testing.T, m *Manifest, members map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	stage := filepath.Join(dir, "stage")
	for _, name := range []string{nodeImageName, binaryName(runtime.GOOS, runtime.GOARCH)} {
		if err := m.stage(stage, name, strings.NewReader(members[name])); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "b.skiff")
	if err := m.pack(stage, out, io.Discard); err != nil {
		t.Fatal(err)
	}
	return out
}

func newManifest() *Manifest {
	return &Manifest{Format: Format, OS: runtime.GOOS, Arch: runtime.GOARCH, NodeImage: "skiff/node:x"}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	members := map[string]string{nodeImageName: strings.Repeat("image", 1000), binaryName(runtime.GOOS, runtime.GOARCH): "#!binary"}
	good := writeBundle(t, newManifest(), members)
	if m, err := Verify(good); err != nil || m.NodeImage != "skiff/node:x" || len(m.Files) != 2 {
		t.Fatalf("Verify(good) = %+v, %v", m, err)
	}

	corrupt := filepath.Join(t.TempDir(), "corrupt")
	data, _ := os.ReadFile(good)
	i := strings.Index(string(data), "imageimage")
	data[i] ^= 0xff
	os.WriteFile(corrupt, data, 0o644)
	var ce *CorruptError
	if _, err := Verify(corrupt); !errors.As(err, &ce) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("corrupted member: got %v", err)
	}

	truncated := filepath.Join(t.TempDir(), "truncated")
	os.WriteFile(truncated, data[:len(data)/2], 0o644)
	if _, err := Verify(truncated); !errors.As(err, &ce) {
		t.Errorf("truncated bundle: got %v", err)
	}

	other := newManifest()
	other.Arch = "riscv64"
	if _, err := Verify(writeBundle(t, other, members)); err == nil || !strings.Contains(err.Error(), "riscv64") {
		t.Errorf("other architecture: got %v", err)
	}

	notBundle := filepath.Join(t.TempDir(), "x")
	os.WriteFile(notBundle, []byte("hello"), 0o644)
	if _, err := Verify(notBundle); !errors.As(err, &ce) {
		t.Errorf("not a bundle: got %v", err)
	}
}

func TestInstallBinaryIsIdempotent(t *testing.T) {
	t.Parallel()
	b := writeBundle(t, newManifest(), map[string]string{nodeImageName: "i", binaryName(runtime.GOOS, runtime.GOARCH): "#!skiff"})
	dir := t.TempDir()
	path, changed, err := installBinary(b, dir)
	if err != nil || !changed {
		t.Fatalf("first install: %s %t %v", path, changed, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o755 {
		t.Errorf("installed mode %v", st.Mode())
	}
	if _, changed, err := installBinary(b, dir); err != nil || changed {
		t.Errorf("second install should be a no-op: changed=%t err=%v", changed, err)
	}
}

// TestInstallFileKeepsOthers: kubectl is installed beside skiff only where
// no other file is; skiff replaces an older skiff.
func TestInstallFileKeepsOthers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	dst := filepath.Join(dir, "kubectl")
	src := func(content string) string {
		f := filepath.Join(dir, ".new")
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	if changed, kept, err := installFile(src("v1"), dst, false); err != nil || !changed || kept {
		t.Fatalf("install into an empty dir: changed=%t kept=%t err=%v", changed, kept, err)
	}
	if changed, kept, err := installFile(src("v1"), dst, false); err != nil || changed || kept {
		t.Errorf("same bytes again: changed=%t kept=%t err=%v", changed, kept, err)
	}
	if changed, kept, err := installFile(src("users-own"), dst, false); err != nil || changed || !kept {
		t.Errorf("other bytes, no replace: changed=%t kept=%t err=%v", changed, kept, err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "v1" {
		t.Errorf("kept file now holds %q", b)
	}
	if changed, _, err := installFile(src("v2"), dst, true); err != nil || !changed {
		t.Errorf("replace: changed=%t err=%v", changed, err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "v2" {
		t.Errorf("replaced file holds %q", b)
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o755 {
		t.Errorf("installed mode %v", st.Mode())
	}
}
