package node

import (
	"context"
	"encoding/json"
	"os"
	"time"
)

// AgentStatus is the agent's report, read by `skiff status`.
type AgentStatus struct {
	Phase      string             `json:"phase"`
	Error      string             `json:"error,omitempty"`
	NodeIP     string             `json:"nodeIP,omitempty"`
	Components []ComponentStatus  `json:"components,omitempty"`
	ReadyAfter map[string]float64 `json:"readyAfterSeconds,omitempty"`
	// Cgroups is the cgroup set-up the agent found and made (see
	// describeCgroups).
	Cgroups string `json:"cgroups,omitempty"`
	// NetworkPolicy is the netpol addon's enforcer, while enabled.
	NetworkPolicy *NetpolStatus `json:"networkPolicy,omitempty"`
	// LoadBalancer is the loadbalancer addon's controller, while enabled.
	LoadBalancer *LoadBalancerStatus `json:"loadBalancer,omitempty"`
	// Reloaded is when the agent last finished applying the in-agent
	// addons after a SIGHUP, and ReloadError what failed then.
	Reloaded    time.Time `json:"reloaded,omitzero"`
	ReloadError string    `json:"reloadError,omitempty"`
	Updated     time.Time `json:"updated"`
}

// ComponentStatus is one supervised process.
type ComponentStatus struct {
	Name      string    `json:"name"`
	Running   bool      `json:"running"`
	PID       int       `json:"pid,omitempty"`
	Restarts  int       `json:"restarts"`
	StartedAt time.Time `json:"startedAt,omitempty"`
	LastExit  string    `json:"lastExit,omitempty"`
}

// InAgent is the named in-agent addon in the report: on (enabled, so
// present), serving, and why its start failed.
func (s AgentStatus) InAgent(name string) (on, serving bool, failed string) {
	switch name {
	case "netpol":
		if np := s.NetworkPolicy; np != nil {
			return true, np.Enforcing, np.Error
		}
	case "loadbalancer":
		if lb := s.LoadBalancer; lb != nil {
			return true, lb.Serving, lb.Error
		}
	}
	return false, false, ""
}

func (a *Agent) reportStatus(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		a.writeStatus()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) writeStatus() {
	// One writer at a time, each with the state as it writes: the ticker
	// and a reload may write at once.
	a.statusMu.Lock()
	defer a.statusMu.Unlock()
	a.mu.Lock()
	s := AgentStatus{Phase: a.phase, Error: a.startErr, NodeIP: a.ip, ReadyAfter: map[string]float64{}, Cgroups: a.cgroups, Reloaded: a.reloaded, ReloadError: a.reloadErr, Updated: time.Now()}
	for n, d := range a.ready {
		s.ReadyAfter[n] = d.Seconds()
	}
	for _, u := range a.units {
		if p := a.procs[u.name]; p != nil {
			st := p.Status()
			s.Components = append(s.Components, ComponentStatus{Name: st.Name, Running: st.Running, PID: st.PID, Restarts: st.Restarts, StartedAt: st.StartedAt, LastExit: st.LastExit})
		}
	}
	a.mu.Unlock()
	s.NetworkPolicy = netpolStatus(a.netpol)
	s.LoadBalancer = loadBalancerStatus(a.loadBalancer)
	writeStatus(s)
}

func writeStatus(s AgentStatus) {
	data, _ := json.MarshalIndent(s, "", "  ")
	tmp := StatusFile + ".tmp"
	if os.WriteFile(tmp, data, 0o644) == nil {
		_ = os.Rename(tmp, StatusFile)
	}
}
