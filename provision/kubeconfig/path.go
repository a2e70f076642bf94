package kubeconfig

import (
	"os"
	"path/filepath"
)

// Path returns the kubeconfig file to write: explicit if non-empty, else the
// first non-empty entry of $KUBECONFIG (split with filepath.SplitList), else
// $HOME/.kube/config.
func Path(explicit string) string {
	if explicit != "" {
		return explicit
	}
	for _, p := range filepath.SplitList(os.Getenv("KUBECONFIG")) {
		if p != "" {
			return p
		}
	}
	// Without a home directory, fall back to .kube/config relative to the
	// working directory, as client-go does.
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".kube", "config")
}
