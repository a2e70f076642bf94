package kubeconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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

// save writes cfg to path atomically with mode 0600: it writes a temporary
// file in the same directory and renames it over path. If path is a
// symlink, the file it points to is replaced instead.
func save(path string, cfg *clientcmdapi.Config) error {
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("failed to serialize kubeconfig: %w", err)
	}
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("failed to create temporary kubeconfig: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to set mode of %s: %w", tmp.Name(), err)
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
