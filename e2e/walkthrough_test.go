package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/images"
)

// TestWalkthrough is a developer's first hour on one cluster of each
// release, in the order the README's tutorial tells it. Each step is a
// subtest; later steps need the earlier ones, so the first failure stops
// the walk.
func TestWalkthrough(t *testing.T) {
	e2e(t)
	forEachRelease(t, "e2e-walk", testWalkthrough)
}

func testWalkthrough(t *testing.T, c *cluster, _ *images.Manifest) {
	step := func(name string, fn func(t *testing.T)) {
		if t.Failed() {
			return
		}
		t.Run(name, func(t *testing.T) {
			c.t = t
			fn(t)
		})
	}

	step("01 build and load the hello image", func(t *testing.T) {
		c.mustSkiff(3*time.Minute, "load", "archive", helloArchive(t), helloArchiveV2(t), "--name", c.name)
		images := c.mustSkiff(time.Minute, "images", "--name", c.name).stdout
		for _, ref := range []string{"skiff.test/hello:v1", "skiff.test/hello:v2"} {
			if !strings.Contains(images, ref) {
				t.Fatalf("node images lack %s:\n%s", ref, images)
			}
		}
	})

	step("02 deployment with 3 replicas", func(t *testing.T) {
		applyYAML(c, helloDeployment("v1", 3))
		c.kubectl("rollout", "status", "deployment/hello", "--timeout=120s")
		waitReadyReplicas(c, "hello", 3)
	})

	step("03 service by DNS name reaches several pods", func(t *testing.T) {
		c.kubectl("expose", "deployment", "hello", "--port=80", "--target-port=8080")
		// A new Service answers once its endpoints reach kube-proxy.
		waitServing(c, "http://hello/")
		out := runPod(c, "dns-client", "get", "http://hello.default.svc.cluster.local/", "1")
		if !strings.Contains(out, "hello from hello-") {
			t.Fatalf("FQDN request answered %q", out)
		}
		out = runPod(c, "svc-client", "get", "http://hello/", "30")
		pods := servingPods(out)
		if len(pods) < 2 {
			t.Fatalf("30 requests to http://hello reached %d pod(s) %v, want at least 2:\n%s", len(pods), pods, out)
		}
	})

	step("04 scale to 5 and replace a deleted pod", func(t *testing.T) {
		c.kubectl("scale", "deployment/hello", "--replicas=5")
		waitReadyReplicas(c, "hello", 5)
		victim := strings.Fields(c.kubectl("get", "pods", "-l", "app=hello", "-o", "jsonpath={.items[*].metadata.name}"))[0]
		c.kubectl("delete", "pod", victim, "--wait=true", "--timeout=60s")
		waitReadyReplicas(c, "hello", 5)
		if names := c.kubectl("get", "pods", "-l", "app=hello", "-o", "jsonpath={.items[*].metadata.name}"); strings.Contains(names, victim) {
			t.Fatalf("deleted pod %s is still listed: %s", victim, names)
		}
	})

	step("05 database keeps data on a volume and answers by name", func(t *testing.T) {
		applyYAML(c, dbStatefulSet)
		c.kubectl("rollout", "status", "statefulset/db", "--timeout=120s")
		c.kubectl("exec", "db-0", "--", "/hello", "write", "/data/rows", "row-1")
		c.kubectl("delete", "pod", "db-0", "--wait=true", "--timeout=60s")
		c.kubectl("wait", "--for=condition=Ready", "pod/db-0", "--timeout=120s")
		if got := c.kubectl("exec", "db-0", "--", "/hello", "read", "/data/rows"); !strings.Contains(got, "row-1") {
			t.Fatalf("data after pod replacement: %q", got)
		}
		waitServing(c, "http://db:5432/")
		if out := runPod(c, "db-client", "get", "http://db:5432/", "1"); !strings.Contains(out, "hello from db-0") {
			t.Fatalf("db:5432 answered %q", out)
		}
	})

	step("06 rolling update without downtime, then undo", func(t *testing.T) {
		startPod(c, "load", "get", "http://hello/", "600", "50ms")
		time.Sleep(2 * time.Second)
		c.kubectl("set", "image", "deployment/hello", "hello=skiff.test/hello:v2")
		c.kubectl("rollout", "status", "deployment/hello", "--timeout=180s")
		out := podOutput(c, "load")
		if strings.Contains(out, "ERROR") {
			t.Fatalf("requests failed during the rollout:\n%s", out)
		}
		if !strings.Contains(out, "version v2") {
			t.Fatalf("no request reached v2 during the rollout:\n%s", lastLines(out, 5))
		}
		assertVersions(c, "v2")
		c.kubectl("rollout", "undo", "deployment/hello")
		c.kubectl("rollout", "status", "deployment/hello", "--timeout=180s")
		assertVersions(c, "v1")
	})

	step("07 autoscaler reacts to CPU", func(t *testing.T) {
		c.kubectl("autoscale", "deployment/hello", "--cpu-percent=50", "--min=2", "--max=8")
		c.kubectl("scale", "deployment/hello", "--replicas=2")
		waitReadyReplicas(c, "hello", 2)
		startPod(c, "burn", "get", "http://hello/burn?ms=400", "600", "0s", "4")
		defer c.kubectl("delete", "pod", "burn", "--wait=false")
		deadline := time.Now().Add(4 * time.Minute)
		for {
			n, _ := strconv.Atoi(c.kubectl("get", "hpa", "hello", "-o", "jsonpath={.status.desiredReplicas}"))
			if n > 2 {
				t.Logf("autoscaler wants %d replicas", n)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("autoscaler did not scale up within 4m:\n%s", c.kubectl("describe", "hpa", "hello"))
			}
			time.Sleep(2 * time.Second)
		}
	})

	step("08 logs of every replica", func(t *testing.T) {
		c.kubectl("delete", "hpa", "hello")
		c.kubectl("scale", "deployment/hello", "--replicas=3")
		waitReadyReplicas(c, "hello", 3)
		waitOnlyLivePods(c, "app=hello", 3)
		logs := c.kubectl("logs", "-l", "app=hello", "--prefix", "--tail=-1", "--max-log-requests=10")
		for p := range livePods(c, "app=hello") {
			if !strings.Contains(logs, "pod/"+p+"/") {
				t.Errorf("kubectl logs -l app=hello has no line from %s", p)
			}
		}
	})

	step("09 ingress from the host", func(t *testing.T) {
		c.kubectl("create", "ingress", "hello", "--rule=hello.local/*=hello:80")
		httpPort, _, _ := addonPorts(c)
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", httpPort), "hello.local", nil, "version v1")
	})

	step("09b the same through a Gateway and an HTTPRoute", func(t *testing.T) {
		applyYAML(c, `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: traefik
  listeners: [{name: http, protocol: HTTP, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: hello}
spec:
  parentRefs: [{name: web}]
  hostnames: [hello.gateway.local]
  rules: [{backendRefs: [{name: hello, port: 80}]}]
`)
		c.kubectl("wait", "gateway/web", "--for=condition=Programmed", "--timeout=120s")
		httpPort, _, _ := addonPorts(c)
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", httpPort), "hello.gateway.local", nil, "version v1")
		// The Ingress beside it still answers.
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", httpPort), "hello.local", nil, "version v1")
	})

	step("10 stop and start keep everything answering", func(t *testing.T) {
		c.mustSkiff(2*time.Minute, "stop", "--name", c.name)
		c.mustSkiff(5*time.Minute, "start", "--name", c.name)
		waitReadyReplicas(c, "hello", 3)
		c.kubectl("wait", "--for=condition=Ready", "pod/db-0", "--timeout=120s")
		if out := runPod(c, "after-restart", "get", "http://hello/", "1", "0s", "1", "60s"); !strings.Contains(out, "hello from hello-") {
			t.Fatalf("service after restart answered %q", out)
		}
		httpPort, _, _ := addonPorts(c)
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", httpPort), "hello.local", nil, "version v1")
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/", httpPort), "hello.gateway.local", nil, "version v1")
		if got := c.kubectl("exec", "db-0", "--", "/hello", "read", "/data/rows"); !strings.Contains(got, "row-1") {
			t.Fatalf("volume data after restart: %q", got)
		}
	})

	step("nothing was pulled from outside", func(t *testing.T) {
		events := c.kubectl("get", "events", "-A", "--field-selector=reason=Pulling", "-o", "name")
		if strings.TrimSpace(events) != "" {
			t.Fatalf("images were pulled:\n%s", c.kubectl("get", "events", "-A", "--field-selector=reason=Pulling"))
		}
	})

	step("11 delete leaves nothing behind", func(t *testing.T) {
		c.mustSkiff(2*time.Minute, "delete", "--name", c.name)
		assertGone(t, c.name, c.kubeconfig)
	})
}

// waitServing waits up to a minute for url to answer from inside the
// cluster; the client retries for itself so one pod suffices.
func waitServing(c *cluster, url string) {
	c.t.Helper()
	out := runPod(c, "wait-serving", "get", url, "1", "0s", "1", "60s")
	if !strings.Contains(out, "hello from") {
		c.t.Fatalf("%s did not answer within a minute:\n%s", url, out)
	}
}

func helloDeployment(version string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: hello
  labels: {app: hello}
spec:
  replicas: %d
  selector:
    matchLabels: {app: hello}
  strategy:
    rollingUpdate: {maxUnavailable: 0, maxSurge: 1}
  template:
    metadata:
      labels: {app: hello}
    spec:
      terminationGracePeriodSeconds: 15
      containers:
      - name: hello
        image: skiff.test/hello:%s
        imagePullPolicy: IfNotPresent
        args: [serve]
        env:
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        ports:
        - containerPort: 8080
        readinessProbe:
          httpGet: {path: /readyz, port: 8080}
          periodSeconds: 1
        lifecycle:
          # Keep serving until kube-proxy has removed the pod everywhere.
          preStop:
            sleep: {seconds: 3}
        resources:
          requests: {cpu: 100m, memory: 32Mi}
`, replicas, version)
}

const dbStatefulSet = `apiVersion: v1
kind: Service
metadata:
  name: db
spec:
  selector: {app: db}
  ports:
  - {port: 5432, targetPort: 5432}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 1
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: skiff.test/hello:v1
        imagePullPolicy: IfNotPresent
        args: [serve]
        env:
        - {name: PORT, value: "5432"}
        - name: POD_NAME
          valueFrom: {fieldRef: {fieldPath: metadata.name}}
        readinessProbe:
          httpGet: {path: /healthz, port: 5432}
          periodSeconds: 1
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests: {storage: 64Mi}
`

var podNameRE = regexp.MustCompile(`hello from (\S+)`)

func servingPods(out string) map[string]bool {
	pods := map[string]bool{}
	for _, m := range podNameRE.FindAllStringSubmatch(out, -1) {
		pods[m[1]] = true
	}
	return pods
}

// waitReadyReplicas waits until a Deployment has exactly n ready replicas.
func waitReadyReplicas(c *cluster, name string, n int) {
	c.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		// The status counts only once the controller has seen the
		// latest spec: right after a scale it may still be the old one's.
		got := c.kubectl("get", "deployment", name, "-o", "jsonpath={.status.readyReplicas}/{.status.replicas} generation {.metadata.generation}/{.status.observedGeneration}")
		ready, gen, _ := strings.Cut(got, " generation ")
		observed, latest, _ := strings.Cut(gen, "/")
		if ready == fmt.Sprintf("%d/%d", n, n) && observed == latest {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("deployment %s has %s ready replicas after 3m, want %d/%d:\n%s", name, got, n, n, c.kubectl("get", "pods", "-o", "wide"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitOnlyLivePods waits until the selector's pods are n, all Running and
// none terminating: `kubectl logs -l` fails on a pod the autoscaler's last
// scale-up still creates, or one a scale-down deletes.
func waitOnlyLivePods(c *cluster, selector string, n int) {
	c.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		all := strings.Fields(c.kubectl("get", "pods", "-l", selector, "-o", "jsonpath={.items[*].metadata.name}"))
		if live := livePods(c, selector); len(all) == n && len(live) == n {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("pods %s are not %d live ones after 3m:\n%s", selector, n, c.kubectl("get", "pods", "-l", selector, "-o", "wide"))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// assertVersions checks that every hello pod runs version once the
// previous version's pods have finished terminating, and that the Service
// answers with it.
func assertVersions(c *cluster, version string) {
	c.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		images := c.kubectl("get", "pods", "-l", "app=hello", "-o", "jsonpath={.items[*].spec.containers[0].image}")
		old := 0
		for _, img := range strings.Fields(images) {
			if !strings.HasSuffix(img, ":"+version) {
				old++
			}
		}
		if old == 0 {
			break
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%d pods still run another version than %s after 1m: %s", old, version, images)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if out := runPod(c, "version-"+version, "get", "http://hello/", "10"); strings.Count(out, "version "+version) != 10 {
		c.t.Fatalf("want all 10 answers from %s:\n%s", version, out)
	}
}

// livePods maps the running, not terminating, pods with a label to their
// first container's image.
func livePods(c *cluster, selector string) map[string]string {
	c.t.Helper()
	var list struct {
		Items []struct {
			Metadata struct {
				Name              string  `json:"name"`
				DeletionTimestamp *string `json:"deletionTimestamp"`
			} `json:"metadata"`
			Spec struct {
				Containers []struct {
					Image string `json:"image"`
				} `json:"containers"`
			} `json:"spec"`
			Status struct {
				Phase string `json:"phase"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(c.kubectl("get", "pods", "-l", selector, "-o", "json")), &list); err != nil {
		c.t.Fatal(err)
	}
	pods := map[string]string{}
	for _, p := range list.Items {
		if p.Metadata.DeletionTimestamp == nil && p.Status.Phase == "Running" {
			pods[p.Metadata.Name] = p.Spec.Containers[0].Image
		}
	}
	return pods
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
