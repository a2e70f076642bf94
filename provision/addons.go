package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/skiff-k8s/skiff/addons"
	"github.com/skiff-k8s/skiff/internal/engine"
	"github.com/skiff-k8s/skiff/node"
)

// AddonStatus is one addon as `skiff addons list` shows it.
type AddonStatus struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	Version string `json:"version"`
	Healthy bool   `json:"healthy"`
	Detail  string `json:"detail,omitempty"`
}

// nodeConfig reads the configuration the agent boots with.
func (p *Provider) nodeConfig(ctx context.Context, name string) (*node.Config, error) {
	data, err := p.readNodeFile(ctx, name, node.ConfigFile)
	if err != nil {
		return nil, err
	}
	var c node.Config
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("failed to parse node config: %w", err)
	}
	return &c, nil
}

// Addons lists every addon skiff has, whether the cluster has it enabled,
// the versions of its images and whether its workloads are ready.
func (p *Provider) Addons(ctx context.Context, name string) ([]AddonStatus, error) {
	// A stopped node would give one connection error per addon.
	if err := p.running(ctx, name); err != nil {
		return nil, err
	}
	cs, err := p.clientset(ctx, name)
	if err != nil {
		return nil, err
	}
	return p.addonStatuses(ctx, name, cs)
}

func (p *Provider) addonStatuses(ctx context.Context, name string, cs *kubernetes.Clientset) ([]AddonStatus, error) {
	reports, err := p.addonReports(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []AddonStatus
	for _, r := range reports {
		a, workloads := r.Name, r.Workloads
		st := AddonStatus{Name: a, Enabled: r.Enabled}
		var versions []string
		for _, w := range workloads {
			for _, img := range w.Images {
				if i := strings.LastIndex(img, ":"); i > 0 && !slices.Contains(versions, img[i+1:]) {
					versions = append(versions, img[i+1:])
				}
			}
		}
		st.Version = strings.Join(versions, ",")
		if a == "gateway" && st.Enabled {
			// CRDs and a GatewayClass: no image to take a tag from.
			st.Version = gatewayAPIVersion(ctx, cs)
		}
		if r.InAgent {
			st.Version = moduleVersion(inAgentModules[a])
			if st.Enabled {
				st.Healthy, st.Detail = p.inAgentHealth(ctx, name, a)
			}
			out = append(out, st)
			continue
		}
		if st.Enabled {
			var err error
			st.Healthy, st.Detail, err = workloadsReady(ctx, cs, workloads, time.Time{}, nil, nil)
			if err != nil {
				st.Detail = firstLine(err.Error())
			}
			// kubectl top answers only once the aggregated API does.
			if a == "metrics" && st.Healthy {
				if why := unavailableAPIService(ctx, cs, metricsAPIService); why != "" {
					st.Healthy, st.Detail = false, why
				}
			}
			if a == "gateway" && st.Healthy {
				if why := unacceptedGatewayClass(ctx, cs); why != "" {
					st.Healthy, st.Detail = false, why
				}
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// inAgentModules are the modules whose code the agent runs for its
// in-agent addons: netpol's policy engine, and the service controller
// behind loadbalancer.
var inAgentModules = map[string]string{
	"netpol":       "sigs.k8s.io/kube-network-policies",
	"loadbalancer": "k8s.io/cloud-provider",
}

// moduleVersion is the version of a module linked into this binary, which
// is also the node agent's ("" if unknown).
func moduleVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == path {
				return m.Version
			}
		}
	}
	return ""
}

// inAgentHealth is an in-agent addon's health, from the agent's report.
func (p *Provider) inAgentHealth(ctx context.Context, name, addon string) (bool, string) {
	st, err := p.nodeStatus(ctx, name)
	if err != nil {
		return false, firstLine(err.Error())
	}
	on, serving, failed := st.InAgent(addon)
	switch {
	case !on:
		return false, "the node agent does not run it"
	case failed != "":
		return false, firstLine(failed)
	case !serving:
		return false, "starting"
	case st.NetworkPolicy != nil && addon == "netpol":
		np := st.NetworkPolicy
		return true, fmt.Sprintf("%d policies, %d local pod addresses selected; %d connections allowed, %d refused", np.Policies, np.ManagedPods, np.Allowed, np.Refused)
	case st.LoadBalancer != nil && addon == "loadbalancer":
		return true, fmt.Sprintf("%d addresses of %s assigned", st.LoadBalancer.Assigned, st.LoadBalancer.Pool)
	}
	return true, ""
}

// SetAddon enables or disables an addon on a running cluster; the choice
// is kept in the node's configuration, so it survives stop/start. Enabling
// waits until the addon's workloads are ready (for gateway, which has none,
// until the ingress addon's Traefik, if on, accepts its GatewayClass).
func (p *Provider) SetAddon(ctx context.Context, name, addon string, enable bool) error {
	if !slices.Contains(addons.Names(), addon) {
		return fmt.Errorf("unknown addon %q: choose from %s", addon, strings.Join(addons.Names(), ", "))
	}
	verb := "disable"
	if enable {
		verb = "enable"
	}
	// The agent gives itself 3 minutes; a minute more covers the exec.
	cmd := []string{"skiff-node", "addon", verb, addon}
	if err := engine.Run(ctx, p.docker, NodeName(name), cmd, engine.ExecOptions{Timeout: 4 * time.Minute}); err != nil {
		return fmt.Errorf("failed to %s addon %s: %w", verb, addon, err)
	}
	if !enable {
		return nil
	}
	reports, err := p.addonReports(ctx, name)
	if err != nil {
		return err
	}
	var workloads []addons.Workload
	ingress := false
	for _, r := range reports {
		if r.Name == addon {
			workloads = r.Workloads
		}
		ingress = ingress || r.Name == "ingress" && r.Enabled
	}
	cs, err := p.clientset(ctx, name)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	return poll(wctx, func(ctx context.Context) (bool, string, error) {
		ok, why, err := workloadsReady(ctx, cs, workloads, time.Time{}, nil, nil)
		// Without the ingress addon nothing serves the class.
		if ok && addon == "gateway" && ingress {
			why = unacceptedGatewayClass(ctx, cs)
			ok = why == ""
		}
		return ok, why, err
	})
}

// addonReports are the node's addons and the workloads each runs, as its
// agent wrote them (node.AddonReportFile). A node whose agent predates
// that file (a cluster made by an older skiff) is judged by this build's
// manifests, as skiff did before.
func (p *Provider) addonReports(ctx context.Context, name string) ([]node.AddonReport, error) {
	data, err := p.readNodeFile(ctx, name, node.AddonReportFile)
	if cerrdefs.IsNotFound(err) {
		nc, nerr := p.nodeConfig(ctx, name)
		if nerr != nil {
			return nil, nerr
		}
		return node.AddonReports(nc)
	}
	if err != nil {
		return nil, err
	}
	var reports []node.AddonReport
	if err := json.Unmarshal(data, &reports); err != nil {
		return nil, fmt.Errorf("failed to parse the node's %s: %w", node.AddonReportFile, err)
	}
	return reports, nil
}

// enabledWorkloads are the workloads of the enabled addons, except those
// named in skip.
func enabledWorkloads(reports []node.AddonReport, skip ...string) []addons.Workload {
	var out []addons.Workload
	for _, r := range reports {
		if r.Enabled && !slices.Contains(skip, r.Name) {
			out = append(out, r.Workloads...)
		}
	}
	return out
}

func (p *Provider) clientset(ctx context.Context, name string) (*kubernetes.Clientset, error) {
	cfg, err := p.Kubeconfig(ctx, name, false)
	if err != nil {
		return nil, err
	}
	return clientFor(cfg)
}

// workloadsReady reports whether every workload has as many pods Ready
// (since the given time: after a restart, older conditions are stale) as it
// wants, and otherwise which one is not. A pod that keeps crashing is an
// error: waiting longer would not help. seen discounts restarts from before
// since (nil: none). A pod of a workload in answering (hostAnswers) also
// counts once it runs, started since, and its URL answers.
func workloadsReady(ctx context.Context, cs *kubernetes.Clientset, workloads []addons.Workload, since time.Time, seen restartBaseline, answering map[string]string) (bool, string, error) {
	for _, w := range workloads {
		var want int32
		var selector *metav1.LabelSelector
		switch w.Kind {
		case "Deployment":
			d, err := cs.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
			if err != nil {
				return false, firstLine(err.Error()), nil
			}
			want, selector = ptr.Deref(d.Spec.Replicas, 1), d.Spec.Selector
		case "DaemonSet":
			d, err := cs.AppsV1().DaemonSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
			if err != nil {
				return false, firstLine(err.Error()), nil
			}
			want, selector = max(d.Status.DesiredNumberScheduled, 1), d.Spec.Selector
		case "StatefulSet":
			st, err := cs.AppsV1().StatefulSets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
			if err != nil {
				return false, firstLine(err.Error()), nil
			}
			want, selector = ptr.Deref(st.Spec.Replicas, 1), st.Spec.Selector
		}
		sel, err := metav1.LabelSelectorAsSelector(selector)
		if err != nil {
			return false, "", fmt.Errorf("%s %s/%s: %w", w.Kind, w.Namespace, w.Name, err)
		}
		pods, err := cs.CoreV1().Pods(w.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return false, "listing pods: " + firstLine(err.Error()), nil
		}
		var ready int32
		// Asked at most once per check, and only for a running pod.
		url := answering[workloadKey(w)]
		served := sync.OnceValue(func() bool { return url != "" && answers(ctx, url) })
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.DeletionTimestamp != nil {
				continue // on its way out: an addon just disabled and enabled again still has it
			}
			if err := crashLooping(ctx, cs, p, seen, since); err != nil {
				return false, "", err
			}
			if podReady(p, since) || runningSince(p, since) && served() {
				ready++
			}
		}
		if ready < want {
			return false, fmt.Sprintf("%s %s/%s: %d/%d ready", strings.ToLower(w.Kind), w.Namespace, w.Name, ready, want), nil
		}
	}
	return true, "", nil
}
