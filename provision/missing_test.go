package provision

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestWaitingOnImage(t *testing.T) {
	waiting := func(name, reason string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}}
	}
	pod := &corev1.Pod{
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox:1.36"}},
			Containers:     []corev1.Container{{Name: "app", Image: "nginx"}, {Name: "side", Image: "envoy:v1"}, {Name: "ok", Image: "hello:v1"}},
		},
		Status: corev1.PodStatus{
			InitContainerStatuses: []corev1.ContainerStatus{waiting("init", "ErrImagePull")},
			ContainerStatuses: []corev1.ContainerStatus{
				waiting("app", "ImagePullBackOff"),
				waiting("side", "PodInitializing"), // waits for the init container, not its image
				{Name: "ok", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			},
		},
	}
	got := waitingOnImage(pod)
	want := []imageWait{{"busybox:1.36", "ErrImagePull"}, {"nginx", "ImagePullBackOff"}}
	if len(got) != len(want) {
		t.Fatalf("waitingOnImage = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("waitingOnImage[%d] = %v, want %v", i, got[i], want[i])
		}
	}
}
