package node

import (
	"context"
	"fmt"
	"log"
	"net/netip"

	"github.com/skiff-k8s/skiff/node/servicelb"
)

// LoadBalancerStatus is the loadbalancer addon in the agent's status
// report: present while the addon is enabled (neither serving nor failed:
// starting).
type LoadBalancerStatus struct {
	Serving bool   `json:"serving"`
	Error   string `json:"error,omitempty"`
	servicelb.Status
}

// loadBalancerAddon gives Services of type LoadBalancer their addresses
// (package node/servicelb).
func loadBalancerAddon(cfg *Config) *agentAddon {
	pool := func() (netip.Prefix, error) {
		p, err := netip.ParsePrefix(cfg.LoadBalancerPool)
		if err != nil {
			return p, fmt.Errorf("LoadBalancer pool: %w", err)
		}
		return p, nil
	}
	return &agentAddon{
		name: "loadbalancer",
		start: func(ctx context.Context) (stopper, error) {
			p, err := pool()
			if err != nil {
				return nil, err
			}
			b, err := servicelb.Start(ctx, servicelb.Config{Kubeconfig: kubeconfig("admin"), Pool: p, ClusterName: cfg.NodeName, Logf: log.Printf})
			if err != nil {
				return nil, fmt.Errorf("failed to start the LoadBalancer controller (a cluster can do without: leave loadbalancer out of --addons): %w", err)
			}
			log.Printf("loadbalancer: Services of type LoadBalancer get addresses from %s", p)
			return b, nil
		},
		release: func(ctx context.Context) error {
			p, err := pool()
			if err != nil {
				return err
			}
			return servicelb.Release(ctx, kubeconfig("admin"), p)
		},
	}
}

// loadBalancerStatus is nil while the addon is off.
func loadBalancerStatus(n *agentAddon) *LoadBalancerStatus {
	run, starting, err := n.state()
	switch {
	case run != nil:
		return &LoadBalancerStatus{Serving: true, Status: run.(*servicelb.Balancer).Status()}
	case starting:
		return &LoadBalancerStatus{}
	case err != nil:
		return &LoadBalancerStatus{Error: err.Error()}
	}
	return nil
}
