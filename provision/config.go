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
	Addons         []string
	Wait           time.Duration
	Retain         bool
	KubeconfigPath string
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
	if c.Wait == 0 {
		c.Wait = 5 * time.Minute
	}
}

// Validate reports the first thing wrong with c, saying how to fix it.
func (c *Config) Validate() error {
	if len(c.Name) > 40 || !nameRE.MatchString(c.Name) {
		return fmt.Errorf("invalid cluster name %q: use 1-40 lowercase letters, digits and '-', starting and ending with a letter or digit", c.Name)
	}
	for _, s := range []struct{ what, cidr string }{{"podSubnet", c.PodSubnet}, {"serviceSubnet", c.ServiceSubnet}} {
		ip, _, err := net.ParseCIDR(s.cidr)
		if err != nil || ip.To4() == nil {
			return fmt.Errorf("invalid %s %q: give an IPv4 CIDR such as 10.244.0.0/16", s.what, s.cidr)
		}
	}
	if c.APIServerPort < 0 || c.APIServerPort > 65535 {
		return fmt.Errorf("invalid apiServerPort %d: use 1-65535, or 0 for a free port", c.APIServerPort)
	}
	if ip := net.ParseIP(c.APIServerAddress); ip == nil {
		return fmt.Errorf("invalid apiServerAddress %q: give an IP address such as 127.0.0.1", c.APIServerAddress)
	}
	for _, a := range c.Addons {
		if !slices.Contains(addons.Names(), a) {
			return fmt.Errorf("unknown addon %q: choose from %s", a, strings.Join(addons.Names(), ", "))
		}
	}
	switch c.KubeProxyMode {
	case "iptables", "nftables", "ipvs", "none":
	default:
		return fmt.Errorf("invalid kubeProxyMode %q: use iptables, nftables, ipvs or none", c.KubeProxyMode)
	}
	return nil
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

// NodeName is the node container's name and the Kubernetes node name.
func NodeName(cluster string) string { return cluster + "-control-plane" }

// ContextName is the kubeconfig context, cluster and user name.
func ContextName(cluster string) string { return "skiff-" + cluster }

func volumeName(cluster string) string { return "skiff-" + cluster + "-state" }
