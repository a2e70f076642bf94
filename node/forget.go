package node

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/skiff-k8s/skiff/internal/waitfor"
)

// ForgetPodsFile, when present at boot, makes the agent remove every pod
// sandbox (and so every container) containerd knows of before the kubelet
// starts, then the file. The CLI writes it into a volume copied from a
// snapshot: containerd's records there name the snapshot's containers,
// which may still run in the cluster the snapshot was taken of. On a
// cgroup v1 host the kubelet's cAdvisor sees that cluster's cgroups, finds
// their IDs in this containerd and waits 3 s on each for a task that is
// not here: minutes before the kubelet syncs a pod. The kubelet recreates
// the pods' sandboxes and containers anyway, as after any restart; only
// their restart counts start again from 0.
const ForgetPodsFile = StateDir + "/forget-pods"

// forgetTimeout bounds removing the previous pods.
const forgetTimeout = time.Minute

// forgetParallel is how many sandboxes are removed at once.
const forgetParallel = 8

// forgetPods removes every pod sandbox through the CRI if ForgetPodsFile
// asks for it.
func forgetPods(ctx context.Context, socket string) error {
	if _, err := os.Stat(ForgetPodsFile); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, forgetTimeout)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("failed to connect to the CRI: %w", err)
	}
	defer conn.Close()
	cri := runtime.NewRuntimeServiceClient(conn)
	var list *runtime.ListPodSandboxResponse
	// containerd's socket answers before its CRI plugin has loaded.
	err = waitfor.Poll(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		list, err = cri.ListPodSandbox(ctx, &runtime.ListPodSandboxRequest{})
		if status.Code(err) == codes.Unavailable {
			return false, err.Error(), nil
		}
		return true, "", err
	})
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("the CRI did not answer within %s: %w", forgetTimeout, err)
	}
	if err != nil {
		return fmt.Errorf("failed to list pod sandboxes: %w", err)
	}
	// Several at once: a snapshot also holds the exited sandboxes of every
	// restart, 32 after a few, and one at a time they took 2 s of a
	// clone, during which the kubelet waits.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(forgetParallel)
	for _, sb := range list.Items {
		g.Go(func() error {
			if _, err := cri.StopPodSandbox(gctx, &runtime.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
				return fmt.Errorf("failed to stop pod sandbox %s: %w", sb.Id, err)
			}
			if _, err := cri.RemovePodSandbox(gctx, &runtime.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil {
				return fmt.Errorf("failed to remove pod sandbox %s: %w", sb.Id, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	log.Printf("removed the %d pod sandboxes copied from a snapshot", len(list.Items))
	return os.Remove(ForgetPodsFile)
}
