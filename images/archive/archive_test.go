package archive

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestWriteFilesAndSymlinks(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "busybox")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "img.tar")
	spec := Spec{
		Ref:      "skiff.local/busybox:test",
		Files:    map[string]string{"bin/busybox": bin},
		Symlinks: map[string]string{"bin/sh": "busybox", "bin/mkdir": "busybox"},
		Config:   v1.Config{Env: []string{"PATH=/bin"}},
	}
	if err := Write(out, spec); err != nil {
		t.Fatal(err)
	}
	tags, err := Tags(out)
	if err != nil || !slices.Equal(tags, []string{"skiff.local/busybox:test"}) {
		t.Fatalf("Tags = %v, %v", tags, err)
	}
	img, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %v, %v", layers, err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var got []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(h.Typeflag)+" "+h.Name+" "+h.Linkname)
	}
	want := []string{"5 bin/ ", "0 bin/busybox ", "2 bin/mkdir busybox", "2 bin/sh busybox"}
	if !slices.Equal(got, want) {
		t.Errorf("layer entries = %q, want %q", got, want)
	}
}
