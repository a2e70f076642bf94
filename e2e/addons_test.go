package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestAddons checks each cloud service on one cluster, as a user would:
// DNS from a pod, ingress and LoadBalancer addresses from the host, metrics,
// the registry, and turning an addon off and on.
func TestAddons(t *testing.T) {
	e2e(t)
	created := time.Now()
	c := newCluster(t, "e2e-addons")
	httpPort, httpsPort, registryPort := addonPorts(c)
	// create returns once the ingress and the registry answer on their
	// host ports: each asked once, at once.
	direct := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	for _, u := range []string{fmt.Sprintf("http://127.0.0.1:%d/", httpPort), fmt.Sprintf("http://127.0.0.1:%d/v2/", registryPort)} {
		resp, err := direct.Get(u)
		if err != nil {
			t.Errorf("right after create, GET %s: %v", u, err)
			continue
		}
		resp.Body.Close()
	}
	twoApps(c)

	t.Run("metrics: kubectl top within a minute of create", func(t *testing.T) {
		c.t = t
		deadline := created.Add(2 * time.Minute)
		for {
			r := run(t, time.Minute, c.env(), "kubectl", "--context", "skiff-"+c.name, "top", "pods", "-A")
			if r.code == 0 && strings.Contains(r.stdout, "coredns") {
				t.Logf("kubectl top answered %s after create began", time.Since(created).Round(time.Second))
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("kubectl top pods did not answer:\n%s", r)
			}
			time.Sleep(2 * time.Second)
		}
	})

	t.Run("dns: services by name, outside names fail fast", func(t *testing.T) {
		c.t = t
		out := runPod(c, "dns", "lookup", "kubernetes.default", "one", "two.default.svc.cluster.local")
		if !strings.Contains(out, "kubernetes.default -> 10.96.0.1") {
			t.Errorf("kubernetes.default did not resolve to 10.96.0.1:\n%s", out)
		}
		start := time.Now()
		startPod(c, "offline", "lookup", "no-such-host.example")
		deadline := time.Now().Add(time.Minute)
		for c.kubectl("get", "pod", "offline", "-o", "jsonpath={.status.phase}") != "Failed" {
			if time.Now().After(deadline) {
				t.Fatalf("lookup of an outside name did not fail within a minute")
			}
			time.Sleep(300 * time.Millisecond)
		}
		t.Logf("outside name failed after %s (pod start included)", time.Since(start).Round(100*time.Millisecond))
	})

	t.Run("ingress: rules, path types, default backend, TLS, updates", func(t *testing.T) {
		c.t = t
		certPEM := tlsSecret(c, "secure", "secure.local")
		applyYAML(c, ingressYAML)
		base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
		// Rules route to "one"; what no rule matches goes to the default
		// backend, "two".
		for _, tc := range []struct{ host, path, want string }{
			{"hello.local", "/", "hello from one"},
			{"paths.local", "/prefix/deeper", "hello from one"},
			{"paths.local", "/prefix", "hello from one"},
			{"paths.local", "/prefixed", "hello from two"},
			{"paths.local", "/exact", "hello from one"},
			{"paths.local", "/exact/more", "hello from two"},
			{"paths.local", "/impl/x", "hello from one"},
			{"unknown.local", "/", "hello from two"},
		} {
			waitHTTP(t, base+tc.path, tc.host, nil, tc.want)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(certPEM)
		waitHTTP(t, fmt.Sprintf("https://127.0.0.1:%d/", httpsPort), "secure.local", &tls.Config{RootCAs: pool, ServerName: "secure.local"}, "hello from one")
		c.kubectl("patch", "ingress", "hosts", "--type=json", `-p=[{"op":"replace","path":"/spec/rules/0/http/paths/0/backend/service/name","value":"two"}]`)
		waitHTTP(t, base+"/", "hello.local", nil, "hello from two")
		if addr := c.kubectl("get", "ingress", "hosts", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"); net.ParseIP(addr) == nil {
			t.Errorf("Ingress status.loadBalancer is %q, want an address", addr)
		}
	})

	t.Run("loadbalancer: two services on one port, reachable from the host", func(t *testing.T) {
		c.t = t
		addrs := map[string]string{}
		for _, app := range []string{"one", "two"} {
			c.kubectl("expose", "deployment", app, "--name="+app+"-lb", "--type=LoadBalancer", "--port=80", "--target-port=8080")
			addrs[app] = lbAddress(c, app+"-lb")
			waitHTTP(t, "http://"+addrs[app]+"/", "", nil, "hello from "+app)
		}
		if addrs["one"] == addrs["two"] {
			t.Fatalf("both services got %s", addrs["one"])
		}
		c.kubectl("delete", "svc", "two-lb")
		deadline := time.Now().Add(time.Minute)
		for httpStatus("http://"+addrs["two"]+"/", "") != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s still answers after its Service was deleted", addrs["two"])
			}
			time.Sleep(500 * time.Millisecond)
		}
	})

	t.Run("loadbalancer: spec.loadBalancerIP; disabled, no Service is held", func(t *testing.T) {
		c.t = t
		ctx := context.Background()
		svcs := c.clientset().CoreV1().Services("default")
		one := lbAddress(c, "one-lb")
		asked := netip.MustParseAddr(one).As4()
		asked[3] = 200
		want := netip.AddrFrom4(asked).String()
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "asks-lb"},
			Spec: corev1.ServiceSpec{
				Type:           corev1.ServiceTypeLoadBalancer,
				LoadBalancerIP: want,
				Selector:       map[string]string{"app": "two"},
				Ports:          []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		}
		if _, err := svcs.Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := lbAddress(c, "asks-lb"); got != want {
			t.Fatalf("Service asking for %s got %s", want, got)
		}
		waitHTTP(t, "http://"+want+"/", "", nil, "hello from two")

		// Off: the addresses leave the Services' status and stop
		// answering, and a Service deletes at once (no finalizer left
		// for a controller that no longer runs).
		c.mustSkiff(3*time.Minute, "addons", "disable", "loadbalancer", "--name", c.name)
		if got := c.kubectl("get", "svc", "one-lb", "-o", "jsonpath={.status.loadBalancer.ingress}{.metadata.finalizers}"); got != "" {
			t.Errorf("with loadbalancer disabled, one-lb still has status or finalizers: %s", got)
		}
		deadline := time.Now().Add(30 * time.Second)
		for httpStatus("http://"+one+"/", "") != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s still answers with the loadbalancer addon disabled", one)
			}
			time.Sleep(500 * time.Millisecond)
		}
		c.kubectl("delete", "svc", "asks-lb", "--timeout=30s")
		// Ingress status then says 127.0.0.1, where the host reaches it.
		if got := c.kubectl("get", "svc", "-n", "kube-system", "traefik", "-o", "jsonpath={.spec.type}"); got != "ClusterIP" {
			t.Errorf("with loadbalancer disabled, Service traefik is of type %s, want ClusterIP", got)
		}

		c.mustSkiff(3*time.Minute, "addons", "enable", "loadbalancer", "--name", c.name)
		waitHTTP(t, "http://"+lbAddress(c, "one-lb")+"/", "", nil, "hello from one")
		if got := c.kubectl("get", "svc", "-n", "kube-system", "traefik", "-o", "jsonpath={.spec.type}"); got != "LoadBalancer" {
			t.Errorf("with loadbalancer enabled again, Service traefik is of type %s", got)
		}
	})

	t.Run("registry: push from the host, run in a pod", func(t *testing.T) {
		c.t = t
		ref := fmt.Sprintf("localhost:%d/hello:pushed", registryPort)
		pushHello(t, ref)
		c.kubectl("run", "pushed", "--image="+ref, "--image-pull-policy=Always", "--restart=Never", "--", "lookup", "kubernetes.default")
		out := podOutput(c, "pushed")
		if !strings.Contains(out, "10.96.0.1") {
			t.Fatalf("pod from the registry image printed %q", out)
		}
	})

	t.Run("disable and enable an addon", func(t *testing.T) {
		c.t = t
		c.mustSkiff(3*time.Minute, "addons", "disable", "ingress", "--name", c.name)
		deadline := time.Now().Add(time.Minute)
		for strings.Contains(c.kubectl("get", "deployments", "-n", "kube-system", "-o", "name"), "traefik") {
			if time.Now().After(deadline) {
				t.Fatal("traefik still deployed a minute after disable")
			}
			time.Sleep(500 * time.Millisecond)
		}
		c.mustSkiff(4*time.Minute, "addons", "enable", "ingress", "--name", c.name)
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", httpPort), "hello.local", nil, "hello from")
		var list []struct {
			Name    string `json:"name"`
			Enabled bool   `json:"enabled"`
			Healthy bool   `json:"healthy"`
			Detail  string `json:"detail"`
		}
		if err := json.Unmarshal([]byte(c.mustSkiff(time.Minute, "addons", "list", "--name", c.name, "-o", "json").stdout), &list); err != nil {
			t.Fatal(err)
		}
		for _, a := range list {
			if !a.Enabled || !a.Healthy {
				t.Errorf("addon %s: enabled=%t healthy=%t (%s)", a.Name, a.Enabled, a.Healthy, a.Detail)
			}
		}
	})

	t.Run("the CLI judges addons by what the node reports", func(t *testing.T) {
		c.t = t
		// The node's agent lists each addon's workloads from its own
		// manifests; a workload it names and the cluster lacks makes the
		// addon unhealthy, whatever the CLI's own manifests say.
		const file = "/var/lib/skiff/addons.json"
		orig := run(t, time.Minute, nil, "docker", "exec", nodeOf(c), "cat", file)
		if orig.code != 0 {
			t.Fatalf("the node has no %s:\n%s", file, orig)
		}
		var reports []map[string]any
		if err := json.Unmarshal([]byte(orig.stdout), &reports); err != nil {
			t.Fatal(err)
		}
		for _, r := range reports {
			if r["name"] == "dns" {
				r["workloads"] = append(r["workloads"].([]any), map[string]any{"kind": "Deployment", "namespace": "kube-system", "name": "not-applied"})
			}
		}
		changed, _ := json.Marshal(reports)
		put := func(content string) {
			if r := runStdin(t, content, "docker", "exec", "-i", nodeOf(c), "sh", "-c", "cat > "+file); r.code != 0 {
				t.Fatalf("write %s:\n%s", file, r)
			}
		}
		put(string(changed))
		defer put(orig.stdout)
		out := c.mustSkiff(time.Minute, "addons", "list", "--name", c.name, "-o", "json").stdout
		var list []struct {
			Name    string `json:"name"`
			Healthy bool   `json:"healthy"`
			Detail  string `json:"detail"`
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatal(err)
		}
		for _, a := range list {
			if a.Name == "dns" && (a.Healthy || !strings.Contains(a.Detail, "not-applied")) {
				t.Errorf("dns with a workload the cluster lacks: healthy=%t (%s)", a.Healthy, a.Detail)
			}
		}
	})
}

const ingressYAML = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: hosts
spec:
  tls:
  - hosts: [secure.local]
    secretName: secure
  rules:
  - host: hello.local
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: one, port: {number: 80}}}}
  - host: secure.local
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: one, port: {number: 80}}}}
  - host: paths.local
    http:
      paths:
      - {path: /prefix, pathType: Prefix, backend: {service: {name: one, port: {number: 80}}}}
      - {path: /exact, pathType: Exact, backend: {service: {name: one, port: {number: 80}}}}
      - {path: /impl, pathType: ImplementationSpecific, backend: {service: {name: one, port: {number: 80}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: fallback
spec:
  defaultBackend: {service: {name: two, port: {number: 80}}}
`

// addonPorts reads the ingress and registry host ports from skiff status.
func addonPorts(c *cluster) (httpPort, httpsPort, registryPort int) {
	c.t.Helper()
	httpPort, httpsPort, registryPort, _ = publishedPorts(c)
	return
}

// registryNodePort is the port the registry listens on in c's node, which
// its host port is published to.
func registryNodePort(c *cluster) int {
	c.t.Helper()
	_, _, _, node := publishedPorts(c)
	return node
}

// publishedPorts reads the ingress and registry ports from `skiff status`:
// each host port, and the registry's in the node (older node images listen
// on the host's port itself).
func publishedPorts(c *cluster) (httpPort, httpsPort, registryPort, registryNode int) {
	c.t.Helper()
	var st struct {
		Ports []string `json:"ports"`
	}
	if err := json.Unmarshal([]byte(c.mustSkiff(time.Minute, "status", "--name", c.name, "-o", "json").stdout), &st); err != nil {
		c.t.Fatal(err)
	}
	for _, p := range st.Ports { // 127.0.0.1:HOST->NODE/tcp
		var host, node int
		if _, err := fmt.Sscanf(p[strings.Index(p, ":")+1:], "%d->%d/tcp", &host, &node); err != nil {
			continue
		}
		switch {
		case node == 80:
			httpPort = host
		case node == 443:
			httpsPort = host
		case node == 5000 || (node == host && node != 6443):
			registryPort, registryNode = host, node
		}
	}
	if httpPort == 0 || httpsPort == 0 || registryPort == 0 {
		c.t.Fatalf("status lacks ingress or registry ports: %v", st.Ports)
	}
	return
}

// waitHTTP requests url with a Host header until the body contains want,
// for at most a minute (routes take a moment to reach the proxy).
// lbAddress waits up to a minute for Service svc (namespace default) to
// have a LoadBalancer address.
func lbAddress(c *cluster, svc string) string {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if a := c.kubectl("get", "svc", svc, "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"); a != "" {
			return a
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("Service %s got no LoadBalancer address within a minute", svc)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func waitHTTP(t *testing.T, url, host string, tlsc *tls.Config, want string) {
	t.Helper()
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsc, DisableKeepAlives: true}}
	deadline := time.Now().Add(time.Minute)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), want) {
				return
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("GET %s (Host %s) never answered %q; last: %s", url, host, want, last)
}

// twoApps loads the test app and runs it as Deployments "one" and "two",
// each behind a Service of its name on port 80, answering with its name.
func twoApps(c *cluster) {
	c.t.Helper()
	c.mustSkiff(3*time.Minute, "load", "archive", helloArchive(c.t), "--name", c.name)
	for _, app := range []string{"one", "two"} {
		c.kubectl("create", "deployment", app, "--image=skiff.test/hello:v1", "--port=8080")
		c.kubectl("set", "env", "deployment/"+app, "POD_NAME="+app)
		c.kubectl("expose", "deployment", app, "--port=80", "--target-port=8080")
	}
	c.kubectl("rollout", "status", "deployment/one", "--timeout=120s")
	c.kubectl("rollout", "status", "deployment/two", "--timeout=120s")
}

// tlsSecret makes a kubernetes.io/tls Secret of a new self-signed
// certificate for host and returns the certificate's PEM.
func tlsSecret(c *cluster, name, host string) []byte {
	c.t.Helper()
	certPEM, keyPEM := selfSigned(c.t, host)
	dir := c.t.TempDir()
	crt, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(crt, certPEM, 0o644); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		c.t.Fatal(err)
	}
	c.kubectl("create", "secret", "tls", name, "--cert="+crt, "--key="+key)
	return certPEM
}

// httpStatus returns the HTTP status of one request, 0 if it failed.
func httpStatus(url, host string) int {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if host != "" {
		req.Host = host
	}
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func selfSigned(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
