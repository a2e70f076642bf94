package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/images"
)

// TestNodeImageVersions runs each release's node image's own version report
// and checks every binary and preloaded image against the release's pins.
func TestNodeImageVersions(t *testing.T) {
	e2e(t)
	for _, m := range releases(t) {
		t.Run(m.Kubernetes.Default, func(t *testing.T) { testNodeImageVersions(t, m) })
	}
}

func testNodeImageVersions(t *testing.T, m *images.Manifest) {
	ref, err := images.NodeImage(m, skiffBin(t))
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, 2*time.Minute, nil, "docker", "run", "--rm", ref, "versions")
	if r.code != 0 {
		t.Fatalf("versions command failed:\n%s", r)
	}
	reported := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			reported[f[0]] = append(reported[f[0]], f[1]+"="+f[2])
		}
		if len(f) == 2 && f[0] == "image" {
			reported["image"] = append(reported["image"], f[1])
		}
	}
	for _, c := range m.Go {
		if c.Image != nil {
			// Addons are preloaded image archives, named with their version.
			if !containsImage(reported["image"], c.Image.Ref) || !strings.Contains(c.Image.Ref, strings.TrimPrefix(c.Version, "v")) {
				t.Errorf("%s: preloaded images %v lack %s at %s", c.Name, reported["image"], c.Image.Ref, c.Version)
			}
			continue
		}
		got := reported[c.Name]
		if len(got) == 0 {
			t.Errorf("image reports no binary of component %s", c.Name)
		}
		for _, g := range got {
			if !strings.HasSuffix(g, "="+c.Version) {
				t.Errorf("%s: binary reports %s, manifest pins %s", c.Name, g, c.Version)
			}
		}
	}
	if !containsImage(reported["image"], m.Pause.Image) {
		t.Errorf("preloaded images %v lack the pause image %s", reported["image"], m.Pause.Image)
	}
}

// containsImage compares references the way Docker does: docker.io/library/
// and index.docker.io/ prefixes are implied.
func containsImage(list []string, ref string) bool {
	norm := func(r string) string {
		for _, p := range []string{"index.docker.io/", "docker.io/", "library/"} {
			r = strings.TrimPrefix(r, p)
		}
		return r
	}
	for _, x := range list {
		if norm(x) == norm(ref) {
			return true
		}
	}
	return false
}
