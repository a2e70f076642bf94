package pki

import (
	"crypto/x509"
	"fmt"
	"net/netip"
)

var (
	serverAuth = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	clientAuth = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	bothAuth   = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
)

// Generate creates every key, certificate and component kubeconfig a
// single-node cluster described by cfg needs. Keys are generated
// sequentially: ECDSA P-256 is fast enough that concurrency is not worth it.
func Generate(cfg Config) (Files, error) {
	serviceIP, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	f := Files{}
	ca, err := f.ca("pki/ca", cfg.ClusterName+"-ca")
	if err != nil {
		return nil, err
	}
	frontProxyCA, err := f.ca("pki/front-proxy-ca", cfg.ClusterName+"-front-proxy-ca")
	if err != nil {
		return nil, err
	}
	etcdCA, err := f.ca("pki/etcd/ca", cfg.ClusterName+"-etcd-ca")
	if err != nil {
		return nil, err
	}
	if err := f.leaves(cfg, serviceIP, ca, frontProxyCA, etcdCA); err != nil {
		return nil, err
	}
	if err := f.serviceAccountKey(); err != nil {
		return nil, err
	}
	if err := f.componentKubeconfigs(cfg, ca); err != nil {
		return nil, err
	}
	return f, nil
}

// ca creates a CA named commonName and stores it as base.crt and base.key.
func (f Files) ca(base, commonName string) (*keyPair, error) {
	kp, err := newCA(commonName)
	if err != nil {
		return nil, fmt.Errorf("failed to create CA %s: %w", commonName, err)
	}
	if err := f.putPair(base, kp); err != nil {
		return nil, err
	}
	return kp, nil
}

// leaves issues the serving and client certificates that live under pki/.
// The kubelet's serving certificate is not one of them: it must name the
// node's address, which Docker assigns at start, so the node agent issues
// it (IssueServingCert).
func (f Files) leaves(cfg Config, serviceIP netip.Addr, ca, frontProxyCA, etcdCA *keyPair) error {
	var apiserverSANs sans
	apiserverSANs.add("kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local", "localhost", cfg.NodeName, "127.0.0.1")
	apiserverSANs.addIP(serviceIP)
	apiserverSANs.add(cfg.APIServerSANs...)
	var localSANs sans
	localSANs.add(cfg.NodeName, "localhost", "127.0.0.1")

	leaves := []struct {
		base string
		ca   *keyPair
		spec certSpec
	}{
		{"pki/apiserver", ca, certSpec{commonName: "kube-apiserver", usages: serverAuth, sans: apiserverSANs}},
		{"pki/apiserver-kubelet-client", ca, certSpec{commonName: "kube-apiserver-kubelet-client", organization: []string{"system:masters"}, usages: clientAuth}},
		{"pki/front-proxy-client", frontProxyCA, certSpec{commonName: "front-proxy-client", usages: clientAuth}},
		{"pki/etcd/server", etcdCA, certSpec{commonName: cfg.NodeName, usages: bothAuth, sans: localSANs}},
		{"pki/apiserver-etcd-client", etcdCA, certSpec{commonName: "kube-apiserver-etcd-client", usages: clientAuth}},
		// The controller-manager's and scheduler's 127.0.0.1 ports: without
		// a certificate each generates a self-signed RSA one at start, half
		// a second of CPU while the API server starts beside it.
		{"pki/loopback-serving", ca, certSpec{commonName: "loopback-serving", usages: serverAuth, sans: localSANs}},
	}
	for _, l := range leaves {
		kp, err := l.ca.issue(l.spec)
		if err != nil {
			return fmt.Errorf("failed to issue certificate %s: %w", l.base, err)
		}
		if err := f.putPair(l.base, kp); err != nil {
			return err
		}
	}
	return nil
}

// serviceAccountKey creates the key pair that signs service-account tokens.
func (f Files) serviceAccountKey() error {
	priv, pub, err := ServiceAccountKeyPair()
	if err != nil {
		return err
	}
	f["pki/sa.key"] = priv
	f["pki/sa.pub"] = pub
	return nil
}

// ServiceAccountKeyPair returns a new PEM private key and its public key,
// as kube-apiserver's --service-account-signing-key-file and
// --service-account-key-file read them.
func ServiceAccountKeyPair() (priv, pub []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	if priv, err = encodeKey(key); err != nil {
		return nil, nil, err
	}
	if pub, err = encodePublicKey(key); err != nil {
		return nil, nil, err
	}
	return priv, pub, nil
}

// componentKubeconfigs issues a client certificate for each component
// running inside the node and embeds it in kubeconfig/<name>.conf. The admin
// certificate is also kept as pki/admin.crt and pki/admin.key for
// AdminKubeconfig.
func (f Files) componentKubeconfigs(cfg Config, ca *keyPair) error {
	components := []struct {
		file string
		spec certSpec
	}{
		{"admin", certSpec{commonName: "kubernetes-admin", organization: []string{"system:masters"}}},
		// In system:masters: its controllers share this one identity
		// (--use-service-account-credentials=false) instead of each
		// creating a service account and token while the cluster starts.
		// It holds the CA's key, so this gives it nothing it lacked.
		{"controller-manager", certSpec{commonName: "system:kube-controller-manager", organization: []string{"system:masters"}}},
		{"scheduler", certSpec{commonName: "system:kube-scheduler"}},
		{"kubelet", certSpec{commonName: "system:node:" + cfg.NodeName, organization: []string{"system:nodes"}}},
		{"kube-proxy", certSpec{commonName: "system:kube-proxy"}},
	}
	caPEM := f["pki/ca.crt"]
	for _, c := range components {
		c.spec.usages = clientAuth
		kp, err := ca.issue(c.spec)
		if err != nil {
			return fmt.Errorf("failed to issue certificate for %s: %w", c.file, err)
		}
		key, err := encodeKey(kp.key)
		if err != nil {
			return err
		}
		cert := encodeCert(kp.cert.Raw)
		names := kubeconfigNames{cluster: cfg.ClusterName, user: c.spec.commonName,
			context: c.spec.commonName + "@" + cfg.ClusterName}
		data, err := buildKubeconfig(names, inNodeServer, caPEM, cert, key)
		if err != nil {
			return fmt.Errorf("failed to build kubeconfig %s: %w", c.file, err)
		}
		f["kubeconfig/"+c.file+".conf"] = data
		if c.file == "admin" {
			f["pki/admin.crt"] = cert
			f["pki/admin.key"] = key
		}
	}
	return nil
}
