package node

import (
	"slices"
	"testing"

	"github.com/skiff-k8s/skiff/addons"
)

// TestAddonReports: every addon is listed, enabled as the configuration
// says; manifest addons name their workloads (a disabled one too, for its
// version), the agent's own addon none.
func TestAddonReports(t *testing.T) {
	c := &Config{DNSIP: "10.96.0.10", PodSubnet: "10.244.0.0/16", ServiceSubnet: "10.96.0.0/16",
		LoadBalancerPool: "172.30.128.0/24", RegistryPort: 5001, Addons: []string{"dns", "netpol"}}
	reports, err := AddonReports(c)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]AddonReport{}
	for _, r := range reports {
		byName[r.Name] = r
	}
	dns := byName["dns"]
	if !dns.Enabled || !slices.ContainsFunc(dns.Workloads, func(w addons.Workload) bool { return w.Kind == "Deployment" && w.Name == "coredns" }) {
		t.Errorf("dns: %+v, want enabled with Deployment coredns", dns)
	}
	if in := byName["ingress"]; in.Enabled || len(in.Workloads) == 0 {
		t.Errorf("ingress: %+v, want disabled, with its workloads", in)
	}
	if np := byName["netpol"]; !np.Enabled || !np.InAgent || len(np.Workloads) != 0 {
		t.Errorf("netpol: %+v, want enabled, in the agent, no workloads", np)
	}
}
