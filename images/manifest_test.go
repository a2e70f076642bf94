package images

import (
	"os"
	"path/filepath"
	"slices"
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
	for _, v := range []string{"v1.20.0", "1.3", "1", "v1.37.99", "1.37.2.1", "latest"} {
		_, err = m.ForKubernetes(v)
		if err == nil || !strings.Contains(err.Error(), strings.Join(m.Supported(), ", ")) {
			t.Errorf("ForKubernetes(%q): want an error listing the supported versions, got %v", v, err)
		}
	}
}

// Each release builds its own Kubernetes, etcd, CoreDNS and pause, chosen by
// exact version or by minor, and only its own pins name its image.
func TestForKubernetesReleases(t *testing.T) {
	t.Parallel()
	m, err := LoadManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Kubernetes.Releases) != 4 || m.Kubernetes.Default != m.Kubernetes.Releases[0].Kubernetes {
		t.Fatalf("releases %v, default %s: want the four newest minors, the newest the default", m.Supported(), m.Kubernetes.Default)
	}
	tags := map[string]string{}
	for _, rel := range m.Kubernetes.Releases {
		minor := "1." + minorOf(rel.Kubernetes)
		for _, v := range []string{rel.Kubernetes, strings.TrimPrefix(rel.Kubernetes, "v"), minor, "v" + minor} {
			r, err := m.ForKubernetes(v)
			if err != nil {
				t.Fatalf("ForKubernetes(%q): %v", v, err)
			}
			if r.Kubernetes.Default != rel.Kubernetes {
				t.Errorf("ForKubernetes(%q) chose %s, want %s", v, r.Kubernetes.Default, rel.Kubernetes)
			}
		}
		r, _ := m.ForKubernetes(minor)
		k, _ := r.Component("kubernetes")
		etcd, _ := r.Component("etcd")
		if k.Version != rel.Kubernetes || k.Staging != "v0."+minorOf(rel.Kubernetes)+"."+strings.Split(rel.Kubernetes, ".")[2] || etcd.Version != rel.Etcd {
			t.Errorf("%s: kubernetes %s (staging %s), etcd %s", rel.Kubernetes, k.Version, k.Staging, etcd.Version)
		}
		img := r.Images()
		if img["coredns"] != "registry.k8s.io/coredns/coredns:"+rel.CoreDNS || img["pause"] != "registry.k8s.io/pause:"+rel.Pause || r.Pause.Version != rel.Pause {
			t.Errorf("%s: images %v, pause version %s", rel.Kubernetes, img, r.Pause.Version)
		}
		if other, dup := tags[r.BaseTag()]; dup {
			t.Errorf("%s and %s share base tag %s", other, rel.Kubernetes, r.BaseTag())
		}
		tags[r.BaseTag()] = rel.Kubernetes
		if !strings.HasPrefix(BaseImage(r), baseRepository+":"+rel.Kubernetes+"-") {
			t.Errorf("base image %s does not name %s", BaseImage(r), rel.Kubernetes)
		}
	}
	// Re-pinning one release changes its image alone.
	newest, _ := m.ForKubernetes("")
	oldest, _ := m.ForKubernetes(m.Supported()[3])
	changed := *m
	changed.Kubernetes.Releases = slices.Clone(m.Kubernetes.Releases)
	changed.Kubernetes.Releases[3].CoreDNS = "v1.0.0"
	n2, _ := changed.ForKubernetes("")
	o2, _ := changed.ForKubernetes(m.Supported()[3])
	if n2.BaseTag() != newest.BaseTag() || o2.BaseTag() == oldest.BaseTag() {
		t.Errorf("re-pinning the oldest release's CoreDNS: newest tag %s -> %s, oldest %s -> %s", newest.BaseTag(), n2.BaseTag(), oldest.BaseTag(), o2.BaseTag())
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
	changed, _ := m.ForKubernetes("")
	changed.Debian.Packages = append(slices.Clone(changed.Debian.Packages), "jq")
	if changed.BaseTag() == a.BaseTag() {
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
	if _, err := parseManifest([]byte("kubernetes: {default: v1.37.2, releases: [{kubernetes: v1.37.2, etcd: v3.7.0, coredns: v1.14.6, pause: '3.10.2'}]}\n")); err == nil {
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
	base := "kubernetes: {default: v1.1.1, releases: [{kubernetes: v1.1.1, etcd: e, coredns: c, pause: p}]}\ndebian: {suite: s, packages: [b]}\ngo: [{name: k}]\npause: {image: p}\nbusybox: {package: b, image: b}\n"
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
