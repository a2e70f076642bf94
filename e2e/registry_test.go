package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRegistryIsolation checks who may use a cluster's registry: the host
// on 127.0.0.1 and the cluster's own pods and containerd, but not another
// cluster's containers on the shared skiff Docker network.
func TestRegistryIsolation(t *testing.T) {
	e2e(t)
	a := newCluster(t, "e2e-reg-a")
	b := newCluster(t, "e2e-reg-b", "--no-addons")
	_, _, port := addonPorts(a)
	ip := inspect(t, nodeOf(a), `{{(index .NetworkSettings.Networks "skiff").IPAddress}}`)

	t.Run("another cluster's node cannot reach it", func(t *testing.T) {
		assertRegistryIsolated(t, a, b)
	})

	ref := fmt.Sprintf("localhost:%d/hello:isolated", port)
	t.Run("the host pushes on 127.0.0.1", func(t *testing.T) {
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/v2/", port), "", nil, "{}")
		pushHello(t, ref)
	})

	t.Run("the cluster pulls it and its pods reach the registry", func(t *testing.T) {
		a.t = t
		// containerd pulls from localhost; the pod then calls the registry
		// through its Service and the node's address.
		svc := fmt.Sprintf("http://registry.kube-system.svc:%d/v2/", port)
		node := fmt.Sprintf("http://%s:%d/v2/", ip, registryNodePort(a))
		a.kubectl("run", "pulled", "--image="+ref, "--image-pull-policy=Always", "--restart=Never", "--", "get", svc, "1", "0s", "1", "30s")
		if out := podOutput(a, "pulled"); !strings.Contains(out, "{}") {
			t.Errorf("pod pulled from the registry got %q from %s", out, svc)
		}
		a.kubectl("run", "by-ip", "--image="+ref, "--restart=Never", "--", "get", node)
		if out := podOutput(a, "by-ip"); !strings.Contains(out, "{}") {
			t.Errorf("pod got %q from %s", out, node)
		}
	})
}

// assertRegistryIsolated checks that from's node cannot reach the registry
// of cluster c on its node address, though it reaches c's API server there:
// what fails is the registry port alone, not the route.
func assertRegistryIsolated(t *testing.T, c, from *cluster) {
	t.Helper()
	port := registryNodePort(c)
	ip := inspect(t, nodeOf(c), `{{(index .NetworkSettings.Networks "skiff").IPAddress}}`)
	if err := dial(t, nodeOf(from), ip, 6443); err != nil {
		t.Fatalf("%s cannot reach %s's API server at %s:6443 either: %v", nodeOf(from), c.name, ip, err)
	}
	if err := dial(t, nodeOf(from), ip, port); err == nil {
		t.Fatalf("%s reached %s's registry at %s:%d", nodeOf(from), c.name, ip, port)
	}
}

// dial opens a TCP connection from inside a node container (bash's
// /dev/tcp: the node has no curl), giving up after 5 s.
func dial(t *testing.T, node, ip string, port int) error {
	t.Helper()
	r := run(t, time.Minute, nil, "docker", "exec", node, "timeout", "5", "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%d", ip, port))
	if r.code != 0 {
		return fmt.Errorf("exit %d: %s", r.code, strings.TrimSpace(r.stderr))
	}
	return nil
}

// TestRegistryDiscovery reads the registry's KEP-1755 ConfigMap as tools
// such as Tilt do, pushes to the host it names and runs a pod from the
// name it gives the container runtime, which reaches the registry at the
// name it gives the cluster network; disabling the addon removes it.
func TestRegistryDiscovery(t *testing.T) {
	e2e(t)
	c := newCluster(t, "e2e-regdisc")
	_, _, port := addonPorts(c)
	cs := c.clientset()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	cm, err := cs.CoreV1().ConfigMaps("kube-public").Get(ctx, "local-registry-hosting", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("kube-public/local-registry-hosting: %v", err)
	}
	var hosting struct {
		Host                     string `yaml:"host"`
		HostFromContainerRuntime string `yaml:"hostFromContainerRuntime"`
		HostFromClusterNetwork   string `yaml:"hostFromClusterNetwork"`
		Help                     string `yaml:"help"`
	}
	if err := yaml.Unmarshal([]byte(cm.Data["localRegistryHosting.v1"]), &hosting); err != nil {
		t.Fatalf("localRegistryHosting.v1: %v\n%v", err, cm.Data)
	}
	t.Logf("localRegistryHosting.v1: %+v", hosting)
	if want := fmt.Sprintf("localhost:%d", port); hosting.Host != want {
		t.Errorf("host = %q, want the published registry port %s", hosting.Host, want)
	}
	if hosting.HostFromContainerRuntime == "" || hosting.HostFromClusterNetwork == "" || hosting.Help == "" {
		t.Fatalf("localRegistryHosting.v1 lacks a field: %+v", hosting)
	}

	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/v2/", port), "", nil, "{}")
	pushHello(t, hosting.Host+"/discovered:v1")
	// The image exists only in the registry: the pod runs only if
	// containerd pulled it by that name.
	c.kubectl("run", "discovered", "--image="+hosting.HostFromContainerRuntime+"/discovered:v1", "--image-pull-policy=Always", "--restart=Never",
		"--", "get", "http://"+hosting.HostFromClusterNetwork+"/v2/", "1", "0s", "1", "30s")
	if out := podOutput(c, "discovered"); !strings.Contains(out, "{}") {
		t.Errorf("pod got %q from the registry at %s", out, hosting.HostFromClusterNetwork)
	}

	c.mustSkiff(3*time.Minute, "addons", "disable", "registry", "--name", c.name)
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := cs.CoreV1().ConfigMaps("kube-public").Get(ctx, "local-registry-hosting", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("local-registry-hosting still there (or unreadable) a minute after the registry was disabled: %v", err)
		}
		time.Sleep(time.Second)
	}
}
