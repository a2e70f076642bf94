package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/images"
)

// TestLifecycle walks one cluster of each release through create,
// workloads, stop/start, component crashes and delete.
func TestLifecycle(t *testing.T) {
	e2e(t)
	forEachRelease(t, "e2e-life", testLifecycle)
}

func testLifecycle(t *testing.T, c *cluster, rel *images.Manifest) {
	node := c.name + "-control-plane"
	t.Run("runs its release", func(t *testing.T) {
		c.t = t
		checkRelease(t, c, rel)
	})

	t.Run("node Ready and a pod serves", func(t *testing.T) {
		c.t = t
		ready := c.kubectl("get", "node", node, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if ready != "True" {
			t.Fatalf("node Ready condition = %q, want True", ready)
		}
		c.mustSkiff(3*time.Minute, "load", "archive", helloArchive(t), "--name", c.name)
		c.kubectl("run", "hello", "--image=skiff.test/hello:v1", "--image-pull-policy=Never", "--port=8080")
		c.kubectl("wait", "--for=condition=Ready", "pod/hello", "--timeout=90s")
		ip := c.kubectl("get", "pod", "hello", "-o", "jsonpath={.status.podIP}")
		out := runPod(c, "client", "get", "http://"+ip+":8080/")
		if !strings.Contains(out, "hello from hello version v1") {
			t.Fatalf("client got %q, want the hello pod's answer", out)
		}
	})

	t.Run("an address no Service serves is refused in the node", func(t *testing.T) {
		c.t = t
		c.kubectl("expose", "pod", "hello", "--name=gone", "--port=80", "--target-port=8080")
		url := "http://" + c.kubectl("get", "service", "gone", "-o", "jsonpath={.spec.clusterIP}") + "/"
		get := func(retryFor string) string {
			r := run(t, time.Minute, c.env(), "kubectl", "--context", "skiff-"+c.name, "exec", "hello", "--", "/hello", "get", url, "1", "0", "1", retryFor)
			return r.stdout + r.stderr
		}
		if out := get("30s"); !strings.Contains(out, "hello from hello") {
			t.Fatalf("Service gone before its deletion: %q, want the hello pod's answer", out)
		}
		c.kubectl("delete", "service", "gone")
		// Once kube-proxy has dropped its rules, the address must be
		// refused, not sent out of the node to whatever answers there.
		for deadline := time.Now().Add(30 * time.Second); ; {
			out := get("0s")
			if strings.Contains(out, "connection refused") {
				break
			}
			if !strings.Contains(out, "hello from hello") || time.Now().After(deadline) {
				t.Fatalf("%s after its Service was deleted: %q, want connection refused", url, out)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})

	t.Run("a pod address no pod has is unreachable in the node", func(t *testing.T) {
		c.t = t
		// Where a Service's endpoint of the last boot points after a
		// start: it must fail at once, not leave the node for whatever
		// the host's network has at that address.
		ip := c.kubectl("get", "pod", "hello", "-o", "jsonpath={.status.podIP}")
		stray := ip[:strings.LastIndex(ip, ".")] + ".254"
		r := run(t, time.Minute, c.env(), "kubectl", "--context", "skiff-"+c.name, "exec", "hello", "--", "/hello", "get", "http://"+stray+":8080/", "1", "0", "1", "0s")
		if !strings.Contains(r.stdout+r.stderr, "no route to host") {
			t.Fatalf("GET http://%s:8080/ from a pod: %q, want no route to host", stray, r.stdout+r.stderr)
		}
	})

	t.Run("status reports every component running", func(t *testing.T) {
		c.t = t
		st := status(c)
		want := []string{"containerd", "etcd", "kube-apiserver", "kube-controllers", "kubelet"}
		got := map[string]bool{}
		for _, comp := range st.Components {
			got[comp.Name] = comp.Running
		}
		for _, w := range want {
			if !got[w] {
				t.Errorf("component %s not running in `skiff status`: %+v", w, st.Components)
			}
		}
		if !strings.HasPrefix(st.APIServer, "https://127.0.0.1:") {
			t.Errorf("API server %q is not published on 127.0.0.1", st.APIServer)
		}
	})

	t.Run("stop and start keep objects and volume data", func(t *testing.T) {
		c.t = t
		c.kubectl("create", "configmap", "keep", "--from-literal=answer=42")
		applyYAML(c, pvcYAML("data"))
		runPodWithPVC(c, "writer", "data", "write", "/data/note", "survives stop")
		// A user's own broken pod in kube-system must not hold start up:
		// start waits for what skiff runs.
		c.kubectl("-n", "kube-system", "run", "users-crasher", "--image=skiff.test/hello:v1", "--image-pull-policy=Never", "--", "no-such-command")
		// An addon object a user deleted comes back at the next boot; one
		// a user changed stays as changed (its manifest is unchanged).
		c.kubectl("-n", "kube-system", "delete", "deployment", "registry", "--wait=false")
		corefile := c.kubectl("-n", "kube-system", "get", "configmap", "coredns", "-o", "jsonpath={.data.Corefile}") + "\n# a user's edit\n"
		patch, err := json.Marshal(map[string]any{"data": map[string]string{"Corefile": corefile}})
		if err != nil {
			t.Fatal(err)
		}
		c.kubectl("-n", "kube-system", "patch", "configmap", "coredns", "--type=merge", "-p", string(patch))
		ipBefore := c.kubectl("get", "pod", "hello", "-o", "jsonpath={.status.podIP}")
		start := time.Now()
		c.mustSkiff(2*time.Minute, "stop", "--name", c.name)
		t.Logf("stop took %s", time.Since(start).Round(100*time.Millisecond))
		if r := c.skiff(time.Minute, "addons", "list", "--name", c.name); r.code == 0 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "is not running") {
			t.Errorf("addons list on a stopped cluster should fail with one line saying it is not running:\n%s", r)
		}
		start = time.Now()
		c.mustSkiff(5*time.Minute, "start", "--name", c.name)
		t.Logf("start took %s", time.Since(start).Round(100*time.Millisecond))
		firstLookup(c, "hello", "kubernetes.default.svc.cluster.local")
		// A pod keeps its address through a stop, so the endpoints of the
		// last boot are right at once, before the controller manager runs.
		startPod(c, "client-after-start", "get", "http://"+ipBefore+":8080/")
		if out, _ := podResult(c, "client-after-start"); !strings.Contains(out, "hello from hello version v1") {
			t.Errorf("the hello pod's address of before the stop, %s, after start: %q, want its answer", ipBefore, out)
		}
		// The node's pods are bound already, so the kubelet runs them at
		// once: none may crash for want of the API before kube-proxy is up.
		for _, crash := range crashedSince(t, c, start.Truncate(time.Second), "users-crasher") {
			t.Errorf("after start: %s", crash)
		}
		if got := c.kubectl("-n", "kube-system", "get", "deployment", "registry", "-o", "jsonpath={.status.readyReplicas}"); got != "1" {
			t.Errorf("the deleted registry Deployment after start: %q ready replicas, want 1", got)
		}
		if got := c.kubectl("-n", "kube-system", "get", "configmap", "coredns", "-o", "jsonpath={.data.Corefile}"); !strings.Contains(got, "# a user's edit") {
			t.Errorf("the user's edit of the coredns ConfigMap is gone after start:\n%s", got)
		}
		if got := c.kubectl("get", "configmap", "keep", "-o", "jsonpath={.data.answer}"); got != "42" {
			t.Errorf("ConfigMap after restart: answer=%q, want 42", got)
		}
		if got := runPodWithPVC(c, "reader", "data", "read", "/data/note"); !strings.Contains(got, "survives stop") {
			t.Errorf("volume data after restart: %q, want %q", got, "survives stop")
		}
	})

	t.Run("kubernetes Service answers before kube-proxy's rules", func(t *testing.T) {
		c.t = t
		// Take kube-proxy's jump out of the nat OUTPUT chain, ask the
		// Service's address from the node, and put the jump back.
		script := `iptables-save -t nat >/tmp/nat && grep -v -- '-A OUTPUT .*-j KUBE-SERVICES' /tmp/nat | iptables-restore -T nat &&
kubectl --kubeconfig /var/lib/skiff/kubeconfig/admin.conf --server https://10.96.0.1:443 --request-timeout=5s get --raw /readyz; rc=$?
iptables-restore -T nat </tmp/nat; exit $rc`
		r := run(t, time.Minute, nil, "docker", "exec", node, "sh", "-c", script)
		if r.code != 0 || strings.TrimSpace(r.stdout) != "ok" {
			t.Fatalf("https://10.96.0.1/readyz without kube-proxy's rules: %s", r)
		}
	})

	for _, comp := range []string{"kube-apiserver", "etcd"} {
		t.Run("killed "+comp+" is restarted", func(t *testing.T) {
			c.t = t
			before := restarts(status(c), comp)
			r := run(t, time.Minute, nil, "docker", "exec", node, "sh", "-c", "kill -9 $(cat /run/skiff/"+comp+".pid)")
			if r.code != 0 {
				t.Fatalf("kill %s: %s", comp, r)
			}
			deadline := time.Now().Add(2 * time.Minute)
			for {
				st := status(c)
				ok := restarts(st, comp) > before
				if ok {
					k := run(t, 30*time.Second, c.env(), "kubectl", "--context", "skiff-"+c.name, "get", "--raw", "/readyz")
					ok = k.code == 0 && strings.TrimSpace(k.stdout) == "ok"
				}
				if ok {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s not restarted and ready within 2m: %+v", comp, st.Components)
				}
				time.Sleep(500 * time.Millisecond)
			}
			c.kubectl("get", "configmap", "keep")
		})
	}

	t.Run("start with CoreDNS scaled to zero does not wait for DNS", func(t *testing.T) {
		c.t = t
		// A user's choice (rather than `addons disable dns`): start waits
		// for the DNS Service to answer only while CoreDNS has a pod.
		c.kubectl("-n", "kube-system", "scale", "deployment", "coredns", "--replicas=0")
		c.mustSkiff(2*time.Minute, "stop", "--name", c.name)
		c.mustSkiff(time.Minute, "start", "--name", c.name)
		if got := c.kubectl("-n", "kube-system", "get", "deployment", "coredns", "-o", "jsonpath={.spec.replicas}"); got != "0" {
			t.Errorf("CoreDNS replicas after start: %q, want the user's 0", got)
		}
	})

	t.Run("delete leaves nothing behind", func(t *testing.T) {
		c.t = t
		start := time.Now()
		c.mustSkiff(2*time.Minute, "delete", "--name", c.name)
		t.Logf("delete took %s", time.Since(start).Round(100*time.Millisecond))
		assertGone(t, c.name, c.kubeconfig)
		r := c.mustSkiff(time.Minute, "delete", "--name", c.name)
		if !strings.Contains(r.stdout, "does not exist") {
			t.Errorf("deleting a missing cluster should say so: %s", r)
		}
	})
}

// TestTwoClustersSideBySide runs two clusters at once and checks each
// answers for itself, and that a duplicate name is refused.
func TestTwoClustersSideBySide(t *testing.T) {
	e2e(t)
	a := newCluster(t, "e2e-a")
	b := newCluster(t, "e2e-b")
	for _, c := range []*cluster{a, b} {
		if got := c.kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"); got != c.name+"-control-plane" {
			t.Errorf("cluster %s lists nodes %q", c.name, got)
		}
	}
	if status(a).APIServer == status(b).APIServer {
		t.Errorf("both clusters publish the API server on %s", status(a).APIServer)
	}
	// Both started from the node image's etcd seed: the default RBAC
	// policy is the very objects written when the image was built. What
	// names a cluster is each one's own.
	uid := func(c *cluster, args ...string) string {
		return c.kubectl(append([]string{"get", "-o", "jsonpath={.metadata.uid}"}, args...)...)
	}
	if ua, ub := uid(a, "clusterrole", "cluster-admin"), uid(b, "clusterrole", "cluster-admin"); ua != ub {
		t.Errorf("ClusterRole cluster-admin has UIDs %s and %s: not from the image's etcd seed", ua, ub)
	}
	if ua := uid(a, "namespace", "kube-system"); ua == uid(b, "namespace", "kube-system") {
		t.Errorf("both clusters' kube-system namespace has UID %s, which tools take for a cluster's identity", ua)
	}
	for _, c := range []*cluster{a, b} {
		if ip := c.kubectl("get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"); ip != "10.96.0.1" {
			t.Errorf("cluster %s: Service kubernetes at %s, want 10.96.0.1, the first address of its service subnet", c.name, ip)
		}
	}
	r := a.skiff(time.Minute, "create", "--name", "e2e-a")
	if r.code == 0 || !strings.Contains(r.stderr, "already exists") {
		t.Errorf("creating a duplicate should fail with 'already exists':\n%s", r)
	}
	a.kubectl("get", "nodes")
	// A third of another release, when the suite runs more than one.
	rels := releases(t)
	if len(rels) > 1 {
		rel := rels[len(rels)-1]
		old := newReleaseCluster(t, "e2e-c", rel)
		checkRelease(t, old, rel)
		def, err := images.Resolved("")
		if err != nil {
			t.Fatal(err)
		}
		checkRelease(t, a, def)
	}
}

// status returns `skiff status -o json` for the cluster.
func status(c *cluster) statusJSON {
	c.t.Helper()
	r := c.mustSkiff(time.Minute, "status", "--name", c.name, "-o", "json")
	var st statusJSON
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		c.t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	return st
}

type statusJSON struct {
	APIServer  string            `json:"apiServer"`
	Versions   map[string]string `json:"versions"`
	Components []struct {
		Name     string `json:"name"`
		Running  bool   `json:"running"`
		Restarts int    `json:"restarts"`
	} `json:"components"`
}

func restarts(st statusJSON, name string) int {
	for _, c := range st.Components {
		if c.Name == name {
			return c.Restarts
		}
	}
	return -1
}

// runPod runs the test app once in a pod and returns its output.
func runPod(c *cluster, name string, args ...string) string {
	c.t.Helper()
	startPod(c, name, args...)
	return podOutput(c, name)
}

// startPod starts the test app once, with args, in a new pod name.
func startPod(c *cluster, name string, args ...string) {
	c.t.Helper()
	c.kubectl(append([]string{"run", name, "--image=skiff.test/hello:v1", "--image-pull-policy=Never", "--restart=Never", "--"}, args...)...)
}

// podOutput waits for a run-once pod to finish, returns its log and
// deletes it; the test fails if the pod failed.
func podOutput(c *cluster, name string) string {
	c.t.Helper()
	logs, ok := podResult(c, name)
	if !ok {
		c.t.Fatalf("pod %s failed: %s", name, logs)
	}
	return logs
}

// podResult waits for a run-once pod to finish, returns its log and
// whether it succeeded, and deletes it.
func podResult(c *cluster, name string) (string, bool) {
	c.t.Helper()
	defer c.kubectl("delete", "pod", name, "--wait=false")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		phase := c.kubectl("get", "pod", name, "-o", "jsonpath={.status.phase}")
		if phase == "Succeeded" || phase == "Failed" {
			return c.kubectl("logs", name), phase == "Succeeded"
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("pod %s did not finish within 2m (phase %q): %s", name, phase, c.kubectl("describe", "pod", name))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func pvcYAML(name string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: %s
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 64Mi
`, name)
}

// runPodWithPVC runs the test app once with the claim mounted at /data.
func runPodWithPVC(c *cluster, name, claim string, args ...string) string {
	c.t.Helper()
	quoted, _ := json.Marshal(args)
	applyYAML(c, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: skiff.test/hello:v1
    imagePullPolicy: Never
    args: %s
    volumeMounts:
    - {name: data, mountPath: /data}
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: %s}
`, name, quoted, claim))
	return podOutput(c, name)
}

func applyYAML(c *cluster, doc string) {
	c.t.Helper()
	cmd := run(c.t, time.Minute, c.env(), "sh", "-c", "kubectl --context skiff-"+c.name+" apply -f - <<'EOF'\n"+doc+"EOF\n")
	if cmd.code != 0 {
		c.t.Fatalf("kubectl apply failed:\n%s", cmd)
	}
}

// crashedSince lists the containers outside the default namespace that
// crashed after since, other than in the named pods.
func crashedSince(t *testing.T, c *cluster, since time.Time, except ...string) []string {
	t.Helper()
	var pods struct {
		Items []struct {
			Metadata struct{ Namespace, Name string }
			Status   struct {
				ContainerStatuses []struct {
					Name      string
					LastState struct {
						Terminated *struct {
							ExitCode   int
							Reason     string
							FinishedAt time.Time
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(c.kubectl("get", "pods", "-A", "-o", "json")), &pods); err != nil {
		t.Fatalf("parse pods: %v", err)
	}
	var crashed []string
	for _, p := range pods.Items {
		if p.Metadata.Namespace == "default" || slices.Contains(except, p.Metadata.Name) {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			// "Unknown" is the kubelet's word for a container of the last
			// boot that it found dead when it came back.
			if term := cs.LastState.Terminated; term != nil && term.ExitCode != 0 && term.Reason != "Unknown" && term.FinishedAt.After(since) {
				crashed = append(crashed, fmt.Sprintf("%s/%s container %s exited %d (%s) at %s",
					p.Metadata.Namespace, p.Metadata.Name, cs.Name, term.ExitCode, term.Reason, term.FinishedAt.Format(time.TimeOnly)))
			}
		}
	}
	return crashed
}

// firstLookup resolves name in pod's container (a pod name, or
// deploy/NAME) as soon as that container runs again, once: the lookup must
// be answered at the first try. Right after a start or a clone, kube-proxy
// may still send the DNS Service to CoreDNS's address of the last boot; a
// lookup then is lost and a resolver waits out its timeout.
func firstLookup(c *cluster, pod, name string) {
	c.t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		r := run(c.t, time.Minute, c.env(), "kubectl", "--context", "skiff-"+c.name, "exec", pod, "--", "/hello", "lookup", name)
		if strings.Contains(r.stdout, name+" -> ") {
			if r.code != 0 {
				c.t.Errorf("the first lookup in pod %s failed: %s", pod, r.stdout)
			}
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("pod %s could not run a lookup within a minute: %s", pod, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
