package pki

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"sort"
	"testing"
	"time"
)

func TestGenerateFileSet(t *testing.T) {
	t.Parallel()
	f := mustGenerate(t)
	want := []string{
		"kubeconfig/admin.conf", "kubeconfig/controller-manager.conf", "kubeconfig/kube-proxy.conf",
		"kubeconfig/kubelet.conf", "kubeconfig/scheduler.conf",
		"pki/admin.crt", "pki/admin.key",
		"pki/apiserver-etcd-client.crt", "pki/apiserver-etcd-client.key",
		"pki/apiserver-kubelet-client.crt", "pki/apiserver-kubelet-client.key",
		"pki/apiserver.crt", "pki/apiserver.key",
		"pki/ca.crt", "pki/ca.key",
		"pki/etcd/ca.crt", "pki/etcd/ca.key", "pki/etcd/server.crt", "pki/etcd/server.key",
		"pki/front-proxy-ca.crt", "pki/front-proxy-ca.key",
		"pki/front-proxy-client.crt", "pki/front-proxy-client.key",
		"pki/loopback-serving.crt", "pki/loopback-serving.key",
		"pki/sa.key", "pki/sa.pub",
	}
	var got []string
	for name := range f {
		got = append(got, name)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("Generate() files =\n%q\nwant\n%q", got, want)
	}
}

func TestGenerateCertificatesVerify(t *testing.T) {
	t.Parallel()
	f := mustGenerate(t)
	server := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	tests := []struct {
		base   string
		ca     string
		cn     string
		org    []string
		usages []x509.ExtKeyUsage
	}{
		{"pki/apiserver", "pki/ca", "kube-apiserver", nil, server},
		{"pki/apiserver-kubelet-client", "pki/ca", "kube-apiserver-kubelet-client", []string{"system:masters"}, client},
		{"pki/admin", "pki/ca", "kubernetes-admin", []string{"system:masters"}, client},
		{"pki/front-proxy-client", "pki/front-proxy-ca", "front-proxy-client", nil, client},
		{"pki/etcd/server", "pki/etcd/ca", "skiff-control-plane", nil, server},
		{"pki/etcd/server", "pki/etcd/ca", "skiff-control-plane", nil, client},
		{"pki/apiserver-etcd-client", "pki/etcd/ca", "kube-apiserver-etcd-client", nil, client},
	}
	for _, tt := range tests {
		t.Run(tt.base+"/"+tt.usages[0].String(), func(t *testing.T) {
			t.Parallel()
			cert := parseCert(t, f[tt.base+".crt"])
			if cert.Subject.CommonName != tt.cn || !slices.Equal(cert.Subject.Organization, tt.org) {
				t.Errorf("subject = %q %q, want %q %q", cert.Subject.CommonName, cert.Subject.Organization, tt.cn, tt.org)
			}
			roots := x509.NewCertPool()
			roots.AddCert(parseCert(t, f[tt.ca+".crt"]))
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: tt.usages}); err != nil {
				t.Errorf("Verify() against %s error = %v", tt.ca, err)
			}
			if _, err := tls.X509KeyPair(f[tt.base+".crt"], f[tt.base+".key"]); err != nil {
				t.Errorf("key does not match certificate: %v", err)
			}
			if cert.IsCA {
				t.Error("leaf certificate is a CA")
			}
			if got := time.Until(cert.NotAfter); got < 9*365*24*time.Hour {
				t.Errorf("certificate valid for %v, want about 10 years", got)
			}
		})
	}
}

func TestGenerateCAsAreDistinct(t *testing.T) {
	t.Parallel()
	f := mustGenerate(t)
	cns := map[string]string{
		"pki/ca.crt":             "skiff-ca",
		"pki/front-proxy-ca.crt": "skiff-front-proxy-ca",
		"pki/etcd/ca.crt":        "skiff-etcd-ca",
	}
	for name, cn := range cns {
		ca := parseCert(t, f[name])
		if !ca.IsCA || ca.Subject.CommonName != cn {
			t.Errorf("%s: IsCA=%v CN=%q, want CA %q", name, ca.IsCA, ca.Subject.CommonName, cn)
		}
	}
	// A front-proxy client must not be accepted by the cluster CA.
	roots := x509.NewCertPool()
	roots.AddCert(parseCert(t, f["pki/ca.crt"]))
	opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := parseCert(t, f["pki/front-proxy-client.crt"]).Verify(opts); err == nil {
		t.Error("front-proxy-client verifies against the cluster CA, want a separate CA")
	}
}

func TestGenerateSANs(t *testing.T) {
	t.Parallel()
	f := mustGenerate(t)
	tests := []struct {
		name string
		dns  []string
		ips  []string
	}{
		{
			name: "pki/apiserver.crt",
			dns: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc",
				"kubernetes.default.svc.cluster.local", "localhost", "skiff-control-plane", "api.example.test"},
			ips: []string{"127.0.0.1", "10.96.0.1", "203.0.113.7"},
		},
		{name: "pki/etcd/server.crt", dns: []string{"skiff-control-plane", "localhost"}, ips: []string{"127.0.0.1"}},
		{name: "pki/loopback-serving.crt", dns: []string{"skiff-control-plane", "localhost"}, ips: []string{"127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cert := parseCert(t, f[tt.name])
			if !slices.Equal(cert.DNSNames, tt.dns) {
				t.Errorf("DNSNames = %q, want %q (deduplicated)", cert.DNSNames, tt.dns)
			}
			var ips []string
			for _, ip := range cert.IPAddresses {
				ips = append(ips, ip.String())
			}
			if !slices.Equal(ips, tt.ips) {
				t.Errorf("IPAddresses = %q, want %q (deduplicated)", ips, tt.ips)
			}
			for _, host := range append(tt.dns, tt.ips...) {
				if err := cert.VerifyHostname(host); err != nil {
					t.Errorf("VerifyHostname(%q) error = %v", host, err)
				}
			}
		})
	}
}

func TestGenerateServiceAccountKey(t *testing.T) {
	t.Parallel()
	f := mustGenerate(t)
	privBlock, _ := pem.Decode(f["pki/sa.key"])
	pubBlock, _ := pem.Decode(f["pki/sa.pub"])
	if privBlock == nil || privBlock.Type != "EC PRIVATE KEY" {
		t.Fatalf("pki/sa.key is not an EC PRIVATE KEY PEM block")
	}
	if pubBlock == nil || pubBlock.Type != "PUBLIC KEY" {
		t.Fatalf("pki/sa.pub is not a PUBLIC KEY PEM block")
	}
	priv, err := x509.ParseECPrivateKey(privBlock.Bytes)
	if err != nil {
		t.Fatalf("failed to parse sa.key: %v", err)
	}
	pub, err := x509.ParsePKIXPublicKey(pubBlock.Bytes)
	if err != nil {
		t.Fatalf("failed to parse sa.pub: %v", err)
	}
	if ecPub, ok := pub.(*ecdsa.PublicKey); !ok || !priv.PublicKey.Equal(ecPub) {
		t.Error("sa.pub is not the public half of sa.key")
	}
}

func TestGenerateTiming(t *testing.T) {
	t.Parallel()
	const runs = 10
	start := time.Now()
	for range runs {
		mustGenerate(t)
	}
	t.Logf("Generate took %v on average over %d runs", time.Since(start)/runs, runs)
}
