package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/skiff-k8s/skiff/addons"
	"github.com/skiff-k8s/skiff/provision"
)

// costlyAddons are the default addons whose cost the bench reports: the
// ones that bring CRDs (their API groups cost the API server CPU at every
// create) or run in the agent.
var costlyAddons = []string{"loadbalancer", "gateway", "netpol"}

// addonCosts creates one cluster without each of costlyAddons, one at a
// time, and records in the breakdown its create seconds and, after the idle
// window, its node's CPU and working set: an addon's cost is the rounds'
// create_s, idle_cpu_pct and idle_mib less these.
func addonCosts(ctx context.Context, e *benchEnv, r *results) error {
	for _, addon := range costlyAddons {
		name := "bench-no-" + addon
		if err := deleteCluster(ctx, e, name); err != nil {
			return err
		}
		without := slices.DeleteFunc(addons.Names(), func(a string) bool { return a == addon })
		start := time.Now()
		_, err := e.p.Create(ctx, &provision.Config{Name: name, Image: e.image, KubeconfigPath: e.kubeconfig, Addons: without})
		createS := time.Since(start).Seconds()
		idle := newResults()
		if err == nil {
			err = measureIdle(ctx, e, name, idle)
		}
		if err = errors.Join(err, deleteCluster(ctx, e, name)); err != nil {
			return fmt.Errorf("without %s: %w", addon, err)
		}
		key := "without " + addon + ": "
		r.addBreakdown(key+"create s", createS)
		r.addBreakdown(key+"idle cpu %", idle.figures["idle_cpu_pct"]...)
		r.addBreakdown(key+"idle MiB", idle.idleMiB...)
	}
	return nil
}
