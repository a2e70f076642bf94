package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-k8s/skiff/internal/engine"
	"github.com/skiff-k8s/skiff/provision"
)

const (
	// dataName names the PVC and the Deployment that mounts it.
	dataName = "bench-data"
	// dataMiB is how much the PVC holds.
	dataMiB = 100
)

// snapshotRound gives the round's cluster (default addons, the test app)
// a PVC holding 100 MiB, then measures snapshot_save_s (the cluster
// running) and clone_s (create --from → the test app answering through
// its Service in the clone); the pause goes into the breakdown. The clone
// and the snapshot are removed.
func snapshotRound(ctx context.Context, e *benchEnv, name string, r *results) error {
	cs, err := clientset(ctx, e.p, name)
	if err != nil {
		return err
	}
	if err := fillPVC(ctx, e, name, cs); err != nil {
		return fmt.Errorf("PVC: %w", err)
	}
	snap, clone := name+"-snap", name+"-clone"
	defer func() {
		_ = deleteCluster(context.WithoutCancel(ctx), e, clone)
		_, _ = e.p.RemoveSnapshot(context.WithoutCancel(ctx), snap)
	}()
	if err := deleteCluster(ctx, e, clone); err != nil {
		return err
	}
	if _, err := e.p.RemoveSnapshot(ctx, snap); err != nil {
		return err
	}
	t := time.Now()
	s, err := e.p.SaveSnapshot(ctx, name, snap)
	if err != nil {
		return fmt.Errorf("snapshot save: %w", err)
	}
	r.add("snapshot_save_s", time.Since(t).Seconds())
	r.addBreakdown("snapshot: cluster paused", s.PausedSeconds)
	fmt.Printf("snapshot %s: %d MiB, paused %.2f s\n", snap, s.Bytes>>20, s.PausedSeconds)

	t = time.Now()
	created, err := e.p.Create(ctx, &provision.Config{Name: clone, From: snap, KubeconfigPath: e.kubeconfig})
	if err != nil {
		return fmt.Errorf("create --from: %w", err)
	}
	if err := cloneAnswers(ctx, e, clone, created.Context); err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	r.add("clone_s", time.Since(t).Seconds())
	return nil
}

// cloneAnswers waits until the test app answers through its Service in
// the clone. The pod is the snapshot's, Running in the API from before the
// copy while its container restarts, so exec is retried.
func cloneAnswers(ctx context.Context, e *benchEnv, clone, kubeContext string) error {
	cs, err := clientset(ctx, e.p, clone)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, answerWait)
	defer cancel()
	for {
		pod, err := waitRunning(ctx, cs, "app="+appName)
		if err == nil {
			if err = serviceAnswers(ctx, e.kubeconfig, kubeContext, pod); err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(poll):
		}
	}
}

// fillPVC binds a PVC to a Deployment of the test app and writes dataMiB
// of random bytes into its volume in the node.
func fillPVC(ctx context.Context, e *benchEnv, cluster string, cs *kubernetes.Clientset) error {
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: dataName},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(fmt.Sprintf("%dMi", dataMiB))}},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims("default").Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		return err
	}
	labels := map[string]string{"app": dataName}
	d := deployment(dataName, appRef, labels)
	d.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: dataName}}}}
	d.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := waitRunning(ctx, cs, "app="+dataName); err != nil {
		return err
	}
	c, err := cs.CoreV1().PersistentVolumeClaims("default").Get(ctx, dataName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, c.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	var dir string
	switch {
	case pv.Spec.HostPath != nil:
		dir = pv.Spec.HostPath.Path
	case pv.Spec.Local != nil:
		dir = pv.Spec.Local.Path
	default:
		return fmt.Errorf("PV %s is neither hostPath nor local", pv.Name)
	}
	cmd := []string{"dd", "if=/dev/urandom", "of=" + strings.TrimSuffix(dir, "/") + "/blob", "bs=1M", fmt.Sprintf("count=%d", dataMiB), "status=none"}
	return engine.Run(ctx, e.p.Docker(), provision.NodeName(cluster), cmd, engine.ExecOptions{Timeout: 2 * time.Minute})
}
