// Package node is skiff-node, the agent that runs as PID 1 in a node
// container: it prepares the container, writes component configuration and
// starts containerd, etcd, the control plane, the kubelet and kube-proxy as
// supervised children, in dependency order, each as soon as what it needs
// answers.
package node

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Paths shared by the CLI (which writes the configuration and PKI into the
// container before its first start) and the agent. Everything under /var is
// on the cluster's volume and survives stop/start.
const (
	StateDir      = "/var/lib/skiff"
	ConfigFile    = StateDir + "/config.json"
	PKIDir        = StateDir + "/pki"
	KubeconfigDir = StateDir + "/kubeconfig"
	LogDir        = "/var/log/skiff"
	RunDir        = "/run/skiff"
	// StatusFile is on the volume, not /run: `docker cp` cannot see tmpfs.
	StatusFile = StateDir + "/status.json"
	// PreloadedList, in the image, names the images its containerd store
	// was built with, one per line.
	PreloadedList = "/opt/skiff/images.txt"
	// AddonFilesDir, in the image, holds the manifests addons apply
	// verbatim from upstream, in one directory per addon (the image build
	// copies them there: images/versions.yaml addonFiles).
	AddonFilesDir = "/opt/skiff/addons"
	APIServerPort = 6443
)

// Config is what the CLI tells the agent about the cluster.
type Config struct {
	ClusterName   string            `json:"clusterName"`
	NodeName      string            `json:"nodeName"`
	PodSubnet     string            `json:"podSubnet"`
	ServiceSubnet string            `json:"serviceSubnet"`
	DNSIP         string            `json:"dnsIP"`
	KubeProxyMode string            `json:"kubeProxyMode"`
	FeatureGates  map[string]bool   `json:"featureGates,omitempty"`
	RuntimeConfig map[string]string `json:"runtimeConfig,omitempty"`
	NodeLabels    map[string]string `json:"nodeLabels,omitempty"`
	// Addons the agent applies at boot, in order: nil (or absent) means
	// addons.Names(), the defaults; an empty list means none. Not omitempty:
	// that would drop an explicit empty list and so turn "none" into the
	// defaults.
	Addons []string `json:"addons"`
	// LoadBalancerPool is the CIDR of this cluster's LoadBalancer addresses
	// in the skiff Docker network, reserved for it by the CLI.
	LoadBalancerPool string `json:"loadBalancerPool,omitempty"`
	// RegistryPort is where the registry listens in the node, the same
	// port it is published on at the host's localhost.
	RegistryPort int `json:"registryPort,omitempty"`
	// Privileged says whether the container runs with --privileged (else with
	// the explicit capability set), for status output.
	Privileged bool `json:"privileged"`
}

// ReadConfig loads the agent's configuration.
func ReadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read node config: %w", err)
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("failed to parse node config %s: %w", path, err)
	}
	return &c, nil
}

func pki(name string) string        { return filepath.Join(PKIDir, name) }
func kubeconfig(name string) string { return filepath.Join(KubeconfigDir, name+".conf") }
