package provision

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
	kind "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

// LoadKindConfig reads a kind `kind.x-k8s.io/v1alpha4` Cluster file into c.
// It returns a warning for every field skiff cannot honour; a malformed
// file is an error naming the line.
func LoadKindConfig(data []byte, c *Config) (warnings []string, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var kc kind.Cluster
	if err := dec.Decode(&kc); err != nil && !errors.Is(err, io.EOF) {
		// yaml.v3 lists problems on several lines; errors here are one line.
		return nil, fmt.Errorf("malformed cluster config: %s", strings.Join(strings.Fields(err.Error()), " "))
	}
	if kc.Kind != "Cluster" || kc.APIVersion != "kind.x-k8s.io/v1alpha4" {
		return nil, fmt.Errorf("malformed cluster config: want kind: Cluster and apiVersion: kind.x-k8s.io/v1alpha4, got kind %q apiVersion %q", kc.Kind, kc.APIVersion)
	}
	// An optional second document holds what only skiff has.
	var sk skiffConfig
	if err := dec.Decode(&sk); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("malformed skiff section: %s", strings.Join(strings.Fields(err.Error()), " "))
	} else if err == nil {
		if sk.Kind != "Skiff" || sk.APIVersion != SkiffAPIVersion {
			return nil, fmt.Errorf("malformed cluster config: the second document must be kind: Skiff, apiVersion: %s", SkiffAPIVersion)
		}
		if sk.Addons != nil {
			c.Addons = *sk.Addons
		}
		c.HTTPPort, c.HTTPSPort, c.RegistryPort = sk.HTTPPort, sk.HTTPSPort, sk.RegistryPort
	}
	warn := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }
	if kc.Name != "" {
		c.Name = kc.Name
	}
	n := kc.Networking
	if n.IPFamily != "" && n.IPFamily != kind.IPv4Family {
		warn("networking.ipFamily %q is ignored: skiff clusters are IPv4", n.IPFamily)
	}
	c.APIServerAddress = or(n.APIServerAddress, c.APIServerAddress)
	if n.APIServerPort != 0 {
		c.APIServerPort = int(n.APIServerPort)
	}
	c.PodSubnet = or(n.PodSubnet, c.PodSubnet)
	c.ServiceSubnet = or(n.ServiceSubnet, c.ServiceSubnet)
	c.KubeProxyMode = or(string(n.KubeProxyMode), c.KubeProxyMode)
	if n.DisableDefaultCNI {
		warn("networking.disableDefaultCNI is ignored: skiff always installs its CNI")
	}
	if n.DNSSearch != nil {
		warn("networking.dnsSearch is ignored")
	}
	c.FeatureGates = kc.FeatureGates
	c.RuntimeConfig = kc.RuntimeConfig
	if len(kc.KubeadmConfigPatches) > 0 {
		warn("kubeadmConfigPatches (%d) are ignored: skiff does not use kubeadm", len(kc.KubeadmConfigPatches))
	}
	if len(kc.KubeadmConfigPatchesJSON6902) > 0 {
		warn("kubeadmConfigPatchesJSON6902 (%d) are ignored: skiff does not use kubeadm", len(kc.KubeadmConfigPatchesJSON6902))
	}
	if len(kc.ContainerdConfigPatches)+len(kc.ContainerdConfigPatchesJSON6902) > 0 {
		warn("containerdConfigPatches are ignored")
	}
	if len(kc.Nodes) > 1 {
		var roles []string
		for _, node := range kc.Nodes[1:] {
			roles = append(roles, string(node.Role))
		}
		warn("%d extra nodes (%s) are ignored: skiff clusters have one node", len(kc.Nodes)-1, strings.Join(roles, ", "))
	}
	if len(kc.Nodes) > 0 {
		node := kc.Nodes[0]
		if node.Role != "" && node.Role != kind.ControlPlaneRole {
			warn("nodes[0].role %q is treated as control-plane", node.Role)
		}
		if node.Image != "" {
			warn("nodes[0].image %q is ignored: use --image with a skiff node image", node.Image)
		}
		if len(node.KubeadmConfigPatches)+len(node.KubeadmConfigPatchesJSON6902) > 0 {
			warn("nodes[0].kubeadmConfigPatches are ignored: skiff does not use kubeadm")
		}
		c.NodeLabels = node.Labels
		for _, m := range node.ExtraMounts {
			if m.SelinuxRelabel {
				warn("extraMounts %s: selinuxRelabel is ignored", m.ContainerPath)
			}
			c.Mounts = append(c.Mounts, Mount{HostPath: m.HostPath, ContainerPath: m.ContainerPath, ReadOnly: m.Readonly, Propagation: string(m.Propagation)})
		}
		for _, p := range node.ExtraPortMappings {
			c.PortMappings = append(c.PortMappings, PortMapping{ContainerPort: int(p.ContainerPort), HostPort: int(p.HostPort), ListenAddress: p.ListenAddress, Protocol: string(p.Protocol)})
		}
	}
	return warnings, nil
}

// SkiffAPIVersion is the apiVersion of the skiff section of a config file.
const SkiffAPIVersion = "skiff.dev/v1alpha1"

// skiffConfig is the optional second document of a cluster config file:
//
//	kind: Skiff
//	apiVersion: skiff.dev/v1alpha1
//	addons: [dns, storage]   # omit for all, [] for none
//	httpPort: 8080
type skiffConfig struct {
	Kind         string    `yaml:"kind"`
	APIVersion   string    `yaml:"apiVersion"`
	Addons       *[]string `yaml:"addons"`
	HTTPPort     int       `yaml:"httpPort"`
	HTTPSPort    int       `yaml:"httpsPort"`
	RegistryPort int       `yaml:"registryPort"`
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
