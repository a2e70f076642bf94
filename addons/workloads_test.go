package addons

import "testing"

func TestWorkloadsOfEveryAddon(t *testing.T) {
	t.Parallel()
	v := testValues
	v.LoadBalancer, v.Gateway = false, false
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
