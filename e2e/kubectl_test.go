package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestSkiffKubectl runs `skiff kubectl` on a PATH without kubectl and with
// an empty cache, as on a machine with only Docker: the node image's
// kubectl answers for the cluster, at the cluster's version, with stdin,
// output and exit code passed through.
func TestSkiffKubectl(t *testing.T) {
	e2e(t)
	c := newCluster(t, "e2e-kubectl", "--no-addons")
	cache := t.TempDir()
	env := append(c.env(), "PATH="+pathWithout(t, "kubectl"), "XDG_CACHE_HOME="+cache)
	kubectl := func(stdin string, args ...string) result {
		t.Helper()
		return runInput(t, 3*time.Minute, env, stdin, skiffBin(t), append([]string{"kubectl", "--name", c.name, "--"}, args...)...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	start := time.Now()
	if r := kubectl("", "get", "nodes", "-o", "name"); r.code != 0 || strings.TrimSpace(r.stdout) != "node/"+nodeOf(c) {
		t.Fatalf("skiff kubectl -- get nodes:\n%s", r)
	}
	t.Logf("first skiff kubectl (copies kubectl out of the node) took %s", time.Since(start).Round(100*time.Millisecond))
	copies, _ := filepath.Glob(filepath.Join(cache, "skiff", "kubectl", "*", "kubectl"))
	if len(copies) != 1 {
		t.Fatalf("want one kubectl in the cache, got %v", copies)
	}
	start = time.Now()
	if r := kubectl("", "get", "nodes"); r.code != 0 {
		t.Fatalf("second skiff kubectl:\n%s", r)
	} else if !strings.Contains(r.stdout, "control-plane") {
		// The agent labels the node; kubectl shows it under ROLES.
		t.Errorf("the node's ROLES should say control-plane:\n%s", r.stdout)
	}
	t.Logf("second skiff kubectl (cached) took %s", time.Since(start).Round(100*time.Millisecond))

	server, err := c.clientset().Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("its version is the cluster's", func(t *testing.T) {
		if v := clientVersion(t, kubectl("", "version", "-o", "json")); v != server.GitVersion || filepath.Base(filepath.Dir(copies[0])) != server.GitVersion {
			t.Errorf("kubectl %s (cached as %s) for a %s cluster", v, copies[0], server.GitVersion)
		}
	})

	t.Run("stdin reaches kubectl", func(t *testing.T) {
		doc := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-stdin}\ndata: {k: v}\n"
		if r := kubectl(doc, "apply", "-f", "-"); r.code != 0 {
			t.Fatalf("apply -f -:\n%s", r)
		}
		cm, err := c.clientset().CoreV1().ConfigMaps("default").Get(ctx, "from-stdin", metav1.GetOptions{})
		if err != nil || cm.Data["k"] != "v" {
			t.Fatalf("ConfigMap applied from stdin: %v %v", cm, err)
		}
	})

	t.Run("exit codes pass through, with kubectl's own message only", func(t *testing.T) {
		r := kubectl("", "get", "pod", "no-such-pod")
		if r.code != 1 || !strings.Contains(r.stderr, `"no-such-pod" not found`) || strings.Contains(r.stderr, "ERROR:") {
			t.Errorf("get of a missing pod: want exit 1 and kubectl's error alone:\n%s", r)
		}
		if r := kubectl("", "run", "sh", "--image=skiff.local/busybox:bookworm", "--image-pull-policy=Never", "--restart=Never", "--command", "--", "/bin/sleep", "600"); r.code != 0 {
			t.Fatalf("run:\n%s", r)
		}
		if r := kubectl("", "wait", "--for=condition=Ready", "pod/sh", "--timeout=120s"); r.code != 0 {
			t.Fatalf("wait:\n%s", r)
		}
		r = kubectl("7\n", "exec", "-i", "sh", "--", "/bin/sh", "-c", "read code; exit $code")
		if r.code != 7 {
			t.Errorf("exec of a command that exits with the code read from stdin (7):\n%s", r)
		}
	})

	t.Run("a stopped cluster gives its kubectl too", func(t *testing.T) {
		c.mustSkiff(2*time.Minute, "stop", "--name", c.name)
		fresh := append(env, "XDG_CACHE_HOME="+t.TempDir())
		r := runInput(t, 3*time.Minute, fresh, "", skiffBin(t), "kubectl", "--name", c.name, "--", "version", "--client", "-o", "json")
		if v := clientVersion(t, r); v != server.GitVersion {
			t.Errorf("kubectl %s from a stopped %s cluster", v, server.GitVersion)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		r := runInput(t, time.Minute, env, "", skiffBin(t), "kubectl", "--name", "e2e-no-such-cluster", "--", "get", "nodes")
		if r.code == 0 {
			t.Fatalf("kubectl of a missing cluster succeeded:\n%s", r)
		}
		assertOneErrorLine(t, r, "e2e-no-such-cluster")
		r = runInput(t, time.Minute, env, "", skiffBin(t), "kubectl", "--name", c.name, "get", "pods", "-o", "wide")
		if r.code == 0 {
			t.Fatalf("kubectl flags before -- were accepted:\n%s", r)
		}
		assertOneErrorLine(t, r, "after --")
	})
}

// pathWithout returns $PATH without the directories that hold cmd.
func pathWithout(t *testing.T, cmd string) string {
	t.Helper()
	var keep []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, cmd)); err != nil {
			keep = append(keep, dir)
		}
	}
	return strings.Join(keep, string(os.PathListSeparator))
}

// clientVersion returns the client's gitVersion from `kubectl version -o json`.
func clientVersion(t *testing.T, r result) string {
	t.Helper()
	var v struct {
		ClientVersion struct{ GitVersion string } `json:"clientVersion"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 0 {
		t.Fatalf("kubectl version -o json: %v\n%s", err, r)
	}
	return v.ClientVersion.GitVersion
}
