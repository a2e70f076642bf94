package node

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	certs "github.com/skiff-k8s/skiff/provision/pki"
)

// servingRenewBefore is how long before expiry a serving certificate the
// agent issues is replaced at boot.
const servingRenewBefore = 30 * 24 * time.Hour

// ensureKubeletCert gives the kubelet a serving certificate from the
// cluster CA in dir that names the node and its address ip. The API server
// and metrics-server dial the kubelet at its InternalIP and verify it, and
// Docker may give the container another address at every start, so it is
// checked at every boot and reissued only when it no longer fits.
func ensureKubeletCert(dir, nodeName, ip string) error {
	return ensureServingCert(dir, "kubelet", nodeName, nodeName, ip, "localhost", "127.0.0.1")
}

// Names of metrics-server's serving certificate: the API server's
// aggregator dials its Service by the first and verifies it against the
// APIService's caBundle, the cluster CA.
var metricsServerNames = []string{"metrics-server.kube-system.svc", "metrics-server.kube-system.svc." + clusterDomain}

// ensureMetricsServerCert gives metrics-server a serving certificate from
// the cluster CA in dir, so that the API server verifies it instead of
// skipping verification (upstream's manifest), and metrics-server does not
// generate a key at every start.
func ensureMetricsServerCert(dir string) error {
	return ensureServingCert(dir, "metrics-server", metricsServerNames[0], metricsServerNames...)
}

// ensureServingCert keeps dir/base.crt and dir/base.key a serving
// certificate from the cluster CA in dir for every one of names, issuing a
// new one when it is missing, does not fit or expires within
// servingRenewBefore.
func ensureServingCert(dir, base, commonName string, names ...string) error {
	crtFile, keyFile := filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key")
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return fmt.Errorf("failed to read cluster CA: %w", err)
	}
	why := checkServingCert(caPEM, crtFile, keyFile, names, time.Now().Add(servingRenewBefore))
	if why == nil {
		return nil
	}
	caKey, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		return fmt.Errorf("failed to read cluster CA key: %w", err)
	}
	crt, key, err := certs.IssueServingCert(caPEM, caKey, commonName, names...)
	if err != nil {
		return fmt.Errorf("failed to issue %s's serving certificate: %w", base, err)
	}
	// Key first: a boot interrupted in between leaves the old certificate,
	// which does not fit either, so the next boot issues again.
	if err := writeFileAtomic(keyFile, key, 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(crtFile, crt, 0o644); err != nil {
		return err
	}
	log.Printf("issued %s's serving certificate for %s (%v)", base, strings.Join(names, ", "), why)
	return nil
}

// ensureAPIServerCert makes the API server's serving certificate name the
// node's address ip too, keeping every name it has. The API server
// advertises that address (the Service "kubernetes" endpoints, the
// OIDC discovery document's JWKS URL), and clients that dial it verify it;
// the address is known only once the container runs and may change at a
// restart or in a clone, so it is checked at every boot.
func ensureAPIServerCert(dir, ip string) error {
	crtFile, keyFile := filepath.Join(dir, "apiserver.crt"), filepath.Join(dir, "apiserver.key")
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return fmt.Errorf("failed to read cluster CA: %w", err)
	}
	why := checkServingCert(caPEM, crtFile, keyFile, []string{ip}, time.Now())
	if why == nil {
		return nil
	}
	caKey, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		return fmt.Errorf("failed to read cluster CA key: %w", err)
	}
	old, err := os.ReadFile(crtFile)
	if err != nil {
		return fmt.Errorf("failed to read the API server's certificate: %w", err)
	}
	crt, key, err := certs.ExtendServingCert(caPEM, caKey, old, ip)
	if err != nil {
		return fmt.Errorf("failed to reissue the API server's serving certificate for %s: %w", ip, err)
	}
	if err := writeFileAtomic(keyFile, key, 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(crtFile, crt, 0o644); err != nil {
		return err
	}
	log.Printf("reissued the API server's serving certificate for %s (%v)", ip, why)
	return nil
}

// checkServingCert returns why the key pair in crtFile and keyFile is not a
// serving certificate from the CA in caPEM for every one of names, still
// valid at the time at; nil if it is.
func checkServingCert(caPEM []byte, crtFile, keyFile string, names []string, at time.Time) error {
	pair, err := tls.LoadX509KeyPair(crtFile, keyFile)
	if errors.Is(err, os.ErrNotExist) {
		return errors.New("none yet")
	}
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return errors.New("no CA certificate")
	}
	for _, name := range names {
		opts := x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
		if _, err := pair.Leaf.Verify(opts); err != nil {
			return err
		}
	}
	return nil
}
