package provision

import (
	"slices"
	"strings"
	"testing"

	"github.com/skiff-k8s/skiff/addons"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		edit func(*Config)
		want string // "" means valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"uppercase name", func(c *Config) { c.Name = "Dev" }, "invalid cluster name"},
		{"long name", func(c *Config) { c.Name = strings.Repeat("a", 41) }, "invalid cluster name"},
		{"no prefix length", func(c *Config) { c.PodSubnet = "10.0.0.0" }, "invalid podSubnet"},
		{"bad proxy mode", func(c *Config) { c.KubeProxyMode = "userspace" }, "invalid kubeProxyMode"},
		{"pod subnet /25", func(c *Config) { c.PodSubnet = "10.244.0.0/25" }, "invalid podSubnet"},
		{"pod subnet /24", func(c *Config) { c.PodSubnet = "10.244.0.0/24" }, ""},
		{"pod subnet /7", func(c *Config) { c.PodSubnet = "10.0.0.0/7" }, "invalid podSubnet"},
		{"service subnet /29", func(c *Config) { c.ServiceSubnet = "10.96.0.0/29" }, "invalid serviceSubnet"},
		{"service subnet /11", func(c *Config) { c.ServiceSubnet = "10.96.0.0/11" }, "invalid serviceSubnet"},
		{"ipv6 pods", func(c *Config) { c.PodSubnet = "fd00::/64" }, "IPv4 CIDR"},
		{"overlap", func(c *Config) { c.PodSubnet = "10.96.0.0/16" }, "overlap"},
		{"http port too big", func(c *Config) { c.HTTPPort = 70000 }, "invalid HTTP port 70000: use 1-65535"},
		{"negative api port", func(c *Config) { c.APIServerPort = -1 }, "invalid apiServerPort"},
		{"http equals https", func(c *Config) { c.HTTPPort, c.HTTPSPort = 8080, 8080 }, "HTTP port and HTTPS port are both 8080"},
		{"registry equals mapping", func(c *Config) {
			c.RegistryPort = 9000
			c.PortMappings = []PortMapping{{ContainerPort: 30000, HostPort: 9000}}
		}, "are both 9000"},
		{"tcp and udp on one port", func(c *Config) {
			c.PortMappings = []PortMapping{{ContainerPort: 53, HostPort: 5353}, {ContainerPort: 53, HostPort: 5353, Protocol: "UDP"}}
		}, ""},
		{"container port 0", func(c *Config) { c.PortMappings = []PortMapping{{ContainerPort: 0, HostPort: 8000}} }, "containerPort 0"},
		{"runtime config typo", func(c *Config) { c.RuntimeConfig = map[string]string{"api/all=true": "true"} }, "invalid runtimeConfig"},
		{"netpol with ipvs", func(c *Config) { c.KubeProxyMode, c.Addons = "ipvs", []string{"dns", "netpol"} }, "ipvs mode"},
		{"netpol with nftables", func(c *Config) { c.KubeProxyMode, c.Addons = "nftables", []string{"dns", "netpol"} }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &Config{Name: "v"}
			c.SetDefaults()
			tc.edit(c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

// TestIPVSDefaults: the default addons with ipvs are all but netpol, which
// ipvs mode defeats.
func TestIPVSDefaults(t *testing.T) {
	t.Parallel()
	c := &Config{Name: "v", KubeProxyMode: "ipvs"}
	c.SetDefaults()
	if slices.Contains(c.Addons, "netpol") || !slices.Contains(c.Addons, "dns") || len(c.Addons) != len(addons.Names())-1 {
		t.Errorf("addons with ipvs: %v", c.Addons)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	c = &Config{Name: "v"}
	c.SetDefaults()
	if c.Addons != nil {
		t.Errorf("addons with iptables: %v, want nil (every addon)", c.Addons)
	}
}

func TestCheckFeatureGates(t *testing.T) {
	t.Parallel()
	known := "AllAlpha,InPlacePodVerticalScaling,UserNamespacesSupport"
	if err := checkFeatureGates(map[string]bool{"InPlacePodVerticalScaling": true}, known); err != nil {
		t.Errorf("known gate refused: %v", err)
	}
	if err := checkFeatureGates(map[string]bool{"InPlacePodVerticalScalng": true}, known); err == nil || !strings.Contains(err.Error(), `unknown feature gate "InPlacePodVerticalScalng"`) {
		t.Errorf("misspelt gate: %v", err)
	}
	if err := checkFeatureGates(map[string]bool{"Anything": true}, ""); err != nil {
		t.Errorf("an image without the list must leave the check to the node: %v", err)
	}
}
