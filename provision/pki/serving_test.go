package pki

import (
	"crypto/tls"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
)

func TestIssueServingCert(t *testing.T) {
	t.Parallel()
	f := mustGenerate(t)
	certPEM, keyPEM, err := IssueServingCert(f["pki/ca.crt"], f["pki/ca.key"], "node-1", "node-1", "localhost", "127.0.0.1", "172.18.0.5")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("key does not match certificate: %v", err)
	}
	cert := parseCert(t, certPEM)
	roots := x509.NewCertPool()
	roots.AddCert(parseCert(t, f["pki/ca.crt"]))
	for _, host := range []string{"172.18.0.5", "node-1", "localhost", "127.0.0.1"} {
		opts := x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := cert.Verify(opts); err != nil {
			t.Errorf("Verify(%s): %v", host, err)
		}
	}
	if cert.Subject.CommonName != "node-1" || cert.IsCA || !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("CN %q, IsCA %v, usages %v", cert.Subject.CommonName, cert.IsCA, cert.ExtKeyUsage)
	}
	if err := cert.VerifyHostname("172.18.0.6"); err == nil {
		t.Error("certificate is valid for an address it does not name")
	}
}

func TestIssueServingCertRejectsBadCA(t *testing.T) {
	t.Parallel()
	f := mustGenerate(t)
	for _, tc := range []struct {
		name     string
		crt, key []byte
		want     string
	}{
		{"key of another CA", f["pki/ca.crt"], f["pki/etcd/ca.key"], "does not belong"},
		{"leaf, not a CA", f["pki/apiserver.crt"], f["pki/apiserver.key"], "not a CA"},
		{"not PEM", []byte("junk"), f["pki/ca.key"], "no CERTIFICATE block"},
		{"key not PEM", f["pki/ca.crt"], []byte("junk"), "no EC PRIVATE KEY block"},
	} {
		if _, _, err := IssueServingCert(tc.crt, tc.key, "node-1", "node-1"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

func TestExtendServingCert(t *testing.T) {
	t.Parallel()
	f := mustGenerate(t)
	certPEM, keyPEM, err := ExtendServingCert(f["pki/ca.crt"], f["pki/ca.key"], f["pki/apiserver.crt"], "clone-control-plane")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("key does not match certificate: %v", err)
	}
	old, cert := parseCert(t, f["pki/apiserver.crt"]), parseCert(t, certPEM)
	roots := x509.NewCertPool()
	roots.AddCert(parseCert(t, f["pki/ca.crt"]))
	names := append(slices.Clone(old.DNSNames), "clone-control-plane")
	for _, ip := range old.IPAddresses {
		names = append(names, ip.String())
	}
	for _, host := range names {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("Verify(%s): %v", host, err)
		}
	}
	if cert.Subject.CommonName != old.Subject.CommonName {
		t.Errorf("CN %q, want %q", cert.Subject.CommonName, old.Subject.CommonName)
	}
	if _, _, err := ExtendServingCert(f["pki/ca.crt"], f["pki/ca.key"], []byte("junk")); err == nil {
		t.Error("junk certificate accepted")
	}
}
