package images

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// slimPaths are removed from the root filesystem: documentation, apt and
// dpkg state a node never reads. Nothing may stay under /var that a node
// does not need: Docker copies the image's /var into every new cluster's
// volume as the container is created, about 40 ms per MB of dpkg's small
// files.
var slimPaths = []string{
	"usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
	"var/cache", "var/lib/apt", "var/lib/dpkg", "var/log",
}

// buildRootfs makes (or reuses) a tarball of a minimal Debian root
// filesystem with the manifest's packages.
func (b *Builder) buildRootfs(ctx context.Context, m *Manifest) (string, error) {
	return b.debianRootfs(ctx, m.Debian.Suite, m.Debian.Packages)
}

// DebianRootfs makes (or reuses, under cacheDir/rootfs) the tarball of a
// minimal Debian root filesystem of suite with packages, as the node
// image's; debootstrap's output goes to log.
func DebianRootfs(ctx context.Context, cacheDir string, log io.Writer, suite string, packages []string) (string, error) {
	b := &Builder{CacheDir: cacheDir, log: log}
	return b.debianRootfs(ctx, suite, packages)
}

func (b *Builder) debianRootfs(ctx context.Context, suite string, packages []string) (string, error) {
	h := sha256.Sum256([]byte(suite + "\n" + strings.Join(packages, ",") + "\n" + strings.Join(slimPaths, ",")))
	out := filepath.Join(b.CacheDir, "rootfs", suite+"-"+hex.EncodeToString(h[:])[:12]+".tar")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	mirror, err := DebianMirror()
	if err != nil {
		return "", err
	}
	dir := out + ".d"
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := b.run(ctx, "", nil, "debootstrap", "--variant=minbase",
		"--include="+strings.Join(packages, ","), suite, dir, mirror); err != nil {
		return "", fmt.Errorf("failed to bootstrap Debian %s from %s: %w", suite, mirror, err)
	}
	for _, p := range slimPaths {
		if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
			return "", err
		}
	}
	tmp := out + ".tmp"
	if err := b.run(ctx, "", nil, "tar", "--numeric-owner", "-C", dir, "-cf", tmp, "."); err != nil {
		return "", fmt.Errorf("failed to pack root filesystem: %w", err)
	}
	return out, os.Rename(tmp, out)
}

// DebianMirror returns the Debian mirror apt already uses, so the build goes
// wherever this machine is allowed to reach.
func DebianMirror() (string, error) {
	if uri := deb822URI("/etc/apt/sources.list.d/debian.sources"); uri != "" {
		return uri, nil
	}
	if f, err := os.Open("/etc/apt/sources.list"); err == nil {
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			fields := strings.Fields(s.Text())
			if len(fields) >= 3 && fields[0] == "deb" && !strings.Contains(fields[1], "security") {
				u := fields[1]
				if strings.HasPrefix(u, "[") {
					u = fields[2]
				}
				return u, nil
			}
		}
	}
	return "", fmt.Errorf("no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d/debian.sources: configure apt first")
}

func deb822URI(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, stanza := range strings.Split(string(data), "\n\n") {
		var uri string
		for _, line := range strings.Split(stanza, "\n") {
			if v, ok := strings.CutPrefix(line, "URIs:"); ok {
				uri = strings.Fields(v)[0]
			}
		}
		if uri != "" && !strings.Contains(uri, "security") {
			return uri
		}
	}
	return ""
}
