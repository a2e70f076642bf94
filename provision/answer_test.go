package provision

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/go-connections/nat"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-k8s/skiff/addons"
	"github.com/skiff-k8s/skiff/node"
)

func TestHostAnswers(t *testing.T) {
	traefik := addons.Workload{Kind: "Deployment", Namespace: "kube-system", Name: "traefik"}
	registry := addons.Workload{Kind: "Deployment", Namespace: "kube-system", Name: "registry"}
	coredns := addons.Workload{Kind: "Deployment", Namespace: "kube-system", Name: "coredns"}
	reports := []node.AddonReport{
		{Name: "ingress", Enabled: true, Workloads: []addons.Workload{traefik}},
		{Name: "registry", Enabled: true, Workloads: []addons.Workload{registry}},
		{Name: "dns", Enabled: true, Workloads: []addons.Workload{coredns}},
	}
	c := container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{HostConfig: &container.HostConfig{
		PortBindings: nat.PortMap{"80/tcp": {{HostIP: "127.0.0.1", HostPort: "8080"}}},
	}}}
	got := hostAnswers(c, &node.Config{RegistryPort: 5001}, reports)
	want := map[string]string{
		workloadKey(traefik):  "http://127.0.0.1:8080/",
		workloadKey(registry): "http://127.0.0.1:5001/v2/",
	}
	if len(got) != len(want) || got[workloadKey(traefik)] != want[workloadKey(traefik)] || got[workloadKey(registry)] != want[workloadKey(registry)] {
		t.Errorf("hostAnswers = %v, want %v", got, want)
	}
	// Nothing published (a kind config without the ingress port, the
	// registry off): their pods' Ready counts.
	reports[1].Enabled = false
	if got := hostAnswers(container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{HostConfig: &container.HostConfig{}}}, &node.Config{}, reports); len(got) != 0 {
		t.Errorf("hostAnswers without ports = %v, want none", got)
	}
}

func TestAnswers(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/"
	if !answers(context.Background(), url) {
		t.Errorf("a server answering 404 does not count as answering")
	}
	srv.Close()
	if answers(context.Background(), url) {
		t.Errorf("a closed port counts as answering")
	}
}

func TestRunningSince(t *testing.T) {
	since := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	pod := func(phase corev1.PodPhase, started time.Time) *corev1.Pod {
		p := &corev1.Pod{Status: corev1.PodStatus{Phase: phase}}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}}}}
		return p
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"started since", pod(corev1.PodRunning, since.Add(time.Second)), true},
		{"started in the last boot", pod(corev1.PodRunning, since.Add(-time.Minute)), false},
		{"pending", pod(corev1.PodPending, since.Add(time.Second)), false},
		{"no container status yet", &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning}}, false},
	} {
		if got := runningSince(tc.pod, since); got != tc.want {
			t.Errorf("%s: runningSince = %t, want %t", tc.name, got, tc.want)
		}
	}
}
