package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-k8s/skiff/internal/waitfor"
	"github.com/skiff-k8s/skiff/node"
)

const pollInterval = 200 * time.Millisecond

// clientFor returns a client for the cluster's admin kubeconfig.
func clientFor(kubeconfigYAML []byte) (*kubernetes.Clientset, error) {
	rc, err := clientcmd.RESTConfigFromKubeConfig(kubeconfigYAML)
	if err != nil {
		return nil, fmt.Errorf("failed to load kubeconfig: %w", err)
	}
	rc.Timeout = 5 * time.Second
	rc.QPS, rc.Burst = 50, 100
	return kubernetes.NewForConfig(rc)
}

// poll calls check every pollInterval until it reports done, returns an
// error, or ctx ends; the last "not yet" reason is in the timeout error.
func poll(ctx context.Context, check waitfor.Check) error {
	return waitfor.Poll(ctx, pollInterval, check)
}

func (r *createRun) client() (*kubernetes.Clientset, error) {
	cfg, err := r.files.AdminKubeconfig(ContextName(r.cfg.Name), r.cfg.Server())
	if err != nil {
		return nil, err
	}
	return clientFor(cfg)
}

func (r *createRun) waitAPIServer(ctx context.Context) error {
	cs, err := r.client()
	if err != nil {
		return err
	}
	return r.p.waitAPIServer(ctx, cs, r.cfg.Name)
}

func (r *createRun) waitNode(ctx context.Context) error {
	cs, err := r.client()
	if err != nil {
		return err
	}
	return r.p.waitUsable(ctx, cs, r.cfg.Name, r.cfg.WaitAll)
}

// waitAPIServer waits for /readyz, and fails as soon as the node agent
// reports a failed boot or the node container stops.
func (p *Provider) waitAPIServer(ctx context.Context, cs *kubernetes.Clientset, cluster string) error {
	agent := p.watchAgent(cluster)
	return poll(ctx, func(ctx context.Context) (bool, string, error) {
		if _, err := agent.status(ctx, agentReadEvery); err != nil {
			return false, "", err
		}
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return false, "API server /readyz: " + firstLine(err.Error()), nil
		}
		return strings.TrimSpace(string(body)) == "ok", "API server /readyz: " + string(body), nil
	})
}

// agentReadEvery is how often a wait reads the node agent's status report
// while it has other checks to wait for. Each read is a CopyFromContainer,
// for which Docker 20.10 re-executes dockerd: about 70 ms of CPU here, 4
// of a create's CPU-seconds on two cores when read at every poll.
const agentReadEvery = time.Second

// agentWatch reads a node's agent status report at most as often as its
// callers ask, and checks at every call (cheaply) that the node container
// still runs.
type agentWatch struct {
	p       *Provider
	cluster string
	read    time.Time
	last    *node.AgentStatus
}

func (p *Provider) watchAgent(cluster string) *agentWatch {
	return &agentWatch{p: p, cluster: cluster}
}

// status returns the agent's status report, read again when the last read
// is older than maxAge (0: always), or an error if the node container is
// no longer running or the agent reported a failed boot. It is nil while
// the agent has not reported since the node started.
func (w *agentWatch) status(ctx context.Context, maxAge time.Duration) (*node.AgentStatus, error) {
	c, err := w.p.docker.ContainerInspect(ctx, NodeName(w.cluster))
	if err != nil {
		return nil, fmt.Errorf("inspect node: %w", err)
	}
	if c.State != nil && !c.State.Running && !c.State.Restarting {
		return nil, fmt.Errorf("the node container %s stopped (%s, exit code %d): `skiff export logs --name %s` collects its logs", NodeName(w.cluster), c.State.Status, c.State.ExitCode, w.cluster)
	}
	if !w.read.IsZero() && time.Since(w.read) < maxAge {
		return w.last, nil
	}
	w.read = time.Now()
	st, err := w.p.nodeStatus(ctx, w.cluster)
	if err != nil {
		w.last = nil
		return nil, nil
	}
	if st.Phase == "Failed" {
		return nil, &AgentError{Message: st.Error}
	}
	w.last = st
	return st, nil
}

// waitUsable waits for what a user's work needs: the node agent done
// (components up, addons applied), the node Ready, every pod of the enabled
// addons Ready, and the default ServiceAccount. Only what skiff runs counts:
// a user's broken pod in kube-system does not hold it up. metrics-server is
// waited for only with all: it cannot answer before two scrapes, one
// resolution (10 s) apart, and nothing but `kubectl top` and autoscalers
// needs it.
func (p *Provider) waitUsable(ctx context.Context, cs *kubernetes.Clientset, cluster string, all bool) error {
	nc, err := p.nodeConfig(ctx, cluster)
	if err != nil {
		return err
	}
	// A clone keeps its snapshot's Kubernetes node name under a new
	// container name.
	nodeName := nc.NodeName
	var skip []string
	if !all {
		skip = []string{"metrics"}
	}
	reports, err := p.addonReports(ctx, cluster)
	if err != nil {
		return err
	}
	workloads := enabledWorkloads(reports, skip...)
	metricsOn := slices.ContainsFunc(reports, func(r node.AddonReport) bool { return r.Name == "metrics" && r.Enabled })
	c, err := p.docker.ContainerInspect(ctx, NodeName(cluster))
	if err != nil {
		return fmt.Errorf("failed to inspect node: %w", err)
	}
	// After `skiff start`, the API still holds the conditions of the last
	// boot: only ones reported since this start count.
	since, err := time.Parse(time.RFC3339Nano, c.State.StartedAt)
	if err != nil {
		return fmt.Errorf("failed to read node start time: %w", err)
	}
	since = since.Truncate(time.Second)
	answering := hostAnswers(c, nc, reports)
	seen := restartBaseline{}
	agent := p.watchAgent(cluster)
	return poll(ctx, func(ctx context.Context) (bool, string, error) {
		// The API's checks come first; the agent's report, read once a
		// second meanwhile for a failed boot, is read fresh once they pass.
		if _, err := agent.status(ctx, agentReadEvery); err != nil {
			return false, "", err
		}
		n, err := cs.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, "node " + nodeName + " not registered yet", nil
		}
		if !nodeReady(n, since) {
			return false, "node " + nodeName + " not Ready", nil
		}
		if ok, why, err := workloadsReady(ctx, cs, workloads, since, seen, answering); err != nil || !ok {
			return false, why, err
		}
		if _, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return false, "ServiceAccount default/default not created yet", nil
		}
		if all && metricsOn {
			if why := unavailableAPIService(ctx, cs, metricsAPIService); why != "" {
				return false, why, nil
			}
		}
		st, err := agent.status(ctx, 0)
		if err != nil {
			return false, "", err
		}
		if st == nil {
			return false, "node agent has not reported yet", nil
		}
		if st.Phase != "Running" {
			return false, "node agent: " + st.Phase, nil
		}
		return true, "", nil
	})
}

// metricsAPIService is the aggregated API the metrics addon serves; create
// --wait-all waits for it so that `kubectl top` works once create returns.
const metricsAPIService = "v1beta1.metrics.k8s.io"

// unavailableAPIService says why the named aggregated API is not
// Available yet; "" once it is.
func unavailableAPIService(ctx context.Context, cs *kubernetes.Clientset, name string) string {
	return unmetCondition(ctx, cs, "/apis/apiregistration.k8s.io/v1/apiservices/"+name, "APIService "+name, "Available")
}

// gatewayClass is the GatewayClass of the gateway addon. The addon runs no
// pod of its own: it is healthy once Traefik (the ingress addon's) accepts
// the class.
const gatewayClass = "traefik"

// unacceptedGatewayClass says why the gateway addon's GatewayClass is not
// Accepted yet; "" once it is.
func unacceptedGatewayClass(ctx context.Context, cs *kubernetes.Clientset) string {
	return unmetCondition(ctx, cs, "/apis/gateway.networking.k8s.io/v1/gatewayclasses/"+gatewayClass, "GatewayClass "+gatewayClass, "Accepted")
}

// gatewayAPIVersion is the Gateway API release the cluster's CRDs come
// from (their bundle-version annotation), "" if unknown.
func gatewayAPIVersion(ctx context.Context, cs *kubernetes.Clientset) string {
	body, err := cs.Discovery().RESTClient().Get().
		AbsPath("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gatewayclasses.gateway.networking.k8s.io").DoRaw(ctx)
	if err != nil {
		return ""
	}
	var crd metav1.PartialObjectMetadata
	if err := json.Unmarshal(body, &crd); err != nil {
		return ""
	}
	return crd.Annotations["gateway.networking.k8s.io/bundle-version"]
}

// unmetCondition says why the object at path (what, for messages) lacks
// the status condition cond=True; "" once it has it.
func unmetCondition(ctx context.Context, cs *kubernetes.Clientset, path, what, cond string) string {
	body, err := cs.Discovery().RESTClient().Get().AbsPath(path).DoRaw(ctx)
	if err != nil {
		return what + ": " + firstLine(err.Error())
	}
	var a struct {
		Status struct {
			Conditions []struct{ Type, Status string }
		}
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return "parsing " + what + ": " + err.Error()
	}
	for _, c := range a.Status.Conditions {
		if c.Type == cond && c.Status == "True" {
			return ""
		}
	}
	return what + " not " + cond
}

// crashLooping fails the wait early, with the container's last log lines,
// when a system pod keeps crashing: waiting out --wait would not help.
func crashLooping(ctx context.Context, cs *kubernetes.Clientset, p *corev1.Pod, seen restartBaseline, since time.Time) error {
	for _, c := range p.Status.ContainerStatuses {
		n := seen.restarts(p, c, since)
		if n < 3 || c.State.Waiting == nil || c.State.Waiting.Reason != "CrashLoopBackOff" {
			continue
		}
		tail := int64(10)
		logs, _ := cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, Previous: true, TailLines: &tail}).DoRaw(ctx)
		return fmt.Errorf("pod %s/%s keeps crashing (%d restarts); its last log lines:\n%s", p.Namespace, p.Name, n, logs)
	}
	return nil
}

// restartBaseline remembers, for the pods of an earlier boot, each
// container's restart count when a wait first saw it: the kubelet carries
// those counts over a restart, and crashes of the last boot say nothing
// about this one. nil counts every restart.
type restartBaseline map[string]int32

// restarts is how many times c restarted since the wait began (since).
func (b restartBaseline) restarts(p *corev1.Pod, c corev1.ContainerStatus, since time.Time) int32 {
	if b == nil || !p.CreationTimestamp.Time.Before(since) {
		return c.RestartCount
	}
	key := string(p.UID) + "/" + c.Name
	base, ok := b[key]
	if !ok {
		b[key], base = c.RestartCount, c.RestartCount
	}
	return c.RestartCount - base
}

// AgentError is the node agent's report that the node failed to boot.
type AgentError struct{ Message string }

func (e *AgentError) Error() string { return "the node failed to boot: " + e.Message }

func nodeReady(n *corev1.Node, since time.Time) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue && !c.LastHeartbeatTime.Time.Before(since)
		}
	}
	return false
}

func podReady(p *corev1.Pod, since time.Time) bool {
	if p.Status.Phase == corev1.PodSucceeded {
		return true
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue && !c.LastTransitionTime.Time.Before(since)
		}
	}
	return false
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
