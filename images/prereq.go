package images

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

// minFreeBytes is what a cold build needs under the cache directory: module
// cache, compiled binaries, the root filesystem and the image tar stream.
const minFreeBytes = 12 << 30

// CheckPrerequisites names every missing tool or resource a base image build
// needs, with the command that installs it on Debian.
func CheckPrerequisites(cacheDir string) error {
	var missing []string
	for _, t := range []struct{ bin, fix string }{
		{"go", "install Go 1.24 or newer from your distribution or go.dev, and put it on PATH"},
		{"debootstrap", "apt-get install -y debootstrap"},
		{"gcc", "apt-get install -y gcc libc6-dev"},
		{"tar", "apt-get install -y tar"},
		{"pkg-config", "apt-get install -y pkg-config libseccomp-dev"},
	} {
		if lookPath(t.bin) != nil {
			missing = append(missing, fmt.Sprintf("%s (%s)", t.bin, t.fix))
		}
	}
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/libseccomp.a"); err != nil && lookPath("pkg-config") == nil {
		if exec.Command("pkg-config", "--exists", "libseccomp").Run() != nil {
			missing = append(missing, "libseccomp (apt-get install -y libseccomp-dev)")
		}
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root privileges (debootstrap needs them: run with sudo)")
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		missing = append(missing, fmt.Sprintf("a writable cache directory %s (%v)", cacheDir, err))
	} else if free, err := freeBytes(cacheDir); err == nil && free < minFreeBytes {
		missing = append(missing, fmt.Sprintf("%d GiB free disk under %s (only %d GiB free: free some space or set XDG_CACHE_HOME elsewhere)", minFreeBytes>>30, cacheDir, free>>30))
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", errMissing, strings.Join(missing, "; "))
	}
	return nil
}

func freeBytes(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
