package k8se2e

import (
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/skiff-k8s/skiff/images"
)

// buildBusybox compiles upstream BusyBox from the manifest's release
// tarball, checked against its pinned SHA-256: defconfig, static, without
// tc (which no longer builds against current kernel headers, and no spec
// runs). The binary is cached under cacheDir/bin; compiler output goes to
// log.
func buildBusybox(ctx context.Context, cacheDir string, log io.Writer, c images.Conformance) (string, error) {
	if len(c.Busybox.SHA256) < 12 || c.Busybox.Source == "" {
		return "", fmt.Errorf("versions manifest: conformance.busybox needs source and sha256")
	}
	out := filepath.Join(cacheDir, "bin", "busybox-"+c.Busybox.SHA256[:12], "busybox")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	mirror, err := images.DebianMirror()
	if err != nil {
		return "", err
	}
	work := filepath.Join(cacheDir, "work", "busybox-"+c.Busybox.SHA256[:12])
	if err := os.RemoveAll(work); err != nil {
		return "", err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "src.tar.bz2")
	url := strings.TrimSuffix(mirror, "/") + "/" + c.Busybox.Source
	if err := download(ctx, url, src, c.Busybox.SHA256); err != nil {
		return "", err
	}
	f, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer f.Close()
	untar := exec.CommandContext(ctx, "tar", "-x", "-C", work, "--strip-components=1")
	untar.Stdin, untar.Stdout, untar.Stderr = bzip2.NewReader(f), log, log
	if err := untar.Run(); err != nil {
		return "", fmt.Errorf("failed to unpack %s: %w", url, err)
	}
	steps := [][]string{
		{"make", "defconfig"},
		{"sed", "-i", "-e", "s/^# CONFIG_STATIC is not set/CONFIG_STATIC=y/", "-e", "s/^CONFIG_TC=y/# CONFIG_TC is not set/", ".config"},
		{"make", fmt.Sprintf("-j%d", runtime.NumCPU()), "busybox"},
	}
	for _, s := range steps {
		cmd := exec.CommandContext(ctx, s[0], s[1:]...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = work, log, log
		fmt.Fprintf(log, "+ %s\n", strings.Join(s, " "))
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("busybox: %s: %w", strings.Join(s, " "), err)
		}
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	return out, os.Rename(filepath.Join(work, "busybox"), out)
}

// busyboxApplets lists the binary's applets, each a name under /bin.
func busyboxApplets(ctx context.Context, busybox string) ([]string, error) {
	out, err := exec.CommandContext(ctx, busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", busybox, err)
	}
	var applets []string
	for _, a := range strings.Fields(string(out)) {
		if a != "busybox" {
			applets = append(applets, a)
		}
	}
	if len(applets) == 0 {
		return nil, fmt.Errorf("%s lists no applets", busybox)
	}
	return applets, nil
}

// download fetches url to path and fails unless its SHA-256 is sum.
func download(ctx context.Context, url, path, sum string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("download %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
		return fmt.Errorf("download %s: %w", url, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("download %s: SHA-256 %s, the manifest pins %s", url, got, sum)
	}
	return f.Close()
}
