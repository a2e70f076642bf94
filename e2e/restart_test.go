package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// TestNodeCrash kills the node container's main process from the host, as
// a crash or the OOM killer would, and expects Docker's restart policy and
// the node to bring the cluster back by themselves: same kubeconfig, same
// objects, same volume data, the workload running again.
func TestNodeCrash(t *testing.T) {
	e2e(t)
	c := newCluster(t, "e2e-crash")
	seed(c)
	kubeconfigBefore := readFile(t, c.kubeconfig)
	restartsBefore := inspect(t, nodeOf(c), "{{.RestartCount}}")
	pid, err := strconv.Atoi(inspect(t, nodeOf(c), "{{.State.Pid}}"))
	if err != nil || pid <= 0 {
		t.Fatalf("node container %s has no main process (pid %q)", nodeOf(c), inspect(t, nodeOf(c), "{{.State.Pid}}"))
	}

	pods := webPods(c)
	crashed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d (the node's main process): %v", pid, err)
	}
	took := waitRecovered(c, crashed, pods, 3*time.Minute)
	t.Logf("recovered after %.1f s (kill -9 of the node's PID 1 to the API, data and Deployment pods back)", took.Seconds())

	if got := inspect(t, nodeOf(c), "{{.RestartCount}}"); got == restartsBefore {
		t.Errorf("Docker's restart count is still %s: the node was not restarted by its restart policy", got)
	}
	checkSeeded(c, kubeconfigBefore)
}

// TestEngineRestart restarts the Docker engine under a running and a
// stopped cluster: the running one comes back by itself with its data at the
// same API server URL, the stopped one stays stopped until `skiff start`.
func TestEngineRestart(t *testing.T) {
	e2e(t)
	requireOwnedEngine(t)
	own := []string{"e2e-restart-run", "e2e-restart-stop"}
	requireNoOtherClusters(t, own)
	running := newCluster(t, own[0])
	stopped := newCluster(t, own[1])
	seed(running)
	stopped.kubectl("create", "configmap", "keep", "--from-literal=answer=42")
	stopped.mustSkiff(2*time.Minute, "stop", "--name", stopped.name)
	kubeconfigBefore := readFile(t, running.kubeconfig)
	pods := webPods(running)

	requireNoOtherClusters(t, own)
	sigterm := time.Now()
	restartEngine(t)
	engine := time.Since(sigterm)
	took := waitRecovered(running, sigterm, pods, 5*time.Minute)
	t.Logf("recovered after %.1f s from the engine's stop (the engine answered again after %.1f s, the cluster %.1f s later)",
		took.Seconds(), engine.Seconds(), (took - engine).Seconds())
	checkSeeded(running, kubeconfigBefore)

	if st := inspect(t, nodeOf(stopped), "{{.State.Status}}"); st != "exited" {
		t.Fatalf("stopped cluster's node is %q after the engine restart, want exited: `skiff stop` must survive it", st)
	}
	start := time.Now()
	stopped.mustSkiff(5*time.Minute, "start", "--name", stopped.name)
	t.Logf("stopped cluster started after the engine restart in %.1f s", time.Since(start).Seconds())
	if got := stopped.kubectl("get", "configmap", "keep", "-o", "jsonpath={.data.answer}"); got != "42" {
		t.Errorf("stopped cluster's ConfigMap after start: answer=%q, want 42", got)
	}
	// Both nodes have new network namespaces: the registry firewall must be
	// in them too.
	assertRegistryIsolated(t, running, stopped)
}

// seed gives a cluster what a restart must not lose: a ConfigMap, a file
// on a PersistentVolume, and a Deployment behind a Service.
func seed(c *cluster) {
	c.t.Helper()
	c.mustSkiff(3*time.Minute, "load", "archive", helloArchive(c.t), "--name", c.name)
	c.kubectl("create", "configmap", "keep", "--from-literal=answer=42")
	applyYAML(c, pvcYAML("data"))
	runPodWithPVC(c, "writer", "data", "write", "/data/note", "survives a crash")
	c.kubectl("create", "deployment", "web", "--image=skiff.test/hello:v1", "--replicas=2", "--port=8080")
	c.kubectl("expose", "deployment", "web", "--port=80", "--target-port=8080")
	c.kubectl("rollout", "status", "deployment/web", "--timeout=120s")
}

// checkSeeded checks, once the cluster answers again, everything seed made
// and that the kubeconfig and API server URL did not change.
func checkSeeded(c *cluster, kubeconfigBefore []byte) {
	c.t.Helper()
	if !bytes.Equal(readFile(c.t, c.kubeconfig), kubeconfigBefore) {
		c.t.Errorf("kubeconfig %s changed across the restart", c.kubeconfig)
	}
	if got, want := status(c).APIServer, kubeconfigServer(c); got != want {
		c.t.Errorf("API server is %s after the restart, the kubeconfig says %s", got, want)
	}
	_, _, registryPort := addonPorts(c)
	waitHTTP(c.t, fmt.Sprintf("http://127.0.0.1:%d/v2/", registryPort), "", nil, "{}")
	if got := runPodWithPVC(c, "reader", "data", "read", "/data/note"); !strings.Contains(got, "survives a crash") {
		c.t.Errorf("volume data after the restart: %q, want %q", got, "survives a crash")
	}
	if got := runPod(c, "client", "get", "http://web/", "1", "0s", "1", "30s"); !strings.Contains(got, "hello from web-") {
		c.t.Errorf("the Deployment's Service after the restart answered %q", got)
	}
}

// webPods returns when each of seed's Deployment pods started its
// container, by pod name.
func webPods(c *cluster) map[string]string {
	c.t.Helper()
	started := map[string]string{}
	out := c.kubectl("get", "pods", "-l", "app=web", "-o", `jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[0].state.running.startedAt}{"\n"}{end}`)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			started[f[0]] = f[1]
		}
	}
	if len(started) != 2 {
		c.t.Fatalf("want 2 running web pods, got:\n%s", out)
	}
	return started
}

// waitRecovered waits until the cluster answers through its kubeconfig,
// still has seed's ConfigMap, and runs the Deployment's pods in new
// containers: started after since, not the ones webPods saw before. It
// returns the time from since.
func waitRecovered(c *cluster, since time.Time, before map[string]string, timeout time.Duration) time.Duration {
	c.t.Helper()
	deadline := since.Add(timeout)
	for {
		why := notRecovered(c, since, before)
		if why == "" {
			return time.Since(since)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("cluster %s not back %s after the restart: %s\n%s", c.name, timeout, why,
				run(c.t, time.Minute, nil, "docker", "logs", "--tail", "30", nodeOf(c)))
		}
		time.Sleep(time.Second)
	}
}

// notRecovered says what is not back yet, or "" when all is.
func notRecovered(c *cluster, since time.Time, before map[string]string) string {
	c.t.Helper()
	get := func(args ...string) (string, bool) {
		r := run(c.t, 30*time.Second, c.env(), "kubectl", append([]string{"--context", "skiff-" + c.name, "--request-timeout=5s", "get"}, args...)...)
		return strings.TrimSpace(r.stdout + r.stderr), r.code == 0
	}
	answer, ok := get("configmap", "keep", "-o", "jsonpath={.data.answer}")
	if !ok {
		return "API: " + answer
	}
	if answer != "42" {
		c.t.Fatalf("ConfigMap keep has answer=%q after the restart, want 42: objects were lost", answer)
	}
	pods, ok := get("pods", "-l", "app=web", "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.status.conditions[?(@.type=="Ready")].status} {.status.containerStatuses[0].state.running.startedAt}{"\n"}{end}`)
	if !ok {
		return "pods: " + pods
	}
	lines := strings.Split(pods, "\n")
	if len(lines) != 2 {
		return "Deployment pods: " + pods
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 4 || f[1] != "Running" || f[2] != "True" {
			return "pod not running and ready: " + l
		}
		// startedAt has whole seconds.
		if started, err := time.Parse(time.RFC3339, f[3]); err != nil || f[3] == before[f[0]] || started.Before(since.Truncate(time.Second)) {
			return "pod's container is from before the restart: " + l
		}
	}
	return ""
}

// requireOwnedEngine skips unless this suite may restart the Docker engine:
// it was told so, and the engine is one it can start again: a dockerd that
// systemd manages (systemctl restart docker, as on a Debian host) or a
// plain dockerd as hack/docker.sh starts it.
func requireOwnedEngine(t *testing.T) {
	t.Helper()
	if os.Getenv("CI") != "true" && os.Getenv("SKIFF_E2E_RESTART_ENGINE") != "1" {
		t.Skip("restarts the Docker engine, which other containers on this machine share: set SKIFF_E2E_RESTART_ENGINE=1 (CI=true does too) to run it")
	}
	if engineUnderSystemd() {
		return
	}
	if exec.Command("pgrep", "-x", "dockerd").Run() != nil {
		t.Skip("no local dockerd process (Docker Desktop or a remote engine?): not restarting it")
	}
}

// engineUnderSystemd says whether systemd runs the Docker engine here.
func engineUnderSystemd() bool {
	return exec.Command("systemctl", "is-active", "--quiet", "docker").Run() == nil
}

// requireNoOtherClusters skips when clusters other than own are running: an
// engine restart would disturb whoever uses them. In CI the suite owns the
// engine, and the cluster `make cluster` left running is restarted too
// (Docker brings it back like this test's own).
func requireNoOtherClusters(t *testing.T, own []string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		return
	}
	r := run(t, time.Minute, nil, "docker", "ps", "--filter", "label=dev.skiff.cluster", "--format", `{{.Label "dev.skiff.cluster"}}`)
	for _, name := range strings.Fields(r.stdout) {
		if !slices.Contains(own, name) {
			t.Skipf("cluster %s, not this test's, is running: not restarting the engine under it", name)
		}
	}
}

// restartEngine stops and starts the Docker engine, bounded: with
// `systemctl restart docker` where systemd runs it, else with
// hack/restart-docker.sh (SIGTERM, wait, start, wait). If that fails, one
// more start is tried: the engine is shared, never leave it down.
func restartEngine(t *testing.T) {
	t.Helper()
	if engineUnderSystemd() {
		t.Log("restarting the engine with systemctl restart docker")
		r := run(t, 4*time.Minute, nil, "systemctl", "restart", "docker")
		if r.code == 0 {
			r = run(t, 2*time.Minute, nil, "sh", "-c", "for i in $(seq 1 120); do docker info >/dev/null 2>&1 && exit 0; sleep 1; done; exit 1")
		}
		if r.code != 0 {
			again := run(t, 2*time.Minute, nil, "systemctl", "start", "docker")
			t.Fatalf("systemctl restart docker:\n%s\nsystemctl start docker afterwards:\n%s", r, again)
		}
		return
	}
	if r := run(t, 4*time.Minute, nil, "../hack/restart-docker.sh"); r.code != 0 {
		again := run(t, 2*time.Minute, nil, "setsid", "--wait", "../hack/docker.sh")
		t.Fatalf("hack/restart-docker.sh:\n%s\nhack/docker.sh afterwards:\n%s", r, again)
	}
}

func nodeOf(c *cluster) string { return c.name + "-control-plane" }

// inspect returns one field of docker inspect.
func inspect(t *testing.T, container, format string) string {
	t.Helper()
	r := run(t, time.Minute, nil, "docker", "inspect", "-f", format, container)
	if r.code != 0 {
		t.Fatalf("docker inspect %s:\n%s", container, r)
	}
	return strings.TrimSpace(r.stdout)
}

// kubeconfigServer is the API server URL the cluster's kubeconfig names.
func kubeconfigServer(c *cluster) string {
	c.t.Helper()
	cfg, err := clientcmd.LoadFromFile(c.kubeconfig)
	if err != nil {
		c.t.Fatalf("kubeconfig %s: %v", c.kubeconfig, err)
	}
	cl, ok := cfg.Clusters["skiff-"+c.name]
	if !ok {
		c.t.Fatalf("kubeconfig %s has no cluster skiff-%s", c.kubeconfig, c.name)
	}
	return cl.Server
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return data
}
