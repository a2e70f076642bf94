package main

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPodOwner(t *testing.T) {
	pod := func(name string, owners ...metav1.OwnerReference) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners}}
	}
	for _, tc := range []struct {
		pod  *corev1.Pod
		want string
	}{
		{pod("coredns-6bf8f5d8d4-t5k97", metav1.OwnerReference{Kind: "ReplicaSet", Name: "coredns-6bf8f5d8d4"}), "coredns"},
		{pod("speaker-ktf2c", metav1.OwnerReference{Kind: "DaemonSet", Name: "speaker"}), "speaker"},
		{pod("static"), "static"},
	} {
		if got := podOwner(tc.pod); got != tc.want {
			t.Errorf("podOwner(%s) = %q, want %q", tc.pod.Name, got, tc.want)
		}
	}
}
