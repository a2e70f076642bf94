package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestManifestPinsEveryComponent(t *testing.T) {
	t.Parallel()
	m, err := LoadManifest()
	if err != nil {
		t.Fatal(err)
	}
	r, err := m.ForKubernetes("")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Go {
		if !strings.HasPrefix(c.Version, "v") || strings.Contains(c.Version, "{{") {
			t.Errorf("component %s has unresolved version %q", c.Name, c.Version)
		}
		for k, v := range c.XVersion {
			if strings.Contains(v, "{{") {
				t.Errorf("component %s: -X %s=%s not expanded", c.Name, k, v)
			}
		}
	}
	k, ok := r.Component("kubernetes")
	if !ok || k.Version != r.Kubernetes.Default || k.Staging != "v0"+strings.TrimPrefix(k.Version, "v1") {
		t.Errorf("kubernetes component %+v does not follow the default version %s with staging v0.x", k, r.Kubernetes.Default)
	}
}

func TestForKubernetesRejectsUnsupported(t *testing.T) {
	t.Parallel()
	m, err := LoadManifest()
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.ForKubernetes("v1.20.0")
	if err == nil || !strings.Contains(err.Error(), m.Kubernetes.Supported[0]) {
		t.Fatalf("want an error listing the supported versions, got %v", err)
	}
}

func TestVersionReplacer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version, in, want string
		bad               bool
	}{
		{version: "v1.37.2", in: "v0.{{minor}}.{{patch}}", want: "v0.37.2"},
		{version: "v1.5.2", in: "{{major}}.{{minor}}.{{patch}}", want: "1.5.2"},
		{version: "v2.4.2", in: "{{version}}", want: "v2.4.2"},
		{version: "1.2.3", bad: true},
		{version: "v1.2", bad: true},
	} {
		r, err := versionReplacer(tc.version)
		if tc.bad {
			if err == nil {
				t.Errorf("%s: want an error", tc.version)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.version, err)
		}
		if got := r.Replace(tc.in); got != tc.want {
			t.Errorf("%s: Replace(%q) = %q, want %q", tc.version, tc.in, got, tc.want)
		}
	}
}

func TestTagsFollowManifestAndAgent(t *testing.T) {
	t.Parallel()
	m, err := LoadManifest()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.ForKubernetes("")
	b, _ := m.ForKubernetes("")
	if a.BaseTag() != b.BaseTag() {
		t.Fatal("base tag is not stable for an unchanged manifest")
	}
	// At the start: the end of the file is testImages, which the node
	// image does not contain.
	changed, err := parseManifest(append([]byte("# changed\n"), m.raw...))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := changed.ForKubernetes("")
	if c.BaseTag() == a.BaseTag() {
		t.Error("base tag did not change with the manifest")
	}
	dir := t.TempDir()
	agent1, agent2 := filepath.Join(dir, "a1"), filepath.Join(dir, "a2")
	os.WriteFile(agent1, []byte("agent one"), 0o755)
	os.WriteFile(agent2, []byte("agent two"), 0o755)
	i1, err := NodeImage(a, agent1)
	if err != nil {
		t.Fatal(err)
	}
	i1again, _ := NodeImage(b, agent1)
	i2, _ := NodeImage(a, agent2)
	if i1 != i1again || i1 == i2 {
		t.Errorf("node image tags: same agent %s vs %s, other agent %s", i1, i1again, i2)
	}
	if !strings.HasPrefix(i1, NodeRepository+":"+a.Kubernetes.Default+"-") {
		t.Errorf("node image %s does not name the Kubernetes version", i1)
	}
}

func TestParseManifestRejectsIncomplete(t *testing.T) {
	t.Parallel()
	if _, err := parseManifest([]byte("kubernetes: {default: v1.37.2}\n")); err == nil {
		t.Fatal("want an error for a manifest without components")
	}
	if _, err := parseManifest([]byte("kubernetes: [")); err == nil {
		t.Fatal("want an error for malformed YAML")
	}
}

func TestParseFeatureGates(t *testing.T) {
	help := `      --feature-gates colonSeparatedMultimapStringString   Comma-separated list of component:key=value pairs. Options are:
                                                            kube:APIResponseCompression=true|false (BETA - default=true)
                                                            kube:AllAlpha=true|false (ALPHA - default=false)
                                                            UserNamespacesSupport=true|false (BETA - default=false)
      --goaway-chance float                                 To prevent HTTP/2 clients ...
`
	got := parseFeatureGates(help)
	want := []string{"APIResponseCompression", "AllAlpha", "UserNamespacesSupport"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("parseFeatureGates = %v, want %v", got, want)
	}
}

func TestAddonFiles(t *testing.T) {
	t.Parallel()
	m, err := Resolved("")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.AddonFiles) != 1 {
		t.Fatalf("addonFiles = %+v, want the Gateway API CRDs", m.AddonFiles)
	}
	f := m.AddonFiles[0]
	if f.Module != "sigs.k8s.io/gateway-api" || f.Version != "v1.6.3" || f.Files != "config/crd/standard/*.yaml" || f.Addon != "gateway" {
		t.Errorf("addonFiles[0] = %+v", f)
	}
	found := false
	for _, v := range m.Versions() {
		found = found || v == [2]string{"gateway-api", "v1.6.3"}
	}
	if !found {
		t.Errorf("Versions() = %v lacks gateway-api v1.6.3 (the image's version labels)", m.Versions())
	}
	base := "kubernetes: {default: v1, supported: [v1]}\ndebian: {suite: s, packages: [b]}\ngo: [{name: k}]\npause: {image: p}\nbusybox: {package: b, image: b}\n"
	for _, bad := range []string{
		"addonFiles: [{name: x, module: m, version: v1.0.0, addon: a}]",
		"addonFiles: [{name: x, module: m, version: v1.0.0, files: '[', addon: a}]",
		"addonFiles: [{name: x, module: m, version: v1.0.0, files: '*.yaml'}]",
	} {
		if _, err := parseManifest([]byte(base + bad)); err == nil {
			t.Errorf("parseManifest accepted %s", bad)
		}
	}
	if _, err := parseManifest([]byte(base + "addonFiles: [{name: x, module: m, version: v1.0.0, files: '*.yaml', addon: a}]")); err != nil {
		t.Errorf("parseManifest: %v", err)
	}
}
