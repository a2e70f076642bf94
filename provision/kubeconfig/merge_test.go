package kubeconfig

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestMergeIntoMissingFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "nested", ".kube")
	path := filepath.Join(dir, "config")
	mustMerge(t, path, clusterConfig(t, "skiff-a", "https://127.0.0.1:1001"))
	cfg := mustLoad(t, path)
	if cfg.CurrentContext != "skiff-a" || cfg.Clusters["skiff-a"].Server != "https://127.0.0.1:1001" {
		t.Errorf("merged config = %+v, want context skiff-a at port 1001", cfg)
	}
	assertMode(t, path, 0o600)
	assertOnly(t, dir, "config")
}

func TestMergeKeepsOthersAndSwitchesContext(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	mustMerge(t, path, clusterConfig(t, "other", "https://other.example:6443"))
	mustMerge(t, path, clusterConfig(t, "skiff-a", "https://127.0.0.1:1001"))
	cfg := mustLoad(t, path)
	if cfg.CurrentContext != "skiff-a" {
		t.Errorf("current-context = %q, want skiff-a", cfg.CurrentContext)
	}
	if c := cfg.Clusters["other"]; c == nil || c.Server != "https://other.example:6443" ||
		cfg.AuthInfos["other"] == nil || cfg.AuthInfos["other"].Token != "token-other" || cfg.Contexts["other"] == nil {
		t.Errorf("unrelated entries were changed: %+v", cfg)
	}
}

func TestMergeTwiceReplaces(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	mustMerge(t, path, clusterConfig(t, "skiff-a", "https://127.0.0.1:1001"))
	mustMerge(t, path, clusterConfig(t, "skiff-a", "https://127.0.0.1:2002"))
	cfg := mustLoad(t, path)
	if len(cfg.Clusters) != 1 || len(cfg.AuthInfos) != 1 || len(cfg.Contexts) != 1 {
		t.Errorf("got %d clusters, %d users, %d contexts, want 1 each", len(cfg.Clusters), len(cfg.AuthInfos), len(cfg.Contexts))
	}
	if got := cfg.Clusters["skiff-a"].Server; got != "https://127.0.0.1:2002" {
		t.Errorf("server = %q, want the second merge's https://127.0.0.1:2002", got)
	}
}

func TestMergeForcesMode0600(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, clusterConfig(t, "other", "https://other.example:6443"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustMerge(t, path, clusterConfig(t, "skiff-a", "https://127.0.0.1:1001"))
	assertMode(t, path, 0o600)
}

func TestMergeConcurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("skiff-%02d", i)
			errs <- Merge(path, clusterConfig(t, name, fmt.Sprintf("https://127.0.0.1:%d", 40000+i)))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Merge() error = %v", err)
		}
	}
	cfg := mustLoad(t, path)
	for i := range n {
		name := fmt.Sprintf("skiff-%02d", i)
		if cfg.Contexts[name] == nil || cfg.Clusters[name] == nil || cfg.AuthInfos[name] == nil {
			t.Errorf("entries for %s lost in concurrent merge", name)
		}
	}
	assertOnly(t, dir, "config")
}

func TestMergeLeavesCorruptFileUnchanged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	corrupt := []byte("apiVersion: v1\nclusters: {{{ not yaml\n")
	if err := os.WriteFile(path, corrupt, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Merge(path, clusterConfig(t, "skiff-a", "https://127.0.0.1:1001")); err == nil {
		t.Fatal("Merge() into corrupt file error = nil, want error")
	}
	if err := Remove(path, "skiff-a"); err == nil {
		t.Fatal("Remove() from corrupt file error = nil, want error")
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, corrupt) {
		t.Errorf("corrupt file changed to %q (err %v)", got, err)
	}
	assertMode(t, path, 0o644)
	assertOnly(t, dir, "config")
}

func TestMergeRejectsBadInput(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "config")
	two := clusterConfig(t, "a", "https://a:1")
	cfg := mustLoadBytes(t, two)
	cfg.Contexts["b"] = cfg.Contexts["a"]
	tests := map[string][]byte{
		"not yaml":        []byte("{{{"),
		"no context":      []byte("apiVersion: v1\nkind: Config\n"),
		"two contexts":    mustWrite(t, cfg),
		"missing cluster": []byte("apiVersion: v1\nkind: Config\ncontexts:\n- name: x\n  context: {cluster: nope, user: x}\nusers:\n- name: x\n  user: {token: t}\n"),
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if err := Merge(path, data); err == nil {
				t.Error("Merge() error = nil, want error")
			}
		})
	}
}

func TestMergeThroughSymlink(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "real-config")
	link := filepath.Join(dir, "config")
	mustMerge(t, target, clusterConfig(t, "other", "https://other.example:6443"))
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlinks unsupported: %v", err)
	}
	mustMerge(t, link, clusterConfig(t, "skiff-a", "https://127.0.0.1:1001"))
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("symlink %s was replaced by a regular file", link)
	}
	if cfg := mustLoad(t, target); cfg.Contexts["skiff-a"] == nil || cfg.Contexts["other"] == nil {
		t.Error("symlink target does not hold both contexts")
	}
}
