package images

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
)

// addonFilesDir holds, in the node image, the manifests addons apply
// verbatim from upstream modules, one directory per addon (the node agent
// reads them from there: node.AddonFilesDir).
const addonFilesDir = "opt/skiff/addons"

// fetchAddonFiles downloads f's module (through the Go module proxy, like
// every component) and maps each file matching its glob to its path in the
// node image.
func (b *Builder) fetchAddonFiles(ctx context.Context, f AddonFiles, into map[string]string) error {
	info, err := b.download(ctx, f.Module, f.Version)
	if err != nil {
		return err
	}
	matches, err := filepath.Glob(filepath.Join(info.Dir, filepath.FromSlash(f.Files)))
	if err != nil {
		return fmt.Errorf("failed to match %s in %s@%s: %w", f.Files, f.Module, f.Version, err)
	}
	if len(matches) == 0 {
		return fmt.Errorf("no file of %s@%s matches %s", f.Module, f.Version, f.Files)
	}
	for _, src := range matches {
		into[path.Join(addonFilesDir, f.Addon, filepath.Base(src))] = src
	}
	return nil
}
