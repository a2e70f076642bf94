package provision

import (
	"bytes"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/skiff-k8s/skiff/node"

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

func TestIsPhaseLine(t *testing.T) {
	// As the agent logs (its log flags).
	var buf bytes.Buffer
	l := log.New(&buf, node.LogPrefix, log.LstdFlags|log.Lmicroseconds)
	l.Print(node.PhaseLogPrefix + "Running")
	l.Print("kube-apiserver ready after 1.2s")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if !isPhaseLine(lines[0]) {
		t.Errorf("the agent's phase line %q is not recognised", lines[0])
	}
	for _, line := range []string{
		lines[1],
		"I1208 02:31:23.737986       1 controller.go:253] phase: Running",
		"skiff-node: phase: Running",
		"",
	} {
		if isPhaseLine(line) {
			t.Errorf("%q taken for a phase line", line)
		}
	}
}
