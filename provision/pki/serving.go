package pki

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// IssueServingCert issues a serving certificate for commonName, valid for
// names (each an IP address or a DNS name), signed by the CA whose PEM
// certificate and private key are given. It returns the certificate and its
// new private key, PEM-encoded. The node agent issues the kubelet's with it
// at boot, the first moment the node's address is known.
func IssueServingCert(caCertPEM, caKeyPEM []byte, commonName string, names ...string) (certPEM, keyPEM []byte, err error) {
	if strings.TrimSpace(commonName) == "" {
		return nil, nil, errors.New("failed to issue serving certificate: empty common name")
	}
	ca, err := parseCA(caCertPEM, caKeyPEM)
	if err != nil {
		return nil, nil, err
	}
	var s sans
	s.add(names...)
	kp, err := ca.issue(certSpec{commonName: commonName, usages: serverAuth, sans: s})
	if err != nil {
		return nil, nil, fmt.Errorf("failed to issue serving certificate %s: %w", commonName, err)
	}
	if keyPEM, err = encodeKey(kp.key); err != nil {
		return nil, nil, err
	}
	return encodeCert(kp.cert.Raw), keyPEM, nil
}

// parseCA decodes a CA as Generate writes it: a certificate and its EC
// private key.
func parseCA(certPEM, keyPEM []byte) (*keyPair, error) {
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, errors.New("failed to parse CA certificate: no CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("failed to parse CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("certificate %q is not a CA", cert.Subject.CommonName)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil || kb.Type != "EC PRIVATE KEY" {
		return nil, errors.New("failed to parse CA key: no EC PRIVATE KEY block")
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("failed to parse CA key: %w", err)
	}
	if pub, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, fmt.Errorf("CA key does not belong to certificate %q", cert.Subject.CommonName)
	}
	return &keyPair{key: key, cert: cert}, nil
}

// ExtendServingCert issues a replacement for the serving certificate in
// certPEM from the same CA: the same common name and subject alternative
// names, plus names. A clone of a snapshot runs under a new container name
// that its API server certificate must carry, while the CA (which pods
// trust through kube-root-ca.crt) stays.
func ExtendServingCert(caCertPEM, caKeyPEM, certPEM []byte, names ...string) (newCertPEM, keyPEM []byte, err error) {
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, nil, errors.New("failed to parse serving certificate: no CERTIFICATE block")
	}
	old, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to parse serving certificate: %w", err)
	}
	all := slices.Clone(old.DNSNames)
	for _, ip := range old.IPAddresses {
		all = append(all, ip.String())
	}
	return IssueServingCert(caCertPEM, caKeyPEM, old.Subject.CommonName, append(all, names...)...)
}
