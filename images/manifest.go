package images

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed versions.yaml
var versionsYAML []byte

// Manifest pins every upstream version the node image is built from.
type Manifest struct {
	Kubernetes struct {
		// Default is the release built and created without a version;
		// after ForKubernetes, the release chosen.
		Default  string    `yaml:"default"`
		Releases []Release `yaml:"releases"`
	} `yaml:"kubernetes"`
	Debian struct {
		Suite    string   `yaml:"suite"`
		Packages []string `yaml:"packages"`
	} `yaml:"debian"`
	Go    []GoComponent `yaml:"go"`
	Pause struct {
		Version string `yaml:"version"`
		Image   string `yaml:"image"`
	} `yaml:"pause"`
	Busybox struct {
		Package string `yaml:"package"`
		Image   string `yaml:"image"`
	} `yaml:"busybox"`
	AddonFiles []AddonFiles `yaml:"addonFiles"`
	// TestImages are built like the addon images but only for the e2e
	// suite (TestImage), never into the node image.
	TestImages []GoComponent `yaml:"testImages"`
	// Conformance pins what Kubernetes' conformance suite's images are made
	// of (e2e/k8se2e), never part of the node image.
	Conformance Conformance `yaml:"conformance"`
}

// Conformance is the versions manifest's conformance section.
type Conformance struct {
	// Packages make the Debian root filesystem (debian.suite) under the
	// suite's images, with the tools upstream's Alpine and Debian bases give
	// them.
	Packages []string `yaml:"packages"`
	// Busybox is upstream BusyBox's source on the Debian mirror (the
	// package's .orig tarball is upstream's own release tarball).
	Busybox struct {
		Source string `yaml:"source"`
		SHA256 string `yaml:"sha256"`
	} `yaml:"busybox"`
}

// Release is one supported Kubernetes minor: its newest pinned patch and the
// versions of the parts upstream runs it with, which components name as
// {{kubernetes}}, {{etcd}}, {{coredns}} and {{pause}}.
type Release struct {
	Kubernetes string `yaml:"kubernetes"`
	Etcd       string `yaml:"etcd"`
	CoreDNS    string `yaml:"coredns"`
	Pause      string `yaml:"pause"`
}

func (r Release) replacer() *strings.Replacer {
	return strings.NewReplacer("{{kubernetes}}", r.Kubernetes, "{{etcd}}", r.Etcd, "{{coredns}}", r.CoreDNS, "{{pause}}", r.Pause)
}

// AddonFiles are manifests an addon applies verbatim from a Go module's
// files (Files is a glob inside the module), so their version is pinned here
// like every other upstream one.
type AddonFiles struct {
	Name    string `yaml:"name"`
	Module  string `yaml:"module"`
	Version string `yaml:"version"`
	Files   string `yaml:"files"`
	Addon   string `yaml:"addon"`
}

// GoComponent is an upstream Go module built into one or more binaries.
// Fields added later carry omitempty JSON tags so that specHash, and so the
// cached binaries, of components that leave them unset do not change.
type GoComponent struct {
	Name     string            `yaml:"name"`
	Module   string            `yaml:"module"`
	Version  string            `yaml:"version"`
	Staging  string            `yaml:"staging"`
	CGO      bool              `yaml:"cgo"`
	Tags     []string          `yaml:"tags"`
	XVersion map[string]string `yaml:"xversion"`
	Binaries map[string]string `yaml:"binaries"`
	// Main names a file under recipe/ that becomes the throwaway module's
	// main package, for binaries upstream does not ship as a main package
	// (a multi-call Kubernetes, CoreDNS with a subset of plugins).
	Main string `yaml:"main" json:",omitempty"`
	// MainSource, for components built outside the node image (the e2e
	// suite's Kubernetes specs), is the main package's source itself; it
	// is part of specHash through the JSON encoding.
	MainSource []byte `yaml:"-" json:",omitempty"`
	// Image, when set, packs the binaries into an image archive preloaded
	// into the node's containerd instead of installing them on the node.
	Image *ImageSpec `yaml:"image" json:",omitempty"`
}

// ImageSpec is a container image made of a component's binaries, each at
// /<binary name>.
type ImageSpec struct {
	Ref        string   `yaml:"ref"`
	Entrypoint []string `yaml:"entrypoint"`
}

// LoadManifest parses the embedded manifest.
func LoadManifest() (*Manifest, error) {
	return parseManifest(versionsYAML)
}

// Resolved loads the embedded manifest for one Kubernetes version (empty:
// the default), every placeholder expanded.
func Resolved(kubernetesVersion string) (*Manifest, error) {
	m, err := LoadManifest()
	if err != nil {
		return nil, err
	}
	return m.ForKubernetes(kubernetesVersion)
}

func parseManifest(data []byte) (*Manifest, error) {
	m := &Manifest{}
	if err := yaml.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("failed to parse versions manifest: %w", err)
	}
	if m.Kubernetes.Default == "" || m.Debian.Suite == "" || len(m.Go) == 0 || m.Pause.Image == "" || m.Busybox.Image == "" {
		return nil, fmt.Errorf("versions manifest is incomplete: kubernetes.default, debian.suite, go, pause.image and busybox.image are required")
	}
	if len(m.Kubernetes.Releases) == 0 {
		return nil, fmt.Errorf("versions manifest: kubernetes.releases is empty")
	}
	for _, r := range m.Kubernetes.Releases {
		if _, err := versionReplacer(r.Kubernetes); err != nil || r.Etcd == "" || r.CoreDNS == "" || r.Pause == "" {
			return nil, fmt.Errorf("versions manifest: release %+v needs kubernetes (vMAJOR.MINOR.PATCH), etcd, coredns and pause", r)
		}
	}
	if _, err := m.release(m.Kubernetes.Default); err != nil {
		return nil, fmt.Errorf("versions manifest: kubernetes.default: %w", err)
	}
	if !slices.Contains(m.Debian.Packages, m.Busybox.Package) {
		return nil, fmt.Errorf("versions manifest: busybox.package %q must be one of debian.packages (the image is cut from the node's root filesystem)", m.Busybox.Package)
	}
	for _, c := range append(slices.Clone(m.Go), m.TestImages...) {
		if c.Main != "" {
			if _, err := recipe.ReadFile(path.Join("recipe", c.Main)); err != nil {
				return nil, fmt.Errorf("component %s: main %q is not a file under images/recipe: %w", c.Name, c.Main, err)
			}
		}
		if c.Image != nil && (c.Image.Ref == "" || len(c.Binaries) == 0) {
			return nil, fmt.Errorf("component %s: image needs a ref and at least one binary", c.Name)
		}
	}
	for _, c := range m.TestImages {
		if c.Image == nil {
			return nil, fmt.Errorf("test image %s: image is required", c.Name)
		}
	}
	for _, f := range m.AddonFiles {
		if f.Name == "" || f.Module == "" || f.Version == "" || f.Addon == "" {
			return nil, fmt.Errorf("addonFiles %q: name, module, version and addon are required", f.Name)
		}
		if _, err := path.Match(f.Files, ""); err != nil || f.Files == "" {
			return nil, fmt.Errorf("addonFiles %s: files %q is not a glob", f.Name, f.Files)
		}
	}
	return m, nil
}

// ForKubernetes returns the manifest resolved for one Kubernetes release
// (empty means the default; see release for the forms a version may take):
// every {{...}} placeholder is expanded.
func (m *Manifest) ForKubernetes(version string) (*Manifest, error) {
	if version == "" {
		version = m.Kubernetes.Default
	}
	rel, err := m.release(version)
	if err != nil {
		return nil, err
	}
	out := *m
	out.Kubernetes.Default = rel.Kubernetes
	out.Kubernetes.Releases = []Release{rel}
	r := rel.replacer()
	out.Pause.Version, out.Pause.Image = r.Replace(m.Pause.Version), r.Replace(m.Pause.Image)
	if out.Go, err = resolveComponents(m.Go, r); err != nil {
		return nil, err
	}
	if out.TestImages, err = resolveComponents(m.TestImages, r); err != nil {
		return nil, err
	}
	return &out, nil
}

// Supported lists the pinned Kubernetes versions, newest first.
func (m *Manifest) Supported() []string {
	var v []string
	for _, r := range m.Kubernetes.Releases {
		v = append(v, r.Kubernetes)
	}
	return v
}

// release finds the release of a version: exact (v1.35.4), or a minor
// (1.35 or v1.35) for the patch the manifest pins.
func (m *Manifest) release(version string) (Release, error) {
	want := "v" + strings.TrimPrefix(version, "v")
	for _, r := range m.Kubernetes.Releases {
		if r.Kubernetes == want || strings.HasPrefix(r.Kubernetes, want+".") && strings.Count(want, ".") == 1 {
			return r, nil
		}
	}
	return Release{}, fmt.Errorf("kubernetes version %q is not supported: choose one of %s (or its minor, such as 1.%s)", version, strings.Join(m.Supported(), ", "), minorOf(m.Kubernetes.Releases[0].Kubernetes))
}

// minorOf is the minor of a version vMAJOR.MINOR.PATCH.
func minorOf(version string) string {
	parts := strings.Split(version, ".")
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

// resolveComponents returns copies of cs with every placeholder expanded:
// a release's (rel) in versions, then each version's parts.
func resolveComponents(cs []GoComponent, rel *strings.Replacer) ([]GoComponent, error) {
	out := make([]GoComponent, len(cs))
	for i, c := range cs {
		c.Version = rel.Replace(c.Version)
		r, err := versionReplacer(c.Version)
		if err != nil {
			return nil, fmt.Errorf("component %s: %w", c.Name, err)
		}
		c.Staging = r.Replace(c.Staging)
		if c.Staging == "" {
			c.Staging = c.Version
		}
		x := make(map[string]string, len(c.XVersion))
		for k, v := range c.XVersion {
			x[k] = r.Replace(v)
		}
		c.XVersion = x
		if c.Image != nil {
			img := *c.Image
			img.Ref = r.Replace(img.Ref)
			c.Image = &img
		}
		out[i] = c
	}
	return out, nil
}

// versionReplacer expands {{version}}, {{major}}, {{minor}} and {{patch}}
// for a semantic version such as v1.37.2.
func versionReplacer(version string) (*strings.Replacer, error) {
	parts := strings.SplitN(strings.TrimPrefix(version, "v"), ".", 3)
	if len(parts) != 3 || !strings.HasPrefix(version, "v") {
		return nil, fmt.Errorf("version %q is not of the form vMAJOR.MINOR.PATCH", version)
	}
	return strings.NewReplacer("{{version}}", version, "{{major}}", parts[0], "{{minor}}", parts[1], "{{patch}}", parts[2]), nil
}

// Component returns the Go component with the given name.
func (m *Manifest) Component(name string) (GoComponent, bool) {
	for _, c := range m.Go {
		if c.Name == name {
			return c, true
		}
	}
	return GoComponent{}, false
}

// Images returns the reference of every image preloaded into the node,
// keyed by the manifest entry that pins it: pause, busybox and each Go
// component with an image. Call it on a manifest resolved by ForKubernetes.
func (m *Manifest) Images() map[string]string {
	refs := map[string]string{"pause": m.Pause.Image, "busybox": m.Busybox.Image}
	for _, c := range m.Go {
		if c.Image != nil {
			refs[c.Name] = c.Image.Ref
		}
	}
	return refs
}

// Versions lists name=version for every pinned component, in manifest order.
func (m *Manifest) Versions() [][2]string {
	v := [][2]string{{"debian", m.Debian.Suite}}
	for _, c := range m.Go {
		v = append(v, [2]string{c.Name, c.Version})
	}
	for _, f := range m.AddonFiles {
		v = append(v, [2]string{f.Name, f.Version})
	}
	return append(v, [2]string{"pause", m.Pause.Version})
}

// BaseTag is the tag of the base image: a hash of what the manifest,
// resolved for one release, puts into the node image, and of the build
// recipe, so the base is rebuilt exactly when one of them changes. Another
// release's pins and the test images (testImages, recipe/test) are left out.
func (m *Manifest) BaseTag() string {
	h := sha256.New()
	node, _ := json.Marshal(struct {
		Release    []Release
		Debian     any
		Go         []GoComponent
		Pause      any
		Busybox    any
		AddonFiles []AddonFiles
	}{m.Kubernetes.Releases, m.Debian, m.Go, m.Pause, m.Busybox, m.AddonFiles})
	h.Write(node)
	h.Write([]byte(recipeVersion))
	for _, f := range recipeFiles() {
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
