package node

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// ipamPlugin is the pods' CNI IPAM plugin (images/recipe/ipam-main.go.tmpl,
// in the node image): host-local, except that a pod whose sandbox is made
// again after the node restarted (a start, a clone, a restore) asks for
// the address it had. Its EndpointSlices, which still name that address
// until the controller manager catches up (2–3 s into a start), are then
// right at once, so its Services (DNS among them) answer as soon as it
// serves.
const ipamPlugin = "skiff-ipam"

// Where the pods' addresses are kept: host-local's reservations (one file
// per address, holding the container's ID) and the plugin's records (one
// file per pod UID, holding its last address).
const (
	hostLocalDir = "/var/lib/cni/networks/" + cniNetworkName
	stickyDir    = "/var/lib/cni/skiff-ipam"
	// stickyBoot, in stickyDir, is touched at every boot: records older
	// than the previous boot's are of pods that did not run in it.
	stickyBoot = ".boot"
)

// podUID is what a record's file name is.
var podUID = regexp.MustCompile(`^[0-9a-fA-F-]{1,64}$`)

// resetPodAddresses runs at boot, before containerd: every sandbox of the
// last boot died with the node, so all of host-local's reservations are
// freed (their sandboxes' teardown, later, finds nothing to release), and
// the records no pod used in the last boot are dropped.
func resetPodAddresses(hostLocalDir, stickyDir string) error {
	entries, err := os.ReadDir(hostLocalDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pod addresses: %w", err)
	}
	for _, e := range entries {
		if _, err := netip.ParseAddr(e.Name()); err == nil {
			if err := os.Remove(filepath.Join(hostLocalDir, e.Name())); err != nil {
				return fmt.Errorf("pod addresses: %w", err)
			}
		}
	}
	if err := os.MkdirAll(stickyDir, 0o755); err != nil {
		return fmt.Errorf("pod addresses: %w", err)
	}
	boot := filepath.Join(stickyDir, stickyBoot)
	if st, err := os.Stat(boot); err == nil {
		if err := pruneRecords(stickyDir, st.ModTime()); err != nil {
			return err
		}
	}
	// Writing (truncating) the mark sets its modification time to now.
	if err := os.WriteFile(boot, nil, 0o644); err != nil {
		return fmt.Errorf("pod addresses: %w", err)
	}
	return nil
}

// pruneRecords removes the records last written before since.
func pruneRecords(stickyDir string, since time.Time) error {
	entries, err := os.ReadDir(stickyDir)
	if err != nil {
		return fmt.Errorf("pod addresses: %w", err)
	}
	for _, e := range entries {
		if !podUID.MatchString(e.Name()) {
			continue
		}
		if info, err := e.Info(); err == nil && info.ModTime().Before(since) {
			if err := os.Remove(filepath.Join(stickyDir, e.Name())); err != nil {
				return fmt.Errorf("pod addresses: %w", err)
			}
		}
	}
	return nil
}
