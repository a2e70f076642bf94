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
// starts before it is in etcd, and the controller manager once /healthz
// passes.
func TestBootstrapOrder(t *testing.T) {
	found := map[string]bool{}
	for _, u := range components(&Config{ServiceSubnet: "10.96.0.0/16", PodSubnet: "10.244.0.0/16"}, "192.0.2.10") {
		if u.name != "kube-controllers" {
			continue
		}
		if !slices.Equal(u.after, []string{"api-bootstrapped"}) {
			t.Errorf("%s after %v, want api-bootstrapped", u.name, u.after)
		}
		for _, m := range u.members {
			found[m.Name] = true
			switch m.Name {
			case "kube-controller-manager":
				if !slices.Equal(m.after, []string{"api-healthy"}) || m.AfterFile != apiHealthyMark {
					t.Errorf("%s after %v and %q, want api-healthy and its mark", m.Name, m.after, m.AfterFile)
				}
			case "kube-scheduler", "kube-proxy":
				if len(m.after) > 0 || m.AfterFile != "" {
					t.Errorf("%s waits for %v %q, want only its process", m.Name, m.after, m.AfterFile)
				}
			}
			if m.ready == nil || m.Serving == "" {
				t.Errorf("%s has no readiness check or serving address", m.Name)
			}
		}
	}
	for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kube-proxy"} {
		if !found[name] {
			t.Errorf("%s is not a member of kube-controllers", name)
		}
	}
}
