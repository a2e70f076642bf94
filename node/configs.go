package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/skiff-k8s/skiff/images"
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
	resolv, _ := os.ReadFile("/etc/resolv.conf")
	files, err := renderConfigs(c, cgroupRoot, string(resolv))
	if err != nil {
		return err
	}
	for path, content := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, content, 0o644); err != nil {
			return fmt.Errorf("failed to write %s: %w", path, err)
		}
	}
	return nil
}

// renderConfigs returns the content of every file writeConfigs writes, by
// path; hostResolv is the container's /etc/resolv.conf.
func renderConfigs(c *Config, cgroupRoot, hostResolv string) (map[string][]byte, error) {
	podCIDR, err := firstSubnet(c.PodSubnet)
	if err != nil {
		return nil, err
	}
	var ns strings.Builder
	for _, s := range upstreamNameservers(hostResolv) {
		fmt.Fprintf(&ns, "nameserver %s\n", s)
	}
	files := map[string][]byte{podResolvConf: []byte(ns.String())}
	var errs [4]error
	files[containerdConfig], errs[0] = renderContainerdConfig()
	files[cniConfig], errs[1] = renderCNIConfig(podCIDR)
	files[kubeletConfig], errs[2] = renderKubeletConfig(c, cgroupRoot, podCIDR)
	files[kubeProxyConfig], errs[3] = renderKubeProxyConfig(c)
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	for host, content := range registryHosts(c.RegistryPort) {
		files[filepath.Join(registryHostsDir, host, "hosts.toml")] = []byte(content)
	}
	return files, nil
}

// registryHosts returns the containerd hosts.toml, by registry host, that
// make the node pull localhost:port images (port: the host's) from the
// registry addon, over plain HTTP at its port in the node: it listens on
// the node's network without TLS, as Docker on the host expects of
// localhost. containerd reads certs.d at every pull, so no restart is
// needed. 127.0.0.1 is there too, since Docker accepts both spellings.
func registryHosts(port int) map[string]string {
	if port <= 0 {
		return nil
	}
	hosts := map[string]string{}
	registry := fmt.Sprintf("http://127.0.0.1:%d", images.RegistryNodePort)
	for _, h := range []string{"localhost", "127.0.0.1"} {
		hosts[fmt.Sprintf("%s:%d", h, port)] = fmt.Sprintf(`server = "%[1]s"

[host."%[1]s"]
  capabilities = ["pull", "resolve", "push"]
`, registry)
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

// marshalSetFields marshals a component config as YAML with only the
// fields obj sets. The upstream types lack omitempty on many fields, so
// plain marshalling would also write e.g. "masqueradeBit: null" or
// "syncPeriod: 0s": harmless, as a field written at its zero value decodes
// to the same struct as an absent one and the components default after
// decoding, but the file would no longer say what skiff chose. A field is
// left out when its JSON equals that of the zero value of obj's type, so a
// pointer set to 0 (conntrack.maxPerCore) stays.
func marshalSetFields(obj any) ([]byte, error) {
	set, err := jsonMap(obj)
	if err != nil {
		return nil, err
	}
	zero, err := jsonMap(reflect.New(reflect.TypeOf(obj).Elem()).Interface())
	if err != nil {
		return nil, err
	}
	dropZeros(set, zero)
	return yaml.Marshal(set)
}

func jsonMap(obj any) (map[string]any, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(data, &m)
}

// dropZeros deletes from m what equals the same key in zero, descending
// into objects and deleting those left empty.
func dropZeros(m, zero map[string]any) {
	for k, v := range m {
		z, ok := zero[k]
		if !ok {
			continue
		}
		vm, vok := v.(map[string]any)
		zm, zok := z.(map[string]any)
		if vok && zok {
			dropZeros(vm, zm)
			if len(vm) == 0 {
				delete(m, k)
			}
		} else if reflect.DeepEqual(v, z) {
			delete(m, k)
		}
	}
}
