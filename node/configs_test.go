package node

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/skiff-k8s/skiff/images"
)

// rendered returns the files renderConfigs writes for a cluster with the
// given feature gates and kube-proxy mode.
func rendered(t *testing.T, gates map[string]bool, proxyMode string) map[string][]byte {
	t.Helper()
	c := &Config{NodeName: "dev-control-plane", PodSubnet: "10.244.0.0/16", DNSIP: "10.96.0.10",
		KubeProxyMode: proxyMode, FeatureGates: gates, RegistryPort: 5042}
	files, err := renderConfigs(c, "/kubepods", "nameserver 192.0.2.53\n")
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// decode unmarshals a component config strictly, as the components do: an
// unknown or misspelt field fails.
func decode(t *testing.T, data []byte, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(data, into); err != nil {
		t.Fatalf("%v in:\n%s", err, data)
	}
}

var gateCases = []struct {
	name  string
	gates map[string]bool
}{
	{"no gates", nil},
	// Written as no featureGates key, which both components read as none.
	{"empty gates", map[string]bool{}},
	{"gates", map[string]bool{"InPlacePodVerticalScaling": true, "SomeGate": false}},
}

func checkGates(t *testing.T, data []byte, got, want map[string]bool) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("featureGates = %v, want %v", got, want)
	}
	if len(want) == 0 && strings.Contains(string(data), "featureGates") {
		t.Errorf("no gates, yet the file sets featureGates:\n%s", data)
	}
}

func TestKubeletConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range gateCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := rendered(t, tc.gates, "")[kubeletConfig]
			var k kubeletv1beta1.KubeletConfiguration
			decode(t, data, &k)
			if k.APIVersion != "kubelet.config.k8s.io/v1beta1" || k.Kind != "KubeletConfiguration" {
				t.Errorf("apiVersion %q kind %q", k.APIVersion, k.Kind)
			}
			if !reflect.DeepEqual(k.ClusterDNS, []string{"10.96.0.10"}) || k.ClusterDomain != clusterDomain {
				t.Errorf("clusterDNS %v clusterDomain %q", k.ClusterDNS, k.ClusterDomain)
			}
			if k.CgroupRoot != "/kubepods" || k.CgroupDriver != "cgroupfs" || k.PodCIDR != "10.244.0.0/24" {
				t.Errorf("cgroupRoot %q cgroupDriver %q podCIDR %q", k.CgroupRoot, k.CgroupDriver, k.PodCIDR)
			}
			wantEviction := map[string]string{"nodefs.available": "0%", "nodefs.inodesFree": "0%", "imagefs.available": "0%"}
			if gc := ptr.Deref(k.ImageGCHighThresholdPercent, 0); !maps.Equal(k.EvictionHard, wantEviction) || gc != 100 {
				t.Errorf("evictionHard %v imageGCHighThresholdPercent %d: the disk must never evict", k.EvictionHard, gc)
			}
			if a := k.Authentication; ptr.Deref(a.Anonymous.Enabled, true) || a.X509.ClientCAFile != pki("ca.crt") {
				t.Errorf("authentication %+v: anonymous must be off, clients proven by the CA", a)
			}
			if got := ptr.Deref(k.ResolverConfig, ""); got != podResolvConf {
				t.Errorf("resolvConf %q, want %s", got, podResolvConf)
			}
			checkGates(t, data, k.FeatureGates, tc.gates)
		})
	}
}

func TestKubeProxyConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, mode, want string
		gates            map[string]bool
	}{
		{"default mode", "", "iptables", nil},
		{"nftables, empty gates", "nftables", "nftables", gateCases[1].gates},
		{"ipvs, gates", "ipvs", "ipvs", gateCases[2].gates},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			data := rendered(t, tc.gates, tc.mode)[kubeProxyConfig]
			var p kubeproxyv1alpha1.KubeProxyConfiguration
			decode(t, data, &p)
			if string(p.Mode) != tc.want {
				t.Errorf("mode %q, want %q", p.Mode, tc.want)
			}
			// Absent would be nil: the default table size, which a
			// container may not set.
			if got := ptr.Deref(p.Conntrack.MaxPerCore, -1); got != 0 {
				t.Errorf("conntrack.maxPerCore %d (-1: absent), want an explicit 0:\n%s", got, data)
			}
			if p.ClusterCIDR != "10.244.0.0/16" || p.HostnameOverride != "dev-control-plane" || p.ClientConnection.Kubeconfig != kubeconfig("kube-proxy") {
				t.Errorf("clusterCIDR %q hostnameOverride %q kubeconfig %q", p.ClusterCIDR, p.HostnameOverride, p.ClientConnection.Kubeconfig)
			}
			checkGates(t, data, p.FeatureGates, tc.gates)
		})
	}
}

// lookup follows keys through nested tables of a decoded TOML file.
func lookup(m map[string]any, keys ...string) any {
	var v any = m
	for _, k := range keys {
		t, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = t[k]
	}
	return v
}

func TestContainerdConfig(t *testing.T) {
	t.Parallel()
	files := rendered(t, nil, "")
	var c map[string]any
	if _, err := toml.Decode(string(files[containerdConfig]), &c); err != nil {
		t.Fatal(err)
	}
	m, err := images.Resolved("")
	if err != nil {
		t.Fatal(err)
	}
	var k kubeletv1beta1.KubeletConfiguration
	decode(t, files[kubeletConfig], &k)
	cri, runtime := "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime"
	for _, tc := range []struct {
		keys []string
		want any
	}{
		{[]string{"version"}, int64(3)},
		// The image the node preloads: pulling it would need a network.
		{[]string{"plugins", cri, "pinned_images", "sandbox"}, m.Pause.Image},
		{[]string{"plugins", cri, "registry", "config_path"}, registryHostsDir},
		{[]string{"plugins", runtime, "containerd", "runtimes", "runc", "options", "SystemdCgroup"}, false},
		{[]string{"plugins", runtime, "cni", "conf_dir"}, filepath.Dir(cniConfig)},
		// Not containerd's 1 s: the shims' share of an idle node.
		{[]string{"plugins", runtime, "stats_collect_period"}, "10s"},
		// Cannot lower a score without CAP_SYS_RESOURCE.
		{[]string{"plugins", runtime, "restrict_oom_score_adj"}, true},
		{[]string{"grpc", "address"}, strings.TrimPrefix(k.ContainerRuntimeEndpoint, "unix://")},
	} {
		if got := lookup(c, tc.keys...); got != tc.want {
			t.Errorf("%s = %#v, want %#v", strings.Join(tc.keys, "."), got, tc.want)
		}
	}
	if hosts := filepath.Join(registryHostsDir, "localhost:5042", "hosts.toml"); files[hosts] == nil {
		t.Errorf("no %s beside config_path", hosts)
	}
}

func TestCNIConfig(t *testing.T) {
	t.Parallel()
	var c cniConflist
	if err := json.Unmarshal(rendered(t, nil, "")[cniConfig], &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Plugins) != 2 || c.Plugins[0].Type != "ptp" || c.Plugins[0].IPAM == nil || c.Plugins[1].Type != "portmap" {
		t.Fatalf("plugins %+v, want ptp with IPAM then portmap", c.Plugins)
	}
	if got := c.Plugins[0].IPAM.Ranges; len(got) != 1 || len(got[0]) != 1 || got[0][0]["subnet"] != "10.244.0.0/24" {
		t.Errorf("IPAM ranges %v, want the node's pod CIDR only", got)
	}
}

func TestMarshalSetFields(t *testing.T) {
	t.Parallel()
	type inner struct {
		N int `json:"n"`
	}
	type obj struct {
		Zero    int            `json:"zero"`
		Set     string         `json:"set"`
		NilPtr  *int           `json:"nilPtr"`
		ZeroPtr *int           `json:"zeroPtr"`
		Empty   inner          `json:"empty"`
		Partial inner          `json:"partial"`
		Map     map[string]int `json:"map"`
	}
	zero := 0
	o := &obj{Set: "x", ZeroPtr: &zero, Partial: inner{N: 1}, Map: map[string]int{"a": 0}}
	data, err := marshalSetFields(o)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	decode(t, data, &got)
	want := map[string]any{"set": "x", "zeroPtr": float64(0), "partial": map[string]any{"n": float64(1)}, "map": map[string]any{"a": float64(0)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("marshalSetFields = %v, want %v", got, want)
	}
}
