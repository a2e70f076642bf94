package pki

import (
	"errors"
	"fmt"
	"net/url"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// inNodeServer is the API server address components inside the node use.
const inNodeServer = "https://127.0.0.1:6443"

// kubeconfigNames names a kubeconfig's cluster, user and context.
type kubeconfigNames struct {
	cluster, user, context string
}

// buildKubeconfig returns a YAML kubeconfig that reaches server as the user
// holding cert and key, trusting ca; everything is embedded.
func buildKubeconfig(names kubeconfigNames, server string, ca, cert, key []byte) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = server
	cluster.CertificateAuthorityData = ca
	cfg.Clusters[names.cluster] = cluster
	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificateData = cert
	user.ClientKeyData = key
	cfg.AuthInfos[names.user] = user
	kctx := clientcmdapi.NewContext()
	kctx.Cluster = names.cluster
	kctx.AuthInfo = names.user
	cfg.Contexts[names.context] = kctx
	cfg.CurrentContext = names.context
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to serialize kubeconfig: %w", err)
	}
	return data, nil
}

// AdminKubeconfig returns a kubeconfig (YAML) for the admin user, with
// cluster, user and context all named contextName, current-context set,
// pointing at server (e.g. "https://127.0.0.1:41234").
func (f Files) AdminKubeconfig(contextName, server string) ([]byte, error) {
	if contextName == "" {
		return nil, errors.New("invalid admin kubeconfig: context name must not be empty")
	}
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("failed to parse server URL %q: %w", server, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("invalid admin kubeconfig: server %q must be an https URL with a host", server)
	}
	var missing []string
	for _, name := range []string{"pki/ca.crt", "pki/admin.crt", "pki/admin.key"} {
		if len(f[name]) == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("invalid admin kubeconfig: missing files %v", missing)
	}
	names := kubeconfigNames{cluster: contextName, user: contextName, context: contextName}
	return buildKubeconfig(names, server, f["pki/ca.crt"], f["pki/admin.crt"], f["pki/admin.key"])
}
