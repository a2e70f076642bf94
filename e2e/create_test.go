package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCreateAddsAgentLayer runs create with a skiff whose agent layer does
// not exist yet (a copy with other bytes, as after an upgrade): create adds
// it from the base image by itself. The cluster has only DNS and storage,
// so neither the ingress nor the registry port is published, and no CRD
// is served.
func TestCreateAddsAgentLayer(t *testing.T) {
	e2e(t)
	dir := t.TempDir()
	skiff, node := ownNodeImage(t, dir)
	c := &cluster{t: t, name: "e2e-agentlayer", kubeconfig: filepath.Join(dir, "kubeconfig")}
	c.deleteAtEnd()
	r := run(t, 6*time.Minute, c.env(), skiff, "create", "--name", c.name, "--addons", "dns,storage")
	if r.code != 0 {
		t.Fatalf("create with a new skiff and no agent layer:\n%s", r)
	}
	if !strings.Contains(r.stderr, "Installing node agent into "+node) {
		t.Errorf("create should say it added the agent layer %s:\n%s", node, r.stderr)
	}
	if got := c.kubectl("get", "nodes", "-o", "name"); strings.TrimSpace(got) != "node/"+c.name+"-control-plane" {
		t.Errorf("nodes: %q", got)
	}
	// The node image's etcd seed holds the Gateway API's CRDs; a cluster
	// without the gateway addon must not.
	if got := c.kubectl("get", "crd", "-o", "name"); strings.TrimSpace(got) != "" {
		t.Errorf("a cluster without gateway or loadbalancer has CRDs:\n%s", got)
	}
	ports := run(t, time.Minute, nil, "docker", "port", c.name+"-control-plane").stdout
	for _, p := range strings.Split(strings.TrimSpace(ports), "\n") {
		if !strings.HasPrefix(p, "6443/tcp ->") {
			t.Errorf("a cluster without ingress and registry publishes %q (all: %q)", p, ports)
		}
	}
	if strings.Contains(r.stdout, "Registry:") || strings.Contains(r.stdout, "Ingress:") {
		t.Errorf("create prints an ingress or registry the cluster does not have:\n%s", r.stdout)
	}
}
