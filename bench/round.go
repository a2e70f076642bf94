package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/client"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/skiff-k8s/skiff/internal/engine"
	"github.com/skiff-k8s/skiff/provision"
)

// createRound creates a cluster and returns create_s, each create step,
// each component's and addon's ready time (from the node's start), and
// first_pod_s.
func createRound(ctx context.Context, p *provision.Provider, image, name string) (map[string]float64, error) {
	cfg := &provision.Config{Name: name, Image: image, KubeconfigPath: kubeconfigPath()}
	start := time.Now()
	created, err := p.Create(ctx, cfg)
	if err != nil {
		return nil, err
	}
	r := map[string]float64{"create_s": time.Since(start).Seconds()}
	for _, s := range created.Steps {
		r["create step: "+s.Name] = s.Seconds
	}
	st, err := p.Status(ctx, name)
	if err != nil {
		return nil, err
	}
	for c, v := range st.ReadyAfter {
		r["node ready: "+c] = v
	}
	cs, err := clientset(ctx, p, name)
	if err != nil {
		return nil, err
	}
	insp, err := p.Docker().ContainerInspect(ctx, provision.NodeName(name))
	if err != nil {
		return nil, err
	}
	started, _ := time.Parse(time.RFC3339Nano, insp.State.StartedAt)
	n, err := cs.CoreV1().Nodes().Get(ctx, provision.NodeName(name), metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			r["node Ready (condition)"] = c.LastTransitionTime.Sub(started).Seconds()
		}
	}
	for _, ns := range []string{"kube-system", "local-path-storage", "metallb-system"} {
		deps, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for _, d := range deps.Items {
			for _, c := range d.Status.Conditions {
				if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
					r["addon ready: "+ns+"/"+d.Name] = c.LastTransitionTime.Sub(started).Seconds()
				}
			}
		}
	}
	fp, err := firstPod(ctx, cs)
	if err != nil {
		return nil, fmt.Errorf("first pod: %w", err)
	}
	r["first_pod_s"] = fp
	return r, nil
}

func clientset(ctx context.Context, p *provision.Provider, name string) (*kubernetes.Clientset, error) {
	cfg, err := p.Kubeconfig(ctx, name, false)
	if err != nil {
		return nil, err
	}
	rc, err := clientcmd.RESTConfigFromKubeConfig(cfg)
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(rc)
}

// firstPod times a new Deployment's pod from creation to Running.
func firstPod(ctx context.Context, cs *kubernetes.Clientset) (float64, error) {
	one := int32(1)
	labels := map[string]string{"app": "first"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "first"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "pause", Image: "registry.k8s.io/pause:3.10.2", ImagePullPolicy: corev1.PullNever,
				}}},
			},
		},
	}
	start := time.Now()
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=first"})
		if err == nil {
			for _, p := range pods.Items {
				if p.Status.Phase == corev1.PodRunning {
					return time.Since(start).Seconds(), nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// memoryReport is the node's memory once idle.
type memoryReport struct {
	WorkingSet float64            `json:"working_set_mib"`
	RSS        map[string]float64 `json:"rss_mib"`
}

// measureMemory waits until idle after create and reads the node
// container's working set (usage minus inactive file cache, as kubelet and
// `docker stats` count it) and each component's RSS.
func measureMemory(ctx context.Context, p *provision.Provider, name string, idle time.Duration) (*memoryReport, error) {
	insp, err := p.Docker().ContainerInspect(ctx, provision.NodeName(name))
	if err != nil {
		return nil, err
	}
	started, _ := time.Parse(time.RFC3339Nano, insp.State.StartedAt)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(started.Add(idle))):
	}
	stats, err := p.Docker().ContainerStatsOneShot(ctx, provision.NodeName(name))
	if err != nil {
		return nil, err
	}
	defer stats.Body.Close()
	var s struct {
		MemoryStats struct {
			Usage uint64            `json:"usage"`
			Stats map[string]uint64 `json:"stats"`
		} `json:"memory_stats"`
	}
	if err := jsonDecode(stats.Body, &s); err != nil {
		return nil, err
	}
	inactive := s.MemoryStats.Stats["total_inactive_file"]
	if v, ok := s.MemoryStats.Stats["inactive_file"]; ok && inactive == 0 {
		inactive = v
	}
	rep := &memoryReport{WorkingSet: float64(s.MemoryStats.Usage-inactive) / (1 << 20), RSS: map[string]float64{}}
	st, err := p.Status(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, c := range st.Components {
		out, err := engine.Output(ctx, p.Docker(), provision.NodeName(name), "grep", "VmRSS", "/proc/"+strconv.Itoa(c.PID)+"/status")
		if err != nil {
			continue
		}
		f := strings.Fields(string(out))
		if len(f) >= 2 {
			kb, _ := strconv.ParseFloat(f[1], 64)
			rep.RSS[c.Name] = kb / 1024
		}
	}
	return rep, nil
}

func machine(ctx context.Context, docker *client.Client) map[string]any {
	host, _ := os.Hostname()
	m := map[string]any{"host": host, "cpus": runtime.NumCPU(), "date": time.Now().Format(time.RFC3339)}
	if info, err := docker.Info(ctx); err == nil {
		m["docker"], m["cgroup"], m["kernel"], m["memory_gib"] = info.ServerVersion, info.CgroupVersion, info.KernelVersion, info.MemTotal>>30
	}
	return m
}
