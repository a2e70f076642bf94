package pki

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
)

// testConfig is a valid Config used across tests.
var testConfig = Config{
	ClusterName:   "skiff",
	NodeName:      "skiff-control-plane",
	ServiceCIDR:   "10.96.0.0/12",
	APIServerSANs: []string{"127.0.0.1", "skiff-control-plane", "203.0.113.7", "api.example.test", "api.example.test"},
}

// mustGenerate generates Files for testConfig or fails the test.
func mustGenerate(t *testing.T) Files {
	t.Helper()
	f, err := Generate(testConfig)
	if err != nil {
		t.Fatalf("Generate() error = %v", err)
	}
	return f
}

// parseCert parses the single PEM certificate in data.
func parseCert(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("not a single PEM certificate: %q", data)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("failed to parse certificate: %v", err)
	}
	return cert
}
