package addons

import "testing"

func TestWorkloadsOfEveryAddon(t *testing.T) {
	t.Parallel()
	v := Values{DNSIP: "10.96.0.10", ClusterDomain: "cluster.local", PodSubnet: "10.244.0.0/16", ServiceSubnet: "10.96.0.0/16",
		LoadBalancerPool: "172.30.128.0/24", RegistryPort: 5001, RegistryNodePort: 5000}
	for _, name := range Names() {
		rendered, err := Render(name, v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w, err := Workloads(rendered)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// gateway's health is its GatewayClass's Accepted condition,
		// netpol's the agent's report.
		if len(w) == 0 && name != "gateway" && !InAgent(name) {
			t.Errorf("addon %s runs no workload, so its health cannot be told", name)
		}
		for _, x := range w {
			if x.Name == "" || x.Namespace == "" {
				t.Errorf("addon %s: workload %+v lacks a name or namespace", name, x)
			}
		}
	}
}
