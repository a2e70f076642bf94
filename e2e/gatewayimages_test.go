package e2e

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/gateway-api/conformance"

	"github.com/skiff-k8s/skiff/images"
)

// Repositories of the images the conformance suite's manifests run.
const (
	echoBasicRepository = "registry.k8s.io/gateway-api/echo-basic"
	corednsRepository   = "registry.k8s.io/coredns/coredns"
)

// gatewayImage is a built backend: its archive, the reference it carries
// and the other references the suite's manifests use for it.
type gatewayImage struct {
	archive, ref string
	aliases      []string
}

// gatewayTestImages builds the conformance backends (images/versions.yaml
// testImages) and pairs them with every image reference in the suite's
// base and test manifests: echo-basic under each tag they use (the
// manifests trail the module's own version), CoreDNS at the version they
// name. Any other image fails the test: nothing could provide it offline.
func gatewayTestImages(t *testing.T, m *images.Manifest) []gatewayImage {
	t.Helper()
	refs := conformanceImageRefs(t)
	dir, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	b := &images.Builder{CacheDir: filepath.Join(dir, "skiff")}
	// A cold build compiles CoreDNS (minutes); later runs take the cache.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var out []gatewayImage
	for _, name := range []string{"gateway-echo-basic", "gateway-coredns"} {
		start := time.Now()
		a, err := b.TestImage(ctx, m, name)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("test image %s ready in %s", name, time.Since(start).Round(100*time.Millisecond))
		var ref string
		for _, c := range m.TestImages {
			if c.Name == name {
				ref = c.Image.Ref
			}
		}
		repo := ref[:strings.LastIndex(ref, ":")]
		var aliases []string
		for _, r := range refs {
			if strings.HasPrefix(r, repo+":") && r != ref {
				aliases = append(aliases, r)
			}
		}
		if repo == corednsRepository && len(aliases) > 0 {
			t.Fatalf("the conformance manifests run %v, versions.yaml builds %s: make them agree", aliases, ref)
		}
		out = append(out, gatewayImage{a, ref, aliases})
	}
	for _, r := range refs {
		if !strings.HasPrefix(r, echoBasicRepository+":") && !strings.HasPrefix(r, corednsRepository+":") {
			t.Fatalf("the conformance manifests run image %s, which nothing builds offline", r)
		}
	}
	return out
}

var imageLine = regexp.MustCompile(`(?m)^\s*(?:-\s*)?image:\s*"?([^"\s]+)"?`)

// conformanceImageRefs lists the images named in the suite's base and
// test manifests (the mesh manifests are not applied for GATEWAY-HTTP).
func conformanceImageRefs(t *testing.T) []string {
	t.Helper()
	var refs []string
	for _, root := range []string{"base", "tests"} {
		err := fs.WalkDir(conformance.Manifests, root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
				return err
			}
			data, err := fs.ReadFile(conformance.Manifests, path)
			if err != nil {
				return err
			}
			for _, m := range imageLine.FindAllSubmatch(data, -1) {
				if r := string(m[1]); !slices.Contains(refs, r) {
					refs = append(refs, r)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("failed to read the conformance manifests: %v", err)
		}
	}
	if len(refs) == 0 {
		t.Fatal("found no image in the conformance manifests")
	}
	return refs
}

// loadGatewayTestImages loads the backends into the cluster and tags each
// under its aliases in the node's containerd (the CRI's k8s.io namespace).
func loadGatewayTestImages(c *cluster, archives []gatewayImage) {
	c.t.Helper()
	for _, a := range archives {
		c.mustSkiff(3*time.Minute, "load", "archive", a.archive, "--name", c.name)
		for _, alias := range a.aliases {
			r := run(c.t, time.Minute, nil, "docker", "exec", nodeOf(c), "ctr", "-n", "k8s.io", "images", "tag", "--force", a.ref, alias)
			if r.code != 0 {
				c.t.Fatalf("failed to tag %s as %s in the node:\n%s", a.ref, alias, r)
			}
		}
	}
}
