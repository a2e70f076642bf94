// Package addons holds the manifests of the cluster addons the node agent
// applies at boot (cluster DNS, default storage, metrics), embedded in the
// binary and rendered with the cluster's values. Their images are built and
// preloaded by package images; each manifest names them exactly as
// images/versions.yaml pins them, so nothing is ever pulled.
package addons

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"text/template"
)

//go:embed dns storage metrics
var manifests embed.FS

// Values are what the manifests are rendered with.
type Values struct {
	DNSIP, ClusterDomain, PodSubnet, ServiceSubnet string
	// Upstream are the DNS servers CoreDNS forwards other names to; empty
	// means offline: such names fail at once.
	Upstream []string
}

// names are the default-enabled addons, in apply order: DNS first, since
// every other workload resolves names.
var names = []string{"dns", "storage", "metrics"}

// Names returns the default-enabled addons in apply order.
func Names() []string { return slices.Clone(names) }

// Render returns the named addon's manifests as one multi-document YAML
// stream.
func Render(name string, v Values) ([]byte, error) {
	files, err := fs.Glob(manifests, path.Join(name, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("unknown addon %q: choose from %s", name, strings.Join(names, ", "))
	}
	if v.DNSIP == "" || v.ClusterDomain == "" {
		return nil, fmt.Errorf("addon %s: DNSIP and ClusterDomain are required", name)
	}
	var out bytes.Buffer
	for _, f := range files {
		src, err := manifests.ReadFile(f)
		if err != nil {
			return nil, err
		}
		t, err := template.New(f).Option("missingkey=error").Funcs(template.FuncMap{"join": strings.Join}).Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("failed to parse addon manifest %s: %w", f, err)
		}
		if out.Len() > 0 {
			out.WriteString("---\n")
		}
		if err := t.Execute(&out, v); err != nil {
			return nil, fmt.Errorf("failed to render addon manifest %s: %w", f, err)
		}
	}
	return out.Bytes(), nil
}
