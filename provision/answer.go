package provision

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"
	corev1 "k8s.io/api/core/v1"

	"github.com/skiff-k8s/skiff/addons"
	"github.com/skiff-k8s/skiff/node"
)

// hostAnswers maps each addon workload (workloadKey) that users reach on a port the node
// publishes on the host to a URL there that answers once it serves: the
// ingress (Traefik) on the host's port for the node's 80, the registry on
// its own. A wait counts such a pod running since the node started and
// answering there as ready. Its Ready condition comes later: the kubelet
// probes a container it has just seen start at once, before a program like
// Traefik listens, and then only at its next tick, a second apart.
func hostAnswers(c container.InspectResponse, nc *node.Config, reports []node.AddonReport) map[string]string {
	urls := map[string]string{}
	if c.HostConfig != nil {
		for _, b := range c.HostConfig.PortBindings[nat.Port(strconv.Itoa(NodeHTTPPort)+"/tcp")] {
			if b.HostPort != "" {
				urls["ingress"] = "http://" + net.JoinHostPort("127.0.0.1", b.HostPort) + "/"
			}
		}
	}
	if nc != nil && nc.RegistryPort != 0 {
		urls["registry"] = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(nc.RegistryPort)) + "/v2/"
	}
	out := map[string]string{}
	for _, r := range reports {
		if u := urls[r.Name]; u != "" && r.Enabled {
			for _, w := range r.Workloads {
				out[workloadKey(w)] = u
			}
		}
	}
	return out
}

// workloadKey names a workload in hostAnswers' map.
func workloadKey(w addons.Workload) string { return w.Kind + "/" + w.Namespace + "/" + w.Name }

// answerClient asks without a proxy: the URLs are the host's own ports.
var answerClient = &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}

// answers reports whether an HTTP server answers at url, whatever it says.
// Docker's port proxy accepts a connection with nothing behind it, then
// closes it: only a response counts.
func answers(ctx context.Context, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := answerClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// runningSince reports whether every container of p runs, started since
// the given time.
func runningSince(p *corev1.Pod, since time.Time) bool {
	if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running == nil || c.State.Running.StartedAt.Time.Before(since) {
			return false
		}
	}
	return true
}
