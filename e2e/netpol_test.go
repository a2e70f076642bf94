package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestNetworkPolicy checks the netpol addon as a user writing policies
// would: default-deny ingress in a namespace, then allowing a labelled
// client only, a named port, a namespaceSelector, an ipBlock with except,
// egress denied but DNS, a pod refused from its first packet, deleting
// policies, and `skiff addons disable netpol` turning enforcement off.
// Refused connections fail at once (a reset), not after a timeout.
func TestNetworkPolicy(t *testing.T) {
	e2e(t)
	c := newCluster(t, "np-e2e", append([]string{"--addons", "dns,netpol"}, netpolPorts(t)...)...)
	c.mustSkiff(3*time.Minute, "load", "archive", helloArchive(t), "--name", c.name)
	applyYAML(c, netpolAppYAML)
	for _, ns := range []string{"np-app", "np-friends"} {
		c.kubectl("wait", "pod", "--all", "-n", ns, "--for=condition=Ready", "--timeout=120s")
	}
	ipOf := func(ns, pod string) string {
		return c.kubectl("get", "pod", "-n", ns, pod, "-o", "jsonpath={.status.podIP}")
	}
	serverIP, otherIP := ipOf("np-app", "server"), ipOf("np-app", "other")
	web, admin := "http://"+serverIP+":8080/", "http://"+serverIP+":9090/"
	client, other, friend := np{"np-app", "client"}, np{"np-app", "other"}, np{"np-friends", "friend"}

	t.Run("no policy: everyone reaches the server", func(t *testing.T) {
		c.t = t
		for _, from := range []np{client, other, friend} {
			expectReach(c, from, web, true)
		}
	})

	t.Run("default-deny ingress in a namespace", func(t *testing.T) {
		c.t = t
		applyYAML(c, denyIngressYAML)
		for _, from := range []np{client, other, friend} {
			expectReach(c, from, web, false)
		}
		// The kubelet's probes come from the node, which NetworkPolicy
		// always allows: the server stays Ready (probed every second).
		time.Sleep(3 * time.Second)
		c.kubectl("wait", "pod", "-n", "np-app", "server", "--for=condition=Ready", "--timeout=1s")
	})

	t.Run("allow from a labelled client only", func(t *testing.T) {
		c.t = t
		applyYAML(c, allowPolicy("allow-client", `podSelector: {matchLabels: {role: client}}`, `{port: 8080}`))
		expectReach(c, client, web, true)
		expectReach(c, other, web, false)
		expectReach(c, friend, web, false) // a podSelector alone is the policy's namespace
		expectReach(c, client, admin, false)
		c.kubectl("delete", "networkpolicy", "-n", "np-app", "allow-client")
	})

	t.Run("named port", func(t *testing.T) {
		c.t = t
		applyYAML(c, allowPolicy("allow-admin", `podSelector: {matchLabels: {role: client}}`, `{port: admin}`))
		expectReach(c, client, admin, true)
		expectReach(c, client, web, false)
		c.kubectl("delete", "networkpolicy", "-n", "np-app", "allow-admin")
	})

	t.Run("namespaceSelector", func(t *testing.T) {
		c.t = t
		applyYAML(c, allowPolicy("allow-friends", `namespaceSelector: {matchLabels: {team: friends}}`, `{port: 8000, endPort: 9000}`))
		expectReach(c, friend, web, true)
		expectReach(c, friend, admin, false) // past endPort
		expectReach(c, client, web, false)
		c.kubectl("delete", "networkpolicy", "-n", "np-app", "allow-friends")
	})

	t.Run("ipBlock with except", func(t *testing.T) {
		c.t = t
		applyYAML(c, allowPolicy("allow-block", fmt.Sprintf(`ipBlock: {cidr: 10.244.0.0/16, except: [%s/32]}`, otherIP), `{port: http}`))
		expectReach(c, client, web, true)
		expectReach(c, friend, web, true)
		expectReach(c, other, web, false)
		c.kubectl("delete", "networkpolicy", "-n", "np-app", "allow-block")
	})

	t.Run("deleting the policies brings traffic back", func(t *testing.T) {
		c.t = t
		c.kubectl("delete", "networkpolicy", "-n", "np-app", "deny-ingress")
		for _, from := range []np{client, other, friend} {
			expectReach(c, from, web, true)
		}
	})

	t.Run("egress denied but DNS: names resolve, TCP is refused at once", func(t *testing.T) {
		c.t = t
		applyYAML(c, egressDNSOnlyYAML)
		expectReach(c, client, "http://server.np-app/", false)
		if r := c.exec(client, "lookup", "server.np-app.svc.cluster.local"); r.code != 0 {
			t.Errorf("DNS refused under an egress policy that allows it:\n%s", r)
		}
		expectReach(c, other, "http://server.np-app/", true) // not selected
		// A pod the policy selects is refused from its first packet, before
		// the API server has its address (the kubelet reports it later).
		c.kubectl("run", "-n", "np-app", "first", "--labels=role=client", "--image=skiff.test/hello:v1", "--image-pull-policy=Never", "--restart=Never", "--", "get", web)
		deadline := time.Now().Add(2 * time.Minute)
		for c.kubectl("get", "pod", "-n", "np-app", "first", "-o", "jsonpath={.status.phase}") != "Failed" {
			if time.Now().After(deadline) {
				t.Fatalf("a new pod's first connection was not refused:\n%s", c.kubectl("logs", "-n", "np-app", "first"))
			}
			time.Sleep(300 * time.Millisecond)
		}
		if logs := c.kubectl("logs", "-n", "np-app", "first"); !strings.Contains(logs, "connection refused") {
			t.Errorf("a new pod's first connection: %s, want connection refused", logs)
		}
		c.kubectl("delete", "networkpolicy", "-n", "np-app", "egress-dns-only")
		expectReach(c, client, "http://server.np-app/", true)
	})

	t.Run("skiff addons disable netpol stops enforcement", func(t *testing.T) {
		c.t = t
		applyYAML(c, denyIngressYAML)
		expectReach(c, client, web, false)
		c.mustSkiff(2*time.Minute, "addons", "disable", "netpol", "--name", c.name)
		// The command returns once the agent removed its rules.
		if r := c.exec(client, "get", web); r.code != 0 {
			t.Errorf("policy still enforced once disable returned:\n%s", r)
		}
		if r := run(t, time.Minute, nil, "docker", "exec", c.name+"-control-plane", "nft", "list", "table", "ip", "skiff-netpol"); r.code == 0 {
			t.Errorf("the node still has the table:\n%s", r)
		}
		if st := netpolAddon(c); st.Enabled {
			t.Errorf("addons list: %+v", st)
		}
		c.mustSkiff(2*time.Minute, "addons", "enable", "netpol", "--name", c.name)
		if r := c.exec(client, "get", web); r.code == 0 || !strings.Contains(r.stdout, "connection refused") {
			t.Errorf("policy not enforced once enable returned:\n%s", r)
		}
		if st := netpolAddon(c); !st.Enabled || !st.Healthy {
			t.Errorf("addons list: %+v", st)
		}
	})
}

// np is a pod: namespace and name.
type np struct{ ns, name string }

// exec runs the test app in a pod.
func (c *cluster) exec(p np, args ...string) result {
	c.t.Helper()
	return run(c.t, time.Minute, c.env(), "kubectl", append([]string{"--context", "skiff-" + c.name, "exec", "-n", p.ns, p.name, "--", "/hello"}, args...)...)
}

// expectReach waits up to 30 s (policies apply within a moment, not at
// once) until a GET of url from pod succeeds, or is refused: a connection
// refused at once, as the addon rejects, not a timeout.
func expectReach(c *cluster, from np, url string, want bool) {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := c.exec(from, "get", url)
		ok := r.code == 0
		if ok == want && (ok || strings.Contains(r.stdout, "connection refused")) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s/%s GET %s: want reached %t, got:\n%s", from.ns, from.name, url, want, r)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// netpolPorts are ingress and registry ports of the test's own, in a
// range the suite's other clusters do not take.
func netpolPorts(t *testing.T) []string {
	t.Helper()
	var free []int
	for p := 18000; p < 19000 && len(free) < 3; p++ {
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			l.Close()
			free = append(free, p)
		}
	}
	if len(free) < 3 {
		t.Fatal("no three free ports in 18000-18999")
	}
	return []string{"--http-port", fmt.Sprint(free[0]), "--https-port", fmt.Sprint(free[1]), "--registry-port", fmt.Sprint(free[2])}
}

// addonLine is one addon of `skiff addons list -o json`.
type addonLine struct {
	Name             string
	Enabled, Healthy bool
	Detail           string
}

// netpolAddon is the netpol line of `skiff addons list`.
func netpolAddon(c *cluster) addonLine {
	c.t.Helper()
	var list []addonLine
	if err := json.Unmarshal([]byte(c.mustSkiff(time.Minute, "addons", "list", "--name", c.name, "-o", "json").stdout), &list); err != nil {
		c.t.Fatal(err)
	}
	for _, a := range list {
		if a.Name == "netpol" {
			return a
		}
	}
	c.t.Fatal("addons list has no netpol")
	return addonLine{}
}

// allowPolicy lets peer reach the server on ports.
func allowPolicy(name, peer, ports string) string {
	return fmt.Sprintf(`apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: %s, namespace: np-app}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{%s}]
    ports: [%s]
`, name, peer, ports)
}

const denyIngressYAML = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-ingress, namespace: np-app}
spec:
  podSelector: {}
  policyTypes: [Ingress]
`

const egressDNSOnlyYAML = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-dns-only, namespace: np-app}
spec:
  podSelector: {matchLabels: {role: client}}
  policyTypes: [Egress]
  egress:
  - ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
`

// netpolAppYAML is a server answering on two named ports (http 8080,
// admin 9090) behind a Service, a labelled client and an unlabelled pod
// beside it, and a pod in a labelled namespace.
const netpolAppYAML = `apiVersion: v1
kind: Namespace
metadata: {name: np-app}
---
apiVersion: v1
kind: Namespace
metadata: {name: np-friends, labels: {team: friends}}
---
apiVersion: v1
kind: Pod
metadata: {name: server, namespace: np-app, labels: {app: server}}
spec:
  containers:
  - name: web
    image: skiff.test/hello:v1
    imagePullPolicy: Never
    env: [{name: POD_NAME, value: server}]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {httpGet: {path: /readyz, port: http}, periodSeconds: 1, failureThreshold: 1}
  - name: admin
    image: skiff.test/hello:v1
    imagePullPolicy: Never
    env: [{name: POD_NAME, value: server-admin}, {name: PORT, value: "9090"}]
    ports: [{name: admin, containerPort: 9090}]
---
apiVersion: v1
kind: Service
metadata: {name: server, namespace: np-app}
spec:
  selector: {app: server}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: np-app, labels: {role: client}}
spec:
  containers: [{name: app, image: skiff.test/hello:v1, imagePullPolicy: Never, args: [sleep]}]
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: np-app}
spec:
  containers: [{name: app, image: skiff.test/hello:v1, imagePullPolicy: Never, args: [sleep]}]
---
apiVersion: v1
kind: Pod
metadata: {name: friend, namespace: np-friends, labels: {role: client}}
spec:
  containers: [{name: app, image: skiff.test/hello:v1, imagePullPolicy: Never, args: [sleep]}]
`
