package images

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
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

	raw []byte
}

// GoComponent is an upstream Go module built into one or more binaries.
type GoComponent struct {
	Name      string            `yaml:"name"`
	Module    string            `yaml:"module"`
	Version   string            `yaml:"version"`
	Staging   string            `yaml:"staging"`
	Multicall bool              `yaml:"multicall"`
	CGO       bool              `yaml:"cgo"`
	Tags      []string          `yaml:"tags"`
	XVersion  map[string]string `yaml:"xversion"`
	Binaries  map[string]string `yaml:"binaries"`
}

// LoadManifest parses the embedded manifest.
func LoadManifest() (*Manifest, error) {
	return parseManifest(versionsYAML)
}

func parseManifest(data []byte) (*Manifest, error) {
	m := &Manifest{raw: data}
	if err := yaml.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("failed to parse versions manifest: %w", err)
	}
	if m.Kubernetes.Default == "" || m.Debian.Suite == "" || len(m.Go) == 0 || m.Pause.Image == "" {
		return nil, fmt.Errorf("versions manifest is incomplete: kubernetes.default, debian.suite, go and pause.image are required")
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
	out.Go = make([]GoComponent, len(m.Go))
	for i, c := range m.Go {
		c.Version = strings.ReplaceAll(c.Version, "{{kubernetes}}", version)
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
		out.Go[i] = c
	}
	return &out, nil
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

// Versions lists name=version for every pinned component, in manifest order.
func (m *Manifest) Versions() [][2]string {
	v := [][2]string{{"debian", m.Debian.Suite}}
	for _, c := range m.Go {
		v = append(v, [2]string{c.Name, c.Version})
	}
	return append(v, [2]string{"pause", m.Pause.Version})
}

// BaseTag is the tag of the base image: a hash of the manifest, the chosen
// Kubernetes version and the build recipe, so the base is rebuilt exactly
// when one of them changes.
func (m *Manifest) BaseTag() string {
	h := sha256.New()
	h.Write(m.raw)
	h.Write([]byte(m.Kubernetes.Default))
	h.Write([]byte(recipeVersion))
	for _, f := range recipeFiles() {
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
