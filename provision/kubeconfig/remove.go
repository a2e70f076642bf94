package kubeconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Remove deletes the context named name from the file at path, and the
// cluster and user it references unless another context still uses them;
// current-context is cleared if it was that context. A missing file or
// entry is not an error. It holds the lock throughout.
func Remove(path, name string) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("failed to stat kubeconfig %s: %w", path, err)
	}
	return withLock(path, func() error {
		cfg, exists, err := load(path)
		if err != nil || !exists {
			return err
		}
		kctx, found := cfg.Contexts[name]
		if !found && cfg.CurrentContext != name {
			return nil
		}
		delete(cfg.Contexts, name)
		if cfg.CurrentContext == name {
			cfg.CurrentContext = ""
		}
		if found {
			clusterUsed, userUsed := false, false
			for _, other := range cfg.Contexts {
				clusterUsed = clusterUsed || other.Cluster == kctx.Cluster
				userUsed = userUsed || other.AuthInfo == kctx.AuthInfo
			}
			if !clusterUsed {
				delete(cfg.Clusters, kctx.Cluster)
			}
			if !userUsed {
				delete(cfg.AuthInfos, kctx.AuthInfo)
			}
		}
		return save(path, cfg)
	})
}
