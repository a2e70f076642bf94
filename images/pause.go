package images

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/skiff-k8s/skiff/images/archive"
)

// buildPause compiles Kubernetes' own pause.c (from the kubernetes module)
// statically and packs it as the sandbox image the kubelet expects.
func (b *Builder) buildPause(ctx context.Context, m *Manifest) (string, error) {
	dir := filepath.Join(b.CacheDir, "bin", "pause-"+m.Pause.Version)
	out := filepath.Join(dir, "pause.tar")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	k, _ := m.Component("kubernetes")
	src, err := b.download(ctx, k.Module, k.Version)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "pause")
	if err := b.run(ctx, "", nil, "gcc", "-Os", "-Wall", "-Werror", "-static",
		"-DVERSION="+m.Pause.Version, "-o", bin, filepath.Join(src.Dir, "build/pause/linux/pause.c")); err != nil {
		return "", fmt.Errorf("failed to compile pause: %w", err)
	}
	return out, archive.Write(out, archive.Spec{
		Ref:    m.Pause.Image,
		Files:  map[string]string{"pause": bin},
		Config: v1.Config{Entrypoint: []string{"/pause"}, User: "65535:65535"},
	})
}

// moduleInfo is what `go mod download -json` reports.
type moduleInfo struct{ Dir, GoMod, Error string }

// download fetches module@version into the module cache.
func (b *Builder) download(ctx context.Context, module, version string) (*moduleInfo, error) {
	out, err := b.output(ctx, "", nil, "go", "mod", "download", "-json", module+"@"+version)
	var info moduleInfo
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return nil, fmt.Errorf("failed to download %s@%s: %s", module, version, info.Error)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to download %s@%s from the Go module proxy: %w", module, version, err)
	}
	return &info, nil
}
