package node

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"sync"

	"github.com/skiff-k8s/skiff/addons"
	"github.com/skiff-k8s/skiff/node/netpol"
)

// netpolAddon is the netpol addon: the agent runs the NetworkPolicy
// enforcer (package node/netpol) in-process while the node configuration
// enables it. It starts once the API server serves, and again or not at
// all when `skiff-node addon enable|disable netpol` changes the
// configuration and signals the agent (SIGHUP).
type netpolAddon struct {
	nodeName, podSubnet string

	setMu sync.Mutex // one start or stop at a time

	mu       sync.Mutex
	enf      *netpol.Enforcer
	starting bool
	err      error
}

// NetpolStatus is the netpol addon in the agent's status report: present
// while the addon is enabled (neither enforcing nor failed: starting).
type NetpolStatus struct {
	Enforcing bool   `json:"enforcing"`
	Error     string `json:"error,omitempty"`
	netpol.Status
}

// set starts or stops the enforcer. Starting returns once policies are
// enforced; a start that failed is tried again on the next call. Stopping
// returns once the rules are gone.
func (n *netpolAddon) set(ctx context.Context, enabled bool) error {
	n.setMu.Lock()
	defer n.setMu.Unlock()
	n.mu.Lock()
	enf := n.enf
	n.mu.Unlock()
	if !enabled {
		var err error
		if enf != nil {
			log.Printf("netpol: stopping: NetworkPolicy no longer enforced")
			err = enf.Stop()
		}
		n.mu.Lock()
		n.enf, n.err, n.starting = nil, nil, false
		n.mu.Unlock()
		return err
	}
	if enf != nil {
		return nil
	}
	n.mu.Lock()
	n.err, n.starting = nil, true
	n.mu.Unlock()
	enf, err := n.start(ctx)
	n.mu.Lock()
	n.enf, n.err, n.starting = enf, err, false
	n.mu.Unlock()
	return err
}

func (n *netpolAddon) start(ctx context.Context) (*netpol.Enforcer, error) {
	subnet, err := firstSubnet(n.podSubnet)
	if err != nil {
		return nil, err
	}
	cidr, err := netip.ParsePrefix(subnet)
	if err != nil {
		return nil, fmt.Errorf("pod CIDR: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	enf, err := netpol.Start(ctx, netpol.Config{
		Kubeconfig: kubeconfig("admin"),
		NodeName:   n.nodeName,
		PodCIDR:    cidr,
		Logf:       log.Printf,
	})
	if err != nil {
		return nil, fmt.Errorf("failed to start the NetworkPolicy enforcer (a cluster can do without: leave netpol out of --addons): %w", err)
	}
	log.Printf("netpol: enforcing NetworkPolicy")
	return enf, nil
}

// status is nil while the addon is off.
func (n *netpolAddon) status() *NetpolStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.enf != nil:
		return &NetpolStatus{Enforcing: true, Status: n.enf.Status()}
	case n.starting:
		return &NetpolStatus{}
	case n.err != nil:
		return &NetpolStatus{Error: n.err.Error()}
	}
	return nil
}

// netpolWanted reports whether the configuration enables netpol and the
// node can run it (a configuration from an older skiff may pair it with
// kube-proxy's ipvs mode: the node then boots without it).
func netpolWanted(cfg *Config) bool {
	if !AddonEnabled(cfg, "netpol") {
		return false
	}
	v, err := AddonValues(cfg, nil)
	if err == nil {
		err = addons.Requires("netpol", v)
	}
	if err != nil {
		log.Printf("addons: skipping netpol: %v", err)
		return false
	}
	return true
}

// syncNetpol starts or stops the enforcer as the node configuration on
// disk says.
func (a *Agent) syncNetpol(ctx context.Context) error {
	cfg, err := ReadConfig(ConfigFile)
	if err != nil {
		return err
	}
	err = a.netpol.set(ctx, netpolWanted(cfg))
	a.writeStatus()
	return err
}
