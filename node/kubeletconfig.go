package node

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/utils/ptr"
)

// kubeletConfiguration is the kubelet's configuration for this node;
// podCIDR is the node's (firstSubnet).
func kubeletConfiguration(c *Config, cgroupRoot, podCIDR string) *kubeletv1beta1.KubeletConfiguration {
	return &kubeletv1beta1.KubeletConfiguration{
		TypeMeta: metav1.TypeMeta{APIVersion: kubeletv1beta1.SchemeGroupVersion.String(), Kind: "KubeletConfiguration"},
		Authentication: kubeletv1beta1.KubeletAuthentication{
			Anonymous: kubeletv1beta1.KubeletAnonymousAuthentication{Enabled: ptr.To(false)},
			Webhook:   kubeletv1beta1.KubeletWebhookAuthentication{Enabled: ptr.To(true)},
			X509:      kubeletv1beta1.KubeletX509Authentication{ClientCAFile: pki("ca.crt")},
		},
		Authorization: kubeletv1beta1.KubeletAuthorization{Mode: kubeletv1beta1.KubeletAuthorizationModeWebhook},
		CgroupDriver:  "cgroupfs",
		CgroupRoot:    cgroupRoot,
		FailCgroupV1:  ptr.To(false),
		ClusterDomain: clusterDomain,
		ClusterDNS:    []string{c.DNSIP},
		// The runtime endpoint is containerd's grpc.address (containerdConfiguration).
		ContainerRuntimeEndpoint: "unix:///run/containerd/containerd.sock",
		ResolverConfig:           ptr.To(podResolvConf),
		TLSCertFile:              pki("kubelet.crt"),
		TLSPrivateKeyFile:        pki("kubelet.key"),
		PodCIDR:                  podCIDR,
		FailSwapOn:               ptr.To(false),
		SerializeImagePulls:      ptr.To(false),
		// A laptop's disk is often fuller than a server's: never evict or
		// collect images because of it, or preloaded images would vanish
		// offline.
		ImageGCHighThresholdPercent: ptr.To[int32](100),
		EvictionHard: map[string]string{
			"nodefs.available":  "0%",
			"nodefs.inodesFree": "0%",
			"imagefs.available": "0%",
		},
		NodeStatusReportFrequency: metav1.Duration{Duration: 10 * time.Second},
		SyncFrequency:             metav1.Duration{Duration: 10 * time.Second},
		FeatureGates:              c.FeatureGates,
	}
}

func renderKubeletConfig(c *Config, cgroupRoot, podCIDR string) ([]byte, error) {
	data, err := marshalSetFields(kubeletConfiguration(c, cgroupRoot, podCIDR))
	if err != nil {
		return nil, fmt.Errorf("render kubelet config: %w", err)
	}
	return data, nil
}
