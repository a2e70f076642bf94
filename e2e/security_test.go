package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
)

// TestKubeletServingCert checks that nothing talks to the kubelet without
// verifying it: its serving certificate comes from the cluster CA and names
// the node's address, the API server is told to verify it, metrics-server
// does too (and the API server verifies metrics-server against the cluster
// CA), and logs, exec and metrics still work; that the API server's
// certificate names the node address it advertises; and that private keys
// in the node, rendered addon manifests included, are readable by root only.
func TestKubeletServingCert(t *testing.T) {
	e2e(t)
	c := newCluster(t, "e2e-sec")
	node := c.name + "-control-plane"
	ip := c.kubectl("get", "node", node, "-o", `jsonpath={.status.addresses[?(@.type=="InternalIP")].address}`)
	if net.ParseIP(ip) == nil {
		t.Fatalf("node InternalIP %q", ip)
	}

	t.Run("kubelet certificate is from the cluster CA for the node IP", func(t *testing.T) {
		c.t = t
		leaf := verifiedAt(t, c, ip, "10250")
		t.Logf("kubelet serves %q, DNS %v, IPs %v", leaf.Subject.CommonName, leaf.DNSNames, leaf.IPAddresses)
	})

	// The address the API server advertises (the Service "kubernetes"
	// endpoints, the JWKS URL of its OIDC discovery document) is the
	// node's: clients that dial it must be able to verify it.
	t.Run("API server certificate names the address it advertises", func(t *testing.T) {
		c.t = t
		ep := c.kubectl("get", "endpointslice", "-n", "default", "-l", "kubernetes.io/service-name=kubernetes",
			"-o", "jsonpath={.items[0].endpoints[0].addresses[0]}")
		if ep != ip {
			t.Fatalf("the Service kubernetes points at %q, not the node's %s", ep, ip)
		}
		leaf := verifiedAt(t, c, ip, "6443")
		t.Logf("the API server serves %q, DNS %v, IPs %v", leaf.Subject.CommonName, leaf.DNSNames, leaf.IPAddresses)
	})

	t.Run("API server verifies the kubelet", func(t *testing.T) {
		c.t = t
		want := "--kubelet-certificate-authority=/var/lib/skiff/pki/ca.crt"
		if args := apiserverArgs(t, node); !strings.Contains(args, want) {
			t.Fatalf("kube-apiserver runs without %s:\n%s", want, args)
		}
	})

	t.Run("metrics-server and the API server verify each other and kubectl top works", func(t *testing.T) {
		c.t = t
		args := c.kubectl("get", "deployment", "-n", "kube-system", "metrics-server", "-o", "jsonpath={.spec.template.spec.containers[0].args}")
		if strings.Contains(args, "insecure") || !strings.Contains(args, "--kubelet-certificate-authority=") {
			t.Fatalf("metrics-server args %s", args)
		}
		// The aggregator checks metrics-server's certificate against the
		// APIService's caBundle, the cluster CA; top below answers only
		// through it.
		if skip := c.kubectl("get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "jsonpath={.spec.insecureSkipTLSVerify}"); skip == "true" {
			t.Fatal("APIService v1beta1.metrics.k8s.io skips verifying metrics-server's certificate")
		}
		bundle, err := base64.StdEncoding.DecodeString(c.kubectl("get", "apiservice", "v1beta1.metrics.k8s.io", "-o", "jsonpath={.spec.caBundle}"))
		ca := c.kubectl("get", "configmap", "-n", "kube-system", "kube-root-ca.crt", "-o", `jsonpath={.data.ca\.crt}`)
		if err != nil || strings.TrimSpace(string(bundle)) != strings.TrimSpace(ca) || ca == "" {
			t.Fatalf("APIService v1beta1.metrics.k8s.io caBundle (%v):\n%s\nwant the cluster CA:\n%s", err, bundle, ca)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			r := run(t, time.Minute, c.env(), "kubectl", "--context", "skiff-"+c.name, "top", "nodes")
			if r.code == 0 && strings.Contains(r.stdout, node) {
				t.Logf("kubectl top nodes:\n%s", r.stdout)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("kubectl top nodes did not answer:\n%s\nmetrics-server log:\n%s", r,
					run(t, time.Minute, c.env(), "kubectl", "--context", "skiff-"+c.name, "logs", "-n", "kube-system", "deploy/metrics-server", "--tail=20"))
			}
			time.Sleep(2 * time.Second)
		}
	})

	t.Run("kubectl logs and exec go through the verified kubelet", func(t *testing.T) {
		c.t = t
		c.mustSkiff(3*time.Minute, "load", "archive", helloArchive(t), "--name", c.name)
		c.kubectl("run", "sec-app", "--image=skiff.test/hello:v1", "--image-pull-policy=Never")
		c.kubectl("wait", "--for=condition=Ready", "pod/sec-app", "--timeout=120s")
		if logs := c.kubectl("logs", "sec-app"); !strings.Contains(logs, "listening on") {
			t.Errorf("kubectl logs: %q", logs)
		}
		if out := c.kubectl("exec", "sec-app", "--", "/hello", "read", "/etc/hostname"); !strings.Contains(out, "sec-app") {
			t.Errorf("kubectl exec: %q", out)
		}
	})

	t.Run("private keys are mode 0600", func(t *testing.T) {
		c.t = t
		// Keys and kubeconfigs in the PKI, and every rendered addon
		// manifest (one may hold a Secret).
		r := run(t, time.Minute, nil, "docker", "exec", node, "find", "/var/lib/skiff",
			"(", "-name", "*.key", "-o", "-path", "/var/lib/skiff/kubeconfig/*", "-o", "-path", "/var/lib/skiff/addons/*", ")",
			"-type", "f", "-printf", "%m %p\n")
		if r.code != 0 {
			t.Fatalf("find: %s", r)
		}
		files := strings.Split(strings.TrimSpace(r.stdout), "\n")
		var keys int
		for _, f := range files {
			mode, path, _ := strings.Cut(f, " ")
			if mode != "600" {
				t.Errorf("%s has mode %s, want 600", path, mode)
			}
			if strings.HasSuffix(path, ".key") {
				keys++
			}
		}
		t.Logf("modes:\n%s", r.stdout)
		if keys < 5 || !strings.Contains(r.stdout, "/var/lib/skiff/pki/kubelet.key") || !strings.Contains(r.stdout, "/var/lib/skiff/addons/") {
			t.Errorf("expected the PKI keys, kubelet.key and addon manifests, found:\n%s", r.stdout)
		}
	})

	// A new pod's ConfigMaps must not wait for the Node authorizer's graph
	// (the kubelet's refused list backs off a second or more), and the node
	// must still read only its pods' Secrets. Asked for a namespace no pod
	// uses, where the graph alone would refuse both.
	t.Run("the node reads ConfigMaps without the authorizer's graph, not Secrets", func(t *testing.T) {
		c.t = t
		for resource, want := range map[string]bool{"configmaps": true, "secrets": false} {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User:   "system:node:" + node,
				Groups: []string{"system:nodes", "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: "e2e-no-pods-here", Verb: "list", Resource: resource,
				},
			}}
			got, err := c.clientset().AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("SubjectAccessReview: %v", err)
			}
			if got.Status.Allowed != want {
				t.Errorf("node %s may list %s in a namespace without its pods: %t, want %t (%s)", node, resource, got.Status.Allowed, want, got.Status.Reason)
			}
		}
	})
}

// apiserverArgs returns kube-apiserver's command line in the node, found by
// the PID in the agent's status.
func apiserverArgs(t *testing.T, node string) string {
	t.Helper()
	r := run(t, time.Minute, nil, "docker", "exec", node, "cat", "/var/lib/skiff/status.json")
	var st struct {
		Components []struct {
			Name string `json:"name"`
			PID  int    `json:"pid"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status.json: %v\n%s", err, r)
	}
	for _, comp := range st.Components {
		if comp.Name == "kube-apiserver" && comp.PID > 0 {
			r := run(t, time.Minute, nil, "docker", "exec", node, "cat", "/proc/"+strconv.Itoa(comp.PID)+"/cmdline")
			return strings.ReplaceAll(r.stdout, "\x00", " ")
		}
	}
	t.Fatalf("no running kube-apiserver in status.json:\n%s", r.stdout)
	return ""
}

// verifiedAt dials ip:port with the cluster CA of c's kubeconfig and
// ServerName the IP, so the handshake verifies the chain and the IP SAN as
// an in-cluster client does, and returns the served certificate.
func verifiedAt(t *testing.T, c *cluster, ip, port string) *x509.Certificate {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(c.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kctx := cfg.Contexts["skiff-"+c.name]
	if kctx == nil || cfg.Clusters[kctx.Cluster] == nil {
		t.Fatalf("kubeconfig has no cluster for context skiff-%s", c.name)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(cfg.Clusters[kctx.Cluster].CertificateAuthorityData) {
		t.Fatal("kubeconfig has no CA certificate")
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(ip, port), &tls.Config{RootCAs: roots, ServerName: ip})
	if err != nil {
		t.Fatalf("TLS to %s:%s, verified with the cluster CA: %v", ip, port, err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}
