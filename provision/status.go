package provision

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/skiff-k8s/skiff/images"
	"github.com/skiff-k8s/skiff/node"
)

// ClusterStatus is what `skiff status` shows about one cluster.
type ClusterStatus struct {
	Name       string `json:"name"`
	State      string `json:"state"`
	Node       string `json:"node"`
	Image      string `json:"image"`
	Privileged bool   `json:"privileged"`
	// CgroupNamespace is the node container's cgroup namespace mode
	// ("private" on cgroup v2 hosts, "host" on cgroup v1); Cgroups is what
	// the node's agent found and set up there.
	CgroupNamespace string                 `json:"cgroupNamespace"`
	Cgroups         string                 `json:"cgroups,omitempty"`
	NodeIP          string                 `json:"nodeIP,omitempty"`
	APIServer       string                 `json:"apiServer"`
	Ports           []string               `json:"ports"`
	Versions        map[string]string      `json:"versions,omitempty"`
	Agent           string                 `json:"agent,omitempty"`
	AgentError      string                 `json:"agentError,omitempty"`
	Components      []node.ComponentStatus `json:"components,omitempty"`
	// ReadyAfter is seconds from the agent's start to each component ready.
	ReadyAfter map[string]float64 `json:"readyAfterSeconds,omitempty"`
	// Addons are the enabled addons and whether each serves yet (create
	// returns before metrics-server can answer).
	Addons []AddonStatus `json:"addons,omitempty"`
	// MissingImages are images pods wait for that the node lacks.
	MissingImages []WaitingImage `json:"missingImages,omitempty"`
}

// Status reports a cluster's container, addresses, versions and the state
// and restarts of each component as the node agent last reported them.
func (p *Provider) Status(ctx context.Context, name string) (*ClusterStatus, error) {
	c, err := p.node(ctx, name)
	if err != nil {
		return nil, err
	}
	s := &ClusterStatus{
		Name:            name,
		State:           c.State.Status,
		Node:            NodeName(name),
		Image:           c.Config.Image,
		Privileged:      c.HostConfig.Privileged,
		CgroupNamespace: string(c.HostConfig.CgroupnsMode),
		APIServer:       c.Config.Labels[LabelAPIServer],
		Versions:        map[string]string{},
	}
	if img, err := p.docker.ImageInspect(ctx, c.Image); err == nil && img.Config != nil {
		for k, v := range img.Config.Labels {
			if n, ok := strings.CutPrefix(k, images.LabelPrefix); ok {
				s.Versions[n] = v
			}
		}
	}
	for port, bindings := range c.HostConfig.PortBindings {
		for _, b := range bindings {
			s.Ports = append(s.Ports, fmt.Sprintf("%s:%s->%s", b.HostIP, b.HostPort, port))
		}
	}
	sort.Strings(s.Ports)
	if c.State.Running {
		if st, err := p.nodeStatus(ctx, name); err == nil {
			s.Agent, s.AgentError, s.NodeIP, s.Components, s.ReadyAfter, s.Cgroups = st.Phase, st.Error, st.NodeIP, st.Components, st.ReadyAfter, st.Cgroups
		}
		// One client for both: each costs a copy of the admin credentials
		// out of the node.
		if cs, err := p.clientset(ctx, name); err == nil {
			if list, err := p.addonStatuses(ctx, name, cs); err == nil {
				for _, a := range list {
					if a.Enabled {
						s.Addons = append(s.Addons, a)
					}
				}
			}
			if list, err := p.missingImages(ctx, name, cs); err == nil {
				s.MissingImages = list
			}
		}
	}
	return s, nil
}
