// Package addons holds the manifests of the cluster addons the node agent
// applies at boot (cluster DNS, default storage, metrics, a local image
// registry, an ingress controller, the Gateway API served by that same
// controller; NetworkPolicy and LoadBalancer addresses, which the agent
// serves itself, have none), embedded in the
// binary and rendered with the cluster's values. Their images are built and
// preloaded by package images; each manifest names them by their entry in
// images/versions.yaml ({{image "coredns"}}), rendered as the node image's
// release pins them, so nothing is ever pulled. Manifests taken
// verbatim from upstream modules (the Gateway API CRDs) are not here: the
// image build copies them into the node image (versions.yaml addonFiles) and
// the agent applies them with their addon.
//
// The pods that create and start wait for (CoreDNS, Traefik, the registry)
// have a readiness probe every second. The kubelet also runs a readiness
// probe at once whenever it updates the pod's status, and a passing one
// makes the pod Ready in that same update; a startup probe runs only on
// its ticks, and its pass needs one more pod sync before the pod is Ready
// (0.4-0.8 s here). With startup probes a start took 8.0 s, with these
// 6.0 s (medians of 6, alternating); the price is idle CPU, 7.1 -> 7.5 %
// of a core for the node. metrics-server keeps a startup probe (probed
// every second until it first passes, then never again): only create
// --wait-all waits for it, and it passes 10 s after its first scrape.
//
// The addons' programs, all Go, run with GOGC=25 (as the node's own
// components do once settled): their heaps are small and mostly idle, and
// at the default of 100 each held twice what it uses.
package addons

import (
	"bytes"
	"embed"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net"
	"path"
	"slices"
	"strings"
	"text/template"
)

//go:embed dns storage metrics registry ingress gateway
var manifests embed.FS

// Values are what the manifests are rendered with.
type Values struct {
	DNSIP, ClusterDomain, PodSubnet, ServiceSubnet string
	// Upstream are the DNS servers CoreDNS forwards other names to; empty
	// means offline: such names fail at once.
	Upstream []string
	// LoadBalancerPool is the CIDR the agent hands out Service addresses
	// from (required by loadbalancer).
	LoadBalancerPool string
	// RegistryPort is the registry's port on the host's 127.0.0.1, which
	// image names use (localhost:PORT/IMAGE) on the host and in pods alike
	// (required by registry).
	RegistryPort int
	// RegistryNodePort is where the registry listens on the node's network;
	// containerd maps localhost:RegistryPort to it (required by registry).
	RegistryNodePort int
	// LoadBalancer says the loadbalancer addon is enabled too: ingress then
	// publishes its Service's LoadBalancer address in Ingress status, else
	// 127.0.0.1, where the host reaches it.
	LoadBalancer bool
	// Gateway says the gateway addon is enabled too: Traefik then also
	// serves Gateway API resources (the gateway addon holds their CRDs).
	Gateway bool
	// KubeProxyMode is kube-proxy's mode (netpol refuses ipvs).
	KubeProxyMode string
	// CA is the cluster CA's certificate (PEM), which the API server
	// verifies metrics-server's serving certificate MetricsCert (PEM, key
	// MetricsKey) against (required by metrics).
	CA, MetricsCert, MetricsKey []byte
	// Images are the node image's preloaded images by their entry in
	// images/versions.yaml (Manifest.Images): manifests name them with
	// {{image "coredns"}}, so no version is written twice.
	Images map[string]string
}

// names are the default-enabled addons. The node applies them concurrently;
// this order is the one `skiff addons list` shows.
var names = []string{"dns", "storage", "metrics", "registry", "loadbalancer", "ingress", "gateway", "netpol"}

// Names returns the default-enabled addons in apply order.
func Names() []string { return slices.Clone(names) }

// InAgent reports whether the node agent runs the named addon itself
// instead of applying manifests: netpol, the NetworkPolicy enforcer, which
// must set the node's own packet filter (package node/netpol), and
// loadbalancer, which answers ARP for Service addresses on the node's
// network (package node/servicelb). Such an addon renders no manifest.
func InAgent(name string) bool { return name == "netpol" || name == "loadbalancer" }

// Affects lists the addons whose rendered manifests change when the named
// one is turned on or off, so they are re-applied with it: the ingress
// addon's Traefik serves the Gateway API exactly while the gateway addon
// (its CRDs) is enabled, and its Service is of type LoadBalancer (else
// Ingress status says 127.0.0.1) exactly while loadbalancer is.
func Affects(name string) []string {
	if name == "gateway" || name == "loadbalancer" {
		return []string{"ingress"}
	}
	return nil
}

// Render returns the named addon's manifests as one multi-document YAML
// stream; nothing for an addon the agent runs itself (InAgent).
func Render(name string, v Values) ([]byte, error) {
	if InAgent(name) {
		return nil, Requires(name, v)
	}
	files, err := fs.Glob(manifests, path.Join(name, "*.yaml"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("unknown addon %q: choose from %s", name, strings.Join(names, ", "))
	}
	if v.DNSIP == "" || v.ClusterDomain == "" {
		return nil, fmt.Errorf("addon %s: DNSIP and ClusterDomain are required", name)
	}
	if err := Requires(name, v); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for _, f := range files {
		src, err := manifests.ReadFile(f)
		if err != nil {
			return nil, err
		}
		t, err := template.New(f).Option("missingkey=error").Funcs(template.FuncMap{"join": strings.Join, "image": v.image, "base64": base64.StdEncoding.EncodeToString}).Parse(string(src))
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

// image is the reference of the preloaded image pinned as entry.
func (v Values) image(entry string) (string, error) {
	ref, ok := v.Images[entry]
	if !ok {
		return "", fmt.Errorf("the node image preloads no %q image", entry)
	}
	return ref, nil
}

// Requires reports a value the named addon needs but v lacks, e.g. in a
// node configuration written by an older skiff.
func Requires(name string, v Values) error {
	switch name {
	case "registry":
		if v.RegistryPort <= 0 || v.RegistryPort > 65535 {
			return fmt.Errorf("addon registry: the cluster has no registry port published on the host (it was created without the registry addon): recreate it with the registry enabled")
		}
		if v.RegistryNodePort <= 0 || v.RegistryNodePort > 65535 {
			return fmt.Errorf("addon registry: no port for the registry in the node")
		}
	case "metrics":
		if len(v.CA) == 0 || len(v.MetricsCert) == 0 || len(v.MetricsKey) == 0 {
			return fmt.Errorf("addon metrics: the node has no serving certificate for metrics-server from the cluster CA")
		}
	case "loadbalancer":
		if _, _, err := net.ParseCIDR(v.LoadBalancerPool); err != nil {
			return fmt.Errorf("addon loadbalancer: no valid LoadBalancer pool: %w", err)
		}
	case "netpol":
		// IPVS translates a Service's address on the input hook, after
		// the enforcer has judged the packet, and sends it on through
		// output, where nothing judges it.
		if v.KubeProxyMode == "ipvs" {
			return fmt.Errorf("addon netpol: kube-proxy's ipvs mode translates Service addresses after NetworkPolicy is checked: use kubeProxyMode iptables (the default) or nftables, or leave netpol out of the addons")
		}
	}
	return nil
}
