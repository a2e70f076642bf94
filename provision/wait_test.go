package provision

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRestartBaseline(t *testing.T) {
	since := time.Date(2026, 12, 2, 3, 19, 58, 0, time.UTC)
	old := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "old", CreationTimestamp: metav1.NewTime(since.Add(-time.Hour))}}
	fresh := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: "new", CreationTimestamp: metav1.NewTime(since)}}
	c := func(n int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "controller", RestartCount: n}
	}

	seen := restartBaseline{}
	// A pod of the last boot that crashed 8 times then: none of it counts,
	// only what it does after this wait first saw it.
	if got := seen.restarts(old, c(8), since); got != 0 {
		t.Errorf("first sight of an old pod with 8 restarts: got %d, want 0", got)
	}
	if got := seen.restarts(old, c(11), since); got != 3 {
		t.Errorf("old pod restarted 3 more times: got %d, want 3", got)
	}
	// A pod made since the start counts every restart.
	if got := seen.restarts(fresh, c(4), since); got != 4 {
		t.Errorf("new pod: got %d, want 4", got)
	}
	// Without a baseline (status), every restart counts.
	if got := restartBaseline(nil).restarts(old, c(8), since); got != 8 {
		t.Errorf("nil baseline: got %d, want 8", got)
	}
}
