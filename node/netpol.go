package node

import (
	"context"
	"fmt"
	"log"
	"net/netip"

	"github.com/skiff-k8s/skiff/node/netpol"
)

// NetpolStatus is the netpol addon in the agent's status report: present
// while the addon is enabled (neither enforcing nor failed: starting).
type NetpolStatus struct {
	Enforcing bool   `json:"enforcing"`
	Error     string `json:"error,omitempty"`
	netpol.Status
}

// netpolAddon runs the NetworkPolicy enforcer (package node/netpol).
func netpolAddon(cfg *Config) *agentAddon {
	return &agentAddon{name: "netpol", start: func(ctx context.Context) (stopper, error) {
		subnet, err := firstSubnet(cfg.PodSubnet)
		if err != nil {
			return nil, err
		}
		cidr, err := netip.ParsePrefix(subnet)
		if err != nil {
			return nil, fmt.Errorf("pod CIDR: %w", err)
		}
		enf, err := netpol.Start(ctx, netpol.Config{
			Kubeconfig: kubeconfig("admin"),
			NodeName:   cfg.NodeName,
			PodCIDR:    cidr,
			Logf:       log.Printf,
		})
		if err != nil {
			return nil, fmt.Errorf("failed to start the NetworkPolicy enforcer (a cluster can do without: leave netpol out of --addons): %w", err)
		}
		log.Printf("netpol: enforcing NetworkPolicy")
		return enf, nil
	}}
}

// netpolStatus is nil while the addon is off.
func netpolStatus(n *agentAddon) *NetpolStatus {
	run, starting, err := n.state()
	switch {
	case run != nil:
		return &NetpolStatus{Enforcing: true, Status: run.(*netpol.Enforcer).Status()}
	case starting:
		return &NetpolStatus{}
	case err != nil:
		return &NetpolStatus{Error: err.Error()}
	}
	return nil
}
