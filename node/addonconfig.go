package node

import (
	"errors"
	"io/fs"
	"os"
	"slices"

	"github.com/skiff-k8s/skiff/addons"
	"github.com/skiff-k8s/skiff/images"
)

// AddonEnabled reports whether the node configuration enables an addon.
func AddonEnabled(c *Config, name string) bool {
	return slices.Contains(enabledAddons(c), name)
}

// AddonValues are the values the addons are rendered with for this node;
// upstream are the DNS servers CoreDNS forwards to (none: offline).
func AddonValues(c *Config, upstream []string) (addons.Values, error) {
	m, err := release()
	if err != nil {
		return addons.Values{}, err
	}
	tls, err := readPEMs(pki("ca.crt"), pki("metrics-server.crt"), pki("metrics-server.key"))
	if err != nil {
		return addons.Values{}, err
	}
	return addons.Values{
		DNSIP:            c.DNSIP,
		ClusterDomain:    clusterDomain,
		PodSubnet:        c.PodSubnet,
		ServiceSubnet:    c.ServiceSubnet,
		Upstream:         upstream,
		LoadBalancerPool: c.LoadBalancerPool,
		RegistryPort:     c.RegistryPort,
		RegistryNodePort: images.RegistryNodePort,
		LoadBalancer:     AddonEnabled(c, "loadbalancer"),
		Gateway:          AddonEnabled(c, "gateway"),
		KubeProxyMode:    c.KubeProxyMode,
		Images:           m.Images(),
		CA:               tls[0],
		MetricsCert:      tls[1],
		MetricsKey:       tls[2],
	}, nil
}

// readPEMs reads each file; one that does not exist (a node whose agent has
// not issued it) reads as empty, which addons.Requires refuses.
func readPEMs(files ...string) ([][]byte, error) {
	out := make([][]byte, len(files))
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}
