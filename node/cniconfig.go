package node

import (
	"encoding/json"
	"fmt"
)

// cniConflist is the CNI network configuration list of the node's pods.
type cniConflist struct {
	CNIVersion string      `json:"cniVersion"`
	Name       string      `json:"name"`
	Plugins    []cniPlugin `json:"plugins"`
}

type cniPlugin struct {
	Type         string          `json:"type"`
	MTU          int             `json:"mtu,omitempty"`
	IPAM         *cniIPAM        `json:"ipam,omitempty"`
	Capabilities map[string]bool `json:"capabilities,omitempty"`
}

type cniIPAM struct {
	Type string `json:"type"`
	// RecordDir is where skiff-ipam keeps each pod's last address.
	RecordDir string                `json:"recordDir,omitempty"`
	Ranges    [][]map[string]string `json:"ranges"`
	Routes    []map[string]string   `json:"routes"`
}

// cniNetworkName names the pods' network, and so host-local's directory.
const cniNetworkName = "skiff"

// cniNetwork: ptp rather than bridge, so every pod packet is routed through
// the node's own network stack and kube-proxy's rules apply without
// br_netfilter, which a container cannot load.
func cniNetwork(podCIDR string) *cniConflist {
	return &cniConflist{
		CNIVersion: "1.0.0",
		Name:       cniNetworkName,
		Plugins: []cniPlugin{
			{Type: "ptp", MTU: 1500, IPAM: &cniIPAM{
				Type:      ipamPlugin,
				RecordDir: stickyDir,
				Ranges:    [][]map[string]string{{{"subnet": podCIDR}}},
				Routes:    []map[string]string{{"dst": "0.0.0.0/0"}},
			}},
			{Type: "portmap", Capabilities: map[string]bool{"portMappings": true}},
		},
	}
}

func renderCNIConfig(podCIDR string) ([]byte, error) {
	data, err := json.MarshalIndent(cniNetwork(podCIDR), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render CNI config: %w", err)
	}
	return append(data, '\n'), nil
}
