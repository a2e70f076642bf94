// Package testapp builds skiff's test workload image, hello (main.go), from
// source: no registry can provide one where skiff runs offline.
package testapp

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/skiff-k8s/skiff/images/archive"
)

// The source is embedded so BuildImage works from any directory and from
// binaries built with -trimpath.
//
//go:embed main.go
var mainSource []byte

// Port is the port `hello serve` listens on by default.
const Port = 8080

// goMod pins the language version: ServeMux's method and {$} patterns
// depend on it.
const goMod = "module skiff.test/hello\n\ngo 1.24\n"

// BuildImage compiles hello statically, stamped with version (empty: "v1"),
// and writes it to dir as a single-layer `docker save` archive tagged ref
// (e.g. skiff.test/hello:v1). Entrypoint /hello, default command serve. The
// Go toolchain must be on PATH. The same source and version always give the
// same image ID.
func BuildImage(ctx context.Context, dir, ref, version string) (archivePath string, err error) {
	if version == "" {
		version = "v1"
	}
	// Absolute, since go build runs in src and -o would be relative to it.
	if dir, err = filepath.Abs(dir); err != nil {
		return "", fmt.Errorf("failed to resolve build directory: %w", err)
	}
	src := filepath.Join(dir, "hello-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", fmt.Errorf("failed to create build directory: %w", err)
	}
	for name, data := range map[string][]byte{"go.mod": []byte(goMod), "main.go": mainSource} {
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			return "", fmt.Errorf("failed to write hello source: %w", err)
		}
	}
	bin := filepath.Join(src, "hello")
	// main.go is named explicitly: its ignore build tag keeps it out of
	// this package but does not apply to files given on the command line.
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", bin, "main.go")
	cmd.Dir = src
	// The image is linux/amd64 whatever the host; GOWORK and GOFLAGS from
	// the caller's environment must not reach into this tiny module.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOWORK=off", "GOFLAGS=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("failed to build hello: %w: %s", err, strings.TrimSpace(out.String()))
	}
	archivePath = filepath.Join(dir, archiveName(ref))
	err = archive.Write(archivePath, archive.Spec{
		Ref:   ref,
		Files: map[string]string{"hello": bin},
		// No User: root, like agnhost, so volume tests can write to
		// hostPath mounts.
		Config: v1.Config{
			Entrypoint:   []string{"/hello"},
			Cmd:          []string{"serve"},
			ExposedPorts: map[string]struct{}{fmt.Sprintf("%d/tcp", Port): {}},
		},
	})
	if err != nil {
		return "", fmt.Errorf("failed to pack %s: %w", ref, err)
	}
	return archivePath, nil
}

// archiveName turns a reference into a file name: skiff.test/hello:v1 ->
// skiff.test_hello_v1.tar.
func archiveName(ref string) string {
	return strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(ref) + ".tar"
}

// LoadIntoDocker runs `docker load -i archivePath`, putting the image where
// a developer's own image would be: in the host's Docker.
func LoadIntoDocker(ctx context.Context, archivePath string) error {
	out, err := exec.CommandContext(ctx, "docker", "load", "-i", archivePath).CombinedOutput()
	if err != nil {
		return fmt.Errorf("failed to docker load %s: %w: %s", archivePath, err, strings.TrimSpace(string(out)))
	}
	return nil
}
