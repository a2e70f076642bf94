package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-k8s/skiff/e2e/testapp"
	"github.com/skiff-k8s/skiff/images"
	"github.com/skiff-k8s/skiff/node"
)

// skiffBin is the binary under test: $SKIFF_BIN or bin/skiff of this tree.
func skiffBin(t *testing.T) string {
	if b := os.Getenv("SKIFF_BIN"); b != "" {
		return b
	}
	b, err := filepath.Abs("../bin/skiff")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b); err != nil {
		t.Fatalf("%s missing: run `make build` (or make test)", b)
	}
	return b
}

func e2e(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs Docker and the node image (run `make test`)")
	}
}

// result is one finished command.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run executes a command with a timeout and the given environment additions.
func run(t *testing.T, timeout time.Duration, env []string, name string, args ...string) result {
	t.Helper()
	return runInput(t, timeout, env, "", name, args...)
}

// runInput is run with stdin; later entries of env win over earlier ones
// and over the test's own environment.
func runInput(t *testing.T, timeout time.Duration, env []string, stdin, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %s timed out after %s\n%s", name, strings.Join(args, " "), timeout, r)
	}
	return r
}

// cluster is a skiff cluster owned by one test, with its own kubeconfig.
type cluster struct {
	t          *testing.T
	name       string
	kubeconfig string
}

// env is what every skiff and kubectl call of this cluster gets.
func (c *cluster) env() []string { return []string{"KUBECONFIG=" + c.kubeconfig} }

// skiff runs the skiff CLI for this cluster's kubeconfig.
func (c *cluster) skiff(timeout time.Duration, args ...string) result {
	c.t.Helper()
	return run(c.t, timeout, c.env(), skiffBin(c.t), args...)
}

// mustSkiff runs skiff and fails the test if it exits non-zero.
func (c *cluster) mustSkiff(timeout time.Duration, args ...string) result {
	c.t.Helper()
	r := c.skiff(timeout, args...)
	if r.code != 0 {
		c.t.Fatalf("skiff %s failed:\n%s", strings.Join(args, " "), r)
	}
	return r
}

// kubectl runs kubectl against the cluster and fails the test on error.
func (c *cluster) kubectl(args ...string) string {
	c.t.Helper()
	r := run(c.t, 2*time.Minute, c.env(), "kubectl", append([]string{"--context", "skiff-" + c.name}, args...)...)
	if r.code != 0 {
		c.t.Fatalf("kubectl %s failed:\n%s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// clientset is a client-go client for the cluster.
func (c *cluster) clientset() *kubernetes.Clientset {
	c.t.Helper()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: c.kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: "skiff-" + c.name},
	).ClientConfig()
	if err != nil {
		c.t.Fatalf("kubeconfig %s: %v", c.kubeconfig, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	return cs
}

// newCluster creates a cluster and deletes it when the test ends.
func newCluster(t *testing.T, name string, args ...string) *cluster {
	t.Helper()
	c := &cluster{t: t, name: name, kubeconfig: filepath.Join(t.TempDir(), "kubeconfig")}
	c.deleteAtEnd()
	start := time.Now()
	c.mustSkiff(6*time.Minute, append([]string{"create", "--name", name}, args...)...)
	t.Logf("created cluster %s in %s", name, time.Since(start).Round(100*time.Millisecond))
	return c
}

// deleteAtEnd deletes the cluster when its test ends, after keeping its
// logs if the test failed.
func (c *cluster) deleteAtEnd() {
	t := c.t
	t.Cleanup(func() {
		c.t = t
		c.exportIfFailed()
		c.skiff(2*time.Minute, "delete", "--name", c.name)
	})
}

// exportIfFailed keeps a failed test's cluster's logs (skiff export logs)
// before the delete, under $TMPDIR/skiff-e2e-logs, and logs which of its
// components exited: CI keeps only the test's output, and the cluster is
// gone after.
func (c *cluster) exportIfFailed() {
	t := c.t
	if !t.Failed() {
		return
	}
	dir := filepath.Join(os.TempDir(), "skiff-e2e-logs", strings.ReplaceAll(t.Name(), "/", "_"), c.name)
	_ = os.RemoveAll(dir)
	if r := c.skiff(3*time.Minute, "export", "logs", dir, "--name", c.name); r.code != 0 {
		t.Logf("export logs of cluster %s: %s", c.name, r)
		return
	}
	t.Logf("logs of cluster %s: %s", c.name, dir)
	data, err := os.ReadFile(filepath.Join(dir, "status.json"))
	var st node.AgentStatus
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	if err != nil {
		t.Logf("agent status of cluster %s: %v", c.name, err)
		return
	}
	t.Logf("agent of cluster %s: phase %s", c.name, st.Phase)
	for _, cs := range st.Components {
		if !cs.Running || cs.Restarts > 0 {
			t.Logf("  %s: running %t, %d restarts, last exit %q", cs.Name, cs.Running, cs.Restarts, cs.LastExit)
		}
	}
}

// contexts lists the context names in a kubeconfig file.
func contexts(t *testing.T, path string) []string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("kubeconfig %s is damaged: %v", path, err)
	}
	var names []string
	for n := range cfg.Contexts {
		names = append(names, n)
	}
	return names
}

// assertGone checks that a cluster left no container, volume or kubeconfig
// entry behind.
func assertGone(t *testing.T, name, kubeconfig string) {
	t.Helper()
	for _, what := range [][]string{
		{"ps", "-a", "-q", "--filter", "label=dev.skiff.cluster=" + name},
		{"volume", "ls", "-q", "--filter", "label=dev.skiff.cluster=" + name},
	} {
		r := run(t, time.Minute, nil, "docker", what...)
		if strings.TrimSpace(r.stdout) != "" {
			t.Errorf("cluster %s left Docker objects behind (docker %s): %s", name, strings.Join(what, " "), r.stdout)
		}
	}
	if kubeconfig != "" {
		for _, ctx := range contexts(t, kubeconfig) {
			if ctx == "skiff-"+name {
				t.Errorf("kubeconfig %s still has context skiff-%s", kubeconfig, name)
			}
		}
	}
}

var (
	appMu       sync.Mutex
	appArchives = map[string]string{}
)

// helloArchive builds the test app image archive skiff.test/hello:v1 once.
func helloArchive(t *testing.T) string { return helloVersion(t, "v1") }

// helloArchiveV2 is the same app answering "version v2".
func helloArchiveV2(t *testing.T) string { return helloVersion(t, "v2") }

func helloVersion(t *testing.T, version string) string {
	t.Helper()
	appMu.Lock()
	defer appMu.Unlock()
	if a, ok := appArchives[version]; ok {
		return a
	}
	dir, err := os.MkdirTemp("", "skiff-e2e-app")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	a, err := testapp.BuildImage(ctx, dir, "skiff.test/hello:"+version, version)
	if err != nil {
		t.Fatalf("build test app image %s: %v", version, err)
	}
	appArchives[version] = a
	return a
}

// ownNodeImage copies the binary under test into dir with a few bytes
// appended: it runs the same, but its agent layer, and so its node image,
// is its own, removed when the test ends. It returns the copy and that
// image's reference.
func ownNodeImage(t *testing.T, dir string) (skiff, node string) {
	t.Helper()
	data, err := os.ReadFile(skiffBin(t))
	if err != nil {
		t.Fatal(err)
	}
	skiff = filepath.Join(dir, "skiff")
	if err := os.WriteFile(skiff, append(data, []byte("\nskiff e2e "+t.Name()+"\n")...), 0o755); err != nil {
		t.Fatal(err)
	}
	m, err := images.Resolved("")
	if err != nil {
		t.Fatal(err)
	}
	if node, err = images.NodeImage(m, skiff); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run(t, time.Minute, nil, "docker", "rmi", "-f", node) })
	return skiff, node
}

// pushHello pushes the test app image from the host's Docker as ref; the
// tag is removed from the host's Docker when the test ends.
func pushHello(t *testing.T, ref string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := testapp.LoadIntoDocker(ctx, helloArchive(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { run(t, time.Minute, nil, "docker", "rmi", ref) })
	for _, args := range [][]string{{"tag", "skiff.test/hello:v1", ref}, {"push", ref}} {
		if r := run(t, 3*time.Minute, nil, "docker", args...); r.code != 0 {
			t.Fatalf("docker %s:\n%s", strings.Join(args, " "), r)
		}
	}
}

// runClosingOutput runs skiff with its stdout and stderr on one pipe, reads
// the first line, waits for ready (if not nil) to return, closes the pipe
// as `skiff ... 2>&1 | head -1` does, and returns how skiff exited (within
// two minutes).
func runClosingOutput(t *testing.T, env []string, ready func() bool, args ...string) error {
	t.Helper()
	cmd := exec.Command(skiffBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	line, _ := bufio.NewReader(r).ReadString('\n')
	t.Logf("skiff %s: first line %q, then its output pipe closes", strings.Join(args, " "), line)
	deadline := time.Now().Add(time.Minute)
	for ready != nil && !ready() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	r.Close()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("skiff %s did not stop within 2m of its output pipe closing", strings.Join(args, " "))
		return nil
	}
}

// releases are the Kubernetes releases the per-release tests run against,
// as $SKIFF_E2E_KUBERNETES names them (versions or minors, separated by
// spaces or commas; hack/test.sh names the newest and the oldest), else the
// default release alone. Each one's node image must exist (skiff image
// build --kubernetes-version V).
func releases(t *testing.T) []*images.Manifest {
	t.Helper()
	m, err := images.LoadManifest()
	if err != nil {
		t.Fatal(err)
	}
	names := strings.FieldsFunc(os.Getenv("SKIFF_E2E_KUBERNETES"), func(r rune) bool { return r == ',' || r == ' ' })
	if len(names) == 0 {
		names = []string{m.Kubernetes.Default}
	}
	var out []*images.Manifest
	for _, v := range names {
		r, err := m.ForKubernetes(v)
		if err != nil {
			t.Fatalf("SKIFF_E2E_KUBERNETES: %v", err)
		}
		out = append(out, r)
	}
	return out
}

// forEachRelease runs test once per release, as a subtest named for its
// version, on a cluster named base-MINOR (e2e-life-34) created for it with
// args.
func forEachRelease(t *testing.T, base string, test func(t *testing.T, c *cluster, rel *images.Manifest), args ...string) {
	for _, rel := range releases(t) {
		t.Run(rel.Kubernetes.Default, func(t *testing.T) {
			test(t, newReleaseCluster(t, base, rel, args...), rel)
		})
	}
}

// newReleaseCluster creates a cluster of release rel named base-MINOR.
func newReleaseCluster(t *testing.T, base string, rel *images.Manifest, args ...string) *cluster {
	t.Helper()
	minor := strings.Split(rel.Kubernetes.Default, ".")[1]
	return newCluster(t, base+"-"+minor, append([]string{"--kubernetes-version", rel.Kubernetes.Default}, args...)...)
}

// checkRelease checks that the cluster runs what its release pins: the API
// server and kubelet of its Kubernetes, its etcd (skiff status) and its
// CoreDNS.
func checkRelease(t *testing.T, c *cluster, rel *images.Manifest) {
	t.Helper()
	want := rel.Kubernetes.Default
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cs := c.clientset()
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != want {
		t.Errorf("API server is %s, want %s", v.GitVersion, want)
	}
	node, err := cs.CoreV1().Nodes().Get(ctx, c.name+"-control-plane", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := node.Status.NodeInfo.KubeletVersion; got != want {
		t.Errorf("node runs kubelet %s, want %s", got, want)
	}
	etcd, _ := rel.Component("etcd")
	if got := status(c).Versions; got["kubernetes"] != want || got["etcd"] != etcd.Version {
		t.Errorf("skiff status versions %v, want kubernetes %s and etcd %s", got, want, etcd.Version)
	}
	dns, err := cs.AppsV1().Deployments("kube-system").Get(ctx, "coredns", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := dns.Spec.Template.Spec.Containers[0].Image; img != rel.Images()["coredns"] {
		t.Errorf("CoreDNS runs %s, want %s", img, rel.Images()["coredns"])
	}
	list := c.mustSkiff(time.Minute, "list").stdout
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(c.name) + `\s+running\s+` + regexp.QuoteMeta(want) + `\s`).MatchString(list) {
		t.Errorf("skiff list does not show %s running %s:\n%s", c.name, want, list)
	}
}
