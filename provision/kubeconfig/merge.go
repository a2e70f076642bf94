package kubeconfig

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Merge adds or replaces the cluster, user and context of cfg (a kubeconfig
// with exactly one context, and the cluster and user it references) in the
// file at path and sets current-context to that context, leaving every other
// entry untouched. It creates the file and its directory if missing and
// writes atomically (mode 0600 for a new file, see save), holding the lock
// throughout.
func Merge(path string, cfg []byte) error {
	src, err := clientcmd.Load(cfg)
	if err != nil {
		return fmt.Errorf("failed to parse kubeconfig to merge: %w", err)
	}
	name, kctx, err := single(src)
	if err != nil {
		return err
	}
	if err := mkdirAll(filepath.Dir(path)); err != nil {
		return err
	}
	return withLock(path, func() error {
		dst, _, err := load(path)
		if err != nil {
			return err
		}
		dst.Clusters[kctx.Cluster] = src.Clusters[kctx.Cluster]
		dst.AuthInfos[kctx.AuthInfo] = src.AuthInfos[kctx.AuthInfo]
		dst.Contexts[name] = kctx
		dst.CurrentContext = name
		return save(path, dst)
	})
}

// single returns cfg's only context, checking that its cluster and user exist.
func single(cfg *clientcmdapi.Config) (string, *clientcmdapi.Context, error) {
	if len(cfg.Contexts) != 1 {
		return "", nil, fmt.Errorf("kubeconfig to merge must have exactly one context, has %d", len(cfg.Contexts))
	}
	name := slices.Collect(maps.Keys(cfg.Contexts))[0]
	kctx := cfg.Contexts[name]
	if cfg.Clusters[kctx.Cluster] == nil {
		return "", nil, fmt.Errorf("context %q references missing cluster %q", name, kctx.Cluster)
	}
	if cfg.AuthInfos[kctx.AuthInfo] == nil {
		return "", nil, fmt.Errorf("context %q references missing user %q", name, kctx.AuthInfo)
	}
	return name, kctx, nil
}
