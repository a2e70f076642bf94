package provision

import (
	"strings"
	"testing"
)

func TestLoadKindConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml string
		warnings   []string
		err        string
		check      func(t *testing.T, c *Config)
	}{
		{
			name: "supported fields",
			yaml: `kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
name: dev
featureGates: {InPlacePodVerticalScaling: true}
runtimeConfig: {"api/alpha": "false"}
networking:
  apiServerAddress: 127.0.0.1
  apiServerPort: 6443
  podSubnet: 10.100.0.0/16
  serviceSubnet: 10.200.0.0/16
  kubeProxyMode: nftables
nodes:
- role: control-plane
  labels: {tier: dev}
  extraPortMappings:
  - {containerPort: 30000, hostPort: 30000}
  extraMounts:
  - {hostPath: /tmp, containerPath: /host-tmp}
`,
			check: func(t *testing.T, c *Config) {
				if c.Name != "dev" || c.APIServerPort != 6443 || c.PodSubnet != "10.100.0.0/16" || c.ServiceSubnet != "10.200.0.0/16" || c.KubeProxyMode != "nftables" {
					t.Errorf("config %+v", c)
				}
				if !c.FeatureGates["InPlacePodVerticalScaling"] || c.RuntimeConfig["api/alpha"] != "false" || c.NodeLabels["tier"] != "dev" {
					t.Errorf("gates/runtime/labels %+v", c)
				}
				if len(c.PortMappings) != 1 || len(c.Mounts) != 1 || c.Mounts[0].ContainerPath != "/host-tmp" {
					t.Errorf("mappings %+v mounts %+v", c.PortMappings, c.Mounts)
				}
			},
		},
		{
			name: "unsupported fields are reported",
			yaml: `kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
kubeadmConfigPatches: ["x"]
nodes:
- role: control-plane
- role: worker
- role: worker
`,
			warnings: []string{"kubeadmConfigPatches", "2 extra nodes (worker, worker)"},
		},
		{
			name: "skiff section",
			yaml: "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n---\nkind: Skiff\napiVersion: skiff.dev/v1alpha1\naddons: [dns]\nhttpPort: 8080\n",
			check: func(t *testing.T, c *Config) {
				if len(c.Addons) != 1 || c.Addons[0] != "dns" || c.HTTPPort != 8080 {
					t.Errorf("skiff section not applied: %+v", c)
				}
			},
		},
		{
			name: "no addons",
			yaml: "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n---\nkind: Skiff\napiVersion: skiff.dev/v1alpha1\naddons: []\n",
			check: func(t *testing.T, c *Config) {
				if c.Addons == nil || len(c.Addons) != 0 {
					t.Errorf("addons: [] should mean none, got %#v", c.Addons)
				}
			},
		},
		{name: "bad skiff section", yaml: "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n---\nkind: Skiff\napiVersion: skiff.dev/v1alpha1\naddon: []\n", err: "addon"},
		{name: "wrong kind", yaml: "kind: Pod\napiVersion: v1\n", err: "want kind: Cluster"},
		{name: "bad type", yaml: "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnetworking:\n  apiServerPort: abc\n", err: "line 4"},
		{name: "unknown field", yaml: "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodez: []\n", err: "nodez"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &Config{}
			warnings, err := LoadKindConfig([]byte(tc.yaml), c)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("want a one-line error containing %q, got %v", tc.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(warnings, "\n")
			for _, w := range tc.warnings {
				if !strings.Contains(joined, w) {
					t.Errorf("warnings %q lack %q", joined, w)
				}
			}
			if tc.check != nil {
				tc.check(t, c)
			}
		})
	}
}
