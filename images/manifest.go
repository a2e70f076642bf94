package images

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
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
		Default   string   `yaml:"default"`
		Supported []string `yaml:"supported"`
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

	raw []byte
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
	m := &Manifest{raw: data}
	if err := yaml.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("failed to parse versions manifest: %w", err)
	}
	if m.Kubernetes.Default == "" || m.Debian.Suite == "" || len(m.Go) == 0 || m.Pause.Image == "" || m.Busybox.Image == "" {
		return nil, fmt.Errorf("versions manifest is incomplete: kubernetes.default, debian.suite, go, pause.image and busybox.image are required")
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
	if err := testImagesLast(data); err != nil {
		return nil, err
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

// ForKubernetes returns the manifest resolved for one Kubernetes version
// (empty means the default): every {{...}} placeholder is expanded.
func (m *Manifest) ForKubernetes(version string) (*Manifest, error) {
	if version == "" {
		version = m.Kubernetes.Default
	}
	if !slices.Contains(m.Kubernetes.Supported, version) {
		return nil, fmt.Errorf("kubernetes version %q is not supported: choose one of %s", version, strings.Join(m.Kubernetes.Supported, ", "))
	}
	out := *m
	out.Kubernetes.Default = version
	var err error
	if out.Go, err = resolveComponents(m.Go, version); err != nil {
		return nil, err
	}
	if out.TestImages, err = resolveComponents(m.TestImages, version); err != nil {
		return nil, err
	}
	return &out, nil
}

// resolveComponents returns copies of cs with every placeholder expanded
// for Kubernetes version k8s.
func resolveComponents(cs []GoComponent, k8s string) ([]GoComponent, error) {
	out := make([]GoComponent, len(cs))
	for i, c := range cs {
		c.Version = strings.ReplaceAll(c.Version, "{{kubernetes}}", k8s)
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

// BaseTag is the tag of the base image: a hash of the manifest, the chosen
// Kubernetes version and the build recipe, so the base is rebuilt exactly
// when one of them changes. The manifest's testImages section, last in the
// file, and the recipes under recipe/test are left out: the node image does
// not contain them.
func (m *Manifest) BaseTag() string {
	h := sha256.New()
	h.Write(nodeSection(m.raw))
	h.Write([]byte(m.Kubernetes.Default))
	h.Write([]byte(recipeVersion))
	for _, f := range recipeFiles() {
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// testImagesKey starts the manifest's last section, the test images.
const testImagesKey = "\ntestImages:"

// nodeSection is the manifest's text without the testImages section (the
// newline before it included), which ends the file.
func nodeSection(raw []byte) []byte {
	if i := bytes.Index(raw, []byte(testImagesKey)); i >= 0 {
		return raw[:i]
	}
	return raw
}

// testImagesLast checks that no other top-level key follows testImages:
// nodeSection cuts the file there.
func testImagesLast(raw []byte) error {
	i := bytes.Index(raw, []byte(testImagesKey))
	if i < 0 {
		return nil
	}
	for _, line := range strings.Split(string(raw[i+len(testImagesKey):]), "\n")[1:] {
		if line != "" && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "-") {
			return fmt.Errorf("versions manifest: testImages must be the last section (found %q after it)", line)
		}
	}
	return nil
}
