package pki

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"time"
)

// validity is how long every certificate, CA or leaf, is valid. Leaf
// certificates get 10 years too: skiff clusters are throwaway, and a local
// cluster that silently breaks after a year is a worse surprise than a
// long-lived certificate on a developer machine.
const validity = 10 * 365 * 24 * time.Hour

// clockSkew backdates NotBefore so a node whose clock lags the host's still
// accepts freshly issued certificates.
const clockSkew = 5 * time.Minute

// keyPair is a private key and its certificate.
type keyPair struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
}

// certSpec describes a certificate to issue.
type certSpec struct {
	commonName   string
	organization []string
	usages       []x509.ExtKeyUsage
	sans         sans
}

// newCA creates a self-signed CA named commonName.
func newCA(commonName string) (*keyPair, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	return sign(tmpl, tmpl, key, key)
}

// issue creates a leaf certificate for spec, signed by ca.
func (ca *keyPair) issue(spec certSpec) (*keyPair, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: spec.commonName, Organization: spec.organization},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           spec.usages,
		BasicConstraintsValid: true,
		DNSNames:              spec.sans.dns,
		IPAddresses:           spec.sans.ips,
	}
	return sign(tmpl, ca.cert, key, ca.key)
}

// sign creates the certificate tmpl for key, signed by parent's signer. The
// serial number is left nil so crypto/x509 generates a random, RFC 5280
// compliant one.
func sign(tmpl, parent *x509.Certificate, key, signer *ecdsa.PrivateKey) (*keyPair, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("failed to create certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("failed to parse certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return &keyPair{key: key, cert: cert}, nil
}
