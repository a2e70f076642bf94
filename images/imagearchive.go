package images

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/skiff-k8s/skiff/images/archive"
)

// componentImage packs a component's binaries (from buildGo's directory)
// into an image archive, each binary at /<name>. The archive is cached
// under the binaries' own cache key: new binaries get a new archive.
func (b *Builder) componentImage(c GoComponent, bins string) (string, error) {
	out := filepath.Join(b.CacheDir, "images", filepath.Base(bins)+".tar")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	files := map[string]string{}
	for name := range c.Binaries {
		files[name] = filepath.Join(bins, name)
	}
	spec := archive.Spec{Ref: c.Image.Ref, Files: files, Config: v1.Config{Entrypoint: c.Image.Entrypoint}}
	if err := archive.Write(out, spec); err != nil {
		return "", fmt.Errorf("failed to pack %s into %s: %w", c.Name, c.Image.Ref, err)
	}
	return out, nil
}

// buildBusybox cuts the helper image for volume setup pods (sh, mkdir, rm,
// plus nslookup and friends for debugging) out of the node's root
// filesystem: Debian's static busybox comes from the same suite and mirror
// as every other package, so it needs no registry, no apt on the build host
// and no compiler, and it is exactly as patched as the node itself.
func (b *Builder) buildBusybox(ctx context.Context, m *Manifest, rootfs string) (string, error) {
	// Keyed by the root filesystem (itself keyed by suite and packages) and
	// the reference the archive carries.
	h := sha256.Sum256([]byte(filepath.Base(rootfs) + "\n" + m.Busybox.Image))
	out := filepath.Join(b.CacheDir, "images", "busybox-"+hex.EncodeToString(h[:])[:12]+".tar")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	dir, err := os.MkdirTemp(b.CacheDir, "busybox-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "busybox")
	if err := extractFile(rootfs, []string{"usr/bin/busybox", "bin/busybox"}, bin); err != nil {
		return "", fmt.Errorf("failed to take busybox (Debian package %s) from the root filesystem: %w", m.Busybox.Package, err)
	}
	list, err := b.output(ctx, "", nil, bin, "--list")
	if err != nil {
		return "", fmt.Errorf("failed to list busybox applets: %w", err)
	}
	links := map[string]string{}
	for _, applet := range strings.Fields(string(list)) {
		if applet != "busybox" && !strings.Contains(applet, "/") {
			links["bin/"+applet] = "busybox"
		}
	}
	if links["bin/sh"] == "" || links["bin/mkdir"] == "" || links["bin/rm"] == "" {
		return "", fmt.Errorf("busybox from %s lacks sh, mkdir or rm (applets: %s)", m.Busybox.Package, strings.TrimSpace(string(list)))
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	return out, archive.Write(out, archive.Spec{
		Ref:      m.Busybox.Image,
		Files:    map[string]string{"bin/busybox": bin},
		Symlinks: links,
		Config:   v1.Config{Env: []string{"PATH=/bin"}, Cmd: []string{"sh"}},
	})
}

// extractFile copies the first of names found in a tarball (entries may
// start with "./") to dst.
func extractFile(tarball string, names []string, dst string) error {
	f, err := os.Open(tarball)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("none of %s in %s", strings.Join(names, ", "), tarball)
		}
		if err != nil {
			return fmt.Errorf("failed to read %s: %w", tarball, err)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		if hdr.Typeflag != tar.TypeReg || !slices.Contains(names, name) {
			continue
		}
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, tr); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	}
}
