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
)

// TestBadInput checks that each mistake gets one clear line, a non-zero
// exit, no leftovers and an untouched kubeconfig.
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
	malformed := write("malformed.yaml", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n  apiServerPort: [1, 2]\n")
	unknown := write("unknown.yaml", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworkin: {}\n")
	portTaken := write("port.yaml", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: e2e-bad-port\nnetworking:\n  apiServerPort: "+strconv.Itoa(busyPort)+"\n")

	cases := []struct {
		name, cluster string
		args, env     []string
		want          string
	}{
		{"invalid name", "Bad_Name", []string{"create", "--name", "Bad_Name"}, nil, "invalid cluster name"},
		{"malformed config", "skiff", []string{"create", "--config", malformed}, nil, "line 4"},
		{"unknown config field", "skiff", []string{"create", "--config", unknown}, nil, "field networkin not found"},
		{"port in use", "e2e-bad-port", []string{"create", "--config", portTaken}, nil, "already in use"},
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
			r := run(t, 2*time.Minute, append([]string{"KUBECONFIG=" + kc}, tc.env...), skiffBin(t), tc.args...)
			if r.code == 0 {
				t.Fatalf("want a non-zero exit:\n%s", r)
			}
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, "ERROR: ") || !strings.Contains(last, tc.want) {
				t.Errorf("want one ERROR line mentioning %q, got:\n%s", tc.want, r.stderr)
			}
			assertGone(t, tc.cluster, "")
			if got, _ := os.ReadFile(kc); !bytes.Equal(got, original) {
				t.Errorf("kubeconfig changed:\n%s", got)
			}
		})
	}
}

// TestInterruptedCreateCleansUp sends Ctrl-C to a create once its node
// container exists and checks that nothing is left.
func TestInterruptedCreateCleansUp(t *testing.T) {
	e2e(t)
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
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
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
		t.Fatalf("create did not stop within 1m of Ctrl-C: %s", stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr should say the create was interrupted: %s", stderr.String())
	}
	assertGone(t, name, kc)
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
