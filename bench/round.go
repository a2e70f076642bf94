package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-k8s/skiff/provision"
)

const (
	// appName names the test app's Deployment and Service.
	appName = "bench-app"
	// appRef is the test app image, built from e2e/testapp.
	appRef = "skiff.test/hello:v1"
	// podWait bounds the wait for a new pod to run.
	podWait = 2 * time.Minute
	// answerWait bounds how long the app's Service name may take to answer.
	answerWait = time.Minute
	// metricsWait bounds the wait for the metrics API, from create's start.
	metricsWait = 3 * time.Minute
	// poll is how often a condition is polled.
	poll = 50 * time.Millisecond
)

// benchEnv is what every round shares.
type benchEnv struct {
	p          *provision.Provider
	image      string
	pause      string // the node image's preloaded pause image
	app        string // the test app's image archive
	kubeconfig string
	idle       time.Duration
}

// userRound creates cluster name and measures what a user feels, in the
// three parts of minikube's time-to-k8s benchmark so skiff's figures sit
// next to its peers': the create command, then the test app (loaded, as a
// user's own image must be, and deployed) until its pod runs, then its
// Service name answering from a pod. Then it measures create's CPU, the
// metrics API, a second Deployment's pod, create's breakdown and the idle
// node's CPU and memory.
func userRound(ctx context.Context, e *benchEnv, name string, r *results) error {
	docker := e.p.Docker()
	node := provision.NodeName(name)
	cli0, err := processCPU()
	if err != nil {
		return err
	}
	engine0, local := engineCPU()
	start := time.Now()
	created, err := e.p.Create(ctx, &provision.Config{Name: name, Image: e.image, KubeconfigPath: e.kubeconfig})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	createS := time.Since(start).Seconds()
	cli1, err := processCPU()
	if err != nil {
		return err
	}
	if engine1, ok := engineCPU(); local && ok {
		r.addBreakdown("create: engine cpu s", (engine1 - engine0).Seconds())
	}
	// The node container did nothing before create started it, so its
	// total so far is create's share.
	atCreate, err := nodeStats(ctx, docker, node)
	if err != nil {
		return err
	}
	if err := recordBootCPU(ctx, docker, node, "create cpu s: ", r); err != nil {
		return err
	}
	r.add("create_s", createS)
	r.add("time_to_k8s_create_s", createS)
	r.add("create_cpu_s", (cli1 - cli0 + atCreate.cpu).Seconds())

	cs, err := clientset(ctx, e.p, name)
	if err != nil {
		return err
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	metricsc := make(chan error, 1)
	var metricsS float64
	go func() {
		var err error
		metricsS, err = metricsReady(mctx, cs, start)
		metricsc <- err
	}()

	t := time.Now()
	pod, err := deployApp(ctx, e, name, cs)
	if err != nil {
		return fmt.Errorf("test app: %w", err)
	}
	appS := time.Since(t).Seconds()
	t = time.Now()
	if err := serviceAnswers(ctx, e.kubeconfig, created.Context, pod); err != nil {
		return err
	}
	dnsS := time.Since(t).Seconds()
	r.add("time_to_k8s_app_s", appS)
	r.add("time_to_k8s_dns_s", dnsS)
	r.add("time_to_k8s_s", createS+appS+dnsS)

	fp, err := firstPod(ctx, cs, e.pause)
	if err != nil {
		return fmt.Errorf("first pod: %w", err)
	}
	r.add("first_pod_s", fp)
	if err := <-metricsc; err != nil {
		return fmt.Errorf("metrics API: %w", err)
	}
	r.add("metrics_ready_s", metricsS)
	if err := breakdown(ctx, e.p, cs, name, created, r); err != nil {
		return err
	}
	return measureIdle(ctx, e, name, r)
}

func clientset(ctx context.Context, p *provision.Provider, name string) (*kubernetes.Clientset, error) {
	cfg, err := p.Kubeconfig(ctx, name, false)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of %s: %w", name, err)
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig of %s: %w", name, err)
	}
	return kubernetes.NewForConfig(rc)
}

// deployApp loads the test app into the cluster, applies a Deployment and
// a Service in front of it, and returns the name of its pod once Running.
func deployApp(ctx context.Context, e *benchEnv, cluster string, cs *kubernetes.Clientset) (string, error) {
	if _, _, err := e.p.LoadArchives(ctx, cluster, []string{e.app}, nil); err != nil {
		return "", fmt.Errorf("load %s: %w", e.app, err)
	}
	labels := map[string]string{"app": appName}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, deployment(appName, appRef, labels), metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create Deployment %s: %w", appName, err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: appName},
		Spec: corev1.ServiceSpec{
			Selector: labels,
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create Service %s: %w", appName, err)
	}
	return waitRunning(ctx, cs, "app="+appName)
}

// deployment is one replica of image, which is already in the node.
func deployment(name, image string, labels map[string]string) *appsv1.Deployment {
	one := int32(1)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: image, ImagePullPolicy: corev1.PullNever,
				}}},
			},
		},
	}
}

// waitRunning returns the name of the first pod matching selector in the
// default namespace to reach Running.
func waitRunning(ctx context.Context, cs *kubernetes.Clientset, selector string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, podWait)
	defer cancel()
	for {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err == nil {
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning {
					return p.Name, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("no pod %s Running within %s: %w", selector, podWait, ctx.Err())
		case <-time.After(poll):
		}
	}
}

// serviceAnswers runs `hello get http://bench-app/` in the app's pod, as a
// user's `kubectl exec` would, until the Service name resolves and the app
// answers through it; hello itself retries every 200 ms.
func serviceAnswers(ctx context.Context, kubeconfig, kubeContext, pod string) error {
	ctx, cancel := context.WithTimeout(ctx, answerWait+30*time.Second)
	defer cancel()
	url := "http://" + appName + "/"
	cmd := exec.CommandContext(ctx, "kubectl", "--kubeconfig", kubeconfig, "--context", kubeContext,
		"exec", pod, "-c", "app", "--", "/hello", "get", url, "1", "0", "1", answerWait.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s from pod %s: %w: %s", url, pod, err, bytes.TrimSpace(out))
	}
	if !bytes.Contains(out, []byte("hello from")) {
		return fmt.Errorf("%s from pod %s answered %q", url, pod, bytes.TrimSpace(out))
	}
	return nil
}

// firstPod times a new Deployment's pod, of the preloaded pause image, from
// creation to Running.
func firstPod(ctx context.Context, cs *kubernetes.Clientset, pause string) (float64, error) {
	d := deployment("first", pause, map[string]string{"app": "first"})
	start := time.Now()
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return 0, fmt.Errorf("create Deployment first: %w", err)
	}
	if _, err := waitRunning(ctx, cs, "app=first"); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}

// metricsReady polls the metrics API for pods, as `kubectl top pods -A`
// does, and returns the seconds from start until it lists one.
func metricsReady(ctx context.Context, cs *kubernetes.Clientset, start time.Time) (float64, error) {
	ctx, cancel := context.WithDeadline(ctx, start.Add(metricsWait))
	defer cancel()
	var last error
	for {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		raw, err := cs.Discovery().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/pods").DoRaw(rctx)
		rcancel()
		if err == nil {
			if err = podMetrics(raw); err == nil {
				return time.Since(start).Seconds(), nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("no pod metrics within %s of create's start: %w", metricsWait, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// podMetrics says whether a PodMetricsList has data: kubectl top refuses
// an empty one ("metrics not available yet").
func podMetrics(raw []byte) error {
	var l struct {
		Items []struct {
			Containers []json.RawMessage `json:"containers"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		return fmt.Errorf("decode PodMetricsList: %w", err)
	}
	for _, it := range l.Items {
		if len(it.Containers) > 0 {
			return nil
		}
	}
	return errors.New("metrics not available yet")
}

// breakdown records each create step, each component's and addon's ready
// time (from the node's start) and the node's Ready condition.
func breakdown(ctx context.Context, p *provision.Provider, cs *kubernetes.Clientset, name string, created *provision.Created, r *results) error {
	for _, s := range created.Steps {
		r.addBreakdown("create step: "+s.Name, s.Seconds)
	}
	started, err := nodeReadyTimes(ctx, p, cs, name, "", r)
	if err != nil {
		return err
	}
	return podReadyTimes(ctx, cs, started, "addon ready: ", r)
}

var addonNamespaces = []string{"kube-system", "local-path-storage"}

// startBreakdown records, for a start after stop, each component's ready
// time and each addon pod's Ready condition, from the node's start, and
// each process's CPU seconds since then.
func startBreakdown(ctx context.Context, p *provision.Provider, name string, r *results) error {
	cs, err := clientset(ctx, p, name)
	if err != nil {
		return err
	}
	const prefix = "start: "
	started, err := nodeReadyTimes(ctx, p, cs, name, prefix, r)
	if err != nil {
		return err
	}
	if err := recordBootCPU(ctx, p.Docker(), provision.NodeName(name), "start cpu s: ", r); err != nil {
		return err
	}
	return podReadyTimes(ctx, cs, started, prefix+"pod ready: ", r)
}

// podReadyTimes records, under key NAMESPACE/OWNER, when each addon pod
// became Ready, from the node's start. Pods, not Deployments: a Deployment
// may stay Available through a restart, and one with a single replica and
// maxUnavailable 1 (CoreDNS, Traefik) is Available before its pod exists.
func podReadyTimes(ctx context.Context, cs *kubernetes.Clientset, started time.Time, key string, r *results) error {
	for _, ns := range addonNamespaces {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return fmt.Errorf("list pods in %s: %w", ns, err)
		}
		for _, pod := range pods.Items {
			for _, c := range pod.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					r.addBreakdown(key+ns+"/"+podOwner(&pod), c.LastTransitionTime.Sub(started).Seconds())
				}
			}
		}
	}
	return nil
}

// podOwner names a pod by its Deployment or DaemonSet: its owner's name,
// less a ReplicaSet's hash.
func podOwner(pod *corev1.Pod) string {
	if len(pod.OwnerReferences) == 0 {
		return pod.Name
	}
	o := pod.OwnerReferences[0]
	if i := strings.LastIndexByte(o.Name, '-'); o.Kind == "ReplicaSet" && i > 0 {
		return o.Name[:i]
	}
	return o.Name
}

// nodeReadyTimes records, under prefix, each node component's ready time
// from the agent's report and the node's Ready condition, and returns when
// the node container started.
func nodeReadyTimes(ctx context.Context, p *provision.Provider, cs *kubernetes.Clientset, name, prefix string, r *results) (time.Time, error) {
	st, err := p.Status(ctx, name)
	if err != nil {
		return time.Time{}, fmt.Errorf("status of %s: %w", name, err)
	}
	for c, v := range st.ReadyAfter {
		r.addBreakdown(prefix+"node ready: "+c, v)
	}
	insp, err := p.Docker().ContainerInspect(ctx, provision.NodeName(name))
	if err != nil {
		return time.Time{}, fmt.Errorf("inspect node of %s: %w", name, err)
	}
	started, err := time.Parse(time.RFC3339Nano, insp.State.StartedAt)
	if err != nil {
		return time.Time{}, fmt.Errorf("node start time %q: %w", insp.State.StartedAt, err)
	}
	n, err := cs.CoreV1().Nodes().Get(ctx, provision.NodeName(name), metav1.GetOptions{})
	if err != nil {
		return time.Time{}, fmt.Errorf("get node: %w", err)
	}
	for _, c := range n.Status.Conditions {
		// A restarted node's Ready condition may keep its transition
		// from before the stop.
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.Time.Before(started) {
			r.addBreakdown(prefix+"node Ready (condition)", c.LastTransitionTime.Sub(started).Seconds())
		}
	}
	return started, nil
}
