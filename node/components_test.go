package node

import (
	"os"
	"path/filepath"
	"testing"

	skiffpki "github.com/skiff-k8s/skiff/provision/pki"
)

func TestIsMaster(t *testing.T) {
	files, err := skiffpki.Generate(skiffpki.Config{ClusterName: "c", NodeName: "c-control-plane", ServiceCIDR: "10.96.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, want := range map[string]bool{"controller-manager": true, "admin": true, "scheduler": false, "kubelet": false} {
		path := filepath.Join(dir, name+".conf")
		if err := os.WriteFile(path, files["kubeconfig/"+name+".conf"], 0o600); err != nil {
			t.Fatal(err)
		}
		if got := isMaster(path); got != want {
			t.Errorf("isMaster(%s) = %t, want %t", name, got, want)
		}
	}
	if isMaster(filepath.Join(dir, "missing.conf")) {
		t.Error("a missing kubeconfig is not a master's")
	}
}
