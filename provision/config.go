// Package provision creates, starts, stops, inspects and deletes skiff
// clusters: one Docker container per cluster, found by its labels.
package provision

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-k8s/skiff/addons"
)

// Labels on every Docker object skiff makes; they are the only record of a
// cluster (no state file to go stale).
const (
	LabelCluster    = "dev.skiff.cluster"
	LabelAPIServer  = "dev.skiff.apiserver"
	LabelPrivileged = "dev.skiff.privileged"
	LabelLBPool     = "dev.skiff.lb-pool"
	DefaultName     = "skiff"
	networkName     = "skiff"
)

// Config is a cluster to create, after defaults and validation.
type Config struct {
	Name             string
	Image            string
	APIServerAddress string // host address the API server is published on
	APIServerPort    int    // 0: a free port
	PodSubnet        string
	ServiceSubnet    string
	KubeProxyMode    string
	FeatureGates     map[string]bool
	RuntimeConfig    map[string]string
	NodeLabels       map[string]string
	PortMappings     []PortMapping
	Mounts           []Mount
	// Host ports for the ingress (node ports 80 and 443) and the registry
	// (the same port in the node): 0 means the usual port (80, 443, 5001)
	// when free, else a free one.
	HTTPPort, HTTPSPort, RegistryPort int
	// Addons to enable; nil means every default addon, empty means none.
	Addons []string
	Wait   time.Duration
	// WaitAll also waits for metrics-server (kubectl top), about 10 s more.
	WaitAll        bool
	Retain         bool
	KubeconfigPath string
	// From is a snapshot to start from: its node image, subnets and addons
	// replace the fields above, its volume the empty one.
	From string
}

// PortMapping publishes a node port on the host.
type PortMapping struct {
	ContainerPort int
	HostPort      int
	ListenAddress string
	Protocol      string // TCP, UDP or SCTP
}

// Mount is a host path mounted into the node.
type Mount struct {
	HostPath, ContainerPath string
	ReadOnly                bool
	Propagation             string // None, HostToContainer or Bidirectional
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// SetDefaults fills in what the user left out.
func (c *Config) SetDefaults() {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.APIServerAddress == "" {
		c.APIServerAddress = "127.0.0.1"
	}
	if c.PodSubnet == "" {
		c.PodSubnet = "10.244.0.0/16"
	}
	if c.ServiceSubnet == "" {
		c.ServiceSubnet = "10.96.0.0/16"
	}
	if c.KubeProxyMode == "" {
		c.KubeProxyMode = "iptables"
	}
	// The default addons, but netpol, which ipvs mode defeats (an
	// explicit netpol is refused by Validate).
	if c.KubeProxyMode == "ipvs" && c.Addons == nil {
		c.Addons = slices.DeleteFunc(addons.Names(), func(a string) bool { return a == "netpol" })
	}
	if c.Wait == 0 {
		c.Wait = 5 * time.Minute
	}
}

// Validate reports the first thing wrong with c, saying how to fix it. It
// checks everything that can be known before a container exists, so a
// mistake costs a line, not a failed boot.
func (c *Config) Validate() error {
	if len(c.Name) > 40 || !nameRE.MatchString(c.Name) {
		return fmt.Errorf("invalid cluster name %q: use 1-40 lowercase letters, digits and '-', starting and ending with a letter or digit", c.Name)
	}
	pods, err := ipv4Subnet("podSubnet", c.PodSubnet, "10.244.0.0/16")
	if err != nil {
		return err
	}
	// Each node gets a /24 of the pod subnet (--node-cidr-mask-size=24),
	// and the controller manager allows at most 16 bits between the two.
	if ones, _ := pods.Mask.Size(); ones > 24 || ones < 8 {
		return fmt.Errorf("invalid podSubnet %q: use a prefix from /8 to /24 (the node takes a /24), such as 10.244.0.0/16", c.PodSubnet)
	}
	services, err := ipv4Subnet("serviceSubnet", c.ServiceSubnet, "10.96.0.0/16")
	if err != nil {
		return err
	}
	// kube-apiserver refuses more than 20 host bits; DNS takes the 10th
	// address.
	if ones, _ := services.Mask.Size(); ones > 28 || ones < 12 {
		return fmt.Errorf("invalid serviceSubnet %q: use a prefix from /12 to /28, such as 10.96.0.0/16", c.ServiceSubnet)
	}
	if pods.Contains(services.IP) || services.Contains(pods.IP) {
		return fmt.Errorf("podSubnet %s and serviceSubnet %s overlap: give them separate ranges", c.PodSubnet, c.ServiceSubnet)
	}
	if ip := net.ParseIP(c.APIServerAddress); ip == nil {
		return fmt.Errorf("invalid apiServerAddress %q: give an IP address such as 127.0.0.1", c.APIServerAddress)
	}
	if err := c.validatePorts(); err != nil {
		return err
	}
	for _, a := range c.Addons {
		if !slices.Contains(addons.Names(), a) {
			return fmt.Errorf("unknown addon %q: choose from %s", a, strings.Join(addons.Names(), ", "))
		}
		// netpol needs what this file says (kube-proxy's mode); the
		// others need what skiff picks later (a pool, a port).
		if a == "netpol" {
			if err := addons.Requires(a, addons.Values{KubeProxyMode: c.KubeProxyMode}); err != nil {
				return err
			}
		}
	}
	switch c.KubeProxyMode {
	case "iptables", "nftables", "ipvs", "none":
	default:
		return fmt.Errorf("invalid kubeProxyMode %q: use iptables, nftables, ipvs or none", c.KubeProxyMode)
	}
	for k, v := range c.RuntimeConfig {
		if k == "" || strings.ContainsAny(k, "=, ") || strings.ContainsAny(v, "=, ") {
			return fmt.Errorf("invalid runtimeConfig %q: %q: give API groups/versions such as \"api/all\": \"true\"", k, v)
		}
	}
	return nil
}

func ipv4Subnet(what, cidr, example string) (*net.IPNet, error) {
	ip, ipnet, err := net.ParseCIDR(cidr)
	if err != nil || ip.To4() == nil {
		return nil, fmt.Errorf("invalid %s %q: give an IPv4 CIDR such as %s", what, cidr, example)
	}
	return ipnet, nil
}

// validatePorts checks every host and node port: within range, and no host
// port asked for twice.
func (c *Config) validatePorts() error {
	hostPorts := map[string]string{}
	claim := func(what string, port int, proto string) error {
		if port == 0 {
			return nil
		}
		if port < 1 || port > 65535 {
			return fmt.Errorf("invalid %s %d: use 1-65535, or 0 to let skiff choose", what, port)
		}
		key := strconv.Itoa(port) + "/" + strings.ToLower(or(proto, "tcp"))
		if other, ok := hostPorts[key]; ok {
			return fmt.Errorf("%s and %s are both %d: give each its own port", other, what, port)
		}
		hostPorts[key] = what
		return nil
	}
	for _, p := range []struct {
		what string
		port int
	}{{"apiServerPort", c.APIServerPort}, {"HTTP port", c.HTTPPort}, {"HTTPS port", c.HTTPSPort}, {"registry port", c.RegistryPort}} {
		if err := claim(p.what, p.port, "tcp"); err != nil {
			return err
		}
	}
	for _, pm := range c.PortMappings {
		if pm.ContainerPort < 1 || pm.ContainerPort > 65535 {
			return fmt.Errorf("invalid extraPortMapping containerPort %d: use 1-65535", pm.ContainerPort)
		}
		if err := claim(fmt.Sprintf("extraPortMapping hostPort (containerPort %d)", pm.ContainerPort), pm.HostPort, pm.Protocol); err != nil {
			return err
		}
	}
	return nil
}

// addonEnabled reports whether the cluster will run the addon: nil Addons
// means every default addon.
func (c *Config) addonEnabled(name string) bool {
	return c.Addons == nil || slices.Contains(c.Addons, name)
}

// Node ports the addons listen on, published on the host at create.
const (
	NodeHTTPPort  = 80
	NodeHTTPSPort = 443
)

// Server is the API server's URL from the host.
func (c *Config) Server() string {
	addr := c.APIServerAddress
	if ip := net.ParseIP(addr); ip != nil && ip.IsUnspecified() {
		addr = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(addr, strconv.Itoa(c.APIServerPort))
}

// NodeName is the node container's name and hostname. It is the
// Kubernetes node name too, except in a clone, which keeps its snapshot's
// (node.Config.NodeName).
func NodeName(cluster string) string { return cluster + "-control-plane" }

// ContextName is the kubeconfig context, cluster and user name.
func ContextName(cluster string) string { return "skiff-" + cluster }

func volumeName(cluster string) string { return "skiff-" + cluster + "-state" }
