package provision

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/skiff-k8s/skiff/images/archive"
)

// TestImageSize checks the size ctr reports: the target, the node's
// platform's manifest through an index, its config and layers; another
// platform's content, which the node lacks, is not counted.
func TestImageSize(t *testing.T) {
	arm, amd := "sha256:"+strings.Repeat("a", 64), "sha256:"+strings.Repeat("b", 64)
	blobs := map[string]string{
		"sha256:index": `{"manifests": [
			{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "` + arm + `", "size": 900, "platform": {"os": "linux", "architecture": "arm64"}},
			{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "` + amd + `", "size": 500, "platform": {"os": "linux", "architecture": "amd64"}}]}`,
		amd:             `{"config": {"size": 30}, "layers": [{"size": 1000}, {"size": 2000}]}`,
		"sha256:docker": `{"config": {"size": 7}, "layers": [{"size": 100}]}`,
	}
	read := func(d string) ([]byte, error) {
		if b, ok := blobs[d]; ok {
			return []byte(b), nil
		}
		return nil, status.Error(codes.NotFound, d+" not found")
	}
	amd64 := v1.Platform{OS: "linux", Architecture: "amd64"}
	for _, tc := range []struct {
		name, mediaType, digest string
		size, want              int64
		platform                v1.Platform
	}{
		{"index to the node's manifest", string(types.OCIImageIndex), "sha256:index", 200, 200 + 500 + 30 + 1000 + 2000, amd64},
		{"another platform's content is missing", string(types.OCIImageIndex), "sha256:index", 200, 200 + 900, v1.Platform{OS: "linux", Architecture: "arm64"}},
		{"no manifest for the platform", string(types.OCIImageIndex), "sha256:index", 200, 200, v1.Platform{OS: "linux", Architecture: "s390x"}},
		{"Docker manifest", string(types.DockerManifestSchema2), "sha256:docker", 50, 50 + 7 + 100, amd64},
		{"missing target", string(types.OCIManifestSchema1), "sha256:gone", 50, 50, amd64},
	} {
		got, err := imageSize(read, tc.mediaType, tc.digest, tc.size, tc.platform)
		if err != nil || got != tc.want {
			t.Errorf("%s: imageSize = %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
	if _, err := imageSize(func(string) ([]byte, error) { return []byte("{"), nil }, string(types.OCIManifestSchema1), "sha256:bad", 1, amd64); err == nil {
		t.Error("a malformed manifest gave no error")
	}
}

func TestNodeRefsHas(t *testing.T) {
	const id = "sha256:9874b55b4d3b0dee4493876466ff45de3b7c86a944d22555da74c48283194000"
	r := nodeRefs{
		"skiff.test/hello:v1": "sha256:m1",
		"skiff.test/hello:v2": "sha256:m2",
		id:                    "sha256:m1",
	}
	for _, c := range []struct {
		name, id string
		want     bool
	}{
		{"skiff.test/hello:v1", id, true},
		{"skiff.test/hello:v2", id, false}, // same name, other image
		{"skiff.test/hello:v3", id, false},
		{"skiff.test/hello:v1", "sha256:other", false},
	} {
		if got := r.has(c.name, c.id); got != c.want {
			t.Errorf("has(%s, %s) = %t, want %t", c.name, c.id, got, c.want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"hello":                      "docker.io/library/hello:latest",
		"hello:v1":                   "docker.io/library/hello:v1",
		"skiff.test/hello:v1":        "skiff.test/hello:v1",
		"me/app":                     "docker.io/me/app:latest",
		"localhost:5000/app:1":       "localhost:5000/app:1",
		"registry.k8s.io/pause:3.10": "registry.k8s.io/pause:3.10",
	} {
		got, err := normalize(in)
		if err != nil || got != want {
			t.Errorf("normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := normalize("UPPER:case"); err == nil {
		t.Error("normalize accepted an invalid reference")
	}
}

func writeTestArchive(t *testing.T, ref string) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "img.tar")
	if err := archive.Write(path, archive.Spec{Ref: ref, Files: map[string]string{"app": bin}, Config: v1.Config{Entrypoint: []string{"/app"}}}); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestScanArchiveDocker(t *testing.T) {
	path := writeTestArchive(t, "skiff.test/app:v1")
	imgs, err := scanArchive(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || !reflect.DeepEqual(imgs[0].names, []string{"skiff.test/app:v1"}) || !imgs[0].named || !isID(imgs[0].id) {
		t.Fatalf("scanArchive = %+v", imgs)
	}

	// The same archive gzipped.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	gzPath := path + ".gz"
	if err := os.WriteFile(gzPath, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	gzImgs, err := scanArchive(gzPath)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gzImgs, imgs) {
		t.Errorf("gzipped archive = %+v, want %+v", gzImgs, imgs)
	}
}

func tarFile(t *testing.T, files map[string]string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg})
		tw.Write([]byte(files[name]))
	}
	tw.Close()
	path := filepath.Join(t.TempDir(), "a.tar")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestScanArchiveOCI(t *testing.T) {
	path := tarFile(t, map[string]string{
		"oci-layout": `{"imageLayoutVersion":"1.0.0"}`,
		"index.json": `{"schemaVersion":2,"manifests":[
			{"digest":"sha256:aa","annotations":{"io.containerd.image.name":"hello:v3","org.opencontainers.image.ref.name":"v3"}},
			{"digest":"sha256:bb","annotations":{"org.opencontainers.image.ref.name":"latest"}},
			{"digest":"sha256:cc"}]}`,
	})
	imgs, err := scanArchive(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []archiveImage{
		{names: []string{"docker.io/library/hello:v3"}, named: true, digest: "sha256:aa"},
		{named: true, digest: "sha256:bb"},
		{digest: "sha256:cc"},
	}
	if !reflect.DeepEqual(imgs, want) {
		t.Errorf("scanArchive = %+v, want %+v", imgs, want)
	}
	have := nodeRefs{"docker.io/library/hello:v3": "sha256:aa", "import-2026-11-28:latest": "sha256:bb", "import-2026-11-28@sha256:cc": "sha256:cc", "sha256:" + strings.Repeat("1", 64): "sha256:aa"}
	got, err := importedRefs(path, imgs, have)
	if err != nil {
		t.Fatal(err)
	}
	if w := []string{"docker.io/library/hello:v3", "import-2026-11-28:latest", "import-2026-11-28@sha256:cc"}; !reflect.DeepEqual(got, w) {
		t.Errorf("importedRefs = %q, want %q", got, w)
	}
	if _, err := importedRefs(path, imgs, nodeRefs{}); err == nil {
		t.Error("importedRefs found images the node does not have")
	}
}

func TestScanArchiveRejects(t *testing.T) {
	notTar := filepath.Join(t.TempDir(), "x")
	os.WriteFile(notTar, []byte("hello, not a tar file at all"), 0o644)
	for name, path := range map[string]string{
		"not a tar":   notTar,
		"no metadata": tarFile(t, map[string]string{"etc/hostname": "x"}),
		"bad config":  tarFile(t, map[string]string{"manifest.json": `[{"Config":"x.json","RepoTags":["a:1"]}]`}),
		"empty":       tarFile(t, map[string]string{"manifest.json": `[]`}),
	} {
		if _, err := scanArchive(path); err == nil {
			t.Errorf("%s: scanArchive accepted it", name)
		}
	}
}
