package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestOpen: `skiff open SERVICE` prints a URL on the host that answers,
// the way a user gets there: a port-forward for a ClusterIP Service (which
// lives as long as the command), the LoadBalancer address, and an HTTPRoute
// or Ingress rule once there is one.
func TestOpen(t *testing.T) {
	e2e(t)
	c := newCluster(t, "e2e-open")
	c.mustSkiff(3*time.Minute, "load", "archive", helloArchive(t), "--name", c.name)
	c.kubectl("create", "deployment", "web", "--image=skiff.test/hello:v1", "--port=8080")
	c.kubectl("expose", "deployment", "web", "--port=80", "--target-port=8080")
	c.kubectl("rollout", "status", "deployment/web", "--timeout=120s")

	t.Run("ClusterIP: a port-forward while the command runs", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, skiffBin(t), "open", "web", "--name", c.name)
		cmd.Env = append(cmd.Environ(), c.env()...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer cmd.Process.Kill()
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatalf("skiff open printed no URL: %v", err)
		}
		if !strings.Contains(line, "port-forward") {
			t.Errorf("ClusterIP Service opened via %q, want a port-forward", line)
		}
		expectHello(t, strings.Fields(line)[0])
	})

	t.Run("LoadBalancer: its address", func(t *testing.T) {
		c.t = t
		c.kubectl("expose", "deployment", "web", "--name=web-lb", "--type=LoadBalancer", "--port=80", "--target-port=8080")
		lbAddress(c, "web-lb")
		line := c.mustSkiff(time.Minute, "open", "web-lb", "--name", c.name).stdout
		if !strings.Contains(line, "(loadbalancer)") {
			t.Fatalf("LoadBalancer Service opened as %q, want its address", line)
		}
		expectHello(t, strings.Fields(line)[0])
	})

	t.Run("HTTPRoute: the cluster's HTTP port", func(t *testing.T) {
		c.t = t
		c.kubectl("expose", "deployment", "web", "--name=web-gw", "--port=80", "--target-port=8080")
		applyYAML(c, `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: open
spec:
  gatewayClassName: traefik
  listeners:
  - {name: http, protocol: HTTP, port: 80}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: open
spec:
  parentRefs: [{name: open}]
  rules:
  - backendRefs: [{name: web-gw, port: 80}]
`)
		line := c.mustSkiff(time.Minute, "open", "web-gw", "--name", c.name).stdout
		if !strings.Contains(line, "http://127.0.0.1:") || !strings.Contains(line, "(HTTPRoute)") {
			t.Fatalf("Service with an HTTPRoute opened as %q, want the route on 127.0.0.1", line)
		}
		expectHello(t, strings.Fields(line)[0])
		c.kubectl("delete", "httproute", "open")
		c.kubectl("delete", "gateway", "open")
	})

	t.Run("Ingress: the cluster's HTTP port", func(t *testing.T) {
		c.t = t
		c.kubectl("create", "ingress", "web", "--rule=/*=web:80")
		line := c.mustSkiff(time.Minute, "open", "web", "--name", c.name).stdout
		if !strings.Contains(line, "http://127.0.0.1:") || !strings.Contains(line, "(ingress)") {
			t.Fatalf("Service with an Ingress opened as %q, want the ingress on 127.0.0.1", line)
		}
		expectHello(t, strings.Fields(line)[0])
	})

	t.Run("a missing Service is one clear error", func(t *testing.T) {
		c.t = t
		r := c.skiff(time.Minute, "open", "no-such-service", "--name", c.name)
		if r.code == 0 || !strings.Contains(r.stderr, "no-such-service") {
			t.Errorf("open of a missing Service: %s", r)
		}
	})
}

// expectHello GETs url until the test app answers (an Ingress route or a
// new address may take a moment), for up to a minute.
func expectHello(t *testing.T, url string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	var last string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		resp, err := client.Get(url)
		if err != nil {
			last = err.Error()
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if last = string(body); strings.Contains(last, "hello from") {
			return
		}
	}
	t.Fatalf("%s did not answer as the test app within a minute; last: %q", url, last)
}
