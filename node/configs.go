package node

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// Files the agent writes at every boot, so a newer skiff-node can change
// them and a changed node IP is picked up.
const (
	containerdConfig = "/etc/containerd/config.toml"
	cniConfig        = "/etc/cni/net.d/10-skiff.conflist"
	kubeletConfig    = StateDir + "/kubelet.yaml"
	kubeProxyConfig  = StateDir + "/kube-proxy.yaml"
	podResolvConf    = StateDir + "/resolv.conf"
	registryHostsDir = "/etc/containerd/certs.d"
)

func writeConfigs(c *Config, cgroupRoot string) error {
	podCIDR, err := firstSubnet(c.PodSubnet)
	if err != nil {
		return err
	}
	resolv, _ := os.ReadFile("/etc/resolv.conf")
	var ns strings.Builder
	for _, s := range upstreamNameservers(string(resolv)) {
		fmt.Fprintf(&ns, "nameserver %s\n", s)
	}
	files := map[string]string{
		containerdConfig: fmt.Sprintf(containerdTOML, registryHostsDir),
		cniConfig:        fmt.Sprintf(cniJSON, podCIDR),
		kubeletConfig:    fmt.Sprintf(kubeletYAML, pki("ca.crt"), cgroupRoot, c.DNSIP, podResolvConf, pki("kubelet.crt"), pki("kubelet.key"), podCIDR, featureGatesYAML(c.FeatureGates)),
		kubeProxyConfig:  fmt.Sprintf(kubeProxyYAML, kubeconfig("kube-proxy"), c.PodSubnet, c.NodeName, proxyMode(c.KubeProxyMode), featureGatesYAML(c.FeatureGates)),
		podResolvConf:    ns.String(),
	}
	for host, content := range registryHosts(c.RegistryPort) {
		files[filepath.Join(registryHostsDir, host, "hosts.toml")] = content
	}
	for path, content := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return fmt.Errorf("failed to write %s: %w", path, err)
		}
	}
	return nil
}

// registryHosts returns the containerd hosts.toml, by registry host, that
// make the node pull from the registry addon over plain HTTP: it listens on
// the node's network without TLS, as Docker on the host expects of
// localhost. containerd reads certs.d at every pull, so no restart is
// needed. 127.0.0.1 is there too, since Docker accepts both spellings.
func registryHosts(port int) map[string]string {
	if port <= 0 {
		return nil
	}
	hosts := map[string]string{}
	for _, h := range []string{"localhost", "127.0.0.1"} {
		addr := fmt.Sprintf("%s:%d", h, port)
		hosts[addr] = fmt.Sprintf(`server = "http://%[1]s"

[host."http://%[1]s"]
  capabilities = ["pull", "resolve", "push"]
`, addr)
	}
	return hosts
}

// firstSubnet returns the node's pod CIDR: the first /24 of the cluster's
// pod subnet, which is also what the controller manager allocates to the
// only node.
func firstSubnet(podSubnet string) (string, error) {
	ip, n, err := net.ParseCIDR(podSubnet)
	if err != nil || ip.To4() == nil {
		return "", fmt.Errorf("pod subnet %q is not an IPv4 CIDR", podSubnet)
	}
	if ones, _ := n.Mask.Size(); ones > 24 {
		return "", fmt.Errorf("pod subnet %q is smaller than a /24", podSubnet)
	}
	return (&net.IPNet{IP: n.IP.To4(), Mask: net.CIDRMask(24, 32)}).String(), nil
}

func proxyMode(m string) string {
	if m == "" {
		return "iptables"
	}
	return m
}

func featureGatesYAML(gates map[string]bool) string {
	if len(gates) == 0 {
		return "{}"
	}
	var parts []string
	for k, v := range gates {
		parts = append(parts, fmt.Sprintf("%q: %t", k, v))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// containerd 2.x: the CRI plugin pins the pause image so it is never pulled
// or garbage-collected, may not lower oom_score_adj (CAP_SYS_RESOURCE may be
// missing), and reads registry mirrors from certs.d.
const containerdTOML = `version = 3
root = "/var/lib/containerd"
state = "/run/containerd"

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  discard_unpacked_layers = true
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "registry.k8s.io/pause:3.10.2"
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = "%s"

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["/usr/lib/cni"]
    conf_dir = "/etc/cni/net.d"
`

// ptp rather than bridge: every pod packet is routed through the node's own
// network stack, so kube-proxy's rules apply without br_netfilter, which a
// container cannot load.
const cniJSON = `{
  "cniVersion": "1.0.0",
  "name": "skiff",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": true,
      "mtu": 1500,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "%s"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`

const kubeletYAML = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: %s
authorization:
  mode: Webhook
cgroupDriver: cgroupfs
cgroupRoot: %s
failCgroupV1: false
clusterDomain: cluster.local
clusterDNS: [%s]
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
resolvConf: %s
tlsCertFile: %s
tlsPrivateKeyFile: %s
podCIDR: %s
failSwapOn: false
serializeImagePulls: false
# A laptop's disk is often fuller than a server's: never evict or collect
# images because of it, or preloaded images would vanish offline.
imageGCHighThresholdPercent: 100
evictionHard:
  nodefs.available: "0%%"
  nodefs.inodesFree: "0%%"
  imagefs.available: "0%%"
nodeStatusReportFrequency: 10s
syncFrequency: 10s
featureGates: %s
`

const kubeProxyYAML = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: %s
clusterCIDR: %s
hostnameOverride: %s
mode: %s
conntrack:
  # A container may not change the host's conntrack table size.
  maxPerCore: 0
featureGates: %s
`
