package e2e

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/images"
)

// TestBadInput checks that each mistake gets one clear line, a non-zero
// exit, no leftovers and an untouched kubeconfig. Clusters that existed
// before (the user's own "skiff", say) are not counted as leftovers.
func TestBadInput(t *testing.T) {
	e2e(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port

	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const header = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n"
	malformed := write("malformed.yaml", header+"networking:\n  apiServerPort: [1, 2]\n")
	unknown := write("unknown.yaml", header+"networkin: {}\n")
	portTaken := write("port.yaml", header+"name: e2e-bad-port\nnetworking:\n  apiServerPort: "+strconv.Itoa(busyPort)+"\n")
	smallPods := write("pods.yaml", header+"name: e2e-bad-pods\nnetworking:\n  podSubnet: 10.244.0.0/25\n")
	gateTypo := write("gate.yaml", header+"name: e2e-bad-gate\nfeatureGates:\n  InPlacePodVerticalScalng: true\n")
	mappingRange := write("mapping.yaml", header+"name: e2e-bad-map\nnodes:\n- role: control-plane\n  extraPortMappings:\n  - {containerPort: 30080, hostPort: 70000}\n")
	manifest, err := images.LoadManifest()
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, cluster string
		args, env     []string
		want          string
	}{
		{"invalid name", "Bad_Name", []string{"create", "--name", "Bad_Name"}, nil, "invalid cluster name"},
		{"malformed config", "skiff", []string{"create", "--config", malformed}, nil, "line 4"},
		{"unknown config field", "skiff", []string{"create", "--config", unknown}, nil, "field networkin not found"},
		{"port in use", "e2e-bad-port", []string{"create", "--config", portTaken}, nil, "already in use"},
		{"pod subnet too small", "e2e-bad-pods", []string{"create", "--config", smallPods}, nil, "invalid podSubnet"},
		{"feature gate typo", "e2e-bad-gate", []string{"create", "--config", gateTypo}, nil, `unknown feature gate "InPlacePodVerticalScalng"`},
		{"host port out of range", "e2e-bad-map", []string{"create", "--config", mappingRange}, nil, "use 1-65535"},
		{"HTTP port equals HTTPS port", "e2e-bad-http", []string{"create", "--name", "e2e-bad-http", "--http-port", "18080", "--https-port", "18080"}, nil, "are both 18080"},
		{"registry port taken", "e2e-bad-reg", []string{"create", "--name", "e2e-bad-reg", "--registry-port", strconv.Itoa(busyPort)}, nil, "is already in use"},
		{"unsupported Kubernetes version", "e2e-bad-k8s", []string{"create", "--name", "e2e-bad-k8s", "--kubernetes-version", "1.20"}, nil, "choose one of " + strings.Join(manifest.Supported(), ", ")},
		{"Kubernetes version and image", "e2e-bad-k8s2", []string{"create", "--name", "e2e-bad-k8s2", "--kubernetes-version", "1.34", "--image", "skiff/node:x"}, nil, "drop --kubernetes-version"},
		{"missing node image", "e2e-bad-image", []string{"create", "--name", "e2e-bad-image", "--image", "skiff/node:does-not-exist"}, nil, "skiff image build"},
		{"docker not reachable", "e2e-bad-docker", []string{"create", "--name", "e2e-bad-docker"}, []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"}, "Docker is not reachable"},
		{"unknown cluster", "e2e-nope", []string{"stop", "--name", "e2e-nope"}, nil, "not found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kc := filepath.Join(t.TempDir(), "config")
			original := []byte("apiVersion: v1\nkind: Config\ncontexts: []\nclusters: []\nusers: []\ncurrent-context: \"\"\n")
			if err := os.WriteFile(kc, original, 0o600); err != nil {
				t.Fatal(err)
			}
			before := clusterObjects(t, tc.cluster)
			r := run(t, 2*time.Minute, append([]string{"KUBECONFIG=" + kc}, tc.env...), skiffBin(t), tc.args...)
			if r.code == 0 {
				t.Fatalf("want a non-zero exit:\n%s", r)
			}
			assertOneErrorLine(t, r, tc.want)
			assertNoNewObjects(t, tc.cluster, before)
			if got, _ := os.ReadFile(kc); !bytes.Equal(got, original) {
				t.Errorf("kubeconfig changed:\n%s", got)
			}
		})
	}
}

// assertOneErrorLine checks that a failed command ends with one ERROR line
// that mentions want.
func assertOneErrorLine(t *testing.T, r result, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "ERROR: ") || !strings.Contains(last, want) {
		t.Errorf("want one ERROR line mentioning %q, got:\n%s", want, r.stderr)
	}
}

// clusterObjects lists the Docker containers and volumes labelled as the
// named cluster's.
func clusterObjects(t *testing.T, name string) map[string]bool {
	t.Helper()
	objs := map[string]bool{}
	for _, what := range [][]string{
		{"ps", "-a", "-q", "--no-trunc", "--filter", "label=dev.skiff.cluster=" + name},
		{"volume", "ls", "-q", "--filter", "label=dev.skiff.cluster=" + name},
	} {
		r := run(t, time.Minute, nil, "docker", what...)
		for _, id := range strings.Fields(r.stdout) {
			objs[id] = true
		}
	}
	return objs
}

// assertNoNewObjects fails if the named cluster has Docker objects that
// were not there before.
func assertNoNewObjects(t *testing.T, name string, before map[string]bool) {
	t.Helper()
	for id := range clusterObjects(t, name) {
		if !before[id] {
			t.Errorf("cluster %s left Docker object %s behind", name, id)
		}
	}
}

// TestFailedBootFailsFast gives the API server a runtimeConfig that passes
// skiff's checks but that kube-apiserver refuses at start: create must fail
// within seconds of the refusal, naming the component and its log, and
// leave nothing.
func TestFailedBootFailsFast(t *testing.T) {
	e2e(t)
	name := "e2e-badboot"
	kc := filepath.Join(t.TempDir(), "config")
	cfg := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(cfg, []byte("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: "+name+"\nruntimeConfig:\n  nosuch.example.com/v1: \"true\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := run(t, 3*time.Minute, []string{"KUBECONFIG=" + kc}, skiffBin(t), "create", "--config", cfg)
	took := time.Since(start)
	if r.code == 0 {
		t.Fatalf("create with a bad runtimeConfig succeeded:\n%s", r)
	}
	t.Logf("create failed after %s", took.Round(100*time.Millisecond))
	if !strings.Contains(r.stderr, "kube-apiserver") || !strings.Contains(r.stderr, "kube-apiserver.log") {
		t.Errorf("the error should name kube-apiserver and show its log:\n%s", r.stderr)
	}
	if took > time.Minute {
		t.Errorf("create took %s to report a component that exits at once; want well under the 5m wait", took)
	}
	assertGone(t, name, kc)
}

// TestSameNameAtOnce runs two creates of one name at the same moment:
// exactly one succeeds, the other says "already exists", and the winner's
// container, volume and kubeconfig entry are all intact.
func TestSameNameAtOnce(t *testing.T) {
	e2e(t)
	name := "e2e-race"
	kc := filepath.Join(t.TempDir(), "config")
	env := []string{"KUBECONFIG=" + kc}
	t.Cleanup(func() { run(t, 2*time.Minute, env, skiffBin(t), "delete", "--name", name) })
	results := make([]result, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = run(t, 8*time.Minute, env, skiffBin(t), "create", "--name", name)
		}()
	}
	wg.Wait()
	var won, lost []result
	for _, r := range results {
		if r.code == 0 {
			won = append(won, r)
		} else {
			lost = append(lost, r)
		}
	}
	if len(won) != 1 || len(lost) != 1 {
		t.Fatalf("want exactly one create to succeed, got %d:\n%s\n---\n%s", len(won), results[0], results[1])
	}
	assertOneErrorLine(t, lost[0], "already exists")
	if !contains(contexts(t, kc), "skiff-"+name) {
		t.Errorf("the winner's kubeconfig entry is gone: %v", contexts(t, kc))
	}
	r := run(t, time.Minute, env, "kubectl", "--context", "skiff-"+name, "get", "nodes", "-o", "name")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "node/"+name+"-control-plane" {
		t.Errorf("the winning cluster does not answer:\n%s", r)
	}
	if v := run(t, time.Minute, nil, "docker", "volume", "inspect", "skiff-"+name+"-state"); v.code != 0 {
		t.Errorf("the winner's volume is gone:\n%s", v)
	}
}

// TestInterruptedCreateCleansUp sends Ctrl-C, SIGTERM and SIGHUP to a
// create once its node container exists and checks that nothing is left.
func TestInterruptedCreateCleansUp(t *testing.T) {
	e2e(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			name := "e2e-interrupt"
			kc := filepath.Join(t.TempDir(), "config")
			cmd := exec.Command(skiffBin(t), "create", "--name", name)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+kc)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { run(t, time.Minute, []string{"KUBECONFIG=" + kc}, skiffBin(t), "delete", "--name", name) })
			deadline := time.Now().Add(time.Minute)
			for {
				r := run(t, 30*time.Second, nil, "docker", "ps", "-q", "--filter", "label=dev.skiff.cluster="+name)
				if strings.TrimSpace(r.stdout) != "" {
					break
				}
				if time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					t.Fatalf("node container never appeared: %s", stderr.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err == nil {
					t.Fatalf("interrupted create exited 0: %s", stderr.String())
				}
			case <-time.After(time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("create did not stop within 1m of %v: %s", sig, stderr.String())
			}
			if !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("stderr should say the create was interrupted: %s", stderr.String())
			}
			assertGone(t, name, kc)
		})
	}
	// The reader of its output goes away (`skiff create 2>&1 | head -1`)
	// once the node container exists: killed on the spot, create left it.
	t.Run("closed output pipe", func(t *testing.T) {
		name := "e2e-interrupt"
		kc := filepath.Join(t.TempDir(), "config")
		t.Cleanup(func() { run(t, time.Minute, []string{"KUBECONFIG=" + kc}, skiffBin(t), "delete", "--name", name) })
		started := func() bool {
			r := run(t, 30*time.Second, nil, "docker", "ps", "-q", "--filter", "label=dev.skiff.cluster="+name)
			return strings.TrimSpace(r.stdout) != ""
		}
		if err := runClosingOutput(t, []string{"KUBECONFIG=" + kc}, started, "create", "--name", name); err == nil {
			t.Fatal("create whose output pipe closed exited 0")
		}
		assertGone(t, name, kc)
	})
}

// TestConcurrentCreates creates and deletes three clusters at once against
// one kubeconfig file: no entry may be lost.
func TestConcurrentCreates(t *testing.T) {
	e2e(t)
	kc := filepath.Join(t.TempDir(), "config")
	names := []string{"e2e-c1", "e2e-c2", "e2e-c3"}
	env := []string{"KUBECONFIG=" + kc}
	parallel := func(args func(name string) []string) []result {
		var wg sync.WaitGroup
		results := make([]result, len(names))
		for i, n := range names {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = run(t, 8*time.Minute, env, skiffBin(t), args(n)...)
			}()
		}
		wg.Wait()
		return results
	}
	t.Cleanup(func() {
		for _, n := range names {
			run(t, 2*time.Minute, env, skiffBin(t), "delete", "--name", n)
		}
	})
	for i, r := range parallel(func(n string) []string { return []string{"create", "--name", n} }) {
		if r.code != 0 {
			t.Fatalf("create %s failed:\n%s", names[i], r)
		}
	}
	got := contexts(t, kc)
	for _, n := range names {
		if !contains(got, "skiff-"+n) {
			t.Errorf("kubeconfig lost context skiff-%s: has %v", n, got)
		}
		r := run(t, time.Minute, env, "kubectl", "--context", "skiff-"+n, "get", "nodes", "-o", "name")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "node/"+n+"-control-plane" {
			t.Errorf("cluster %s does not answer with its own node:\n%s", n, r)
		}
	}
	for i, r := range parallel(func(n string) []string { return []string{"delete", "--name", n} }) {
		if r.code != 0 {
			t.Errorf("delete %s failed:\n%s", names[i], r)
		}
	}
	for _, n := range names {
		assertGone(t, n, kc)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
