package testapp

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/images/archive"
)

func TestBuildImage(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no Go toolchain on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const ref = "skiff.test/hello:v1"
	path, err := BuildImage(ctx, t.TempDir(), ref, "v1")
	if err != nil {
		t.Fatal(err)
	}
	tags, err := archive.Tags(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 1 || tags[0] != ref {
		t.Fatalf("archive tags = %q, want [%q]", tags, ref)
	}
}
