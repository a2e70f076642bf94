package node

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	certs "github.com/skiff-k8s/skiff/provision/pki"
)

// clusterPKI writes a new cluster's PKI and returns its pki directory.
func clusterPKI(t *testing.T, dir string) string {
	t.Helper()
	files, err := certs.Generate(certs.Config{ClusterName: "c", NodeName: "c-control-plane", ServiceCIDR: "10.96.0.0/12"})
	if err != nil {
		t.Fatal(err)
	}
	if err := files.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "pki")
}

// kubeletCert reads and parses dir/kubelet.crt.
func kubeletCert(t *testing.T, dir string) ([]byte, *x509.Certificate) {
	t.Helper()
	return certFile(t, filepath.Join(dir, "kubelet.crt"))
}

// certFile reads and parses a PEM certificate.
func certFile(t *testing.T, path string) ([]byte, *x509.Certificate) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s is not PEM: %q", path, data)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return data, cert
}

func TestEnsureKubeletCert(t *testing.T) {
	dir := clusterPKI(t, t.TempDir())
	ensure := func(ip string) {
		t.Helper()
		if err := ensureKubeletCert(dir, "c-control-plane", ip); err != nil {
			t.Fatal(err)
		}
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	fits := func(ip string) error {
		return checkServingCert(caPEM, filepath.Join(dir, "kubelet.crt"), filepath.Join(dir, "kubelet.key"),
			[]string{"c-control-plane", ip}, time.Now())
	}

	ensure("172.18.0.2") // first boot: there is none
	first, cert := kubeletCert(t, dir)
	var ips []string
	for _, ip := range cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	if !slices.Equal(ips, []string{"172.18.0.2", "127.0.0.1"}) || !slices.Equal(cert.DNSNames, []string{"c-control-plane", "localhost"}) {
		t.Errorf("SANs %v %v", cert.DNSNames, ips)
	}
	if err := fits("172.18.0.2"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, "kubelet.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("kubelet.key: %v, mode %v; want 0600", err, st.Mode().Perm())
	}

	ensure("172.18.0.2") // same address: kept
	if again, _ := kubeletCert(t, dir); !bytes.Equal(again, first) {
		t.Error("certificate reissued although it still fits")
	}

	ensure("172.18.0.9") // Docker gave the node another address
	if err := fits("172.18.0.9"); err != nil {
		t.Errorf("after an address change: %v", err)
	}
	if err := fits("172.18.0.2"); err == nil {
		t.Error("certificate still names the old address")
	}

	// A key that does not match (e.g. an interrupted write) is replaced.
	other, err := os.ReadFile(filepath.Join(dir, "apiserver.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kubelet.key"), other, 0o600); err != nil {
		t.Fatal(err)
	}
	ensure("172.18.0.9")
	if err := fits("172.18.0.9"); err != nil {
		t.Errorf("after a key mismatch: %v", err)
	}
}

func TestEnsureKubeletCertFollowsNewCA(t *testing.T) {
	dir := clusterPKI(t, t.TempDir())
	if err := ensureKubeletCert(dir, "c-control-plane", "172.18.0.2"); err != nil {
		t.Fatal(err)
	}
	// The volume kept the kubelet's certificate; the CA is another.
	newDir := clusterPKI(t, t.TempDir())
	for _, f := range []string{"ca.crt", "ca.key"} {
		data, err := os.ReadFile(filepath.Join(newDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := ensureKubeletCert(dir, "c-control-plane", "172.18.0.2"); err != nil {
		t.Fatal(err)
	}
	_, cert := kubeletCert(t, dir)
	_, caCert := certFile(t, filepath.Join(dir, "ca.crt"))
	if err := cert.CheckSignatureFrom(caCert); err != nil {
		t.Errorf("kubelet certificate is not from the new CA: %v", err)
	}
}

func TestAPIServerVerifiesKubelet(t *testing.T) {
	var args []string
	for _, c := range components(&Config{ServiceSubnet: "10.96.0.0/12", PodSubnet: "10.244.0.0/16"}, "172.18.0.2") {
		if c.name == "kube-apiserver" {
			args = c.args
		}
	}
	if want := "--kubelet-certificate-authority=" + pki("ca.crt"); !slices.Contains(args, want) {
		t.Errorf("kube-apiserver args lack %s: %v", want, args)
	}
}

func TestEnsureAPIServerCert(t *testing.T) {
	dir := clusterPKI(t, t.TempDir())
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	fits := func(names ...string) error {
		return checkServingCert(caPEM, filepath.Join(dir, "apiserver.crt"), filepath.Join(dir, "apiserver.key"), names, time.Now())
	}
	created := []string{"kubernetes.default.svc.cluster.local", "10.96.0.1", "127.0.0.1", "c-control-plane"}
	if err := fits("172.18.0.2"); err == nil {
		t.Fatal("a new cluster's certificate already names the node's address; the test proves nothing")
	}
	if err := ensureAPIServerCert(dir, "172.18.0.2"); err != nil {
		t.Fatal(err)
	}
	if err := fits(append(created, "172.18.0.2")...); err != nil {
		t.Fatalf("after the first boot: %v", err)
	}
	if st, err := os.Stat(filepath.Join(dir, "apiserver.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("apiserver.key: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	first, _ := certFile(t, filepath.Join(dir, "apiserver.crt"))
	if err := ensureAPIServerCert(dir, "172.18.0.2"); err != nil {
		t.Fatal(err)
	}
	if again, _ := certFile(t, filepath.Join(dir, "apiserver.crt")); !bytes.Equal(again, first) {
		t.Error("certificate reissued although it still fits")
	}
	if err := ensureAPIServerCert(dir, "172.18.0.9"); err != nil {
		t.Fatal(err)
	}
	if err := fits(append(created, "172.18.0.9")...); err != nil {
		t.Errorf("after an address change: %v", err)
	}
}

// metrics-server's certificate verifies for the name the aggregator dials,
// against the cluster CA; a second boot keeps it.
func TestEnsureMetricsServerCert(t *testing.T) {
	dir := clusterPKI(t, t.TempDir())
	if err := ensureMetricsServerCert(dir); err != nil {
		t.Fatal(err)
	}
	first, cert := certFile(t, filepath.Join(dir, "metrics-server.crt"))
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "metrics-server.kube-system.svc", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("metrics-server's certificate: %v", err)
	}
	if st, err := os.Stat(filepath.Join(dir, "metrics-server.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("metrics-server.key: %v, %v; want mode 0600", st, err)
	}
	if err := ensureMetricsServerCert(dir); err != nil {
		t.Fatal(err)
	}
	if again, _ := certFile(t, filepath.Join(dir, "metrics-server.crt")); !bytes.Equal(first, again) {
		t.Error("a second boot issued metrics-server's certificate again")
	}
}
