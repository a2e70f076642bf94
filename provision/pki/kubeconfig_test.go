package pki

import (
	"crypto/x509"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// loadCurrent parses a kubeconfig and returns its current context's cluster and user.
func loadCurrent(t *testing.T, data []byte) (*clientcmdapi.Config, *clientcmdapi.Cluster, *clientcmdapi.AuthInfo) {
	t.Helper()
	cfg, err := clientcmd.Load(data)
	if err != nil {
		t.Fatalf("clientcmd.Load() error = %v", err)
	}
	kctx := cfg.Contexts[cfg.CurrentContext]
	if kctx == nil {
		t.Fatalf("current context %q not found", cfg.CurrentContext)
	}
	cluster, user := cfg.Clusters[kctx.Cluster], cfg.AuthInfos[kctx.AuthInfo]
	if cluster == nil || user == nil {
		t.Fatalf("context %q references missing cluster or user", cfg.CurrentContext)
	}
	return cfg, cluster, user
}

func TestComponentKubeconfigs(t *testing.T) {
	t.Parallel()
	f := mustGenerate(t)
	tests := []struct {
		file string
		cn   string
		org  string
	}{
		{"kubeconfig/admin.conf", "kubernetes-admin", "system:masters"},
		{"kubeconfig/controller-manager.conf", "system:kube-controller-manager", "system:masters"},
		{"kubeconfig/scheduler.conf", "system:kube-scheduler", ""},
		{"kubeconfig/kubelet.conf", "system:node:skiff-control-plane", "system:nodes"},
		{"kubeconfig/kube-proxy.conf", "system:kube-proxy", ""},
	}
	roots := x509.NewCertPool()
	roots.AddCert(parseCert(t, f["pki/ca.crt"]))
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			_, cluster, user := loadCurrent(t, f[tt.file])
			if cluster.Server != "https://127.0.0.1:6443" {
				t.Errorf("server = %q, want https://127.0.0.1:6443", cluster.Server)
			}
			if string(cluster.CertificateAuthorityData) != string(f["pki/ca.crt"]) {
				t.Error("certificate-authority-data is not the cluster CA")
			}
			cert := parseCert(t, user.ClientCertificateData)
			if cert.Subject.CommonName != tt.cn {
				t.Errorf("CN = %q, want %q", cert.Subject.CommonName, tt.cn)
			}
			if got := cert.Subject.Organization; (tt.org == "") != (len(got) == 0) || (tt.org != "" && got[0] != tt.org) {
				t.Errorf("O = %q, want %q", got, tt.org)
			}
			opts := x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
			if _, err := cert.Verify(opts); err != nil {
				t.Errorf("client certificate does not verify: %v", err)
			}
			if len(user.ClientKeyData) == 0 {
				t.Error("client-key-data is empty")
			}
		})
	}
}

func TestAdminKubeconfig(t *testing.T) {
	t.Parallel()
	f := mustGenerate(t)
	data, err := f.AdminKubeconfig("skiff-dev", "https://127.0.0.1:41234")
	if err != nil {
		t.Fatalf("AdminKubeconfig() error = %v", err)
	}
	cfg, cluster, user := loadCurrent(t, data)
	if cfg.CurrentContext != "skiff-dev" {
		t.Errorf("current-context = %q, want skiff-dev", cfg.CurrentContext)
	}
	kctx := cfg.Contexts["skiff-dev"]
	if kctx.Cluster != "skiff-dev" || kctx.AuthInfo != "skiff-dev" || len(cfg.Contexts) != 1 {
		t.Errorf("context = %+v (of %d), want cluster and user skiff-dev", kctx, len(cfg.Contexts))
	}
	if cluster.Server != "https://127.0.0.1:41234" {
		t.Errorf("server = %q, want https://127.0.0.1:41234", cluster.Server)
	}
	if string(user.ClientCertificateData) != string(f["pki/admin.crt"]) ||
		string(user.ClientKeyData) != string(f["pki/admin.key"]) {
		t.Error("user credentials are not pki/admin.crt and pki/admin.key")
	}
	if _, err := clientcmd.RESTConfigFromKubeConfig(data); err != nil {
		t.Errorf("RESTConfigFromKubeConfig() error = %v", err)
	}
}

func TestAdminKubeconfigErrors(t *testing.T) {
	t.Parallel()
	f := mustGenerate(t)
	tests := []struct {
		name, context, server string
		files                 Files
	}{
		{"empty context", "", "https://127.0.0.1:1", f},
		{"empty server", "skiff", "", f},
		{"http server", "skiff", "http://127.0.0.1:1", f},
		{"missing admin cert", "skiff", "https://127.0.0.1:1", Files{"pki/ca.crt": f["pki/ca.crt"]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tt.files.AdminKubeconfig(tt.context, tt.server); err == nil {
				t.Error("AdminKubeconfig() error = nil, want error")
			}
		})
	}
}
