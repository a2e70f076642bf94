package node

import (
	"encoding/json"
	"fmt"

	"github.com/skiff-k8s/skiff/addons"
)

// AddonReportFile is where the node says which addons it has and what each
// runs: the CLI waits for and reports on these workloads, so that what it
// waits for is what this node's agent applies (its own manifests, which
// another skiff's CLI does not have).
const AddonReportFile = StateDir + "/addons.json"

// AddonReport is one addon of this node.
type AddonReport struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	// InAgent: run by the agent itself (no workloads; see Status).
	InAgent   bool              `json:"inAgent,omitempty"`
	Workloads []addons.Workload `json:"workloads,omitempty"`
}

// AddonReports lists every addon of this build with the workloads it runs
// for the configuration. An enabled addon that the configuration cannot
// satisfy (one from an older skiff) is skipped at boot, so it has none.
func AddonReports(c *Config) ([]AddonReport, error) {
	v, err := AddonValues(c, nil)
	if err != nil {
		return nil, err
	}
	var out []AddonReport
	for _, name := range addons.Names() {
		r := AddonReport{Name: name, Enabled: AddonEnabled(c, name), InAgent: addons.InAgent(name)}
		if !r.InAgent && addons.Requires(name, v) == nil {
			rendered, err := addons.Render(name, v)
			if err != nil {
				return nil, err
			}
			if r.Workloads, err = addons.Workloads(rendered); err != nil {
				return nil, fmt.Errorf("addon %s: %w", name, err)
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// writeAddonReports writes AddonReportFile for the configuration: at boot
// and after an addon is enabled or disabled.
func writeAddonReports(c *Config) error {
	reports, err := AddonReports(c)
	if err != nil {
		return err
	}
	data, err := json.MarshalIndent(reports, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(AddonReportFile, data, 0o644)
}
