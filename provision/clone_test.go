package provision

import (
	"crypto/x509"
	"encoding/pem"
	"slices"
	"strings"
	"testing"

	"github.com/skiff-k8s/skiff/node"
	"github.com/skiff-k8s/skiff/provision/pki"
)

func testClone(t *testing.T) *clone {
	t.Helper()
	files, err := pki.Generate(pki.Config{ClusterName: "dev", NodeName: "dev-control-plane", ServiceCIDR: "10.96.0.0/16", APIServerSANs: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	return &clone{
		snap: &Snapshot{Name: "warm", Cluster: "dev", NodeImage: "skiff/node:v1", NodeName: "dev-control-plane"},
		config: node.Config{ClusterName: "dev", NodeName: "dev-control-plane", PodSubnet: "10.245.0.0/16", ServiceSubnet: "10.97.0.0/16",
			DNSIP: "10.97.0.10", KubeProxyMode: "nftables", Addons: []string{"dns", "storage"}, LoadBalancerPool: "172.30.130.0/24", RegistryPort: 5001,
			NodeLabels: map[string]string{"tier": "ci"}},
		pki: files,
	}
}

func TestCloneConfig(t *testing.T) {
	t.Parallel()
	c := testClone(t)
	cfg := &Config{Name: "ci-1"}
	if err := c.applyTo(cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Image != "skiff/node:v1" || cfg.PodSubnet != "10.245.0.0/16" || cfg.ServiceSubnet != "10.97.0.0/16" ||
		cfg.KubeProxyMode != "nftables" || !slices.Equal(cfg.Addons, []string{"dns", "storage"}) || cfg.NodeLabels["tier"] != "ci" {
		t.Errorf("create config from the snapshot: %+v", cfg)
	}
	if err := c.applyTo(&Config{Name: "ci-2", Image: "skiff/node:v2"}); err == nil || !strings.Contains(err.Error(), "drop --image") {
		t.Errorf("another node image: %v", err)
	}
	nc := c.nodeConfig("ci-1")
	if nc.ClusterName != "ci-1" || nc.NodeName != "dev-control-plane" || nc.DNSIP != "10.97.0.10" {
		t.Errorf("node config: %+v", nc)
	}
	if c.config.ClusterName != "dev" {
		t.Error("nodeConfig changed the snapshot's config")
	}
}

func TestCloneStateFiles(t *testing.T) {
	t.Parallel()
	c := testClone(t)
	files, err := c.stateFiles("ci-1", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := files["forget-pods"]; !ok {
		t.Error("no forget-pods marker")
	}
	for _, f := range []string{"pki/ca.key", "pki/sa.key", "pki/etcd/server.crt"} {
		if _, ok := files[f]; ok {
			t.Errorf("%s is rewritten: the snapshot's must stay", f)
		}
	}
	b, _ := pem.Decode(files["pki/apiserver.crt"])
	crt, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(c.pki["pki/ca.crt"])
	for _, name := range []string{"ci-1-control-plane", "dev-control-plane", "kubernetes.default.svc", "127.0.0.1", "10.96.0.1"} {
		if _, err := crt.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("API server certificate for %s: %v", name, err)
		}
	}
}
