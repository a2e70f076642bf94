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
func poll(ctx context.Context, check func(context.Context) (done bool, why string, err error)) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	why := "no answer yet"
	for {
		done, w, err := check(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		if w != "" {
			why = w
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", why, ctx.Err())
		case <-t.C:
		}
	}
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
	return waitAPIServer(ctx, cs)
}

func (r *createRun) waitNode(ctx context.Context) error {
	cs, err := r.client()
	if err != nil {
		return err
	}
	return r.p.waitUsable(ctx, cs, r.cfg.Name)
}

func waitAPIServer(ctx context.Context, cs *kubernetes.Clientset) error {
	return poll(ctx, func(ctx context.Context) (bool, string, error) {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return false, "API server /readyz: " + firstLine(err.Error()), nil
		}
		return strings.TrimSpace(string(body)) == "ok", "API server /readyz: " + string(body), nil
	})
}

// waitUsable waits for what makes `kubectl apply` work right away: the node
// agent done (components up, addons applied), the node Ready, every system
// Deployment available and pod Ready, and the default ServiceAccount.
func (p *Provider) waitUsable(ctx context.Context, cs *kubernetes.Clientset, cluster string) error {
	nodeName := NodeName(cluster)
	workloads, err := p.addonWorkloads(ctx, cluster)
	if err != nil {
		return err
	}
	// kube-system and every enabled addon's namespaces hold the pods a
	// cluster needs before it is usable.
	namespaces := []string{"kube-system"}
	for _, w := range workloads {
		if !slices.Contains(namespaces, w.Namespace) {
			namespaces = append(namespaces, w.Namespace)
		}
	}
	c, err := p.docker.ContainerInspect(ctx, nodeName)
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
	return poll(ctx, func(ctx context.Context) (bool, string, error) {
		st, err := p.nodeStatus(ctx, cluster)
		if err != nil {
			return false, "node agent has not reported yet", nil
		}
		switch st.Phase {
		case "Failed":
			return false, "", &AgentError{Message: st.Error}
		case "Running":
		default:
			return false, "node agent: " + st.Phase, nil
		}
		n, err := cs.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, "node " + nodeName + " not registered yet", nil
		}
		if !nodeReady(n, since) {
			return false, "node " + nodeName + " not Ready", nil
		}
		if ok, why := workloadsReady(ctx, cs, workloads); !ok {
			return false, why, nil
		}
		for _, ns := range namespaces {
			pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, "listing pods: " + firstLine(err.Error()), nil
			}
			for i := range pods.Items {
				if err := crashLooping(ctx, cs, &pods.Items[i]); err != nil {
					return false, "", err
				}
				if !podReady(&pods.Items[i], since) {
					return false, "pod " + ns + "/" + pods.Items[i].Name + " not Ready", nil
				}
			}
		}
		if _, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			return false, "ServiceAccount default/default not created yet", nil
		}
		if why := unavailableAPIService(ctx, cs); why != "" {
			return false, why, nil
		}
		return true, "", nil
	})
}

// unavailableAPIService names an aggregated API (such as metrics.k8s.io)
// that is not Available yet, so `kubectl top` works once create returns.
func unavailableAPIService(ctx context.Context, cs *kubernetes.Clientset) string {
	body, err := cs.Discovery().RESTClient().Get().AbsPath("/apis/apiregistration.k8s.io/v1/apiservices").DoRaw(ctx)
	if err != nil {
		return "listing APIServices: " + firstLine(err.Error())
	}
	var list struct {
		Items []struct {
			Metadata struct{ Name string }
			Spec     struct{ Service *struct{ Name string } }
			Status   struct {
				Conditions []struct{ Type, Status string }
			}
		}
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return "parsing APIServices: " + err.Error()
	}
	for _, a := range list.Items {
		if a.Spec.Service == nil {
			continue
		}
		available := false
		for _, c := range a.Status.Conditions {
			available = available || c.Type == "Available" && c.Status == "True"
		}
		if !available {
			return "APIService " + a.Metadata.Name + " not Available"
		}
	}
	return ""
}

// crashLooping fails the wait early, with the container's last log lines,
// when a system pod keeps crashing: waiting out --wait would not help.
func crashLooping(ctx context.Context, cs *kubernetes.Clientset, p *corev1.Pod) error {
	for _, c := range p.Status.ContainerStatuses {
		if c.RestartCount < 3 || c.State.Waiting == nil || c.State.Waiting.Reason != "CrashLoopBackOff" {
			continue
		}
		tail := int64(10)
		logs, _ := cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, Previous: true, TailLines: &tail}).DoRaw(ctx)
		return fmt.Errorf("pod %s/%s keeps crashing (%d restarts); its last log lines:\n%s", p.Namespace, p.Name, c.RestartCount, logs)
	}
	return nil
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
