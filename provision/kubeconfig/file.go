package kubeconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// load reads and parses the kubeconfig at path. A missing file yields an
// empty config and exists == false.
func load(path string) (cfg *clientcmdapi.Config, exists bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return clientcmdapi.NewConfig(), false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("failed to read kubeconfig %s: %w", path, err)
	}
	cfg, err = clientcmd.Load(data)
	if err != nil {
		return nil, true, fmt.Errorf("failed to parse kubeconfig %s (left unchanged): %w", path, err)
	}
	return cfg, true, nil
}

// save writes cfg to path atomically: it writes a temporary file in the
// same directory and renames it over path. If path is a symlink, the file
// it points to is replaced instead. The file keeps its owner and mode (see
// fileAttrs).
func save(path string, cfg *clientcmdapi.Config) error {
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("failed to serialize kubeconfig: %w", err)
	}
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	uid, gid, mode, err := fileAttrs(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("failed to create temporary kubeconfig: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to set mode of %s: %w", tmp.Name(), err)
	}
	if uid >= 0 {
		if err := tmp.Chown(uid, gid); err != nil {
			tmp.Close()
			return fmt.Errorf("failed to set owner of %s: %w", tmp.Name(), err)
		}
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("failed to close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("failed to replace kubeconfig %s: %w", path, err)
	}
	return nil
}

// fileAttrs decides the owner (uid -1: leave it to the writer) and mode
// of the kubeconfig written at path. An existing file keeps its owner (as
// root, which alone may chown: `sudo skiff create` must not take a user's
// file away from them) and its mode if that is no wider than 0600; it gets
// 0600 otherwise, since it holds credentials. A new file is 0600, and
// under sudo it belongs to the invoking user if its directory does.
func fileAttrs(path string) (uid, gid int, mode os.FileMode, err error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		uid, gid, ok := sudoOwner(filepath.Dir(path))
		if !ok {
			return -1, -1, 0o600, nil
		}
		return uid, gid, 0o600, nil
	case err != nil:
		return 0, 0, 0, fmt.Errorf("failed to stat kubeconfig %s: %w", path, err)
	}
	mode = info.Mode().Perm()
	if mode&^0o600 != 0 {
		mode = 0o600
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return -1, -1, mode, nil
	}
	return int(st.Uid), int(st.Gid), mode, nil
}

// sudoOwner returns the user who ran `sudo skiff` (SUDO_UID, SUDO_GID) if
// skiff runs as root that way and dir belongs to that user.
func sudoOwner(dir string) (uid, gid int, ok bool) {
	if os.Geteuid() != 0 {
		return 0, 0, false
	}
	uid, uerr := strconv.Atoi(os.Getenv("SUDO_UID"))
	gid, gerr := strconv.Atoi(os.Getenv("SUDO_GID"))
	if uerr != nil || gerr != nil || uid <= 0 || gid < 0 {
		return 0, 0, false
	}
	info, err := os.Stat(dir)
	if err != nil {
		return 0, 0, false
	}
	st, isUnix := info.Sys().(*syscall.Stat_t)
	if !isUnix || int(st.Uid) != uid {
		return 0, 0, false
	}
	return uid, gid, true
}

// mkdirAll creates dir and its missing parents (mode 0755). Under sudo, a
// directory created inside one the invoking user owns is given to that
// user, so that `sudo skiff create` leaves no root-owned ~/.kube behind.
func mkdirAll(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); errors.Is(err, fs.ErrExist) {
		return nil // made meanwhile by someone else: theirs
	} else if err != nil {
		return fmt.Errorf("failed to create kubeconfig directory: %w", err)
	}
	if uid, gid, ok := sudoOwner(parent); ok {
		if err := os.Lchown(dir, uid, gid); err != nil {
			return fmt.Errorf("failed to give %s to user %d: %w", dir, uid, err)
		}
	}
	return nil
}
