package node

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/skiff-k8s/skiff/addons"
)

// agentAddon is an addon the agent runs in-process (addons.InAgent: netpol,
// loadbalancer) while the node configuration enables it. It starts once
// the API server serves, and again or not at all when `skiff-node addon
// enable|disable` changes the configuration and signals the agent (SIGHUP).
type agentAddon struct {
	name string
	// start returns once the addon serves; ctx bounds the start only.
	start func(ctx context.Context) (stopper, error)
	// release, if set, undoes what the addon left in the cluster when it
	// is disabled (not when the node stops).
	release func(ctx context.Context) error

	setMu sync.Mutex // one start or stop at a time

	mu       sync.Mutex
	run      stopper
	starting bool
	err      error
}

type stopper interface{ Stop() error }

func (a *Agent) inAgent() []*agentAddon { return []*agentAddon{a.netpol, a.loadBalancer} }

// set starts or stops the addon. Starting returns once it serves; a start
// that failed is tried again on the next call. Stopping returns once it
// has stopped.
func (n *agentAddon) set(ctx context.Context, enabled bool) error {
	n.setMu.Lock()
	defer n.setMu.Unlock()
	n.mu.Lock()
	run := n.run
	n.mu.Unlock()
	if !enabled {
		var err error
		if run != nil {
			log.Printf("%s: stopping", n.name)
			err = run.Stop()
		}
		n.mu.Lock()
		n.run, n.err, n.starting = nil, nil, false
		n.mu.Unlock()
		return err
	}
	if run != nil {
		return nil
	}
	n.mu.Lock()
	n.err, n.starting = nil, true
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	run, err := n.start(ctx)
	n.mu.Lock()
	n.run, n.err, n.starting = run, err, false
	n.mu.Unlock()
	return err
}

// state is what runs (nil while off, starting or failed), whether it is
// starting, and why its last start failed.
func (n *agentAddon) state() (stopper, bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.run, n.starting, n.err
}

// inAgentWanted reports whether the configuration enables the named
// in-agent addon and the node can run it (a configuration from an older
// skiff may lack what it needs, such as netpol beside kube-proxy's ipvs
// mode: the node then boots without it).
func inAgentWanted(cfg *Config, name string) bool {
	if !AddonEnabled(cfg, name) {
		return false
	}
	v, err := AddonValues(cfg, nil)
	if err == nil {
		err = addons.Requires(name, v)
	}
	if err != nil {
		log.Printf("addons: skipping %s: %v", name, err)
		return false
	}
	return true
}

// reload starts or stops the in-agent addons as the node configuration on
// disk says (one that ran and is now disabled is released), and reports
// when it is done.
func (a *Agent) reload(ctx context.Context) error {
	err := a.syncInAgent(ctx)
	a.mu.Lock()
	a.reloaded, a.reloadErr = time.Now(), ""
	if err != nil {
		a.reloadErr = err.Error()
	}
	a.mu.Unlock()
	a.writeStatus()
	return err
}

func (a *Agent) syncInAgent(ctx context.Context) error {
	cfg, err := ReadConfig(ConfigFile)
	if err != nil {
		return err
	}
	var errs []error
	for _, ad := range a.inAgent() {
		wanted := inAgentWanted(cfg, ad.name)
		running, _, _ := ad.state()
		err := ad.set(ctx, wanted)
		if err == nil && !wanted && running != nil && ad.release != nil {
			err = ad.release(ctx)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ad.name, err))
		}
	}
	return errors.Join(errs...)
}
