package kubeconfig

import (
	"path/filepath"
	"testing"
)

func TestRemove(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		current     string // context merged last, hence current
		remove      string
		wantCurrent string
	}{
		{"removing current clears it", "skiff-a", "skiff-a", ""},
		{"removing another keeps current", "other", "skiff-a", "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "config")
			for _, name := range []string{"other", "skiff-a"} {
				if name != tt.current {
					mustMerge(t, path, clusterConfig(t, name, "https://"+name+":6443"))
				}
			}
			mustMerge(t, path, clusterConfig(t, tt.current, "https://"+tt.current+":6443"))
			if err := Remove(path, tt.remove); err != nil {
				t.Fatalf("Remove() error = %v", err)
			}
			cfg := mustLoad(t, path)
			if cfg.CurrentContext != tt.wantCurrent {
				t.Errorf("current-context = %q, want %q", cfg.CurrentContext, tt.wantCurrent)
			}
			if cfg.Contexts["skiff-a"] != nil || cfg.Clusters["skiff-a"] != nil || cfg.AuthInfos["skiff-a"] != nil {
				t.Error("skiff-a entries still present")
			}
			if cfg.Contexts["other"] == nil || cfg.Clusters["other"] == nil || cfg.AuthInfos["other"] == nil {
				t.Error("unrelated entries were removed")
			}
			assertMode(t, path, 0o600)
		})
	}
}

func TestRemoveKeepsSharedClusterAndUser(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	mustMerge(t, path, clusterConfig(t, "skiff-a", "https://127.0.0.1:1001"))
	// A second context, "alias", shares skiff-a's cluster and user.
	alias := mustLoadBytes(t, clusterConfig(t, "skiff-a", "https://127.0.0.1:1001"))
	alias.Contexts["alias"] = alias.Contexts["skiff-a"]
	delete(alias.Contexts, "skiff-a")
	mustMerge(t, path, mustWrite(t, alias))
	if err := Remove(path, "skiff-a"); err != nil {
		t.Fatalf("Remove() error = %v", err)
	}
	cfg := mustLoad(t, path)
	if cfg.Contexts["skiff-a"] != nil {
		t.Error("context skiff-a still present")
	}
	if cfg.Clusters["skiff-a"] == nil || cfg.AuthInfos["skiff-a"] == nil {
		t.Error("cluster or user still used by context alias was removed")
	}
}

func TestRemoveMissingIsNoop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := Remove(filepath.Join(dir, "nope", "config"), "skiff-a"); err != nil {
		t.Errorf("Remove() on missing file error = %v", err)
	}
	path := filepath.Join(dir, "config")
	mustMerge(t, path, clusterConfig(t, "other", "https://other:6443"))
	if err := Remove(path, "skiff-a"); err != nil {
		t.Errorf("Remove() of missing context error = %v", err)
	}
	if cfg := mustLoad(t, path); cfg.CurrentContext != "other" || cfg.Contexts["other"] == nil {
		t.Errorf("Remove() of missing context changed the file: %+v", cfg)
	}
	assertOnly(t, dir, "config")
}
