package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/images"
)

// TestGateway checks the gateway addon as a user would: a Gateway of the
// default GatewayClass and HTTPRoutes to the test app answer from the host
// on the ingress ports (path and header matching, TLS terminated with a
// Secret's certificate), on the Gateway's LoadBalancer address too, with
// the routes' status Accepted; an Ingress keeps working beside it, and the
// addon turns off and on.
func TestGateway(t *testing.T) {
	e2e(t)
	c := newCluster(t, "e2e-gateway")
	twoApps(c)
	httpPort, httpsPort, _ := addonPorts(c)
	certPEM := tlsSecret(c, "gw-secure", "secure.gw.local")
	applyYAML(c, gatewayYAML)
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)

	t.Run("gateway programmed, routes accepted", func(t *testing.T) {
		c.t = t
		start := time.Now()
		c.kubectl("wait", "gateway/web", "--for=condition=Programmed", "--timeout=120s")
		for _, route := range []string{"paths", "secure"} {
			waitRouteConditions(c, route, "Accepted", "ResolvedRefs")
		}
		t.Logf("Gateway programmed and routes accepted %s after apply", time.Since(start).Round(100*time.Millisecond))
	})

	t.Run("http: path and header matching on the ingress port", func(t *testing.T) {
		c.t = t
		for _, tc := range []struct {
			host, path, header string
			status             int
			want               string
		}{
			{"paths.gw.local", "/prefix", "", 200, "hello from one"},
			{"paths.gw.local", "/prefix/deeper", "", 200, "hello from one"},
			{"paths.gw.local", "/prefixed", "", 404, ""}, // prefixes match whole path elements
			{"paths.gw.local", "/exact", "", 200, "hello from one"},
			{"paths.gw.local", "/exact/more", "", 404, ""},
			{"paths.gw.local", "/anything", "two", 200, "hello from two"},
			{"paths.gw.local", "/anything", "", 404, ""},
			{"other.gw.local", "/prefix", "", 404, ""}, // not a hostname of the route
		} {
			waitGateway(t, base+tc.path, tc.host, tc.header, nil, tc.status, tc.want)
		}
	})

	t.Run("https: TLS listener terminates with the Secret's certificate", func(t *testing.T) {
		c.t = t
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(certPEM)
		tlsc := &tls.Config{RootCAs: pool, ServerName: "secure.gw.local"}
		url := fmt.Sprintf("https://127.0.0.1:%d/", httpsPort)
		waitGateway(t, url, "secure.gw.local", "", tlsc, 200, "hello from one")
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), tlsc)
		if err != nil {
			t.Fatalf("TLS to the Gateway: %v", err)
		}
		defer conn.Close()
		block, _ := pem.Decode(certPEM)
		if got := conn.ConnectionState().PeerCertificates[0].Raw; !bytes.Equal(got, block.Bytes) {
			t.Errorf("the Gateway presented another certificate than Secret gw-secure's")
		}
	})

	t.Run("loadbalancer: the Gateway's address answers from the host", func(t *testing.T) {
		c.t = t
		var addr string
		deadline := time.Now().Add(time.Minute)
		for net.ParseIP(addr) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("Gateway web got no address within a minute (status.addresses %q)", addr)
			}
			addr = c.kubectl("get", "gateway", "web", "-o", "jsonpath={.status.addresses[0].value}")
			time.Sleep(300 * time.Millisecond)
		}
		if addr == "127.0.0.1" {
			t.Fatalf("Gateway address is 127.0.0.1, want the LoadBalancer address of Service kube-system/traefik")
		}
		waitGateway(t, "http://"+addr+"/prefix", "paths.gw.local", "", nil, 200, "hello from one")
	})

	t.Run("ingress beside it, and the addon off and on", func(t *testing.T) {
		c.t = t
		applyYAML(c, gatewayIngressYAML)
		waitGateway(t, base+"/", "ingress.gw.local", "", nil, 200, "hello from two")
		c.mustSkiff(3*time.Minute, "addons", "disable", "gateway", "--name", c.name)
		deadline := time.Now().Add(time.Minute)
		for strings.Contains(c.kubectl("get", "crd", "-o", "name"), "gateway.networking.k8s.io") {
			if time.Now().After(deadline) {
				t.Fatal("Gateway API CRDs still there a minute after disable")
			}
			time.Sleep(500 * time.Millisecond)
		}
		waitGateway(t, base+"/", "ingress.gw.local", "", nil, 200, "hello from two")
		start := time.Now()
		c.mustSkiff(4*time.Minute, "addons", "enable", "gateway", "--name", c.name)
		t.Logf("addons enable gateway took %s", time.Since(start).Round(100*time.Millisecond))
		applyYAML(c, gatewayYAML) // the CRDs' removal took the Gateway and routes with it
		waitGateway(t, base+"/prefix", "paths.gw.local", "", nil, 200, "hello from one")
		waitGateway(t, base+"/", "ingress.gw.local", "", nil, 200, "hello from two")
		var list []struct {
			Name    string `json:"name"`
			Enabled bool   `json:"enabled"`
			Version string `json:"version"`
			Healthy bool   `json:"healthy"`
			Detail  string `json:"detail"`
		}
		if err := json.Unmarshal([]byte(c.mustSkiff(time.Minute, "addons", "list", "--name", c.name, "-o", "json").stdout), &list); err != nil {
			t.Fatal(err)
		}
		// The addon runs no image; its version is the Gateway API release
		// its CRDs come from.
		want := gatewayAPIRelease(t)
		for _, a := range list {
			if a.Name == "gateway" && (!a.Enabled || !a.Healthy || a.Version != want) {
				t.Errorf("addon gateway: enabled=%t healthy=%t version %q, want %q (%s)", a.Enabled, a.Healthy, a.Version, want, a.Detail)
			}
		}
	})
}

// The Gateway listens on ports 80 and 443, Traefik's entry points, which
// skiff publishes on the host (httpPort, httpsPort).
const gatewayYAML = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: web
spec:
  gatewayClassName: traefik
  listeners:
  - {name: http, protocol: HTTP, port: 80}
  - name: https
    protocol: HTTPS
    port: 443
    hostname: secure.gw.local
    tls:
      mode: Terminate
      certificateRefs: [{kind: Secret, name: gw-secure}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: paths
spec:
  parentRefs: [{name: web, sectionName: http}]
  hostnames: [paths.gw.local]
  rules:
  - matches: [{path: {type: PathPrefix, value: /prefix}}]
    backendRefs: [{name: one, port: 80}]
  - matches: [{path: {type: Exact, value: /exact}}]
    backendRefs: [{name: one, port: 80}]
  - matches: [{headers: [{name: X-Backend, value: two}]}]
    backendRefs: [{name: two, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: secure
spec:
  parentRefs: [{name: web, sectionName: https}]
  hostnames: [secure.gw.local]
  rules:
  - backendRefs: [{name: one, port: 80}]
`

const gatewayIngressYAML = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: beside
spec:
  rules:
  - host: ingress.gw.local
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: two, port: {number: 80}}}}
`

// waitRouteConditions waits, for at most two minutes, until every parent
// status of the HTTPRoute has each condition True.
func waitRouteConditions(c *cluster, route string, conds ...string) {
	c.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		var r struct {
			Status struct {
				Parents []struct {
					Conditions []struct{ Type, Status, Reason, Message string }
				}
			}
		}
		out := c.kubectl("get", "httproute", route, "-o", "json")
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			c.t.Fatalf("HTTPRoute %s: %v", route, err)
		}
		met := len(r.Status.Parents) > 0
		for _, p := range r.Status.Parents {
			for _, want := range conds {
				ok := false
				for _, cond := range p.Conditions {
					ok = ok || (cond.Type == want && cond.Status == "True")
				}
				met = met && ok
			}
		}
		if met {
			return
		}
		last = fmt.Sprintf("%+v", r.Status.Parents)
		time.Sleep(500 * time.Millisecond)
	}
	c.t.Fatalf("HTTPRoute %s never had %v True; last status: %s", route, conds, last)
}

// waitGateway requests url with a Host header (and X-Backend: header, if
// set) until it answers status with a body containing want, for at most a
// minute (routes take a moment to reach the proxy).
func waitGateway(t *testing.T, url, host, header string, tlsc *tls.Config, status int, want string) {
	t.Helper()
	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsc, DisableKeepAlives: true}}
	deadline := time.Now().Add(time.Minute)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Host = host
		if header != "" {
			req.Header.Set("X-Backend", header)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == status && strings.Contains(string(body), want) {
				return
			}
			last = fmt.Sprintf("%s: %s", resp.Status, body)
		} else {
			last = err.Error()
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("GET %s (Host %s, X-Backend %q) never answered %d %q; last: %s", url, host, header, status, want, last)
}

// gatewayAPIRelease is the Gateway API version the manifest pins for the
// gateway addon's CRDs.
func gatewayAPIRelease(t *testing.T) string {
	t.Helper()
	m, err := images.LoadManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range m.AddonFiles {
		if f.Addon == "gateway" {
			return f.Version
		}
	}
	t.Fatal("the versions manifest has no addonFiles entry for the gateway addon")
	return ""
}
