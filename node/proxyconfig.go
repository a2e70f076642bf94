package node

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	"k8s.io/utils/ptr"
)

// kubeProxyConfiguration is kube-proxy's configuration for this node.
func kubeProxyConfiguration(c *Config) *kubeproxyv1alpha1.KubeProxyConfiguration {
	cfg := &kubeproxyv1alpha1.KubeProxyConfiguration{
		TypeMeta:         metav1.TypeMeta{APIVersion: kubeproxyv1alpha1.SchemeGroupVersion.String(), Kind: "KubeProxyConfiguration"},
		ClusterCIDR:      c.PodSubnet,
		HostnameOverride: c.NodeName,
		Mode:             kubeproxyv1alpha1.ProxyMode(proxyMode(c.KubeProxyMode)),
		// A container may not change the host's conntrack table size: 0
		// leaves it as is (and min unused); nil would mean the default.
		Conntrack:    kubeproxyv1alpha1.KubeProxyConntrackConfiguration{MaxPerCore: ptr.To[int32](0)},
		FeatureGates: c.FeatureGates,
	}
	// A Service's rules follow its endpoints at most this much later. The
	// default, a second, spaces out the rewrites of a large cluster's
	// tables; a node's are a few dozen rules. At a start every pod comes
	// back on a new address, and the Services route to the old ones until
	// kube-proxy has caught up (dnsAnswers waits for that).
	sync := metav1.Duration{Duration: minSyncPeriod}
	cfg.IPTables.MinSyncPeriod, cfg.NFTables.MinSyncPeriod, cfg.IPVS.MinSyncPeriod = sync, sync, sync
	cfg.ClientConnection.Kubeconfig = kubeconfig("kube-proxy")
	return cfg
}

// minSyncPeriod is kube-proxy's; 0 would be defaulted to a second.
const minSyncPeriod = 100 * time.Millisecond

func proxyMode(m string) string {
	if m == "" {
		return "iptables"
	}
	return m
}

func renderKubeProxyConfig(c *Config) ([]byte, error) {
	data, err := marshalSetFields(kubeProxyConfiguration(c))
	if err != nil {
		return nil, fmt.Errorf("render kube-proxy config: %w", err)
	}
	return data, nil
}
