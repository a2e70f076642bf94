package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/e2e/testapp"
)

// TestBundle is the workshop: save a bundle with an extra app image and a
// snapshot of the exercise already deployed, reject a corrupted copy
// without touching Docker, load the good one on a "bare" machine (node
// image and snapshot removed), and clone the snapshot into a cluster that
// runs the app.
// It works with its own copy of skiff, whose different bytes give it its own
// node image (only the agent layer differs), so removing that image never
// touches the one a user's clusters run.
func TestBundle(t *testing.T) {
	e2e(t)
	dir := t.TempDir()
	skiff, node := ownNodeImage(t, dir)
	if r := run(t, 5*time.Minute, nil, skiff, "image", "build"); r.code != 0 {
		t.Fatalf("image build with the test's skiff:\n%s", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := testapp.LoadIntoDocker(ctx, helloArchive(t)); err != nil {
		t.Fatal(err)
	}
	// The exercise, already deployed: a snapshot of a cluster holding it.
	const snap = "e2e-bundle-snap"
	t.Cleanup(func() { run(t, 2*time.Minute, nil, skiff, "snapshot", "rm", snap) })
	src := &cluster{t: t, name: "e2e-bundle-src", kubeconfig: filepath.Join(dir, "src-kubeconfig")}
	t.Cleanup(func() { run(t, 2*time.Minute, src.env(), skiff, "delete", "--name", src.name) })
	if r := run(t, 6*time.Minute, src.env(), skiff, "create", "--name", src.name); r.code != 0 {
		t.Fatalf("create the snapshot's cluster:\n%s", r)
	}
	src.kubectl("create", "configmap", "exercise", "--from-literal=step=1")
	if r := run(t, 5*time.Minute, src.env(), skiff, "snapshot", "save", snap, "--name", src.name); r.code != 0 {
		t.Fatalf("snapshot save:\n%s", r)
	}
	run(t, 2*time.Minute, src.env(), skiff, "delete", "--name", src.name)

	b := filepath.Join(dir, "workshop.skiff")
	start := time.Now()
	if r := run(t, 10*time.Minute, nil, skiff, "bundle", "save", "-o", b, "--image", "skiff.test/hello:v1", "--snapshot", snap); r.code != 0 {
		t.Fatalf("bundle save:\n%s", r)
	}
	st, _ := os.Stat(b)
	t.Logf("bundle: %d MiB, saved in %s", st.Size()>>20, time.Since(start).Round(100*time.Millisecond))

	t.Run("a corrupted bundle changes nothing", func(t *testing.T) {
		// As a set: images made without a daemon share the zero creation
		// time, so Docker lists them in no fixed order.
		imageSet := func() string {
			ids := strings.Fields(run(t, time.Minute, nil, "docker", "images", "-a", "-q", "--no-trunc").stdout)
			slices.Sort(ids)
			return strings.Join(slices.Compact(ids), " ")
		}
		before := imageSet()
		bad := filepath.Join(dir, "bad.skiff")
		data, err := os.ReadFile(b)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0xff
		if err := os.WriteFile(bad, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r := run(t, 10*time.Minute, nil, skiff, "bundle", "load", bad, "--bin-dir", filepath.Join(dir, "badbin"))
		if r.code == 0 || !strings.Contains(r.stderr, "damaged") {
			t.Fatalf("want a 'damaged' error:\n%s", r)
		}
		if after := imageSet(); after != before {
			t.Errorf("Docker's images changed after a rejected bundle")
		}
		if _, err := os.Stat(filepath.Join(dir, "badbin", "skiff")); err == nil {
			t.Errorf("a rejected bundle installed a binary")
		}
	})

	t.Run("load on a machine without the images or the snapshot, then clone", func(t *testing.T) {
		// The test's node image and the snapshot go away as on a bare machine.
		if r := run(t, 2*time.Minute, nil, skiff, "snapshot", "rm", snap); r.code != 0 {
			t.Fatalf("snapshot rm:\n%s", r)
		}
		run(t, time.Minute, nil, "docker", "rmi", "-f", node, "skiff.test/hello:v1")
		if r := run(t, time.Minute, nil, "docker", "image", "inspect", node); r.code == 0 {
			t.Fatalf("node image %s still present", node)
		}
		bin := filepath.Join(dir, "bin")
		start := time.Now()
		r := run(t, 10*time.Minute, nil, skiff, "bundle", "load", b, "--bin-dir", bin)
		if r.code != 0 {
			t.Fatalf("bundle load:\n%s", r)
		}
		t.Logf("bundle loaded in %s", time.Since(start).Round(100*time.Millisecond))
		if r := run(t, 10*time.Minute, nil, skiff, "bundle", "load", b, "--bin-dir", bin); r.code != 0 || !strings.Contains(r.stdout, "nothing to do") {
			t.Errorf("loading again should be a no-op:\n%s", r)
		}
		c := &cluster{t: t, name: "e2e-bundle", kubeconfig: filepath.Join(t.TempDir(), "kubeconfig")}
		c.deleteAtEnd()
		installed := filepath.Join(bin, "skiff")
		if r := run(t, 6*time.Minute, c.env(), installed, "create", "--from", snap, "--name", c.name); r.code != 0 {
			t.Fatalf("create --from the bundled snapshot with the installed skiff:\n%s", r)
		}
		// The attendee's machine has Docker and what the bundle installed:
		// a PATH of the bin dir alone finds kubectl there, at the cluster's
		// version, and it reads the clone.
		onlyBundle := append(c.env(), "PATH="+bin)
		if r := run(t, time.Minute, onlyBundle, "/bin/sh", "-c", "command -v kubectl && kubectl get configmap exercise -o jsonpath={.data.step}"); r.code != 0 || r.stdout != filepath.Join(bin, "kubectl")+"\n1" {
			t.Errorf("the bundle's kubectl on a PATH of only the bin dir, reading the clone's ConfigMap exercise (want step 1):\n%s", r)
		}
		server, err := c.clientset().Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		if v := clientVersion(t, run(t, time.Minute, nil, filepath.Join(bin, "kubectl"), "version", "--client", "-o", "json")); v != server.GitVersion {
			t.Errorf("the bundle installed kubectl %s for a %s cluster", v, server.GitVersion)
		}
		if r := run(t, 3*time.Minute, c.env(), installed, "load", "docker-image", "skiff.test/hello:v1", "--name", c.name); r.code != 0 {
			t.Fatalf("load the extra image:\n%s", r)
		}
		if out := runPod(c, "from-bundle", "lookup", "kubernetes.default.svc.cluster.local"); !strings.Contains(out, "10.96.0.1") {
			t.Fatalf("pod from the bundled image answered %q", out)
		}
	})
}
