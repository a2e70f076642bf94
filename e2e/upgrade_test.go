package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// olderSkiff is the commit of the previous round's last release: the skiff
// whose clusters a newer skiff must still start and manage.
const olderSkiff = "1aa1e26"

// TestUpgradeFromOlderSkiff creates a cluster with an older skiff (built
// from its commit) on the node image that skiff builds, then manages it
// with the skiff under test: status, load, stop, start, delete.
func TestUpgradeFromOlderSkiff(t *testing.T) {
	e2e(t)
	dir := t.TempDir()
	old := buildOlderSkiff(t, dir, olderSkiff)
	image := olderNodeImage(t, old)

	c := &cluster{t: t, name: "e2e-upgrade", kubeconfig: filepath.Join(dir, "kubeconfig")}
	c.deleteAtEnd()
	if r := run(t, 6*time.Minute, c.env(), old, "create", "--name", c.name, "--image", image); r.code != 0 {
		t.Fatalf("create with skiff %s:\n%s", olderSkiff, r)
	}
	c.kubectl("create", "configmap", "from-old", "--from-literal=made=by-"+olderSkiff)

	st := status(c)
	if st.APIServer == "" || len(st.Components) == 0 {
		t.Fatalf("status of the older cluster lacks its API server or components: %+v", st)
	}
	c.mustSkiff(3*time.Minute, "load", "archive", helloArchive(t), "--name", c.name)
	c.mustSkiff(2*time.Minute, "stop", "--name", c.name)
	c.mustSkiff(5*time.Minute, "start", "--name", c.name)
	if got := c.kubectl("get", "configmap", "from-old", "-o", "jsonpath={.data.made}"); got != "by-"+olderSkiff {
		t.Errorf("ConfigMap after start with the newer skiff: %q", got)
	}
	// The older agent reports the node Running before the DNS Service
	// answers (the wait for it came later, with d70d773): a lookup right
	// after start may be lost to CoreDNS's address of the last boot, so
	// this one may take a few tries. It must answer within a minute.
	for try, deadline := 1, time.Now().Add(time.Minute); ; try++ {
		name := fmt.Sprintf("after-upgrade-%d", try)
		startPod(c, name, "lookup", "kubernetes.default.svc.cluster.local")
		out, ok := podResult(c, name)
		if ok && strings.Contains(out, "10.96.0.1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a pod on the older cluster after start answered %q at try %d, a minute after the first", out, try)
		}
		t.Logf("lookup %d on the older cluster after start: %s", try, strings.TrimSpace(out))
	}
	c.mustSkiff(2*time.Minute, "delete", "--name", c.name)
	assertGone(t, c.name, c.kubeconfig)
}

// buildOlderSkiff builds skiff at commit from this repository's history.
func buildOlderSkiff(t *testing.T, dir, commit string) string {
	t.Helper()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	archive := exec.CommandContext(ctx, "sh", "-c", "git -C .. archive "+commit+" | tar -x -C "+src)
	if out, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("extract skiff %s (needs the repository's history, not a shallow clone): %v\n%s", commit, err, out)
	}
	bin := filepath.Join(dir, "skiff-"+commit)
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "./cmd/skiff")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build skiff %s: %v\n%s", commit, err, out)
	}
	t.Logf("built skiff %s in %s", commit, time.Since(start).Round(100*time.Millisecond))
	return bin
}

// olderNodeImage builds the older skiff's own node image, as its user did:
// its pins, not this tree's, name the images its agent applies. Its Go
// components mostly relink from the Go build cache (3 min here). What it
// built is removed when the test ends.
func olderNodeImage(t *testing.T, old string) string {
	t.Helper()
	r := run(t, 30*time.Minute, nil, old, "image", "build")
	if r.code != 0 {
		t.Fatalf("image build with skiff %s:\n%s", olderSkiff, r)
	}
	image := regexp.MustCompile(`(?:Built node image|Node image) (\S+)`).FindStringSubmatch(r.stdout)
	if image == nil {
		t.Fatalf("image build with skiff %s named no image:\n%s", olderSkiff, r)
	}
	// A base built now is removed too (after the image, its child).
	made := []string{image[1]}
	for _, m := range regexp.MustCompile(`Assembling and importing (skiff/node-base:\S+) \.\.\.`).FindAllStringSubmatch(r.stderr, -1) {
		if !strings.HasSuffix(m[1], "-rootfs") {
			made = append(made, m[1])
		}
	}
	if strings.Contains(r.stdout, "Built node image") {
		t.Cleanup(func() { run(t, time.Minute, nil, "docker", append([]string{"rmi"}, made...)...) })
	}
	return image[1]
}
