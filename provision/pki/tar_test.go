package pki

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// wantMode returns the mode an entry must have.
func wantMode(t *testing.T, name string) fs.FileMode {
	t.Helper()
	switch {
	case strings.HasSuffix(name, "/"):
		return 0o755
	case strings.HasSuffix(name, ".key"), strings.HasSuffix(name, ".conf"):
		return 0o600
	case strings.HasSuffix(name, ".crt"), strings.HasSuffix(name, ".pub"):
		return 0o644
	}
	t.Fatalf("unexpected file %s", name)
	return 0
}

func TestTar(t *testing.T) {
	t.Parallel()
	f := mustGenerate(t)
	data, err := f.Tar()
	if err != nil {
		t.Fatalf("Tar() error = %v", err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	var names []string
	files := 0
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("failed to read tar: %v", err)
		}
		names = append(names, hdr.Name)
		if got, want := fs.FileMode(hdr.Mode), wantMode(t, hdr.Name); got != want {
			t.Errorf("%s: mode = %o, want %o", hdr.Name, got, want)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 {
			t.Errorf("%s: uid/gid = %d/%d, want 0/0", hdr.Name, hdr.Uid, hdr.Gid)
		}
		if hdr.Typeflag == tar.TypeDir {
			continue
		}
		files++
		content, err := io.ReadAll(tr)
		if err != nil || !bytes.Equal(content, f[hdr.Name]) {
			t.Errorf("%s: content differs from Files (err %v)", hdr.Name, err)
		}
	}
	if files != len(f) {
		t.Errorf("tar has %d files, want %d", files, len(f))
	}
	for _, dir := range []string{"kubeconfig/", "pki/", "pki/etcd/"} {
		if !slices.Contains(names, dir) {
			t.Errorf("tar lacks directory %s", dir)
		}
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("tar entries are not sorted: %q", names)
	}
}

func TestTarRejectsUnsafePaths(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"../etc/passwd", "/etc/passwd", "pki//ca.crt", ""} {
		if _, err := (Files{name: nil}).Tar(); err == nil {
			t.Errorf("Tar() with path %q error = nil, want error", name)
		}
	}
}

func TestWriteDir(t *testing.T) {
	t.Parallel()
	f := mustGenerate(t)
	dir := t.TempDir()
	// A pre-existing key with a loose mode must be tightened.
	if err := os.MkdirAll(filepath.Join(dir, "pki"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pki", "ca.key"), []byte("old"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteDir(dir); err != nil {
		t.Fatalf("WriteDir() error = %v", err)
	}
	for name, content := range f {
		p := filepath.Join(dir, filepath.FromSlash(name))
		got, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(got, content) {
			t.Errorf("%s: content differs (err %v)", name, err)
		}
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := info.Mode().Perm(), wantMode(t, name); got != want {
			t.Errorf("%s: mode = %o, want %o", name, got, want)
		}
	}
	info, err := os.Stat(filepath.Join(dir, "pki", "etcd"))
	if err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("pki/etcd: mode = %v (err %v), want 0755", info.Mode().Perm(), err)
	}
}
