package node

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
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

func TestAPIServingURL(t *testing.T) {
	u, err := url.Parse(apiServingURL())
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Query()["exclude"]; !slices.Equal(got, bootstrapHooks) || u.Path != "/readyz" {
		t.Errorf("%s excludes %v, want %v", u, got, bootstrapHooks)
	}
}

// TestBootstrapOrder: only what has its roles without the bootstrap policy
// starts before it is in etcd.
func TestBootstrapOrder(t *testing.T) {
	for _, u := range components(&Config{ServiceSubnet: "10.96.0.0/16", PodSubnet: "10.244.0.0/16"}, "192.0.2.10") {
		early := slices.Contains(u.after, "kube-apiserver")
		late := slices.Contains(u.after, "api-bootstrapped")
		switch u.name {
		case "kube-controller-manager":
			if !slices.Equal(u.after, []string{"api-healthy"}) {
				t.Errorf("%s after %v, want api-healthy", u.name, u.after)
			}
		case "kube-scheduler", "kube-proxy":
			if early || !late {
				t.Errorf("%s after %v, want api-bootstrapped", u.name, u.after)
			}
		}
	}
}
