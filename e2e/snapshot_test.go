package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// snapshotJSON is one entry of `skiff snapshot ls -o json`.
type snapshotJSON struct {
	Name          string  `json:"name"`
	Cluster       string  `json:"cluster"`
	NodeName      string  `json:"nodeName"`
	Bytes         int64   `json:"bytes"`
	Running       bool    `json:"running"`
	PausedSeconds float64 `json:"pausedSeconds"`
}

// TestSnapshot takes a snapshot of a running cluster with the test app and
// a PersistentVolume holding known data, changes and deletes things, and
// restores it in place; makes two clones that run side by side; and moves
// the snapshot through a file (refusing damaged copies without a trace)
// to a machine state without it, and clones that.
func TestSnapshot(t *testing.T) {
	e2e(t)
	const snap = "e2e-snap"
	removeSnapshotAtEnd(t, snap)
	src := newCluster(t, "e2e-snap-src")
	step := func(name string, fn func(t *testing.T)) {
		if t.Failed() {
			return
		}
		t.Run(name, fn)
	}

	step("deploy the app and data, save a snapshot", func(t *testing.T) {
		src.t = t
		src.mustSkiff(3*time.Minute, "load", "archive", helloArchive(t), "--name", src.name)
		applyYAML(src, helloDeployment("v1", 2))
		src.kubectl("expose", "deployment", "hello", "--port=80", "--target-port=8080")
		src.kubectl("create", "configmap", "keep", "--from-literal=answer=42")
		applyYAML(src, pvcYAML("data"))
		runPodWithPVC(src, "writer", "data", "write", "/data/note", "at-snapshot")
		waitReadyReplicas(src, "hello", 2)
		waitServing(src, "http://hello/")
		r := src.mustSkiff(5*time.Minute, "snapshot", "save", snap, "--name", src.name)
		t.Logf("%s", strings.TrimSpace(r.stdout))
		if !strings.Contains(r.stdout, "paused for") {
			t.Errorf("save of a running cluster does not say how long it was paused:\n%s", r)
		}
		s := findSnapshot(t, snap)
		if s == nil || s.Cluster != src.name || !s.Running || s.Bytes == 0 || s.NodeName != src.name+"-control-plane" {
			t.Fatalf("snapshot ls: %+v", s)
		}
		t.Logf("snapshot: %d MiB, cluster paused for %.2f s", s.Bytes>>20, s.PausedSeconds)
		// What the cluster wrote, not the 128 MB of zeros etcd
		// preallocates for its WAL in every cluster's volume.
		if s.Bytes >= 64<<20 {
			t.Errorf("the snapshot takes %d MiB on disk: it stored etcd's preallocated WAL", s.Bytes>>20)
		}
		// A save whose reader goes away (`skiff snapshot save 2>&1 | head
		// -1`) stops, leaves no snapshot and the cluster running: killed
		// on the spot, it left both paused and half-made.
		removeSnapshotAtEnd(t, snap+"-cut")
		if err := runClosingOutput(t, src.env(), nil, "snapshot", "save", snap+"-cut", "--name", src.name); err == nil {
			t.Error("a save whose output pipe closed exited 0")
		}
		if s := findSnapshot(t, snap+"-cut"); s != nil {
			t.Errorf("a save whose output pipe closed left snapshot %+v", s)
		}
		if r := run(t, time.Minute, nil, "docker", "inspect", "-f", "{{.State.Status}}", src.name+"-control-plane"); strings.TrimSpace(r.stdout) != "running" {
			t.Errorf("after a cut-off save the node is %q, want running", r.stdout)
		}
		// The cluster runs on after the snapshot.
		if out := runPod(src, "after-save", "get", "http://hello/", "1", "0s", "1", "60s"); !strings.Contains(out, "hello from hello-") {
			t.Fatalf("the service after save answered %q", out)
		}
	})

	step("change things, restore: everything as at the snapshot", func(t *testing.T) {
		src.t = t
		src.kubectl("scale", "deployment/hello", "--replicas=3")
		runPodWithPVC(src, "overwriter", "data", "write", "/data/note", "after-snapshot")
		src.kubectl("delete", "deployment", "hello")
		src.kubectl("delete", "configmap", "keep")
		src.kubectl("create", "configmap", "after", "--from-literal=x=y")
		r := src.mustSkiff(6*time.Minute, "snapshot", "restore", snap, "--name", src.name)
		t.Logf("%s", strings.TrimSpace(r.stdout))
		waitReadyReplicas(src, "hello", 2)
		if got := src.kubectl("get", "configmap", "keep", "-o", "jsonpath={.data.answer}"); got != "42" {
			t.Errorf("ConfigMap keep after restore: answer=%q, want 42", got)
		}
		if names := src.kubectl("get", "configmaps", "-o", "name"); strings.Contains(names, "configmap/after") {
			t.Errorf("a ConfigMap made after the snapshot survived the restore: %s", names)
		}
		if got := runPodWithPVC(src, "reader", "data", "read", "/data/note"); strings.TrimSpace(got) != "at-snapshot" {
			t.Errorf("PVC data after restore: %q, want at-snapshot", got)
		}
		waitServing(src, "http://hello/")
	})

	var rootCA string
	step("delete the cluster: the snapshot stays", func(t *testing.T) {
		src.t = t
		rootCA = src.kubectl("get", "configmap", "kube-root-ca.crt", "-o", "jsonpath={.data.ca\\.crt}")
		src.mustSkiff(2*time.Minute, "delete", "--name", src.name)
		assertGone(t, src.name, src.kubeconfig)
		if findSnapshot(t, snap) == nil {
			t.Fatalf("skiff delete removed snapshot %s", snap)
		}
	})

	step("two clones side by side, each with its own context", func(t *testing.T) {
		kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
		var clones []*cluster
		for _, name := range []string{"e2e-snap-c1", "e2e-snap-c2"} {
			c := cloneOf(t, name, snap, kubeconfig)
			// As after a start, the pods keep the snapshot's addresses,
			// so the copied EndpointSlices are right: the first lookup
			// of the app's Service is answered.
			firstLookup(c, "deploy/hello", "hello.default.svc.cluster.local")
			clones = append(clones, c)
		}
		got := contexts(t, kubeconfig)
		for _, c := range clones {
			if !slices.Contains(got, "skiff-"+c.name) {
				t.Errorf("kubeconfig lacks context skiff-%s: %v", c.name, got)
			}
		}
		for _, c := range clones {
			assertClone(t, c, src.name+"-control-plane", rootCA)
		}
	})

	file := filepath.Join(t.TempDir(), "snap.skiffsnap")
	step("save to a file, remove, refuse damaged copies, load, clone", func(t *testing.T) {
		r := run(t, 10*time.Minute, nil, skiffBin(t), "snapshot", "save", snap, "-o", file)
		if r.code != 0 {
			t.Fatalf("snapshot save -o:\n%s", r)
		}
		t.Logf("%s", strings.TrimSpace(r.stdout))
		if st, err := os.Stat(file); err != nil {
			t.Fatal(err)
		} else if st.Size() >= 64<<20 {
			t.Errorf("the snapshot file is %d MiB: it carries etcd's preallocated WAL", st.Size()>>20)
		}
		if r := run(t, 2*time.Minute, nil, skiffBin(t), "snapshot", "rm", snap); r.code != 0 || findSnapshot(t, snap) != nil {
			t.Fatalf("snapshot rm:\n%s", r)
		}
		assertRefused(t, file, "corrupt", func(data []byte) []byte { data[len(data)/2] ^= 0xff; return data })
		assertRefused(t, file, "truncated", func(data []byte) []byte { return data[:len(data)*2/3] })
		assertRefused(t, file, "foreign", func([]byte) []byte { return []byte("not a snapshot\n") })
		r = run(t, 10*time.Minute, nil, skiffBin(t), "snapshot", "load", file)
		if r.code != 0 || findSnapshot(t, snap) == nil {
			t.Fatalf("snapshot load:\n%s", r)
		}
		t.Logf("%s", strings.TrimSpace(r.stdout))
		c := cloneOf(t, "e2e-snap-c3", snap, filepath.Join(t.TempDir(), "kubeconfig"))
		assertClone(t, c, src.name+"-control-plane", rootCA)
	})
}

// TestSnapshotStoppedCluster snapshots a stopped cluster (no pause, it
// stays stopped) and clones it; a snapshot or clone that cannot be made
// is refused with one line and leaves nothing.
func TestSnapshotStoppedCluster(t *testing.T) {
	e2e(t)
	const snap = "e2e-snap-stopped"
	removeSnapshotAtEnd(t, snap)
	c := newCluster(t, "e2e-snap-stop")
	c.kubectl("create", "configmap", "keep", "--from-literal=answer=stopped")
	c.mustSkiff(2*time.Minute, "stop", "--name", c.name)
	r := c.mustSkiff(5*time.Minute, "snapshot", "save", snap, "--name", c.name)
	if !strings.Contains(r.stdout, "stopped") {
		t.Errorf("save of a stopped cluster does not say so:\n%s", r)
	}
	if s := findSnapshot(t, snap); s == nil || s.Running || s.PausedSeconds != 0 {
		t.Errorf("snapshot of a stopped cluster: %+v", s)
	}
	if state := inspect(t, nodeOf(c), "{{.State.Status}}"); state != "exited" {
		t.Errorf("the cluster is %s after the snapshot, want exited (stopped)", state)
	}
	clone := cloneOf(t, "e2e-snap-stop-c", snap, c.kubeconfig)
	if got := clone.kubectl("get", "configmap", "keep", "-o", "jsonpath={.data.answer}"); got != "stopped" {
		t.Errorf("clone's ConfigMap keep: %q, want stopped", got)
	}

	before := clusterObjects(t, "e2e-snap-bad")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"create", "--from", "e2e-snap-no-such", "--name", "e2e-snap-bad"}, `snapshot "e2e-snap-no-such" not found`},
		{[]string{"create", "--from", snap, "--name", "e2e-snap-bad", "--addons", "dns"}, "drop --addons"},
		{[]string{"snapshot", "save", "Bad_Name", "--name", clone.name}, "invalid snapshot name"},
		{[]string{"snapshot", "save", snap, "--name", clone.name}, "already exists"},
		{[]string{"snapshot", "restore", snap, "--name", "e2e-snap-bad"}, `cluster "e2e-snap-bad" not found`},
	} {
		r := c.skiff(2*time.Minute, tc.args...)
		if r.code == 0 {
			t.Errorf("skiff %s succeeded:\n%s", strings.Join(tc.args, " "), r)
			continue
		}
		assertOneErrorLine(t, r, tc.want)
	}
	assertNoNewObjects(t, "e2e-snap-bad", before)
}

// cloneOf creates cluster name from a snapshot and deletes it when the
// test ends.
func cloneOf(t *testing.T, name, snap, kubeconfig string) *cluster {
	t.Helper()
	c := &cluster{t: t, name: name, kubeconfig: kubeconfig}
	c.deleteAtEnd()
	start := time.Now()
	c.mustSkiff(6*time.Minute, "create", "--from", snap, "--name", name)
	t.Logf("created cluster %s from snapshot %s in %s", name, snap, time.Since(start).Round(100*time.Millisecond))
	assertAPIEndpoint(t, c)
	return c
}

// assertAPIEndpoint checks, as soon as create returns, that the Service
// "kubernetes" leads to this node alone. A clone starts with the
// snapshot's endpoints, which name the node it was saved from (running on,
// or reused by another cluster); kept for a lease's 15 s, they sent half of
// a clone's API calls from pods there.
func assertAPIEndpoint(t *testing.T, c *cluster) {
	t.Helper()
	ip := inspect(t, nodeOf(c), `{{(index .NetworkSettings.Networks "skiff").IPAddress}}`)
	if got := c.kubectl("get", "endpointslice", "kubernetes", "-o", "jsonpath={.endpoints[*].addresses[*]}"); got != ip {
		t.Errorf("%s: the Service kubernetes leads to %q, want this node's %s alone", c.name, got, ip)
	}
}

// assertClone checks that a clone has the snapshot's app, Service and PVC
// data, keeps the snapshot's node name and CA, and that its --internal
// kubeconfig works from a container on the skiff network (the API server
// certificate names the clone's container).
func assertClone(t *testing.T, c *cluster, nodeName, rootCA string) {
	t.Helper()
	c.t = t
	waitReadyReplicas(c, "hello", 2)
	waitServing(c, "http://hello/")
	if got := runPodWithPVC(c, "reader-"+c.name, "data", "read", "/data/note"); strings.TrimSpace(got) != "at-snapshot" {
		t.Errorf("%s: PVC data %q, want at-snapshot", c.name, got)
	}
	// The registry's pod names its port in the node, not the host's port
	// a clone changes: the Deployment is as saved (generation 1 in a
	// source never changed), not rolled again, which cost a clone 1.5 s.
	if got := c.kubectl("-n", "kube-system", "get", "deployment", "registry", "-o", "jsonpath={.metadata.generation}"); got != "1" {
		t.Errorf("%s: registry Deployment at generation %s after the clone, want 1: the clone rolled it again", c.name, got)
	}
	if got := c.kubectl("get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"); got != nodeName {
		t.Errorf("%s: nodes %q, want the snapshot's %q", c.name, got, nodeName)
	}
	if got := c.kubectl("get", "configmap", "kube-root-ca.crt", "-o", "jsonpath={.data.ca\\.crt}"); got != rootCA {
		t.Errorf("%s: kube-root-ca.crt differs from the snapshot's", c.name)
	}
	internal := c.mustSkiff(time.Minute, "kubeconfig", "--name", c.name, "--internal").stdout
	image := inspect(t, nodeOf(c), "{{.Config.Image}}")
	r := runStdin(t, internal, "docker", "run", "--rm", "-i", "--network", "skiff", "--entrypoint", "sh", image,
		"-c", "cat > /tmp/kc && kubectl --kubeconfig /tmp/kc get nodes -o name")
	if r.code != 0 || !strings.Contains(r.stdout, "node/"+nodeName) {
		t.Errorf("%s: the --internal kubeconfig from the skiff network:\n%s", c.name, r)
	}
}

// runStdin runs a command with stdin.
func runStdin(t *testing.T, stdin, name string, args ...string) result {
	t.Helper()
	f := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(f, []byte(stdin), 0o600); err != nil {
		t.Fatal(err)
	}
	return run(t, 2*time.Minute, nil, "sh", append([]string{"-c", `exec "$@" < "$0"`, f, name}, args...)...)
}

// assertRefused checks that a damaged copy of a snapshot file is refused
// with one line and that no volume or snapshot appeared.
func assertRefused(t *testing.T, file, what string, damage func([]byte) []byte) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), what+".skiffsnap")
	if err := os.WriteFile(bad, damage(data), 0o644); err != nil {
		t.Fatal(err)
	}
	volumes := func() string { return run(t, time.Minute, nil, "docker", "volume", "ls", "-q").stdout }
	before, snaps := volumes(), snapshots(t)
	r := run(t, 5*time.Minute, nil, skiffBin(t), "snapshot", "load", bad)
	if r.code == 0 {
		t.Fatalf("a %s snapshot file was loaded:\n%s", what, r)
	}
	assertOneErrorLine(t, r, "snapshot file")
	if after := volumes(); after != before {
		t.Errorf("a refused %s file changed Docker's volumes:\nbefore:\n%s\nafter:\n%s", what, before, after)
	}
	if after := snapshots(t); len(after) != len(snaps) {
		t.Errorf("a refused %s file changed the snapshots: %v", what, after)
	}
}

func snapshots(t *testing.T) []snapshotJSON {
	t.Helper()
	r := run(t, time.Minute, nil, skiffBin(t), "snapshot", "ls", "-o", "json")
	if r.code != 0 {
		t.Fatalf("snapshot ls:\n%s", r)
	}
	var list []snapshotJSON
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("snapshot ls -o json: %v\n%s", err, r.stdout)
	}
	return list
}

func findSnapshot(t *testing.T, name string) *snapshotJSON {
	t.Helper()
	for _, s := range snapshots(t) {
		if s.Name == name {
			return &s
		}
	}
	return nil
}

func removeSnapshotAtEnd(t *testing.T, name string) {
	t.Cleanup(func() { run(t, 2*time.Minute, nil, skiffBin(t), "snapshot", "rm", name) })
}
