//go:build conformance

package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/skiff-k8s/skiff/e2e/k8se2e"
	"github.com/skiff-k8s/skiff/images"
)

// Where TestConformance leaves the suite's JUnit report and its full
// ginkgo output (make conformance keeps them as the run's artifacts).
const (
	conformanceJUnit = "/tmp/skiff-conformance-junit.xml"
	conformanceLog   = "/tmp/skiff-conformance.log"
)

// conformanceSkips are the [Conformance] specs a run leaves out, each with
// why. Specs that skip themselves (a second node, a feature the node lacks)
// are reported with their own reason.
var conformanceSkips = map[string]string{
	`\[Disruptive\]`: "taints or restarts the only node, which every other spec of a shared run needs",
	`should have at least two untainted nodes`: "a skiff cluster has one node by design",
	`Daemon set.* should rollback without unnecessary restarts`: "it asserts a cluster of at least 2 nodes, " +
		"and a skiff cluster has one by design",
	`ImageVolume should succeed with pod and pull policy of Always`: "it pulls the kitten image from registry.k8s.io (policy Always) " +
		"and checks that its base is Alpine Linux (/etc/os-release); no Alpine mirror is reachable from these machines, " +
		"so the images here are built on Debian",
}

// TestConformance runs every [Conformance] spec of Kubernetes' own e2e suite
// (test/e2e at the cluster's version, built here with the images its pods
// run) against a cluster with the default addons, and fails unless every
// spec it selects passes. make conformance runs it (the
// conformance build tag keeps it out of make test: it takes the better part
// of an hour).
func TestConformance(t *testing.T) {
	e2e(t)
	suite := buildSuite(t, k8se2e.Conformance)
	var (
		archive, kubectl string
		refs             map[string]string
	)
	start := time.Now()
	cacheBuild(t, 30*time.Minute, func(ctx context.Context, cacheDir string, log io.Writer, m *images.Manifest) (err error) {
		// kubectl of the cluster's version, which the kubectl specs run:
		// skiff kubectl copies it out of the node into this cache.
		kubectl = filepath.Join(cacheDir, "kubectl", m.Kubernetes.Default, "kubectl")
		archive, refs, err = suite.ConformanceImages(ctx, cacheDir, log, m)
		return err
	})
	t.Logf("the specs' images ready in %s: %s", time.Since(start).Round(time.Second), archive)

	ports := netpolPorts(t)
	c := newCluster(t, "e2e-conformance", ports...)
	start = time.Now()
	c.mustSkiff(10*time.Minute, "load", "archive", archive, "--name", c.name)
	t.Logf("loaded %d images in %s", len(refs), time.Since(start).Round(time.Second))
	mirrorRegistryK8sIO(t, c, ports[len(ports)-1], archive, refs)
	c.mustSkiff(time.Minute, "kubectl", "--name", c.name, "--", "version", "--client")
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("skiff kubectl left no kubectl at %s: %v", kubectl, err)
	}

	var skips []string
	for s, why := range conformanceSkips {
		skips = append(skips, s)
		t.Logf("leaving out %s: %s", s, why)
	}
	start = time.Now()
	focus := `\[Conformance\]`
	if f := os.Getenv("SKIFF_E2E_CONFORMANCE_FOCUS"); f != "" {
		// make conformance FOCUS=...: those [Conformance] specs alone.
		focus = "(" + f + ").*" + focus + "|" + focus + ".*(" + f + ")"
		t.Logf("running only the [Conformance] specs that match %q", f)
	}
	code, out := runSuite(t, c, suite, 3*runtime.NumCPU(), 150*time.Minute, focus, skips,
		[]string{"--kubectl-path", kubectl}, conformanceJUnit, conformanceLog)
	t.Logf("the [Conformance] specs ran in %s (ginkgo exit %d); JUnit report %s, output %s", time.Since(start).Round(time.Second), code, conformanceJUnit, conformanceLog)
	checkSpecs(t, "[Conformance]", readJUnit(t, conformanceJUnit, "[Conformance]"), skips, code, out)
}

// mirrorRegistryK8sIO pushes the specs' images to the cluster's registry
// (the registry addon, at host port registryPort) under their
// registry.k8s.io paths, and makes the node's containerd pull
// registry.k8s.io from it, as an offline site mirrors a registry: a spec
// that pulls with policy Always (the PodCertificate spec's agnhost pods)
// then pulls for real, without the network.
func mirrorRegistryK8sIO(t *testing.T, c *cluster, registryPort, archive string, refs map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, ref := range refs {
		path, ok := strings.CutPrefix(ref, "registry.k8s.io/")
		if !ok {
			t.Fatalf("image %s is not on registry.k8s.io", ref)
		}
		tag, err := name.NewTag(ref)
		if err != nil {
			t.Fatal(err)
		}
		img, err := tarball.Image(func() (io.ReadCloser, error) { return os.Open(archive) }, &tag)
		if err != nil {
			continue // the node's own (pause), not in the archive
		}
		dst, err := name.NewTag(fmt.Sprintf("localhost:%s/%s", registryPort, path))
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(dst, img, remote.WithContext(ctx)); err != nil {
			t.Fatalf("push %s: %v", dst, err)
		}
	}
	hosts := fmt.Sprintf("server = \"https://registry.k8s.io\"\n\n[host.\"http://127.0.0.1:%d\"]\n  capabilities = [\"pull\", \"resolve\"]\n", images.RegistryNodePort)
	dir := "/etc/containerd/certs.d/registry.k8s.io"
	if r := runInput(t, time.Minute, nil, hosts, "docker", "exec", "-i", c.name+"-control-plane", "sh", "-c", "mkdir -p "+dir+" && cat > "+dir+"/hosts.toml"); r.code != 0 {
		t.Fatalf("writing the node's registry.k8s.io mirror: %s", r)
	}
}
