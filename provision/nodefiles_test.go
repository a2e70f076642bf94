package provision

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
)

func tarOf(t *testing.T, files map[string]string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func TestUntarFiles(t *testing.T) {
	t.Parallel()
	// Docker's copy of /snap/data/lib/skiff names entries after the
	// directory's base.
	tarball := map[string]string{
		"skiff/config.json":     `{"clusterName":"dev"}`,
		"skiff/pki/ca.crt":      "CA",
		"skiff/pki/ca.key":      "KEY",
		"skiff/addons/dns.yaml": "unwanted",
		"other/config.json":     "another directory",
	}
	got, err := untarFiles(tarOf(t, tarball), "skiff", []string{"config.json", "pki/ca.crt"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got["config.json"]) != `{"clusterName":"dev"}` || string(got["pki/ca.crt"]) != "CA" {
		t.Errorf("got %q", got)
	}
	_, err = untarFiles(tarOf(t, tarball), "skiff", []string{"config.json", "pki/admin.key"})
	if err == nil || !strings.Contains(err.Error(), "no pki/admin.key") {
		t.Errorf("a missing file: %v, want an error naming it", err)
	}
}
